"""Built-in multimodal clips: a shape moving over a smooth background, with a tone; both name the class.

Class k fixes the shape kind (circle, square, triangle, ...) and the pitch of the tone, so the label can be read from
the video alone or from the audio alone. Everything else is random per clip: the shape's colour, size, straight-line
path, the background gradient, and the tone's amplitude, harmonic mix and phases. Items match `ClipFolderDataset`.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from typing import Any

import numpy as np
from torch.utils.data import Dataset

# Shape masks in coordinates scaled by the shape's radius (u right, v down); True inside the shape.
_Mask = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _star(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A five-pointed star with a point upwards: the radius falls linearly from 1 at a point to 0.45 between points."""
    turns = (np.arctan2(v, u) + np.pi / 2) * 5 / (2 * np.pi)
    from_point = np.abs(turns - np.round(turns))
    return np.hypot(u, v) <= 0.45 + 0.55 * (1 - 2 * from_point)


SHAPES: dict[str, _Mask] = {
    "circle": lambda u, v: u**2 + v**2 <= 1,
    "square": lambda u, v: np.maximum(np.abs(u), np.abs(v)) <= 0.8,
    "triangle": lambda u, v: (v >= -0.9) & (v <= 0.8) & (np.abs(u) <= 0.9 * (v + 0.9) / 1.7),
    "cross": lambda u, v: ((np.abs(u) <= 0.3) & (np.abs(v) <= 1)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 1)),
    "ring": lambda u, v: (u**2 + v**2 <= 1) & (u**2 + v**2 >= 0.55**2),
    "diamond": lambda u, v: np.abs(u) + np.abs(v) <= 1,
    "horizontal bar": lambda u, v: (np.abs(u) <= 1) & (np.abs(v) <= 0.3),
    "vertical bar": lambda u, v: (np.abs(u) <= 0.3) & (np.abs(v) <= 1),
    "L shape": lambda u, v: (np.abs(u) <= 1) & (np.abs(v) <= 1) & ((u <= -0.4) | (v >= 0.4)),
    "star": _star,
}

# Pitch of class k as a fraction of the sample rate: evenly spaced, with the 2nd harmonic still below Nyquist.
PITCHES = np.linspace(0.06, 0.22, len(SHAPES))
FRAMES_PER_SECOND = 25
_SUPERSAMPLE = 4  # sub-pixels per pixel side, for anti-aliased shape edges


class MovingShapesClips(Dataset):
    """Generated (video, audio, label) clips, deterministic per (seed, index); labels cycle through the classes."""

    def __init__(
        self,
        num_clips: int,
        num_frames: int = 8,
        image_size: int = 32,
        samples_per_frame: int = 32,
        num_classes: int = 10,
        seed: int = 0,
    ) -> None:
        if num_clips < 1 or num_frames < 1 or samples_per_frame < 1:
            raise ValueError("num_clips, num_frames and samples_per_frame must be at least 1")
        if image_size < 8:
            raise ValueError(f"image_size must be at least 8 to draw a shape, got {image_size}")
        if not 1 <= num_classes <= len(SHAPES):
            raise ValueError(f"num_classes must be between 1 and {len(SHAPES)}, got {num_classes}")
        self.num_clips = num_clips
        self.num_frames = num_frames
        self.image_size = image_size
        self.samples_per_frame = samples_per_frame
        self.seed = seed
        self.classes: list[str] = list(SHAPES)[:num_classes]
        self.sample_rate = samples_per_frame * FRAMES_PER_SECOND
        # Sub-pixel centres, in pixel units, shared by every frame.
        grid = (np.arange(image_size * _SUPERSAMPLE) + 0.5) / _SUPERSAMPLE
        self._y, self._x = np.meshgrid(grid, grid, indexing="ij")

    def __len__(self) -> int:
        return self.num_clips

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.num_clips:
            raise IndexError(f"clip index {index} out of range for {self.num_clips} clips")
        rng = np.random.default_rng([self.seed, index])
        label = index % len(self.classes)
        return {"video": self._video(rng, label), "audio": self._audio(rng, label), "label": label}

    def pitch(self, label: int) -> float:
        """The fundamental frequency in Hz of class `label`'s tone at `sample_rate`."""
        return float(PITCHES[label] * self.sample_rate)

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        """A dark smooth background [3, S, S]: a linear gradient between two colours plus a gentle wave."""
        size = self.image_size
        y, x = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
        angle = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(angle) * x + np.sin(angle) * y
        ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
        start, end = rng.uniform(0.05, 0.35, size=(2, 3, 1, 1))
        wave = 0.05 * np.sin(2 * np.pi * (rng.uniform(0.5, 1.5) * x + rng.uniform(0.5, 1.5) * y) + rng.uniform(0, 7))
        return start + (end - start) * ramp + wave

    def _video(self, rng: np.random.Generator, label: int) -> np.ndarray:
        """float32 [T, 3, S, S] in [0, 1]: a bright shape of class `label` moving in a straight line, kept in view."""
        size, steps = self.image_size, self.num_frames
        background = self._background(rng)
        colour = np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.5, 1.0), rng.uniform(0.85, 1.0)))
        radius = rng.uniform(0.18, 0.28) * size
        low, high = radius + 0.5, size - radius - 0.5
        start = rng.uniform(low, high, size=2)
        end = rng.uniform(low, high, size=2)
        while np.linalg.norm(end - start) < (high - low) / 2:
            end = rng.uniform(low, high, size=2)
        mask = SHAPES[self.classes[label]]
        video = np.empty((steps, 3, size, size), dtype=np.float32)
        for t in range(steps):
            cy, cx = start + (end - start) * (t / max(steps - 1, 1))
            inside = mask((self._x - cx) / radius, (self._y - cy) / radius)
            cover = inside.reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE).mean(axis=(1, 3))
            video[t] = background * (1 - cover) + colour[:, None, None] * cover
        return np.clip(video, 0.0, 1.0)

    def _audio(self, rng: np.random.Generator, label: int) -> np.ndarray:
        """float32 [T * samples_per_frame] in [-1, 1]: class `label`'s pitch, a weaker 2nd harmonic, a little noise."""
        count = self.num_frames * self.samples_per_frame
        cycles = PITCHES[label] * np.arange(count)  # cycles of the fundamental elapsed at each sample
        amplitude = rng.uniform(0.3, 0.6)
        harmonic = rng.uniform(0.1, 0.4)
        phases = rng.uniform(0, 2 * np.pi, size=2)
        tone = np.sin(2 * np.pi * cycles + phases[0]) + harmonic * np.sin(4 * np.pi * cycles + phases[1])
        noise = rng.normal(0.0, 0.02, size=count)
        return np.clip(amplitude * tone + noise, -1.0, 1.0).astype(np.float32)
