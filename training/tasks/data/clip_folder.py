"""Labelled audio-video clips from a folder, the input of the multimodal (video + audio + label) autoencoder.

On-disk layout::

    root/
      manifest.csv        header row naming the columns `clip` and `label` (any order; extra columns are ignored),
                          then one row per clip: `clip` = the clip's subdirectory of root, `label` = its class name
      classes.txt         optional: one class name per line, fixing the class order (label index = line order);
                          without it the classes are the sorted unique labels of the manifest
      <clip>/
        frames/*.png|jpg  the frames as images, in file-name order (any size and mode: converted to RGB) ...
        video.npy         ... or the frames as one array [T, H, W, 3]: uint8, or float in [0, 1]
                          (when both are present video.npy is used)
        audio.wav         PCM WAV (8/16/24/32-bit, any channel count: averaged to mono)

Each item is a dict: "video" float32 [num_frames, 3, image_size, image_size] in [0, 1] (the first num_frames frames,
resized with bilinear filtering when the size differs; non-square frames are stretched), "audio" float32
[num_frames * samples_per_frame] in [-1, 1] (the first samples, zero-padded when the file is shorter; with
`sample_rate` given, files at another rate are first resampled by linear interpolation, without an anti-aliasing
filter) and "label" int.

A malformed manifest or classes.txt raises DataError naming the file and line. Clips whose frames or audio cannot be
used (missing, too few frames, headers that do not parse) are skipped and counted in `skipped`; this is checked at
construction, while pixels and samples are decoded only when an item is read.
"""

from __future__ import annotations

import csv
import io
import operator
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from training.tasks.data.errors import DataError
from training.tasks.data.wav import read_wav, wav_info, write_wav

MANIFEST = "manifest.csv"
CLASSES = "classes.txt"
FRAMES_DIR = "frames"
VIDEO_NPY = "video.npy"
AUDIO = "audio.wav"
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class _Row:
    """One manifest row: the clip directory, its class name and the line it came from."""

    directory: Path
    label: str
    line: int


@dataclass(frozen=True)
class _Clip:
    """A usable clip: its directory, class index and frame images (None when video.npy holds the frames)."""

    directory: Path
    label: int
    frame_files: list[Path] | None


class _Unusable(Exception):
    """A clip that the folder loader skips; the message is the reason counted in `skipped`."""


def _read_text(path: Path) -> str:
    """A UTF-8 text file's contents (a BOM is allowed), or DataError."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not UTF-8 text (bad byte at offset {exc.start})") from None
    except OSError as exc:
        raise DataError(path, f"cannot read ({exc.strerror or exc})") from None


def _read_classes(path: Path) -> list[str]:
    """classes.txt: one unique class name per line (blank lines ignored)."""
    classes: dict[str, int] = {}
    for line, name in enumerate(_read_text(path).splitlines(), start=1):
        name = name.strip()
        if not name:
            continue
        if name in classes:
            raise DataError(path, f"duplicate class '{name}' (first on line {classes[name]})", line)
        classes[name] = line
    if not classes:
        raise DataError(path, "no class names (expected one class name per line)")
    return list(classes)


def _read_manifest(root: Path) -> list[_Row]:
    """manifest.csv: a header naming `clip` and `label`, then one row per clip whose directory must exist."""
    path = root / MANIFEST
    if not path.is_file():
        raise DataError(path, "missing (expected a CSV file with a header row 'clip,label')")
    reader = csv.reader(io.StringIO(_read_text(path)))
    rows: list[_Row] = []
    columns: tuple[int, int] | None = None
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            line = reader.line_num
            if columns is None:
                header = [cell.strip() for cell in cells]
                if "clip" not in header or "label" not in header:
                    raise DataError(path, f"header {header} must name the columns 'clip' and 'label'", line)
                columns = header.index("clip"), header.index("label")
                continue
            clip, label = (cells[i].strip() if i < len(cells) else "" for i in columns)
            for name, value in (("clip", clip), ("label", label)):
                if not value:
                    raise DataError(path, f"missing the '{name}' field", line)
            relative = Path(clip)
            if relative.is_absolute() or ".." in relative.parts:
                raise DataError(path, f"clip '{clip}' must be a subdirectory of {root}", line)
            if not (root / relative).is_dir():
                raise DataError(path, f"clip directory '{clip}' does not exist in {root}", line)
            rows.append(_Row(root / relative, label, line))
    except csv.Error as exc:
        raise DataError(path, f"not valid CSV ({exc})", reader.line_num) from None
    if columns is None:
        raise DataError(path, "empty (expected a header row 'clip,label')")
    return rows


def _frame_files(directory: Path, num_frames: int) -> list[Path] | None:
    """Check a clip's frames without decoding pixels; the image files to read, or None for video.npy."""
    npy = directory / VIDEO_NPY
    if npy.is_file():
        try:
            video = np.load(npy, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise _Unusable("unreadable frames") from exc
        if video.ndim != 4 or video.shape[3] != 3 or not (video.dtype == np.uint8 or video.dtype.kind == "f"):
            raise _Unusable("unreadable frames")
        if video.shape[0] < num_frames:
            raise _Unusable("too few frames")
        if video.dtype.kind == "f":
            head = np.asarray(video[:num_frames])
            if not (np.isfinite(head).all() and head.min() >= 0.0 and head.max() <= 1.0):
                raise _Unusable("video values outside [0, 1]")
        return None
    frames_dir = directory / FRAMES_DIR
    candidates = frames_dir.iterdir() if frames_dir.is_dir() else ()
    files = sorted((p for p in candidates if p.suffix.lower() in FRAME_SUFFIXES and p.is_file()), key=lambda p: p.name)
    if not files:
        raise _Unusable("no frames")
    if len(files) < num_frames:
        raise _Unusable("too few frames")
    for file in files[:num_frames]:
        try:
            with Image.open(file):
                pass
        except (OSError, ValueError, SyntaxError) as exc:
            raise _Unusable("unreadable frames") from exc
    return files[:num_frames]


def _check_audio(directory: Path) -> None:
    """Check that a clip's audio.wav exists and its header parses."""
    audio = directory / AUDIO
    if not audio.is_file():
        raise _Unusable("missing audio")
    try:
        wav_info(audio)
    except DataError as exc:
        raise _Unusable("unreadable audio") from exc


def _resize(frame: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of a float [H, W, 3] frame to [size, size, 3], channel by channel to keep float precision."""
    if frame.shape[:2] == (size, size):
        return frame
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(frame[..., c])).resize((size, size), Image.Resampling.BILINEAR))
        for c in range(3)
    ]
    return np.stack(channels, axis=-1)


def _resample(samples: np.ndarray, rate_in: int, rate_out: int, count: int) -> np.ndarray:
    """The first `count` (at most) samples of `samples` resampled from rate_in to rate_out by linear interpolation."""
    if len(samples) == 0:
        return samples
    available = (len(samples) - 1) * rate_out // rate_in + 1
    positions = np.arange(min(count, available)) * (rate_in / rate_out)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


class ClipFolderDataset(Dataset):
    """Map-style dataset of (video, audio, label) clips stored in the folder layout of this module."""

    def __init__(
        self, root: str | Path, num_frames: int, image_size: int, samples_per_frame: int, sample_rate: int | None = None
    ) -> None:
        for name, value in (
            ("num_frames", num_frames),
            ("image_size", image_size),
            ("samples_per_frame", samples_per_frame),
        ):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if sample_rate is not None and sample_rate < 1:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(self.root, "not a directory (expected a clip folder with manifest.csv)")
        self.num_frames = num_frames
        self.image_size = image_size
        self.samples_per_frame = samples_per_frame
        self.sample_rate = sample_rate

        rows = _read_manifest(self.root)
        classes_path = self.root / CLASSES
        if classes_path.is_file():
            self.classes = _read_classes(classes_path)
            known = set(self.classes)
            for row in rows:
                if row.label not in known:
                    raise DataError(self.root / MANIFEST, f"label '{row.label}' is not in {CLASSES}", row.line)
        else:
            self.classes = sorted({row.label for row in rows})
        index = {name: i for i, name in enumerate(self.classes)}

        self._clips: list[_Clip] = []
        skipped: Counter[str] = Counter()
        for row in rows:
            try:
                frame_files = _frame_files(row.directory, num_frames)
                _check_audio(row.directory)
            except _Unusable as reason:
                skipped[str(reason)] += 1
                continue
            self._clips.append(_Clip(row.directory, index[row.label], frame_files))
        self.skipped: dict[str, int] = dict(skipped)
        if not self._clips:
            raise DataError(
                self.root / MANIFEST, f"no usable clips among {len(rows)} listed (skipped: {self.skipped or 'none'})"
            )

    def __len__(self) -> int:
        return len(self._clips)

    def __getitem__(self, index: int) -> dict[str, Any]:
        clip = self._clips[index]
        return {"video": self._video(clip), "audio": self._audio(clip), "label": clip.label}

    def _video(self, clip: _Clip) -> np.ndarray:
        """The clip's first num_frames frames as float32 [T, 3, S, S] in [0, 1]."""
        size = self.image_size
        if clip.frame_files is None:
            video = np.load(clip.directory / VIDEO_NPY, mmap_mode="r", allow_pickle=False)[: self.num_frames]
            frames = np.asarray(video, dtype=np.float32)
            if video.dtype == np.uint8:
                frames /= 255.0
            frames = np.stack([_resize(frame, size) for frame in frames])
        else:
            decoded = []
            for file in clip.frame_files:
                try:
                    with Image.open(file) as image:
                        rgb = image.convert("RGB")
                except (OSError, ValueError, SyntaxError) as exc:
                    raise DataError(file, f"cannot decode image ({exc})") from None
                if rgb.size != (size, size):
                    rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
                decoded.append(np.asarray(rgb, dtype=np.float32) / 255.0)
            frames = np.stack(decoded)
        return np.ascontiguousarray(np.clip(frames, 0.0, 1.0).transpose(0, 3, 1, 2), dtype=np.float32)

    def _audio(self, clip: _Clip) -> np.ndarray:
        """The clip's first num_frames * samples_per_frame samples (at `sample_rate` if given), zero-padded."""
        count = self.num_frames * self.samples_per_frame
        samples, rate = read_wav(clip.directory / AUDIO)
        if self.sample_rate is not None and rate != self.sample_rate:
            samples = _resample(samples, rate, self.sample_rate, count)
        audio = np.zeros(count, dtype=np.float32)
        head = samples[:count]
        audio[: len(head)] = head
        return audio


def _check_classes(classes: list[str]) -> None:
    """Class names that survive the classes.txt round trip: non-empty, unique, one line, no outer whitespace."""
    if not classes:
        raise ValueError("classes must not be empty")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must be unique, got {classes}")
    for name in classes:
        if not name or name != name.strip() or "\n" in name or "\r" in name:
            raise ValueError(f"class name {name!r} must be non-empty, one line, without outer whitespace")


def write_clip_folder(
    root: str | Path, clips: Iterable[dict], classes: list[str], frames_as: str = "png", sample_rate: int = 16000
) -> None:
    """Write clips (dicts like the items: video [T, 3, H, W] float in [0, 1], audio float, label int) in this layout.

    Frames are stored as 8-bit PNG files or one uint8 video.npy (`frames_as` "png" or "npy") and audio as 16-bit WAV,
    so reading back is exact up to that quantisation. `root` must not exist yet or be empty.
    """
    if frames_as not in ("png", "npy"):
        raise ValueError(f"frames_as must be 'png' or 'npy', got {frames_as!r}")
    _check_classes(classes)
    root = Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(f"{root} exists and is not an empty directory")
    root.mkdir(parents=True, exist_ok=True)
    manifest = [("clip", "label")]
    for number, clip in enumerate(clips):
        video = np.asarray(clip["video"], dtype=np.float64)
        audio = np.asarray(clip["audio"], dtype=np.float64)
        label = operator.index(clip["label"])
        if video.ndim != 4 or video.shape[1] != 3:
            raise ValueError(f"clip {number}: video must be [T, 3, H, W], got shape {video.shape}")
        if not 0 <= label < len(classes):
            raise ValueError(f"clip {number}: label {label} is not a class index below {len(classes)}")
        name = f"clip_{number:05d}"
        directory = root / name
        directory.mkdir()
        frames = np.round(np.clip(video, 0.0, 1.0) * 255.0).astype(np.uint8).transpose(0, 2, 3, 1)
        if frames_as == "npy":
            np.save(directory / VIDEO_NPY, frames)
        else:
            (directory / FRAMES_DIR).mkdir()
            for t, frame in enumerate(frames):
                Image.fromarray(frame).save(directory / FRAMES_DIR / f"{t:05d}.png")
        write_wav(directory / AUDIO, audio, sample_rate)
        manifest.append((name, classes[label]))
    if len(manifest) == 1:
        raise ValueError("no clips to write")
    (root / CLASSES).write_text("".join(f"{name}\n" for name in classes), encoding="utf-8")
    with open(root / MANIFEST, "w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows(manifest)
