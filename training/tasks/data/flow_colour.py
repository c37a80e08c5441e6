"""Middlebury colour coding of optical flow: hue shows the direction, saturation the magnitude.

The colour wheel has 55 colours in six segments (red-yellow 15, yellow-green 6, green-cyan 4, cyan-blue 11,
blue-magenta 13, magenta-red 6), as in Baker et al., "A Database and Evaluation Methodology for Optical Flow".
Zero flow is white, flow at the normalising magnitude is the fully saturated wheel colour, flow beyond it is
darkened, and unknown flow is black.
"""

from __future__ import annotations

import numpy as np

from training.tasks.data.flo import valid_mask

WHEEL_SEGMENTS = (15, 6, 4, 11, 13, 6)  # RY, YG, GC, CB, BM, MR


def colour_wheel() -> np.ndarray:
    """The 55 wheel colours float64 [55, 3] in 0..255, going red -> yellow -> green -> cyan -> blue -> magenta."""
    # Each segment ramps one channel while another stays at full: (ramped channel, constant channel, rising?).
    ramps = ((1, 0, True), (0, 1, False), (2, 1, True), (1, 2, False), (0, 2, True), (2, 0, False))
    pieces = []
    for count, (ramped, constant, rising) in zip(WHEEL_SEGMENTS, ramps, strict=True):
        piece = np.zeros((count, 3))
        step = np.floor(255 * np.arange(count) / count)
        piece[:, ramped] = step if rising else 255 - step
        piece[:, constant] = 255
        pieces.append(piece)
    return np.concatenate(pieces)


def flow_to_colour(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """uint8 [H, W, 3] picture of flow [H, W, 2]; magnitudes are divided by ``max_magnitude`` (default: largest)."""
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must have shape [H, W, 2], got {list(flow.shape)}")
    known = valid_mask(flow)
    u = np.where(known, flow[..., 0], 0.0)
    v = np.where(known, flow[..., 1], 0.0)
    magnitude = np.hypot(u, v)
    if max_magnitude is None:
        max_magnitude = float(magnitude.max()) if magnitude.size else 0.0
    if not max_magnitude > 0:
        max_magnitude = 1.0  # all-zero flow: any positive scale gives white
    radius = magnitude / max_magnitude

    wheel = colour_wheel() / 255
    count = len(wheel)
    position = (np.arctan2(-v, -u) / np.pi + 1) / 2 * (count - 1)  # 0 .. count - 1 around the wheel
    lower = np.floor(position).astype(int)
    upper = (lower + 1) % count
    weight = (position - lower)[..., None]
    colour = (1 - weight) * wheel[lower] + weight * wheel[upper]

    inside = (radius <= 1)[..., None]
    colour = np.where(inside, 1 - radius[..., None] * (1 - colour), colour * 0.75)
    colour = np.where(known[..., None], colour, 0.0)
    return np.floor(255 * colour).astype(np.uint8)
