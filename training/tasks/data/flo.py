"""Middlebury / Sintel ``.flo`` optical-flow files: read, write and the mask of known flow.

Layout (little-endian): float32 magic 202021.25 (the bytes ``b"PIEH"``), int32 width, int32 height, then
height * width * 2 float32, row-major, with (u, v) interleaved per pixel: u is the horizontal (x) displacement
and v the vertical (y) one. Middlebury marks unknown flow with values above 1e9; they are read as they are.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from training.tasks.data.errors import DataError

FLO_MAGIC = b"PIEH"  # float32 202021.25, little-endian
HEADER_BYTES = 12
MAX_DIMENSION = 100_000
UNKNOWN_FLOW_THRESHOLD = 1e9


def read_flo_header(path: str | Path) -> tuple[int, int]:
    """(height, width) of a ``.flo`` file after checking its magic, dimensions and total size; DataError if bad."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            header = handle.read(HEADER_BYTES)
        size = path.stat().st_size
    except OSError as error:
        raise DataError(path, f"cannot read .flo file: {error.strerror or error}") from error
    return _check_header(path, header, size)


def _check_header(path: Path, header: bytes, size: int) -> tuple[int, int]:
    """Validate the 12 header bytes against the file size; returns (height, width)."""
    if len(header) < HEADER_BYTES:
        raise DataError(path, f"truncated .flo header: expected {HEADER_BYTES} bytes, found {len(header)}")
    if header[:4] != FLO_MAGIC:
        found = float(np.frombuffer(header[:4], dtype="<f4")[0])
        raise DataError(
            path, f"bad .flo magic at byte 0: expected {FLO_MAGIC!r} (202021.25), found {header[:4]!r} ({found!r})"
        )
    width, height = (int(value) for value in np.frombuffer(header[4:12], dtype="<i4"))
    for name, value, offset in (("width", width, 4), ("height", height, 8)):
        if not 0 < value <= MAX_DIMENSION:
            raise DataError(path, f"bad .flo {name} at byte {offset}: expected 1..{MAX_DIMENSION}, found {value}")
    expected = HEADER_BYTES + height * width * 2 * 4
    if size != expected:
        kind = "truncated" if size < expected else "oversized"
        raise DataError(path, f"{kind} .flo payload for {width}x{height}: expected {expected} bytes, found {size}")
    return height, width


def read_flo(path: str | Path) -> np.ndarray:
    """Flow float32 [H, W, 2] (u = x, v = y displacement) from a ``.flo`` file; unknown values are kept."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(path, f"cannot read .flo file: {error.strerror or error}") from error
    height, width = _check_header(path, data[:HEADER_BYTES], len(data))
    payload = np.frombuffer(data, dtype="<f4", offset=HEADER_BYTES)
    return payload.reshape(height, width, 2).astype(np.float32)


def write_flo(path: str | Path, flow: np.ndarray) -> None:
    """Write flow [H, W, 2] as a ``.flo`` file (via a temporary file, so a reader never sees half a file)."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2 or flow.shape[0] < 1 or flow.shape[1] < 1:
        raise ValueError(f"flow must have shape [H, W, 2] with H, W >= 1, got {list(flow.shape)}")
    height, width = flow.shape[:2]
    if max(height, width) > MAX_DIMENSION:
        raise ValueError(f"flow dimensions must be at most {MAX_DIMENSION}, got {height}x{width}")
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    header = FLO_MAGIC + np.array([width, height], dtype="<i4").tobytes()
    with temporary.open("wb") as handle:
        handle.write(header)
        handle.write(np.ascontiguousarray(flow, dtype="<f4").tobytes())
    os.replace(temporary, path)


def valid_mask(flow: np.ndarray) -> np.ndarray:
    """Bool [H, W]: True where both components are finite and below Middlebury's unknown-flow threshold."""
    flow = np.asarray(flow)
    known = np.isfinite(flow) & (np.abs(flow) < UNKNOWN_FLOW_THRESHOLD)
    return known.all(axis=-1)
