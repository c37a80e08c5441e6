"""Contract action dict -> pysc2 raw ``FunctionCall``, with validation (strict: raise; lenient: drop and say why).

The action dict is the contract's (``envs.contract.action``): ``action_type`` (catalogue index), ``selected_units``
(rows padded with -1), ``target_unit`` (row), ``target_location`` (cell of a ``resolution`` x ``resolution`` grid),
``queued``; only the keys the action type uses are read. The call is the catalogue's raw function
(``raw_cmd`` / ``raw_cmd_pt`` / ``raw_cmd_unit`` / ``raw_autocast``) with the exact int64 tags of the selected
rows and of the target row (pysc2's ``Features.transform_action`` treats a ``unit_tags`` value below the number
of raw units as a row position instead; SC2 tags are far larger) and, for a location, the point of the cell.

Locations (``LocationGrid``): the grid covers the spec's frame (``map_size``, 256 x 256 by default: the same
frame for every map, as the agent normalises positions over it); cell (i, j) means the map point
((i + 0.5) * frame_width / resolution, (j + 0.5) * frame_height / resolution) in the game's world frame, and a
cell whose centre lies outside the game's map is illegal. pysc2's raw ``world`` argument is a pixel of the
Features' ``raw_resolution`` (y flipped: pixel 0 is the map's top edge), which ``transform_action`` turns back into
the pixel's centre in world units; the env sets ``raw_resolution`` so that a pixel is a grid cell, so the game
receives the cell centre exactly when the map height is a multiple of a cell's height (4 map units by default;
otherwise y is off by at most half a cell).

Malformed (``MalformedActionError``, raised in lenient mode too): not a dict, unknown or missing keys, a value
that is not an int or an int array of the right shape. Illegal (``IllegalActionError``, field and reason; lenient
mode drops these): an action type outside the catalogue or not available in the observation the action answers;
no selected row, a row out of range or a padding row, a row after the -1 padding, a repeated row, a row that is
not one of the player's own units; a target row of -1, out of range or padding; a cell outside the grid or the
map; ``queued`` not 0/1. The game itself rejects a command that no selected unit can carry out
(``info["action_errors"]`` counts those).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.contract.action import (
    IllegalActionError,
    MalformedActionError,
    action_type_index,
    bad_row,
    check_form,
    int_array,
    int_scalar,
    queued_flag,
    selected_rows,
)
from envs.contract.catalogue import ActionType
from envs.contract.columns import Alliance
from envs.sc2.catalogue import catalogue
from envs.sc2.extra import require
from envs.sc2.observation import UnitRows


@dataclass(frozen=True)
class LocationGrid:
    """The ``resolution`` x ``resolution`` target grid over the spec's ``frame``, on a game map of ``map_size``."""

    frame: tuple[float, float]  # the spec's map_size (width, height) in map units
    resolution: int
    map_size: tuple[float, float]  # the game's map (width, height) in map units

    def cell_centre(self, i: int, j: int) -> tuple[float, float]:
        """The map point cell (i, j) stands for."""
        return (i + 0.5) * self.frame[0] / self.resolution, (j + 0.5) * self.frame[1] / self.resolution

    @property
    def raw_resolution(self) -> tuple[float, float]:
        """pysc2's ``raw_resolution`` for this map: its scale (resolution / max map side) makes a pixel one cell."""
        side = max(self.map_size)
        return self.resolution * side / self.frame[0], self.resolution * side / self.frame[1]

    def raw_point(self, i: int, j: int) -> tuple[int, int]:
        """pysc2's ``world`` argument (a raw pixel, y from the top) whose centre is cell (i, j)'s centre."""
        cells_high = self.map_size[1] * self.resolution / self.frame[1]
        return int(i), math.floor(cells_high - j - 0.5)

    def world_point(self, i: int, j: int) -> tuple[float, float]:
        """The point the game receives for cell (i, j) (pysc2's back transform of ``raw_point``)."""
        px, py = self.raw_point(i, j)
        cell_w, cell_h = self.frame[0] / self.resolution, self.frame[1] / self.resolution
        return (px + 0.5) * cell_w, self.map_size[1] - (py + 0.5) * cell_h


def to_function_call(action: Mapping[str, Any], rows: UnitRows, available: np.ndarray, grid: LocationGrid) -> Any:
    """The pysc2 ``FunctionCall`` for ``action`` answering an observation with ``rows`` and ``available`` actions.

    Raises IllegalActionError if the action is illegal (see the module docstring)."""
    actions = require("pysc2_evolved.lib.actions", "StarCraft II actions")
    cat = catalogue()
    index = action_type_index(action, len(cat))
    kind = cat.action_types[index]
    check_form(action, kind.arguments)
    function = actions.RAW_FUNCTIONS[kind.function_id]
    if kind.function_type == "raw_no_op":
        return function()
    if not available[index]:
        raise IllegalActionError("action_type", f"{kind.name} ({index}) is not available now: no own unit can "
                                                "carry it out (see available_actions)")  # fmt: skip
    max_units = rows.max_units
    selected = selected_rows(action, len(rows.tags), max_units)
    for i, row in enumerate(selected):
        if rows.alliance[row] != Alliance.self:
            who = Alliance(int(rows.alliance[row])).name
            raise IllegalActionError(
                "selected_units", f"entry {i}: row {row} is a unit of alliance {who}; only the player's own units "
                f"(rows 0..{rows.own - 1}) can be selected"
            )  # fmt: skip
    tags = [int(rows.tags[row]) for row in selected]
    queued = int(queued_flag(action)) if "queued" in kind.arguments else 0
    if kind.function_type == "raw_autocast":
        return function(tags)
    if kind.function_type == "raw_cmd":
        return function(queued, tags)
    if kind.function_type == "raw_cmd_unit":
        return function(queued, tags, int(rows.tags[_target_row(action, kind, rows, max_units)]))
    return function(queued, tags, grid.raw_point(*_cell(action, grid)))


def to_function_call_lenient(
    action: Mapping[str, Any], rows: UnitRows, available: np.ndarray, grid: LocationGrid
) -> tuple[Any | None, str | None]:
    """Like ``to_function_call``, but an illegal action is dropped: ``(None, reason)`` instead of raising (a
    malformed one still raises ``MalformedActionError``)."""
    try:
        return to_function_call(action, rows, available, grid), None
    except MalformedActionError:
        raise
    except IllegalActionError as error:
        return None, str(error)


def _target_row(action: Mapping[str, Any], kind: ActionType, rows: UnitRows, max_units: int) -> int:
    row = int_scalar(action, "target_unit")
    if row == -1:
        raise IllegalActionError("target_unit", f"{kind.name} needs a target row, got -1")
    if not 0 <= row < len(rows.tags):
        bad_row("target_unit", kind.name, row, len(rows.tags), max_units)
    return row


def _cell(action: Mapping[str, Any], grid: LocationGrid) -> tuple[int, int]:
    i, j = int_array(action, "target_location", 2).tolist()
    res = grid.resolution
    if not (0 <= i < res and 0 <= j < res):
        raise IllegalActionError(
            "target_location", f"cell ({i}, {j}) is outside the {res} x {res} grid; expected 0..{res - 1} on each axis"
        )
    x, y = grid.cell_centre(i, j)
    width, height = grid.map_size
    if not (x < width and y < height):
        raise IllegalActionError(
            "target_location", f"cell ({i}, {j}) is the point ({x:g}, {y:g}), outside this map "
            f"({width:g} x {height:g} map units; the grid covers {grid.frame[0]:g} x {grid.frame[1]:g})"
        )  # fmt: skip
    return i, j
