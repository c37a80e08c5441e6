"""Output directories are checked to be writable before a long job starts, so that a read-only mount, a full disk or
a file in the way stops the job at once with one error, instead of after hours of games or training."""

from __future__ import annotations

import tempfile
from pathlib import Path


class UnwritableError(ValueError):
    """An output directory that cannot be created or written."""


def writable_directory(path: str | Path, what: str) -> Path:
    """``path`` created (with its parents) and shown writable by writing and removing a file in it; raises
    ``UnwritableError`` naming ``what`` (e.g. "cache_dir"), the path and the system's reason."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write_check."):
            pass
    except OSError as error:
        raise UnwritableError(f"{what} {path}: cannot be written ({error.strerror or error})") from None
    return path
