"""The plain (JSON-serialisable) spec the agent is built from: sizes, column and scalar names, the catalogue.

The agent never imports ``envs``; everything it needs to size its featurizer and heads and to mask its choices
is in this dict: ``unit_types[*].abilities`` says which action types each SC2 unit type can be selected for
(units that cannot are left out of a command, see ``actions.py``), like AlphaStar's per-type action masks, and
``is_air`` / ``hits_ground`` / ``hits_air`` which targets a unit of the type can attack.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.skirmish.catalogue import (
    ACTION_TYPES,
    ARGUMENTS,
    MAX_SELECTED_UNITS,
    REPORT_ATTACK,
    REPORT_HEAL,
    REPORT_HOLD,
    REPORT_MOVE,
    REPORT_SCAN_MOVE,
    unit_abilities,
)
from envs.skirmish.columns import SCALARS, UNIT_COLUMNS, Alliance
from envs.skirmish.observation import DEFAULT_MAX_UNITS
from envs.skirmish.units import LOOPS_PER_SECOND, RACES, UnitTable, default_units

SPEC_VERSION = 1
DEFAULT_RESOLUTION = 64


def check_sizes(max_units: int, resolution: int, map_size: tuple[float, float]) -> None:
    """Raise ``ValueError`` naming the argument unless the spec's row count, grid and map frame are valid."""
    if not (isinstance(max_units, int) and max_units >= 1):
        raise ValueError(f"max_units must be an int >= 1, got {max_units!r}")
    if not (isinstance(resolution, int) and resolution >= 1):
        raise ValueError(f"resolution must be an int >= 1, got {resolution!r}")
    if len(map_size) != 2 or not all(isinstance(v, int | float) and v > 0 for v in map_size):
        raise ValueError(f"map_size must be (width, height) > 0 in map units, got {map_size!r}")


def contract_fields(env: str, map_size: tuple[float, float], max_units: int, resolution: int) -> dict[str, Any]:
    """The spec entries every environment shares (columns, scalars, arguments, sizes), after checking the sizes."""
    check_sizes(max_units, resolution, map_size)
    return {
        "env": env,
        "spec_version": SPEC_VERSION,
        "max_units": max_units,
        "unit_columns": list(UNIT_COLUMNS),
        "scalars": [name for name, _ in SCALARS],
        "scalar_descriptions": dict(SCALARS),
        "action_arguments": list(ARGUMENTS),
        "max_selected_units": MAX_SELECTED_UNITS,
        "location_resolution": resolution,
        "map_size": [float(map_size[0]), float(map_size[1])],
        "alliance": {a.name: int(a) for a in Alliance},
        "game_loops_per_second": LOOPS_PER_SECOND,
    }


def action_type_entry(a: Any) -> dict[str, Any]:
    """The spec entry of a catalogue action type (Skirmish or StarCraft II): index, name, arguments, raw function."""
    return {
        "index": a.index,
        "name": a.name,
        "arguments": list(a.arguments),
        "pysc2_function": a.function,
        "pysc2_function_id": a.function_id,
        "pysc2_function_type": a.function_type,
        "ability_id": a.ability_id,
    }


def skirmish_spec(
    map_size: tuple[float, float],
    *,
    max_units: int = DEFAULT_MAX_UNITS,
    resolution: int = DEFAULT_RESOLUTION,
    units: UnitTable | None = None,
) -> dict[str, Any]:
    """The spec of a Skirmish environment on a ``map_size`` (width, height) map; ``units``: the shipped table."""
    table = units if units is not None else default_units()
    can = unit_abilities(table.speed > 0, table.armed, table.healer)
    return {
        **contract_fields("skirmish", map_size, max_units, resolution),
        "action_types": [
            {**action_type_entry(a), "requires": a.requires.name, "target": a.target.name, "description": a.description}
            for a in ACTION_TYPES
        ],
        "unit_types": [
            {
                "name": name,
                "sc2_id": int(table.sc2_id[i]),
                "race": RACES[int(table.race[i])],
                "abilities": [a.name for a in ACTION_TYPES if can[i, a.index]],
                "is_air": bool(table.is_air[i]),
                "hits_ground": bool(table.hits_ground[i]),
                "hits_air": bool(table.hits_air[i]),
            }
            for i, name in enumerate(table.names)
        ],
        "unit_type_ids": sorted(int(v) for v in np.unique(table.sc2_id)),
        "order_ids": {
            "attack": REPORT_ATTACK.function_id,
            "move": REPORT_MOVE.function_id,
            "hold": REPORT_HOLD.function_id,
            "heal": REPORT_HEAL.function_id,
            "scan_move": REPORT_SCAN_MOVE.function_id,
        },
    }
