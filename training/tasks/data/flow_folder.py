"""Frame pairs with ground-truth ``.flo`` flow on disk, in the MPI-Sintel, FlyingChairs or Middlebury layout.

- sintel: ``root/<pass>/<scene>/frame_0001.png`` and ``root/flow/<scene>/frame_0001.flo``; the pair frame_k,
  frame_k+1 has flow frame_k.flo, and every pass directory (clean, final, ...) gives its own pairs. Sintel's
  auxiliary directories (flow_viz, invalid, occlusions, depth, depth_viz, camdata_left, albedo) are not passes.
- chairs: ``root/00001_img1.ppm`` (or .png), ``root/00001_img2.ppm`` and ``root/00001_flow.flo``.
- middlebury: ``root/other-data/<Scene>/frame10.png``, ``frame11.png`` and ``root/other-gt-flow/<Scene>/flow10.flo``.

Headers are checked when the dataset is built (unusable pairs are skipped and counted); pixels load per item.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from training.tasks.data.errors import DataError
from training.tasks.data.flo import read_flo, read_flo_header

LAYOUTS = ("sintel", "chairs", "middlebury")
SINTEL_AUXILIARY = frozenset(
    {"flow", "flow_viz", "invalid", "occlusions", "depth", "depth_viz", "camdata_left", "albedo"}
)
SINTEL_FRAME = re.compile(r"frame_(\d+)\.(png|flo)")
CHAIRS_FILE = re.compile(r"(.+)_(img1|img2|flow)\.(ppm|png|flo)")

Pair = tuple[Path, Path, Path]  # (first image, second image, .flo)


def load_image(path: str | Path) -> np.ndarray:
    """An image file as RGB float32 [3, H, W] in [0, 1] (gray and palette images become RGB)."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    except (OSError, ValueError, SyntaxError) as error:
        raise DataError(path, f"cannot read image: {error}") from error
    return pixels.transpose(2, 0, 1) / 255


def _image_size(path: Path) -> tuple[int, int]:
    """(height, width) from an image header, without decoding the pixels."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, ValueError, SyntaxError) as error:
        raise DataError(path, f"cannot read image: {error}") from error
    return height, width


def load_flow_pair(image1: str | Path, image2: str | Path, flo: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(frames float32 [2, 3, H, W], flow float32 [H, W, 2]) from two images and a ``.flo``, checking their sizes."""
    first, second, flow = load_image(image1), load_image(image2), read_flo(flo)
    if first.shape != second.shape:
        raise DataError(image1, f"image is {_hw(first.shape[1:])} but {image2} is {_hw(second.shape[1:])}")
    if flow.shape[:2] != first.shape[1:]:
        raise DataError(flo, f"flow is {_hw(flow.shape[:2])} but {image1} is {_hw(first.shape[1:])}")
    return np.stack([first, second]), flow


def _hw(shape: tuple[int, ...]) -> str:
    """'HxW' (height x width) for messages."""
    return f"{shape[0]}x{shape[1]}"


def _sintel_pairs(root: Path) -> list[Pair]:
    """Candidate Sintel pairs (files may be missing): each flow file and each run of consecutive frames."""
    flow_root = root / "flow"
    if not flow_root.is_dir():
        return []
    candidates = []
    for pass_dir in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in SINTEL_AUXILIARY):
        for scene in sorted(p for p in pass_dir.iterdir() if p.is_dir()):
            frames = {int(m[1]) for m in map(SINTEL_FRAME.fullmatch, _names(scene)) if m and m[2] == "png"}
            if not frames:
                continue
            flows = {
                int(m[1]) for m in map(SINTEL_FRAME.fullmatch, _names(flow_root / scene.name)) if m and m[2] == "flo"
            }
            for k in sorted(flows | {k for k in frames if k + 1 in frames}):
                candidates.append(
                    (
                        scene / f"frame_{k:04d}.png",
                        scene / f"frame_{k + 1:04d}.png",
                        flow_root / scene.name / f"frame_{k:04d}.flo",
                    )
                )
    return candidates


def _chairs_pairs(root: Path) -> list[Pair]:
    """Candidate FlyingChairs pairs: one per file prefix that has any of img1, img2 or flow in ``root``."""
    found: dict[str, dict[str, Path]] = {}
    for name in _names(root):
        match = CHAIRS_FILE.fullmatch(name)
        if match and (match[2] == "flow") == (match[3] == "flo"):
            found.setdefault(match[1], {}).setdefault(match[2], root / name)
    return [
        (
            files.get("img1", root / f"{prefix}_img1.ppm"),
            files.get("img2", root / f"{prefix}_img2.ppm"),
            files.get("flow", root / f"{prefix}_flow.flo"),
        )
        for prefix, files in sorted(found.items())
    ]


def _middlebury_pairs(root: Path) -> list[Pair]:
    """Candidate Middlebury pairs: frame10 -> frame11 with flow10 for every scene in either directory."""
    data, truth = root / "other-data", root / "other-gt-flow"
    scenes = sorted({p.name for base in (data, truth) if base.is_dir() for p in base.iterdir() if p.is_dir()})
    return [(data / s / "frame10.png", data / s / "frame11.png", truth / s / "flow10.flo") for s in scenes]


def _names(directory: Path) -> list[str]:
    """Sorted file names in ``directory`` (none if it does not exist)."""
    return sorted(p.name for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []


FINDERS = {"sintel": _sintel_pairs, "chairs": _chairs_pairs, "middlebury": _middlebury_pairs}


def _problem(pair: Pair) -> str | None:
    """Why a candidate pair cannot be used (a ``skipped`` reason), or None if its headers agree."""
    image1, image2, flo = pair
    if not (image1.is_file() and image2.is_file()):
        return "missing image"
    if not flo.is_file():
        return "missing flo"
    try:
        sizes = {_image_size(image1), _image_size(image2)}
    except DataError:
        return "unreadable image"
    try:
        sizes.add(read_flo_header(flo))
    except DataError:
        return "unreadable flo"
    return "size mismatch" if len(sizes) > 1 else None


class FlowFolderDataset(Dataset):
    """Item i is (frames float32 [2, 3, H, W] RGB in [0, 1], flow float32 [H, W, 2] (u, v)) of ``pairs[i]``.

    Flow is returned as stored: Middlebury's unknown values (> 1e9) stay; use ``flo.valid_mask`` to drop them.
    """

    def __init__(self, root: str | Path, layout: str = "auto") -> None:
        root = Path(root)
        if layout != "auto" and layout not in LAYOUTS:
            raise ValueError(f"layout must be 'auto' or one of {', '.join(LAYOUTS)}, got {layout!r}")
        if not root.is_dir():
            raise DataError(root, "not a directory")
        tried = LAYOUTS if layout == "auto" else (layout,)
        candidates: list[Pair] = []
        for name in tried:
            candidates = FINDERS[name](root)
            if candidates:
                self.layout = name
                break
        skipped: Counter[str] = Counter()
        self.pairs: list[Pair] = []
        for pair in candidates:
            problem = _problem(pair)
            if problem is None:
                self.pairs.append(pair)
            else:
                skipped[problem] += 1
        self.skipped: dict[str, int] = dict(skipped)
        if not self.pairs:
            detail = f"; skipped {self.skipped}" if self.skipped else ""
            raise DataError(
                root, f"no frame pairs with .flo ground truth found (layouts tried: {', '.join(tried)}){detail}"
            )

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return load_flow_pair(*self.pairs[index])
