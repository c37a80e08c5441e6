"""Reading a contract action dict: its well-formed form, and the checks of its fields every environment shares.

An action is a dict with ``action_type`` (catalogue index), ``selected_units`` (int ``[64]`` rows of the
observation, padded at the end with -1), ``target_unit`` (row or -1), ``target_location`` (int ``[2]``: x, y cell
of the ``resolution x resolution`` grid over the spec's ``map_size``) and ``queued`` (0 or 1). Only the keys the
action type uses are read (and required); the others are ignored. A violation raises ``IllegalActionError``
naming the field and what was expected; the environments add their own checks (ownership, visibility, targets).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from envs.contract.arguments import ACTION_KEYS, MAX_SELECTED_UNITS

_PADDING = [-1] * MAX_SELECTED_UNITS


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


def action_type_index(action: Any, num_action_types: int) -> int:
    """The action's ``action_type`` after checking the dict's keys and the index's range (IllegalActionError)."""
    if not isinstance(action, Mapping):
        expected = f"expected a dict with keys {', '.join(ACTION_KEYS)}"
        raise IllegalActionError("action", f"{expected}, got {type(action).__name__}")
    unknown = [key for key in action if key not in ACTION_KEYS]
    if unknown:
        raise IllegalActionError("action", f"unknown key(s) {unknown}; expected keys {', '.join(ACTION_KEYS)}")
    index = int_scalar(action, "action_type")
    if not 0 <= index < num_action_types:
        raise IllegalActionError("action_type", f"{index} is not an action type; expected 0..{num_action_types - 1}")
    return index


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


def queued_flag(action: Mapping[str, Any]) -> bool:
    if "queued" in action and isinstance(action["queued"], bool | np.bool_):
        return bool(action["queued"])
    value = int_scalar(action, "queued")
    if value not in (0, 1):
        raise IllegalActionError("queued", f"expected 0 or 1, got {value}")
    return bool(value)
