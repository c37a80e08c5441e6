"""Reading a contract action dict: its well-formed form, and the checks of its fields every environment shares.

An action is a dict with ``action_type`` (catalogue index), ``selected_units`` (int ``[64]`` rows of the
observation, padded at the end with -1), ``target_unit`` (row or -1), ``target_location`` (int ``[2]``: x, y cell
of the ``resolution x resolution`` grid over the spec's ``map_size``) and ``queued`` (0 or 1). Only the keys the
action type uses are read (and required); the others are ignored. A violation raises ``IllegalActionError``
naming the field and what was expected; the environments add their own checks (ownership, visibility, targets).

Two kinds of violation: an illegal action (a well-formed dict the game forbids: a row out of range or not the
player's, an unavailable action type, a cell off the grid) is what a lenient environment drops and counts; a
malformed one (``MalformedActionError``: not a dict, unknown or missing keys, a value that is not an int or an
int array of the right shape, e.g. ``Agent.act``'s batched output) is a bug in the caller and raises in strict
and lenient mode alike. Values may be Python or numpy ints, numpy arrays or torch tensors: ``numpy_action``
converts tensors at the environment's boundary (duck-typed; ``envs`` does not import torch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from envs.contract.arguments import ACTION_KEYS, MAX_SELECTED_UNITS

_KEYS = frozenset(ACTION_KEYS)
_PLAIN = (int, float, np.ndarray, np.generic, list, tuple)  # never torch tensors: no attribute look-ups for them
_INTS, _BOOLS, _ARRAYS = (int, np.integer), (bool, np.bool_), (np.ndarray, list, tuple)  # tuples: faster than unions
_ARRAY_LENGTHS = {"selected_units": MAX_SELECTED_UNITS, "target_location": 2}


class IllegalActionError(ValueError):
    """An action the contract forbids; ``field`` is the offending key, the message says what was expected."""

    kind = "illegal"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{self.kind} action: {field}: {problem}")
        self.field = field
        self.problem = problem

    def __reduce__(self):  # (pickles across process pools with its two arguments)
        return type(self), (self.field, self.problem)


class MalformedActionError(IllegalActionError):
    """Not a contract action at all (see the module docstring): lenient environments raise it too."""

    kind = "malformed"


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy")


def numpy_action(action: Any) -> Any:
    """``action`` with its torch tensor values as numpy arrays, for an environment's ``step`` to read and record
    (the same object when it has none, or is no dict: the field checks say what is wrong with it)."""
    if not isinstance(action, Mapping):
        return action
    for value in action.values():  # a plain loop: this runs for every action of every step
        if not isinstance(value, _PLAIN) and _is_tensor(value):
            break
    else:
        return action
    return {key: value.detach().cpu().numpy() if _is_tensor(value) else value for key, value in action.items()}


def action_list(given: Any, player: int = 1) -> list[Any]:
    """One step's actions of ``player`` as a list (an action dict, a list or tuple of them, or None for none), torch
    tensor values converted to numpy (``numpy_action``); anything else is a ``MalformedActionError``."""
    if given is None:
        return []
    if isinstance(given, Mapping):
        return [numpy_action(given)]
    if not isinstance(given, list | tuple):
        expected = "an action dict, a list of them or None"
        raise MalformedActionError("action", f"player {player}: expected {expected}, got {type(given).__name__}")
    return [numpy_action(action) for action in given]


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
        raise MalformedActionError("action", f"{expected}, got {type(action).__name__}")
    if not _KEYS.issuperset(action):
        unknown = [key for key in action if key not in ACTION_KEYS]
        raise MalformedActionError("action", f"unknown key(s) {unknown}; expected keys {', '.join(ACTION_KEYS)}")
    index = int_scalar(action, "action_type")
    if not 0 <= index < num_action_types:
        raise IllegalActionError("action_type", f"{index} is not an action type; expected 0..{num_action_types - 1}")
    return index


def _field(action: Mapping[str, Any], key: str) -> Any:
    if key not in action:
        raise MalformedActionError(key, "missing; this action type uses it")
    return action[key]


def check_form(action: Mapping[str, Any], arguments: Sequence[str]) -> None:
    """``MalformedActionError`` unless each of ``arguments`` (those the action type reads) is present and of its
    form: ints, ``queued`` also a bool, int arrays of the contract's shapes. Checked before any rule of the game, so
    a malformed action is never reported as merely illegal (and dropped by a lenient environment)."""
    for key in arguments:
        if key in _ARRAY_LENGTHS:
            int_array(action, key, _ARRAY_LENGTHS[key])
        elif not (key == "queued" and _is_bool(_field(action, key))):
            int_scalar(action, key)


def int_scalar(action: Mapping[str, Any], key: str) -> int:
    value = _field(action, key)
    if type(value) is int or (isinstance(value, _INTS) and not isinstance(value, _BOOLS)):  # a plain int first
        return int(value)
    array = np.asarray(value) if isinstance(value, np.ndarray) else None
    if array is not None and array.size == 1 and array.dtype.kind in "iu":
        return int(array.reshape(()))
    raise MalformedActionError(key, f"expected an int, got {_describe(value, 0)}")


def int_array(action: Mapping[str, Any], key: str, length: int) -> np.ndarray:
    value = _field(action, key)
    array = value if type(value) is np.ndarray else np.asarray(value) if isinstance(value, _ARRAYS) else None
    if array is None or array.shape != (length,) or array.dtype.kind not in "iu":
        raise MalformedActionError(key, f"expected an int array of shape ({length},), got {_describe(value, 1)}")
    return array.astype(np.int64, copy=False)


def _describe(value: Any, ndim: int) -> str:
    """What ``value`` is, for a field of ``ndim`` dimensions; an array with more says where batches come from."""
    if isinstance(value, np.ndarray):
        batched = value.ndim > ndim and value.size > 1
        hint = ("; Agent.act's actions are batched [B, N, ...]: training.policy.unstack_actions gives each game's "
                "action dicts") if batched else ""  # fmt: skip
        return f"{value.dtype} array of shape {value.shape}{hint}"
    if isinstance(value, list | tuple):
        return f"{type(value).__name__} of length {len(value)}: {value!r:.60}"
    return f"{type(value).__name__} {value!r:.60}"


def selected_rows(action: Mapping[str, Any], rows_total: int, max_units: int) -> list[int]:
    selected = int_array(action, "selected_units", MAX_SELECTED_UNITS).tolist()
    try:
        count = selected.index(-1)
    except ValueError:
        count = MAX_SELECTED_UNITS
    rows = selected[:count]
    if selected.count(-1) != MAX_SELECTED_UNITS - count:  # not only -1 after the first -1
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


def _is_bool(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.size == 1 and value.dtype == bool
    return isinstance(value, _BOOLS)


def queued_flag(action: Mapping[str, Any]) -> bool:
    flag = _field(action, "queued")
    if _is_bool(flag):
        return bool(flag)
    value = int_scalar(action, "queued")
    if value not in (0, 1):
        raise IllegalActionError("queued", f"expected 0 or 1, got {value}")
    return bool(value)
