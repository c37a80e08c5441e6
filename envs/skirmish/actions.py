"""Contract action dict -> engine Commands, with validation (strict: raise; lenient: drop and say why).

An action is a dict with ``action_type`` (catalogue index), ``selected_units`` (int ``[64]`` rows of the
observation, padded at the end with -1), ``target_unit`` (row or -1), ``target_location`` (int ``[2]``: x, y cell
of a ``resolution x resolution`` grid laid over the map; cell (i, j) means the map point ((i + 0.5) * width /
resolution, (j + 0.5) * height / resolution)) and ``queued`` (0 or 1). Only the keys the action type uses are read
(and required); the others are ignored. Rows are resolved with the ``row_to_slot`` of the observation they refer to.

Selected units that cannot carry out the action type (a sieged tank told to move, a medivac told to attack a unit,
a ground-only weapon told to attack an air unit) are left out of the command, as SC2 rejects the order for those
units only; an action none of whose selected units can carry it out is illegal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from envs.skirmish.catalogue import (
    ACTION_TYPES,
    ARGUMENTS,
    ATTACK_UNIT,
    MAX_SELECTED_UNITS,
    NUM_ACTION_TYPES,
    ActionType,
    Requirement,
    TargetRule,
)
from envs.skirmish.commands import Command
from envs.skirmish.observation import available_actions, slot_info

ACTION_KEYS = ("action_type", *ARGUMENTS)
_PADDING = [-1] * MAX_SELECTED_UNITS
_REQUIREMENT_TEXT = {
    Requirement.any_unit: "a unit",
    Requirement.mobile: "a unit that can move",
    Requirement.armed: "a unit with a weapon",
    Requirement.armed_or_healer: "a unit with a weapon, or a healer that can move",
}


class IllegalActionError(ValueError):
    """An action the contract forbids; ``field`` is the offending key, the message says what was expected."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"illegal action: {field}: {problem}")
        self.field = field
        self.problem = problem


def make_action(
    action_type: int,
    selected_units: tuple[int, ...] | list[int] | np.ndarray = (),
    target_unit: int = -1,
    target_location: tuple[int, int] = (0, 0),
    queued: int = 0,
) -> dict[str, Any]:
    """A well-formed action dict (selection padded to 64 with -1); handy for bots and tests."""
    selected = np.full(MAX_SELECTED_UNITS, -1, dtype=np.int64)
    rows = np.asarray(selected_units, dtype=np.int64).ravel()
    if rows.size > MAX_SELECTED_UNITS:
        raise IllegalActionError("selected_units", f"{rows.size} rows given, at most {MAX_SELECTED_UNITS} allowed")
    selected[: rows.size] = rows
    return {
        "action_type": int(action_type),
        "selected_units": selected,
        "target_unit": int(target_unit),
        "target_location": np.asarray(target_location, dtype=np.int64),
        "queued": int(queued),
    }


def translate(action: Mapping[str, Any], row_to_slot: np.ndarray, engine, player: int, spec: Mapping) -> list[Command]:
    """The engine commands for ``player``'s action (none for no_op); raises IllegalActionError if it is illegal.

    ``row_to_slot`` comes from the ``observe`` call the action answers; ``spec`` is ``skirmish_spec``'s dict (its
    ``max_units`` and ``location_resolution`` are used; the grid spans the engine's current map).
    """
    if not isinstance(action, Mapping):
        expected = f"expected a dict with keys {', '.join(ACTION_KEYS)}"
        raise IllegalActionError("action", f"{expected}, got {type(action).__name__}")
    unknown = [key for key in action if key not in ACTION_KEYS]
    if unknown:
        raise IllegalActionError("action", f"unknown key(s) {unknown}; expected keys {', '.join(ACTION_KEYS)}")
    index = int_scalar(action, "action_type")
    if not 0 <= index < NUM_ACTION_TYPES:
        raise IllegalActionError("action_type", f"{index} is not an action type; expected 0..{NUM_ACTION_TYPES - 1}")
    kind = ACTION_TYPES[index]
    if kind.command is None:
        return []
    info = slot_info(engine)
    st = engine.state
    rows_total = len(row_to_slot)
    n_own = int(np.count_nonzero(info.mine[player][row_to_slot]))  # own rows come first
    if not available_actions(info, row_to_slot, n_own)[index]:
        raise IllegalActionError("action_type", f"{kind.name} ({index}) is not available to player {player} now")
    rows = selected_rows(action, rows_total, spec["max_units"])
    slots = row_to_slot[rows]
    _check_own_alive(rows, slots, st, player)
    target = -1
    if kind.uses_target_unit:
        target = _target(action, kind, rows, row_to_slot, spec["max_units"], engine, player)
    capable = info.abilities[slots, index]
    if index == ATTACK_UNIT:
        capable &= info.hits_air[slots] if info.is_air[target] else info.hits_ground[slots]
    if not capable.any():
        need = _REQUIREMENT_TEXT[kind.requires]
        if index == ATTACK_UNIT:
            need += " that can hit " + ("air" if info.is_air[target] else "ground") + " units"
        raise IllegalActionError("selected_units", f"no selected unit can {kind.name}: it needs {need}")
    position = _location(action, spec["location_resolution"], engine.scenario) if kind.uses_location else None
    queued = queued_flag(action) if kind.uses_queued else False
    units = tuple(slots[capable].tolist())
    return [Command(kind.command, units, target_unit=target, target_pos=position, queued=queued)]


def translate_lenient(
    action: Mapping[str, Any], row_to_slot: np.ndarray, engine, player: int, spec: Mapping
) -> tuple[list[Command], str | None]:
    """Like ``translate``, but an illegal action is dropped: returns ``([], reason)`` instead of raising."""
    try:
        return translate(action, row_to_slot, engine, player, spec), None
    except IllegalActionError as error:
        return [], str(error)


def int_scalar(action: Mapping[str, Any], key: str) -> int:
    if key not in action:
        raise IllegalActionError(key, "missing; this action type uses it")
    value = action[key]
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        return int(value)
    array = np.asarray(value) if isinstance(value, np.ndarray) else None
    if array is not None and array.size == 1 and array.dtype.kind in "iu":
        return int(array.reshape(()))
    raise IllegalActionError(key, f"expected an int, got {_describe(value)}")


def int_array(action: Mapping[str, Any], key: str, length: int) -> np.ndarray:
    if key not in action:
        raise IllegalActionError(key, "missing; this action type uses it")
    value = action[key]
    array = np.asarray(value) if isinstance(value, np.ndarray | list | tuple) else None
    if array is None or array.shape != (length,) or array.dtype.kind not in "iu":
        raise IllegalActionError(key, f"expected an int array of shape ({length},), got {_describe(value)}")
    return array.astype(np.int64, copy=False)


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    if isinstance(value, list | tuple):
        return f"{type(value).__name__} of length {len(value)}: {value!r:.60}"
    return f"{type(value).__name__} {value!r:.60}"


def selected_rows(action: Mapping[str, Any], rows_total: int, max_units: int) -> list[int]:
    selected = int_array(action, "selected_units", MAX_SELECTED_UNITS).tolist()
    count = selected.index(-1) if -1 in selected else MAX_SELECTED_UNITS
    rows = selected[:count]
    if selected[count:] != _PADDING[count:]:
        i = count + next(i for i, v in enumerate(selected[count:]) if v != -1)
        if selected[i] < -1:
            raise IllegalActionError(
                "selected_units", f"entry {i} is {selected[i]}; expected a row index or -1 (padding)"
            )
        raise IllegalActionError(
            "selected_units", f"entry {i} is {selected[i]} after the -1 padding began at entry {count}; "
            "expected row indices first, then only -1"
        )  # fmt: skip
    if not rows:
        raise IllegalActionError("selected_units", "no unit selected (all -1); this action type needs at least one")
    if min(rows) < 0:
        i = next(i for i, v in enumerate(rows) if v < 0)
        raise IllegalActionError("selected_units", f"entry {i} is {rows[i]}; expected a row index or -1 (padding)")
    if max(rows) >= rows_total:
        i = next(i for i, v in enumerate(rows) if v >= rows_total)
        bad_row("selected_units", f"entry {i}", rows[i], rows_total, max_units)
    if len(set(rows)) != count:
        row = next(v for i, v in enumerate(rows) if v in rows[:i])
        raise IllegalActionError("selected_units", f"row {row} is selected more than once")
    return rows


def bad_row(field: str, where: str, row: int, rows_total: int, max_units: int) -> None:
    if row >= max_units or row < 0:
        raise IllegalActionError(field, f"{where}: row {row} is out of range; expected 0..{max_units - 1}")
    raise IllegalActionError(
        field, f"{where}: row {row} is a padding row (unit_mask is False; the observation has {rows_total} units)"
    )


def _check_own_alive(rows: list[int], slots: np.ndarray, st, player: int) -> None:
    if (st.owner[slots] != player).any():
        i = int(np.flatnonzero(st.owner[slots] != player)[0])
        raise IllegalActionError(
            "selected_units", f"entry {i}: row {rows[i]} is an enemy unit; only player {player}'s units can be selected"
        )
    if not st.alive[slots].all():
        i = int(np.flatnonzero(~st.alive[slots])[0])
        raise IllegalActionError("selected_units", f"entry {i}: row {rows[i]} (tag {st.tag[slots[i]]}) is dead")


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
    if st.owner[slot] != player and not engine.visible(player)[slot]:
        raise IllegalActionError("target_unit", f"row {row} (tag {st.tag[slot]}) is not visible to player {player}")
    return slot


def _location(action: Mapping[str, Any], resolution: int, scenario) -> tuple[float, float]:
    x, y = int_array(action, "target_location", 2).tolist()
    if not (0 <= x < resolution and 0 <= y < resolution):
        raise IllegalActionError(
            "target_location", f"cell ({x}, {y}) is outside the {resolution} x {resolution} grid; "
            f"expected 0..{resolution - 1} on each axis"
        )  # fmt: skip
    return (x + 0.5) * scenario.map_width / resolution, (y + 0.5) * scenario.map_height / resolution


def queued_flag(action: Mapping[str, Any]) -> bool:
    if "queued" in action and isinstance(action["queued"], bool | np.bool_):
        return bool(action["queued"])
    value = int_scalar(action, "queued")
    if value not in (0, 1):
        raise IllegalActionError("queued", f"expected 0 or 1, got {value}")
    return bool(value)
