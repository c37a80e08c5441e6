"""One error type for bad task data: it names the file (and the line or byte offset where there is one)."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """A data file or directory that does not hold what its format promises."""

    def __init__(self, path: str | Path, problem: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")
        self.path = Path(path)
        self.line = line
