"""Battlefield pictures: an engine's state drawn as an RGB array, and frames written as a GIF or a PNG strip.

This is the spectator's view (everything, fog ignored): units are discs coloured by owner (player 1 blue,
player 2 red) with a per-type shade and initial, air units ringed, structures squares of their footprint, health
(and shield) bars above them, and the last advance's events drawn over the map: attack lines, heal lines (green),
splash rings (orange) and death crosses. A full game's resources are drawn under them (mineral fields pale blue,
geysers green). Map y grows upwards, as in StarCraft II.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

BACKGROUND = (16, 18, 16)
GROUND = (44, 52, 42)
BORDER = (170, 170, 150)
OWNER_COLOURS = {1: (60, 130, 255), 2: (230, 70, 55)}
ATTACK_COLOURS = {1: (170, 210, 255), 2: (255, 200, 120)}
HEAL_COLOUR = (90, 240, 120)
SPLASH_COLOUR = (255, 150, 30)
DEATH_COLOUR = (200, 200, 200)
HP_COLOUR, HP_BACK, SHIELD_COLOUR = (60, 220, 60), (120, 20, 20), (90, 200, 255)
MINERAL_COLOUR, GEYSER_COLOUR = (120, 190, 230), (60, 160, 80)
DEFAULT_LONG_SIDE = 384
MARGIN = 4


def default_size(map_width: float, map_height: float, long_side: int = DEFAULT_LONG_SIDE) -> tuple[int, int]:
    """(H, W) with the map's aspect ratio whose longer side is ``long_side`` pixels (each side >= 32)."""
    scale = long_side / max(map_width, map_height)
    return max(32, round(map_height * scale)), max(32, round(map_width * scale))


def _shade(colour: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
    """Mix towards white (amount > 0) or black (amount < 0) by |amount|."""
    target = 255 if amount > 0 else 0
    return tuple(int(round(c + (target - c) * abs(amount))) for c in colour)  # type: ignore[return-value]


def render_rgb(engine: Any, size: tuple[int, int] | None = None, resources: np.ndarray | None = None) -> np.ndarray:
    """Draw ``engine`` (an :class:`~envs.skirmish.engine.Engine`) as ``uint8 [H, W, 3]``.

    ``size`` is ``(H, W)``; the map keeps its aspect ratio inside it (letterboxed). Default: the map's aspect
    with the longer side 384 pixels. ``resources``: a full game's ``[N, 4]`` (x, y, radius, 1 for a geyser).
    """
    scenario, state, units = engine.scenario, engine.state, engine.units
    mw, mh = float(scenario.map_width), float(scenario.map_height)
    height, width = size if size is not None else default_size(mw, mh)
    if height < 8 or width < 8:
        raise ValueError(f"render size must be at least 8 x 8 pixels, got {size!r}")
    scale = min((width - 2 * MARGIN) / mw, (height - 2 * MARGIN) / mh)
    ox, oy = (width - mw * scale) / 2, (height - mh * scale) / 2

    def to_px(xy: np.ndarray) -> np.ndarray:
        return np.stack([ox + xy[..., 0] * scale, oy + (mh - xy[..., 1]) * scale], axis=-1)

    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rectangle([ox, oy, ox + mw * scale, oy + mh * scale], fill=GROUND, outline=BORDER)

    if resources is not None:
        for x, y, r, gas in np.asarray(resources, dtype=np.float64).reshape(-1, 4).tolist():
            (px, py), half = to_px(np.array([x, y])), max(r * scale, 1.5)
            draw.rectangle([px - half, py - half, px + half, py + half], fill=GEYSER_COLOUR if gas else MINERAL_COLOUR)
    pos = to_px(state.pos)
    utype = state.utype.astype(np.int64)
    structure = np.zeros(len(units.names), dtype=bool)
    if "structure" in units.attribute_names:
        structure = (units.attributes & units.attribute_bit("structure")) != 0
    radius = np.maximum(units.radius[utype] * scale, 2.0)
    n_types = len(units.names)
    shades = np.linspace(-0.3, 0.35, n_types) if n_types > 1 else np.zeros(1)
    alive = np.flatnonzero(state.alive)

    for i in alive.tolist():
        x, y, r = pos[i, 0], pos[i, 1], radius[i]
        base = OWNER_COLOURS.get(int(state.owner[i]), (200, 200, 200))
        fill = _shade(base, float(shades[utype[i]]))
        air = bool(units.is_air[utype[i]])
        outline = (255, 255, 255) if air else _shade(base, -0.5)
        if structure[utype[i]]:
            draw.rectangle([x - r, y - r, x + r, y + r], fill=fill, outline=outline)
        else:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=fill, outline=outline)
        if r >= 6:
            letter = units.names[utype[i]][:1].upper()
            box = draw.textbbox((0, 0), letter)
            draw.text((x - (box[2] + box[0]) / 2, y - (box[3] + box[1]) / 2), letter, fill=(0, 0, 0))

    for kind, attacker, target in getattr(engine, "events", ()):
        a, t = int(attacker), int(target)
        if kind == "death" and 0 <= t < len(pos):
            x, y, r = pos[t, 0], pos[t, 1], max(radius[t], 3.0)
            draw.line([x - r, y - r, x + r, y + r], fill=DEATH_COLOUR, width=2)
            draw.line([x - r, y + r, x + r, y - r], fill=DEATH_COLOUR, width=2)
        elif kind == "splash" and 0 <= t < len(pos):
            x, y, r = pos[t, 0], pos[t, 1], radius[t] + 2
            draw.ellipse([x - r, y - r, x + r, y + r], outline=SPLASH_COLOUR)
        elif kind in ("attack", "heal") and 0 <= a < len(pos) and 0 <= t < len(pos):
            colour = HEAL_COLOUR if kind == "heal" else ATTACK_COLOURS.get(int(state.owner[a]), DEATH_COLOUR)
            draw.line([pos[a, 0], pos[a, 1], pos[t, 0], pos[t, 1]], fill=colour, width=1)

    max_hp, max_shield = units.hp[utype], units.shields[utype]
    bar_h = max(1, int(round(min(3.0, max(1.0, scale * 0.12)))))
    for i in alive.tolist():
        x, y, r = pos[i, 0], pos[i, 1], radius[i]
        half = max(r, 3.0)
        top = y - r - 2 - bar_h
        _bar(draw, x - half, top, 2 * half, bar_h, state.hp[i] / max_hp[i], HP_COLOUR, HP_BACK)
        if max_shield[i] > 0:
            _bar(draw, x - half, top - bar_h - 1, 2 * half, bar_h, state.shield[i] / max_shield[i], SHIELD_COLOUR,
                 BACKGROUND)
    if height >= 48 and width >= 96:
        draw.text((MARGIN + 2, MARGIN + 1), f"loop {engine.loop}", fill=(230, 230, 230))
    return np.asarray(image, dtype=np.uint8).copy()


def _bar(draw: ImageDraw.ImageDraw, x: float, y: float, w: float, h: int, frac: float, colour: tuple, back: tuple):
    frac = float(np.clip(frac, 0.0, 1.0))
    draw.rectangle([x, y, x + w, y + h - 1], fill=back)
    if frac > 0:
        draw.rectangle([x, y, x + max(1.0, w * frac), y + h - 1], fill=colour)


def _check_frames(frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    frames = [np.asarray(f) for f in frames]
    if not frames:
        raise ValueError("no frames to write: expected at least one uint8 [H, W, 3] array")
    shape = frames[0].shape
    for k, frame in enumerate(frames):
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or frame.shape != shape:
            raise ValueError(
                f"frame {k} is {frame.dtype} {frame.shape}; expected uint8 [H, W, 3] like frame 0 {tuple(shape)}"
            )
    return frames


def _save_atomic(image: Image.Image, path: Path, fmt: str, **kwargs: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        image.save(tmp, format=fmt, **kwargs)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_gif(frames: Sequence[np.ndarray], path: str | Path, fps: float = 8.0) -> Path:
    """Write ``frames`` (uint8 [H, W, 3], same size) as a looping animated GIF at ``fps`` frames per second."""
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    images = [Image.fromarray(f) for f in _check_frames(frames)]
    duration = max(20, int(round(1000 / fps)))
    return _save_atomic(images[0], Path(path), "GIF", save_all=True, append_images=images[1:], duration=duration,
                        loop=0)


def write_png_strip(frames: Sequence[np.ndarray], path: str | Path, columns: int | None = None) -> Path:
    """Write ``frames`` side by side into one PNG: ``columns`` per row (default: up to 8), 2-pixel gaps."""
    frames = _check_frames(frames)
    columns = min(len(frames), 8) if columns is None else columns
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    rows = -(-len(frames) // columns)
    h, w, _ = frames[0].shape
    gap = 2
    sheet = np.zeros((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, 3), dtype=np.uint8)
    for k, frame in enumerate(frames):
        r, c = divmod(k, columns)
        sheet[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = frame
    return _save_atomic(Image.fromarray(sheet), Path(path), "PNG")
