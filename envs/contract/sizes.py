"""The contract's sizes: default unit rows and location grid, and the check every spec builder and reader runs."""

from __future__ import annotations

DEFAULT_MAX_UNITS = 512
DEFAULT_RESOLUTION = 64
# Upper bounds, so a crafted spec, replay or checkpoint cannot ask for gigabytes: twice AlphaStar's 512 entities,
# and a location grid finer than StarCraft II's 256 x 256 frame needs.
MAX_UNIT_ROWS = 1024
MAX_RESOLUTION = 1024


def check_sizes(max_units: int, resolution: int, map_size: tuple[float, float]) -> None:
    """Raise ``ValueError`` naming the argument unless the spec's row count, grid and map frame are valid."""
    if not (isinstance(max_units, int) and not isinstance(max_units, bool) and 1 <= max_units <= MAX_UNIT_ROWS):
        raise ValueError(f"max_units must be an int in [1, {MAX_UNIT_ROWS}], got {max_units!r}")
    if not (isinstance(resolution, int) and not isinstance(resolution, bool) and 1 <= resolution <= MAX_RESOLUTION):
        raise ValueError(f"resolution must be an int in [1, {MAX_RESOLUTION}], got {resolution!r}")
    if len(map_size) != 2 or not all(isinstance(v, int | float) and v > 0 for v in map_size):
        raise ValueError(f"map_size must be (width, height) > 0 in map units, got {map_size!r}")
