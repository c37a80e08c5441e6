"""Generated frame pairs with exactly known optical flow: the flow task's built-in data (FlyingChairs in miniature).

Each pair is rendered from analytic textures, so the flow is exact rather than estimated. A textured background
(random coloured Gaussian blobs plus sinusoid gratings, squashed into [0, 1] by a sigmoid) moves by a random
similarity transform about the image centre (translation, rotation, scaling: the global, camera-like motion), and
1..3 foreground objects (convex polygons and ellipses, each with its own texture) move by their own independent
similarity transforms (local motion). Every pixel is the texture evaluated at its exactly mapped point, and object
edges are a one-pixel linear ramp of the analytic signed distance, so no supersampling is needed. The smallest
texture wavelengths are about 5 pixels, which keeps point sampling and bilinear warping faithful.

The flow at pixel p is where the scene point seen at p in frame 1 is in frame 2, minus p; pixels on an object use
the object's motion, and occlusion is ignored (whatever frame 1 shows at p decides). With the defaults (32 x 48,
translation up to 3 px per axis, rotation up to 5 degrees, scaling up to 5 %) the flow is a few pixels: its mean
magnitude is about 2.4 px, 90 % of pixels move less than 3.7 px and the largest values reach about 6 px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from torch.utils.data import Dataset

EDGE_RAMP_PIXELS = 1.0  # width of the anti-aliased object edge
MIN_WAVELENGTH = 5.0  # pixels: the finest grating, well above the 2-pixel Nyquist limit
BLOB_SIGMA = (1.5, 5.0)  # pixels
PIXELS_PER_BLOB = 40.0  # texture density: one blob per this many square pixels of textured area
OBJECT_RADIUS = (0.15, 0.3)  # of min(height, width)
ELLIPSE_VERTICES = 48  # ellipses are drawn as fine convex polygons, so both shapes share one signed distance


def _rotation(angle: float) -> np.ndarray:
    """The 2x2 matrix rotating (x, y) by ``angle`` radians (counter-clockwise on screen with y pointing down)."""
    cos, sin = math.cos(angle), math.sin(angle)
    return np.array([[cos, -sin], [sin, cos]])


@dataclass(frozen=True)
class Similarity:
    """p -> centre + shift + scale * R(angle) @ (p - centre): rotate and scale about ``centre``, then shift."""

    centre: np.ndarray
    shift: np.ndarray
    scale: float
    angle: float

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Map points [..., 2] (x, y)."""
        return self.centre + self.shift + self.scale * (points - self.centre) @ _rotation(self.angle).T

    def invert(self, points: np.ndarray) -> np.ndarray:
        """The inverse map of points [..., 2] (x, y)."""
        return self.centre + (points - self.centre - self.shift) @ _rotation(self.angle) / self.scale


@dataclass(frozen=True)
class Texture:
    """A smooth random colour field: sigmoid(bias + coloured Gaussian blobs + coloured sinusoid gratings)."""

    bias: np.ndarray  # [3]
    blob_centres: np.ndarray  # [K, 2]
    blob_sigmas: np.ndarray  # [K]
    blob_colours: np.ndarray  # [K, 3]
    wave_vectors: np.ndarray  # [G, 2] radians per pixel
    wave_phases: np.ndarray  # [G]
    wave_colours: np.ndarray  # [G, 3]

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """RGB in (0, 1), shape [..., 3], at points [..., 2] (x, y)."""
        offsets = points[..., None, :] - self.blob_centres  # [..., K, 2]
        blobs = np.exp(-(offsets**2).sum(-1) / (2 * self.blob_sigmas**2))  # [..., K]
        waves = np.sin(points @ self.wave_vectors.T + self.wave_phases)  # [..., G]
        logits = self.bias + blobs @ self.blob_colours + waves @ self.wave_colours
        return 1 / (1 + np.exp(-logits))


def _random_texture(rng: np.random.Generator, low: np.ndarray, high: np.ndarray, num_waves: int) -> Texture:
    """A texture with blobs scattered over the box [low, high] (x, y) and gratings everywhere."""
    count = max(8, round(float(np.prod(high - low)) / PIXELS_PER_BLOB))
    wavelengths = rng.uniform(MIN_WAVELENGTH, 16.0, num_waves)
    directions = rng.uniform(0, 2 * np.pi, num_waves)
    wave_vectors = (2 * np.pi / wavelengths)[:, None] * np.stack([np.cos(directions), np.sin(directions)], -1)
    return Texture(
        bias=rng.normal(0, 0.5, 3),
        blob_centres=rng.uniform(low, high, (count, 2)),
        blob_sigmas=rng.uniform(*BLOB_SIGMA, count),
        blob_colours=rng.normal(0, 1.5, (count, 3)),
        wave_vectors=wave_vectors,
        wave_phases=rng.uniform(0, 2 * np.pi, num_waves),
        wave_colours=rng.normal(0, 0.5, (num_waves, 3)),
    )


@dataclass(frozen=True)
class ForegroundObject:
    """A convex textured shape in its own coordinates, placed in frame 1 by ``pose1`` and in frame 2 by ``pose2``."""

    vertices: np.ndarray  # [N, 2] counter-clockwise convex polygon in object coordinates
    texture: Texture  # in object coordinates, so it moves with the object
    pose1: Similarity
    pose2: Similarity

    def signed_distance(self, local: np.ndarray) -> np.ndarray:
        """Distance to the outline in object units, negative inside (exact inside, a lower bound outside)."""
        edges = np.roll(self.vertices, -1, axis=0) - self.vertices
        normals = np.stack([edges[:, 1], -edges[:, 0]], -1)
        normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
        offsets = (normals * self.vertices).sum(-1)
        return (local @ normals.T - offsets).max(-1)

    def alpha(self, points: np.ndarray, pose: Similarity) -> np.ndarray:
        """Coverage in [0, 1] at image points [..., 2] with the object at ``pose``: 1 inside, a ramp at the edge."""
        distance = self.signed_distance(pose.invert(points)) * pose.scale
        return np.clip(0.5 - distance / EDGE_RAMP_PIXELS, 0.0, 1.0)

    def colour(self, points: np.ndarray, pose: Similarity) -> np.ndarray:
        """RGB [..., 3] of the object's texture seen at image points [..., 2] with the object at ``pose``."""
        return self.texture(pose.invert(points))


@dataclass(frozen=True)
class Scene:
    """One pair's content: the background texture and its motion, and the foreground objects (bottom to top)."""

    background: Texture
    background_motion: Similarity
    objects: tuple[ForegroundObject, ...]

    def frame(self, grid: np.ndarray, second: bool) -> np.ndarray:
        """RGB [H, W, 3] of frame 1 or 2 at the pixel centres ``grid`` [H, W, 2]."""
        scene_points = self.background_motion.invert(grid) if second else grid
        image = self.background(scene_points)
        for item in self.objects:
            pose = item.pose2 if second else item.pose1
            alpha = item.alpha(grid, pose)[..., None]
            image = alpha * item.colour(grid, pose) + (1 - alpha) * image
        return image

    def weights(self, points: np.ndarray, second: bool) -> np.ndarray:
        """Layer weights [L + 1, ...] at image points [..., 2] of frame 1 or 2."""
        weights = np.ones((1, *points.shape[:-1]))
        for item in self.objects:  # each object covers what is below it by its coverage
            alpha = item.alpha(points, item.pose2 if second else item.pose1)
            weights = np.concatenate([weights * (1 - alpha), alpha[None]])
        return weights

    def flow_and_visibility(self, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flow [H, W, 2] of the layer frame 1 shows at each pixel, and where that point is seen in frame 2."""
        targets = [self.background_motion.apply(grid)]
        targets += [item.pose2.apply(item.pose1.invert(grid)) for item in self.objects]
        top = self.weights(grid, second=False).argmax(0)  # [H, W]
        target = np.take_along_axis(np.stack(targets), top[None, ..., None], axis=0)[0]
        seen = np.take_along_axis(self.weights(target, second=True), top[None], axis=0)[0] > 0.5
        height, width = grid.shape[:2]
        inside = (target[..., 0] >= 0) & (target[..., 0] <= width - 1)
        inside &= (target[..., 1] >= 0) & (target[..., 1] <= height - 1)
        return target - grid, seen & inside


class GeneratedFlowPairs(Dataset):
    """``num_pairs`` frame pairs; item i is (frames float32 [2, 3, H, W] in [0, 1], flow float32 [H, W, 2] (u, v)).

    Pixel p of frame 1 shows the scene point that frame 2 shows at p + flow(p). Item i depends only on
    (seed, i) and is rendered when asked for.
    """

    def __init__(
        self,
        num_pairs: int,
        size: tuple[int, int] = (32, 48),
        seed: int = 0,
        max_translation: float = 3.0,
        max_rotation_deg: float = 5.0,
        max_scale: float = 0.05,
        num_objects: tuple[int, int] = (1, 3),
    ) -> None:
        height, width = (int(value) for value in size)
        if num_pairs < 0:
            raise ValueError(f"num_pairs must be >= 0, got {num_pairs}")
        if height < 2 or width < 2:
            raise ValueError(f"size must be (height, width) with both >= 2, got {tuple(size)}")
        if min(max_translation, max_rotation_deg) < 0 or not 0 <= max_scale < 1:
            raise ValueError(
                "max_translation and max_rotation_deg must be >= 0 and max_scale in [0, 1), got "
                f"{max_translation}, {max_rotation_deg}, {max_scale}"
            )
        low, high = (int(value) for value in num_objects)
        if not 0 <= low <= high:
            raise ValueError(f"num_objects must be (low, high) with 0 <= low <= high, got {tuple(num_objects)}")
        self.num_pairs = int(num_pairs)
        self.size = (height, width)
        self.seed = int(seed)
        self.max_translation = float(max_translation)
        self.max_rotation = math.radians(max_rotation_deg)
        self.max_scale = float(max_scale)
        self.num_objects = (low, high)

    def __len__(self) -> int:
        return self.num_pairs

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        frames, flow, _ = self.with_visibility(index)
        return frames, flow

    def with_visibility(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Item ``index`` plus a bool [H, W] mask: True where frame 1's point is visible and inside frame 2."""
        scene = self.scene(index)
        height, width = self.size
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
        grid = np.stack([xs, ys], axis=-1)
        frames = np.stack([scene.frame(grid, second=False), scene.frame(grid, second=True)])
        flow, visible = scene.flow_and_visibility(grid)
        return frames.transpose(0, 3, 1, 2).astype(np.float32), flow.astype(np.float32), visible

    def scene(self, index: int) -> Scene:
        """The random content of item ``index``, drawn from a generator seeded by (seed, index)."""
        if not 0 <= index < self.num_pairs:
            raise IndexError(f"index {index} out of range for {self.num_pairs} pairs")
        rng = np.random.default_rng([self.seed, int(index)])
        height, width = self.size
        centre = np.array([(width - 1) / 2, (height - 1) / 2])
        # Motion brings in content from up to a few pixels outside the frame: texture a margin around it.
        margin = 4 + self.max_translation + (self.max_rotation + self.max_scale) * float(np.hypot(height, width))
        background = _random_texture(rng, np.full(2, -margin), np.array([width - 1, height - 1]) + margin, 3)
        objects = tuple(
            self._random_object(rng) for _ in range(rng.integers(self.num_objects[0], self.num_objects[1] + 1))
        )
        return Scene(background, self._random_motion(rng, centre, np.zeros(2), 1.0, 0.0), objects)

    def _random_motion(
        self, rng: np.random.Generator, centre: np.ndarray, shift: np.ndarray, scale: float, angle: float
    ) -> Similarity:
        """A random motion within the limits, composed after the pose (centre + shift, scale, angle)."""
        return Similarity(
            centre=centre,
            shift=shift + rng.uniform(-self.max_translation, self.max_translation, 2),
            scale=scale * (1 + rng.uniform(-self.max_scale, self.max_scale)),
            angle=angle + rng.uniform(-self.max_rotation, self.max_rotation),
        )

    def _random_object(self, rng: np.random.Generator) -> ForegroundObject:
        """A convex polygon (3-7 corners) or an ellipse with its own texture, its frame-1 pose and its own motion."""
        height, width = self.size
        radius = rng.uniform(*OBJECT_RADIUS) * min(height, width)
        corners = ELLIPSE_VERTICES if rng.random() < 0.4 else int(rng.integers(3, 8))
        # Corners on a circle in angular order form a convex polygon; stretching one axis keeps it convex.
        jitter = rng.uniform(-0.3, 0.3, corners) if corners < ELLIPSE_VERTICES else np.zeros(corners)
        angles = 2 * np.pi * (np.arange(corners) + jitter) / corners
        stretch = np.array([1.0, rng.uniform(0.5, 1.0)])
        vertices = radius * np.stack([np.cos(angles), np.sin(angles)], -1) * stretch
        extent = np.abs(vertices).max(0)
        texture = _random_texture(rng, -extent, extent, 3)
        origin = np.zeros(2)
        position = rng.uniform([0.1 * (width - 1), 0.1 * (height - 1)], [0.9 * (width - 1), 0.9 * (height - 1)])
        orientation = rng.uniform(0, 2 * np.pi)
        pose1 = Similarity(centre=origin, shift=position, scale=1.0, angle=orientation)
        motion = self._random_motion(rng, origin, position, 1.0, orientation)
        return ForegroundObject(vertices=vertices, texture=texture, pose1=pose1, pose2=motion)
