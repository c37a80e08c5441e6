"""The one error a .SC2Replay that cannot be read raises, naming the file and what was wrong with it."""

from __future__ import annotations

from pathlib import Path


class ReplayReadError(ValueError):
    """A .SC2Replay file cannot be read: missing, truncated, corrupt, not a replay, or of an unsupported build.

    ``problem`` reads "<kind>: <detail>" (kinds: missing file, not a replay, truncated, corrupt, unsupported build);
    ``read_replays`` reports skipped files with it.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"SC2 replay {self.path}: {problem}")
