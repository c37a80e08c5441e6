"""Contract action dict -> engine Commands, with validation (strict: raise; lenient: drop and say why).

The action dict and its field checks are the contract's (``envs.contract.action``). In Skirmish the grid spans the
engine's map: cell (i, j) means the map point ((i + 0.5) * width / resolution, (j + 0.5) * height / resolution).
Rows are resolved with the ``row_to_slot`` of the observation they refer to.

Selected units that cannot carry out the action type (a sieged tank told to move, a medivac told to attack a unit,
a ground-only weapon told to attack an air unit) are left out of the command, as SC2 rejects the order for those
units only; an action none of whose selected units can carry it out is illegal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numba import njit

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
from envs.contract.catalogue import ACTION_TYPES, ATTACK_UNIT, NUM_ACTION_TYPES, ActionType, Requirement, TargetRule
from envs.contract.spec import Spec
from envs.skirmish.catalogue import COMMANDS
from envs.skirmish.commands import Command
from envs.skirmish.observation import available_actions, slot_info

_REQUIREMENT_TEXT = {
    Requirement.any_unit: "a unit",
    Requirement.mobile: "a unit that can move",
    Requirement.armed: "a unit with a weapon",
    Requirement.armed_or_healer: "a unit with a weapon, or a healer that can move",
}


def translate(action: Mapping[str, Any], row_to_slot: np.ndarray, engine, player: int, spec: Spec,
              available: np.ndarray | None = None) -> list[Command]:  # fmt: skip
    """The engine commands for ``player``'s action (none for no_op); raises IllegalActionError if it is illegal.

    ``row_to_slot`` comes from the ``observe`` call the action answers; ``spec`` is ``skirmish_spec``'s (its
    ``max_units`` and ``location_resolution`` are used; the grid spans the engine's current map). ``available``:
    that observation's ``available_actions`` (``Match`` keeps them; computed from ``row_to_slot`` when not given).
    """
    index = action_type_index(action, NUM_ACTION_TYPES)
    kind = ACTION_TYPES[index]
    check_form(action, kind.arguments)
    command = COMMANDS[index]
    if command is None:
        return []
    info = slot_info(engine)
    st = engine.state
    rows_total = len(row_to_slot)
    if available is None:
        available = available_actions(info, row_to_slot, int(np.count_nonzero(info.mine[player][row_to_slot])))
    if not available[index]:
        raise IllegalActionError("action_type", f"{kind.name} ({index}) is not available to player {player} now")
    rows = selected_rows(action, rows_total, spec.max_units)
    slots = np.empty(len(rows), dtype=np.int64)
    problem, entry = _selected_slots(np.array(rows, dtype=np.int64), row_to_slot, st.owner, st.alive, player, slots)
    if problem == _ENEMY_UNIT:
        raise IllegalActionError(
            "selected_units", f"entry {entry}: row {rows[entry]} is an enemy unit; only player {player}'s units can "
            "be selected"
        )  # fmt: skip
    if problem == _DEAD_UNIT:
        raise IllegalActionError(
            "selected_units", f"entry {entry}: row {rows[entry]} (tag {st.tag[slots[entry]]}) is dead"
        )  # fmt: skip
    target = -1
    if kind.uses_target_unit:
        target = _target(action, kind, rows, row_to_slot, spec.max_units, engine, player)
    weapon = None
    if index == ATTACK_UNIT:  # the selected units' weapon must hit the target's kind
        weapon = info.hits_air if info.is_air[target] else info.hits_ground
    capable = _capable(slots, info.abilities, index, weapon)
    if capable.size == 0:
        need = _REQUIREMENT_TEXT[kind.requires]
        if index == ATTACK_UNIT:
            need += " that can hit " + ("air" if info.is_air[target] else "ground") + " units"
        raise IllegalActionError("selected_units", f"no selected unit can {kind.name}: it needs {need}")
    position = location(action, spec.location_resolution, engine.scenario) if kind.uses_location else None
    queued = queued_flag(action) if kind.uses_queued else False
    return [Command(command, tuple(capable.tolist()), target_unit=target, target_pos=position, queued=queued)]


def translate_lenient(
    action: Mapping[str, Any], row_to_slot: np.ndarray, engine, player: int, spec: Spec,
    available: np.ndarray | None = None,
) -> tuple[list[Command], str | None]:
    """Like ``translate``, but an illegal action is dropped: returns ``([], reason)`` instead of raising (a
    malformed one still raises ``MalformedActionError``: lenient is for the game's rules, not for the caller's
    bugs)."""
    try:
        return translate(action, row_to_slot, engine, player, spec, available), None
    except MalformedActionError:
        raise
    except IllegalActionError as error:
        return [], str(error)


_ENEMY_UNIT, _DEAD_UNIT = 1, 2  # _selected_slots' problems


@njit(cache=True)
def _selected_slots(rows, row_to_slot, owner, alive, player, slots):
    """The engine slots of the selected ``rows`` into ``slots``; returns (problem, entry): (0, -1), or the first
    entry that is not ``player``'s unit (``_ENEMY_UNIT``; every entry is checked for that first), else the first
    dead one (``_DEAD_UNIT``)."""
    for i in range(rows.size):
        slots[i] = row_to_slot[rows[i]]
    for i in range(rows.size):
        if owner[slots[i]] != player:
            return _ENEMY_UNIT, i
    for i in range(rows.size):
        if not alive[slots[i]]:
            return _DEAD_UNIT, i
    return 0, -1


@njit(cache=True)
def _capable(slots, abilities, index, weapon):
    """The ``slots`` (in order) whose unit can be selected for action type ``index`` and, given a ``weapon`` table
    (per slot: hits the target's kind), can hit the target."""
    keep = np.empty(slots.size, dtype=np.int64)
    count = 0
    for s in slots:
        if abilities[s, index] and (weapon is None or weapon[s]):
            keep[count] = s
            count += 1
    return keep[:count]


def _target(action, kind: ActionType, rows, row_to_slot, max_units: int, engine, player: int) -> int:
    row = int_scalar(action, "target_unit")
    if row == -1:
        raise IllegalActionError("target_unit", f"{kind.name} needs a target row, got -1")
    if not 0 <= row < len(row_to_slot):
        bad_row("target_unit", kind.name, row, len(row_to_slot), max_units)
    slot = int(row_to_slot[row])
    st = engine.state
    if not st.alive[slot]:
        raise IllegalActionError("target_unit", f"row {row} (tag {st.tag[slot]}) is dead")
    if kind.target is TargetRule.enemy:
        if st.owner[slot] == player:
            raise IllegalActionError(
                "target_unit", f"row {row} is player {player}'s own unit; {kind.name} needs an enemy"
            )
    elif row in rows:
        raise IllegalActionError("target_unit", f"row {row} is also selected; a unit cannot {kind.name} itself")
    fogged = getattr(engine, "fog", True) and player not in getattr(engine, "see_all", ())  # else all visible
    if fogged and st.owner[slot] != player and not engine.visible(player)[slot]:
        raise IllegalActionError("target_unit", f"row {row} (tag {st.tag[slot]}) is not visible to player {player}")
    return slot


def location(action: Mapping[str, Any], resolution: int, scenario) -> tuple[float, float]:
    """The map point of the action's ``target_location`` cell (its centre) on the scenario's map."""
    x, y = int_array(action, "target_location", 2).tolist()
    if not (0 <= x < resolution and 0 <= y < resolution):
        raise IllegalActionError(
            "target_location", f"cell ({x}, {y}) is outside the {resolution} x {resolution} grid; "
            f"expected 0..{resolution - 1} on each axis"
        )  # fmt: skip
    return (x + 0.5) * scenario.map_width / resolution, (y + 0.5) * scenario.map_height / resolution
