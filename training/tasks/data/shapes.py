"""Built-in image classification data: ten generated shapes over a cluttered background, plus an ImageFolder writer.

Each image holds one filled shape (circle, square, triangle, cross, ring, diamond, star, horizontal bar pair, L shape,
hexagon) with a random colour, size, position and rotation, over a random colour gradient with faint distractor lines
and dots and per-pixel noise. Colours are drawn independently of the class, so only the outline tells the classes
apart; shapes whose rotated copies would look like another class (square vs diamond, the bar pair) only turn a
little, and the diamond is a non-square rhombus. Drawing happens at 4x resolution and is box-filtered down, so
edges are anti-aliased and small details (hexagon vs circle, ring hole) matter. Items are generated lazily and
depend only on ``(seed, index)``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from torch.utils.data import Dataset

SHAPES = ("circle", "square", "triangle", "cross", "ring", "diamond", "star", "bar_pair", "l_shape", "hexagon")
_MAX_TURN = {"square": 15.0, "diamond": 15.0, "bar_pair": 15.0}  # degrees; other shapes turn freely
_SUPERSAMPLE = 4
MIN_IMAGE_SIZE = 32


def _regular(corners: int, radius: float, phase: float = 0.0) -> list[tuple[float, float]]:
    """Corners of a regular polygon around the origin (y down), the first one straight up."""
    return [
        (radius * math.sin(phase + 2 * math.pi * k / corners), -radius * math.cos(phase + 2 * math.pi * k / corners))
        for k in range(corners)
    ]


def _outline(shape: str) -> list[list[tuple[float, float]]]:
    """The shape as filled polygons in unit coordinates (every point within radius 1 of the origin)."""
    if shape == "square":
        return [[(-0.7, -0.7), (0.7, -0.7), (0.7, 0.7), (-0.7, 0.7)]]
    if shape == "triangle":
        return [_regular(3, 1.0)]
    if shape == "cross":
        arm, half = 0.95, 0.28
        return [
            [(-arm, -half), (arm, -half), (arm, half), (-arm, half)],
            [(-half, -arm), (half, -arm), (half, arm), (-half, arm)],
        ]
    if shape == "diamond":
        return [[(0.0, -1.0), (0.55, 0.0), (0.0, 1.0), (-0.55, 0.0)]]
    if shape == "star":
        outer, inner = _regular(5, 1.0), _regular(5, 0.42, math.pi / 5)
        return [[point for pair in zip(outer, inner, strict=True) for point in pair]]
    if shape == "bar_pair":
        return [
            [(-0.9, -0.45), (0.9, -0.45), (0.9, -0.1), (-0.9, -0.1)],
            [(-0.9, 0.1), (0.9, 0.1), (0.9, 0.45), (-0.9, 0.45)],
        ]
    if shape == "l_shape":
        return [[(-0.6, -0.75), (-0.2, -0.75), (-0.2, 0.35), (0.6, 0.35), (0.6, 0.75), (-0.6, 0.75)]]
    if shape == "hexagon":
        return [_regular(6, 1.0)]
    raise ValueError(f"{shape} is not a polygon shape")


def _gradient(rng: np.random.Generator, size: int) -> np.ndarray:
    """A dark linear colour gradient ``[size, size, 3]`` (every channel <= 0.45) in a random direction."""
    start = rng.uniform(0.0, 0.4, 3)
    end = np.clip(start + rng.uniform(-0.2, 0.2, 3), 0.0, 0.45)
    angle = rng.uniform(0.0, 2 * math.pi)
    coords = (np.arange(size) + 0.5) / size
    along = math.cos(angle) * coords[None, :] + math.sin(angle) * coords[:, None]
    along = (along - along.min()) / (along.max() - along.min())
    return start + (end - start) * along[..., None]


def _bright_colour(rng: np.random.Generator) -> np.ndarray:
    """A random hue with one channel >= 0.85: the shape is lighter than the dark background and its clutter, so
    single pixels tell shape from background (as in MNIST) while the colour says nothing about the class."""
    colour = rng.uniform(0.2, 1.0, 3)
    colour[int(rng.integers(3))] = rng.uniform(0.85, 1.0)
    return colour


def _blend(canvas: np.ndarray, mask: Image.Image, colour: np.ndarray, alpha: float = 1.0) -> None:
    """Paint ``colour`` into ``canvas`` (in place) where ``mask`` is set, with opacity ``alpha``."""
    weight = np.asarray(mask, dtype=np.float32)[..., None] * (alpha / 255.0)
    canvas += weight * (colour - canvas)


def render_shape(shape: str, rng: np.random.Generator, image_size: int) -> np.ndarray:
    """One cluttered image of ``shape`` as float32 ``[3, S, S]`` in [0, 1], all randomness drawn from ``rng``."""
    big = image_size * _SUPERSAMPLE
    canvas = _gradient(rng, big)
    for _ in range(int(rng.integers(2, 5))):  # faint thin lines
        mask = Image.new("L", (big, big))
        ImageDraw.Draw(mask).line(
            [tuple(rng.uniform(0, big, 2)), tuple(rng.uniform(0, big, 2))], fill=255, width=_SUPERSAMPLE
        )
        _blend(canvas, mask, rng.uniform(0.0, 0.7, 3), float(rng.uniform(0.3, 0.6)))
    for _ in range(int(rng.integers(3, 9))):  # faint dots
        mask = Image.new("L", (big, big))
        x, y = rng.uniform(0, big, 2)
        r = rng.uniform(0.5, 1.2) * _SUPERSAMPLE
        ImageDraw.Draw(mask).ellipse([x - r, y - r, x + r, y + r], fill=255)
        _blend(canvas, mask, rng.uniform(0.0, 0.7, 3), float(rng.uniform(0.3, 0.6)))

    colour = _bright_colour(rng)
    radius = rng.uniform(0.2, 0.4) * image_size
    centre = rng.uniform(radius + 1, image_size - radius - 1, 2) * _SUPERSAMPLE
    limit = _MAX_TURN.get(shape, 180.0)
    turn = math.radians(rng.uniform(-limit, limit))
    scale = radius * _SUPERSAMPLE
    mask = Image.new("L", (big, big))
    draw = ImageDraw.Draw(mask)
    if shape in ("circle", "ring"):
        box = [centre[0] - scale, centre[1] - scale, centre[0] + scale, centre[1] + scale]
        draw.ellipse(box, fill=255)
        if shape == "ring":
            hole = 0.55 * scale
            draw.ellipse([centre[0] - hole, centre[1] - hole, centre[0] + hole, centre[1] + hole], fill=0)
    else:
        cos, sin = math.cos(turn), math.sin(turn)
        for polygon in _outline(shape):
            points = [
                (centre[0] + scale * (x * cos - y * sin), centre[1] + scale * (x * sin + y * cos)) for x, y in polygon
            ]
            draw.polygon(points, fill=255)
    _blend(canvas, mask, colour)

    small = canvas.reshape(image_size, _SUPERSAMPLE, image_size, _SUPERSAMPLE, 3).mean(axis=(1, 3))
    small += rng.normal(0.0, rng.uniform(0.02, 0.06), small.shape)
    return np.ascontiguousarray(np.clip(small, 0.0, 1.0).transpose(2, 0, 1), dtype=np.float32)


class ShapesDataset(Dataset):
    """``num_samples`` generated ``(image float32 [3, S, S] in [0, 1], label int)``; label = index % num_classes."""

    def __init__(self, num_samples: int, image_size: int = 32, num_classes: int = 10, seed: int = 0) -> None:
        if image_size < MIN_IMAGE_SIZE:
            raise ValueError(
                f"image_size must be at least {MIN_IMAGE_SIZE} for the shapes to stay legible, got {image_size}"
            )
        if not 2 <= num_classes <= len(SHAPES):
            raise ValueError(f"num_classes must be between 2 and {len(SHAPES)}, got {num_classes}")
        if num_samples < 1:
            raise ValueError(f"num_samples must be positive, got {num_samples}")
        self.num_samples = num_samples
        self.image_size = image_size
        self.seed = seed
        self.classes: list[str] = list(SHAPES[:num_classes])

    def __len__(self) -> int:
        return self.num_samples

    def label(self, index: int) -> int:
        """The class of item ``index`` without rendering it."""
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        return index % len(self.classes)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        label = self.label(index)
        rng = np.random.default_rng([self.seed, index])
        return render_shape(self.classes[label], rng, self.image_size), label


def save_image_folder(dataset: Any, root: str | Path) -> Path:
    """Write ``(image [C, H, W] in [0, 1], label)`` items as ``root/<class name>/<index>.png`` (an ImageFolder tree).

    Class names come from ``dataset.classes``; a dataset without them gets folders named by label number.
    """
    root = Path(root)
    classes = getattr(dataset, "classes", None)
    for index in range(len(dataset)):
        image, label = dataset[index]
        folder = root / (classes[label] if classes is not None else str(label))
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.round(np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)
        picture = Image.fromarray(pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0))
        picture.save(folder / f"{index:06d}.png")
    return root
