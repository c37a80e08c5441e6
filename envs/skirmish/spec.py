"""The spec of a Skirmish environment (``envs.contract.spec.Spec``): the base catalogue and Skirmish's unit types.

``unit_types[*].abilities`` says which action types each unit type can be selected for (units that cannot are
left out of a command, see ``actions.py``), like AlphaStar's per-type action masks; ``is_air``, ``hits_ground``
and ``hits_air`` say where it flies and what its weapon can hit.
"""

from __future__ import annotations

import functools

import numpy as np

from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP
from envs.contract.catalogue import ACTION_TYPES
from envs.contract.sizes import DEFAULT_MAX_UNITS, DEFAULT_RESOLUTION
from envs.contract.spec import RACES, ActionTypeEntry, Spec, UnitTypeEntry
from envs.skirmish.catalogue import (
    REPORT_ATTACK,
    REPORT_HEAL,
    REPORT_HOLD,
    REPORT_MOVE,
    REPORT_SCAN_MOVE,
    unit_abilities,
)
from envs.skirmish.units import UnitTable, default_units


def skirmish_spec(
    map_size: tuple[float, float],
    *,
    max_units: int = DEFAULT_MAX_UNITS,
    resolution: int = DEFAULT_RESOLUTION,
    units: UnitTable | None = None,
    actions_per_step: int = DEFAULT_ACTIONS_PER_STEP,
) -> Spec:
    """The spec of a Skirmish environment on a ``map_size`` (width, height) map; ``units``: the shipped table.

    ``actions_per_step`` is the match's action budget (no_ops free), published so that every player knows it.
    Specs are immutable: each is built once per set of arguments (every new game of an RL actor asks for one).
    """
    table = units if units is not None else default_units()
    return _skirmish_spec(tuple(map_size), int(max_units), int(resolution), table, int(actions_per_step))


@functools.lru_cache(maxsize=256)
def _skirmish_spec(map_size: tuple[float, float], max_units: int, resolution: int, table: UnitTable,
                   actions_per_step: int) -> Spec:  # fmt: skip
    can = unit_abilities(table.speed > 0, table.armed, table.healer)
    return Spec(
        env="skirmish",
        max_units=max_units,
        location_resolution=resolution,
        map_size=map_size,
        actions_per_step=actions_per_step,
        action_types=tuple(ActionTypeEntry.of(a) for a in ACTION_TYPES),
        unit_types=tuple(
            UnitTypeEntry(
                name=name,
                sc2_id=int(table.sc2_id[i]),
                race=RACES[int(table.race[i])],
                abilities=tuple(a.name for a in ACTION_TYPES if can[i, a.index]),
                is_air=bool(table.is_air[i]),
                hits_ground=bool(table.hits_ground[i]),
                hits_air=bool(table.hits_air[i]),
            )
            for i, name in enumerate(table.names)
        ),
        unit_type_ids=tuple(sorted(int(v) for v in np.unique(table.sc2_id))),
        order_ids={
            "attack": REPORT_ATTACK.function_id,
            "move": REPORT_MOVE.function_id,
            "hold": REPORT_HOLD.function_id,
            "heal": REPORT_HEAL.function_id,
            "scan_move": REPORT_SCAN_MOVE.function_id,
        },
    )
