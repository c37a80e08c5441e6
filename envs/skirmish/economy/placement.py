"""The placement grid of a full game: whole map cells, each free or held by one structure or resource.

As in StarCraft II, a structure of odd footprint is centred on a cell centre (x.5) and one of even footprint on a
cell corner (x.0), so ``snap`` moves a requested point to the nearest centre its footprint allows. Town halls keep
``TOWN_HALL_GAP`` cells from resources (SC2's rule that keeps them off the mineral line).
"""

from __future__ import annotations

import math

import numpy as np

FREE = 0
TOWN_HALL_GAP = 3  # cells between a town hall's footprint and any resource's


def snap(x: float, y: float, footprint: tuple[int, int]) -> tuple[float, float]:
    """The nearest centre for a ``(width, height)`` footprint: on a cell corner per even side, a centre per odd."""
    return _snap(x, footprint[0]), _snap(y, footprint[1])


def _snap(v: float, side: int) -> float:
    return float(round(v)) if side % 2 == 0 else math.floor(v) + 0.5


class PlacementGrid:
    """``occupant[y, x]``: FREE, or the id of what stands on the cell (ids are the caller's, > 0)."""

    def __init__(self, width: int, height: int) -> None:
        if width < 1 or height < 1:
            raise ValueError(f"placement grid must be at least 1 x 1 cells, got {width} x {height}")
        self.width, self.height = int(width), int(height)
        self.occupant = np.zeros((self.height, self.width), dtype=np.int32)
        self._resource = np.zeros((self.height, self.width), dtype=bool)

    def cells(self, x: float, y: float, footprint: tuple[int, int]) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)``: the cell range (end exclusive) a footprint centred at ``(x, y)`` covers."""
        x0, y0 = math.floor(x - footprint[0] / 2 + 1e-9), math.floor(y - footprint[1] / 2 + 1e-9)
        return x0, y0, x0 + footprint[0], y0 + footprint[1]

    def inside(self, x: float, y: float, footprint: tuple[int, int]) -> bool:
        x0, y0, x1, y1 = self.cells(x, y, footprint)
        return x0 >= 0 and y0 >= 0 and x1 <= self.width and y1 <= self.height

    def free(self, x: float, y: float, footprint: tuple[int, int]) -> bool:
        """Whether the footprint lies inside the map on free cells."""
        if not self.inside(x, y, footprint):
            return False
        x0, y0, x1, y1 = self.cells(x, y, footprint)
        return not self.occupant[y0:y1, x0:x1].any()

    def near_resource(self, x: float, y: float, footprint: tuple[int, int], gap: int = TOWN_HALL_GAP) -> bool:
        """Whether a resource's cell lies within ``gap`` cells of the footprint (the town-hall exclusion)."""
        x0, y0, x1, y1 = self.cells(x, y, footprint)
        x0, y0 = max(x0 - gap, 0), max(y0 - gap, 0)
        x1, y1 = min(x1 + gap, self.width), min(y1 + gap, self.height)
        return bool(self._resource[y0:y1, x0:x1].any())

    def place(self, x: float, y: float, footprint: tuple[int, int], occupant: int, resource: bool = False) -> None:
        """Mark the footprint's cells as ``occupant``'s; a clear error if they are not free."""
        if occupant <= FREE:
            raise ValueError(f"occupant ids must be > {FREE}, got {occupant}")
        if not self.free(x, y, footprint):
            raise ValueError(f"cannot place a {footprint[0]}x{footprint[1]} footprint at ({x}, {y}): "
                             "outside the map or on occupied cells")  # fmt: skip
        x0, y0, x1, y1 = self.cells(x, y, footprint)
        self.occupant[y0:y1, x0:x1] = occupant
        self._resource[y0:y1, x0:x1] = resource

    def clear(self, occupant: int) -> None:
        """Free every cell of ``occupant`` (a destroyed structure, a mined-out field)."""
        held = self.occupant == occupant
        self.occupant[held] = FREE
        self._resource[held] = False

    def copy(self) -> PlacementGrid:
        grid = PlacementGrid(self.width, self.height)
        grid.occupant[:] = self.occupant
        grid._resource[:] = self._resource
        return grid
