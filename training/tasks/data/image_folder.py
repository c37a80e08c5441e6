"""Labelled images in the torchvision ImageFolder layout: ``root/<class name>/<image files>``.

Every image file below a class folder (nested subfolders included) belongs to that class. Files are checked with
PIL at construction (their headers: cheap for any folder size); ones it cannot open or verify are skipped and counted
in ``skipped`` rather than failing the whole set. A file that passes but cannot be decoded when it is first loaded (a
truncated JPEG, say) is skipped from then on: its item is None (the task's collate leaves it out), a warning
names it, and ``skipped`` counts it once (across DataLoader workers too). An item is the image resized (shorter side
to ``image_size``, PIL bilinear) and centre-cropped to a square, as float32 ``[channels, image_size, image_size]`` in
[0, 1], with its class index.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from training.tasks.data.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".gif", ".webp")
UNDECODABLE = "corrupt image (cannot be decoded when loaded)"
DECODE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)

log = logging.getLogger("pstar.tasks")


def _check_image(path: Path) -> str | None:
    """Why PIL cannot use ``path`` as an image (a skip reason), or None when it opens and verifies."""
    try:
        with Image.open(path) as image:
            image.verify()
    except UnidentifiedImageError:
        return "not an image PIL can identify"
    except DECODE_ERRORS:
        return "corrupt image (PIL verify failed)"
    return None


def load_square(path: Path, image_size: int, channels: int) -> np.ndarray:
    """One image file as float32 ``[channels, image_size, image_size]`` in [0, 1]: resize the shorter side, crop."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")  # palette transparency must go through RGBA before RGB/L
        image = image.convert("RGB" if channels == 3 else "L")
    width, height = image.size
    scale = image_size / min(width, height)
    size = (max(image_size, round(width * scale)), max(image_size, round(height * scale)))
    image = image.resize(size, Image.Resampling.BILINEAR)
    left, top = (size[0] - image_size) // 2, (size[1] - image_size) // 2
    image = image.crop((left, top, left + image_size, top + image_size))
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    return np.ascontiguousarray(pixels[None] if channels == 1 else pixels.transpose(2, 0, 1))


class ImageFolderDataset(Dataset):
    """Map-style dataset of ``(image float32 [C, S, S] in [0, 1], label int)`` read from an ImageFolder tree."""

    def __init__(self, root: str | Path, image_size: int, channels: int = 3, classes: list[str] | None = None) -> None:
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        self.root = Path(root)
        self.image_size = image_size
        self.channels = channels
        if not self.root.is_dir():
            raise DataError(self.root, "not a directory; expected root/<class name>/<image files>")
        folders = sorted(entry.name for entry in self.root.iterdir() if entry.is_dir())
        if classes is None:
            if not folders:
                raise DataError(self.root, "no class folders; expected root/<class name>/<image files>")
            classes = folders
        missing = [name for name in classes if not (self.root / name).is_dir()]
        if missing:
            raise DataError(self.root, f"no folder for class(es) {missing}; class folders present: {folders}")
        self.classes: list[str] = list(classes)
        self.samples: list[tuple[Path, int]] = []
        skipped: Counter[str] = Counter()
        for label, name in enumerate(self.classes):
            for path in sorted((self.root / name).rglob("*")):
                if not path.is_file():
                    continue
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    skipped["not an image file suffix"] += 1
                    continue
                reason = _check_image(path)
                if reason is None:
                    self.samples.append((path, label))
                else:
                    skipped[reason] += 1
        self.checked: dict[str, int] = dict(skipped)
        self.undecodable = torch.zeros(len(self.samples), dtype=torch.bool).share_memory_()  # seen by every worker
        if not self.samples:
            raise DataError(
                self.root,
                f"no usable image in class folders {self.classes}; expected root/<class name>/<image>"
                f" with a suffix in {IMAGE_SUFFIXES} that PIL can read (skipped: {self.checked})",
            )

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def skipped(self) -> dict[str, int]:
        """Files left out, by reason: at construction, and those found undecodable when loaded so far."""
        found = int(self.undecodable.sum())
        return {**self.checked, UNDECODABLE: found} if found else dict(self.checked)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int] | None:
        """The item, or None for a file that cannot be decoded (skipped; see the module docstring)."""
        path, label = self.samples[index]
        if self.undecodable[index]:
            return None
        try:
            image = load_square(path, self.image_size, self.channels)
        except DECODE_ERRORS as error:
            self.undecodable[index] = True
            log.warning("skipping %s: passed the start-up check but cannot be decoded (%s)", path, error)
            return None
        return image, label

