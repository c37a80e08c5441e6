"""The typed, versioned spec an environment publishes and the agent is built from.

``Spec`` holds the sizes, the column and scalar names, the argument names, the action catalogue (with each type's
arguments, target rule and selection requirement) and the unit types (with what each can be selected for).
``to_dict`` is its JSON form, the one checkpoints and BC caches store; ``from_dict`` reads it back and raises one
``SpecError`` naming the field for a missing key, a wrong type or a ``spec_version`` other than ``SPEC_VERSION``.

Version history: 1 (untyped dict; StarCraft II action types without target rules or requirements, unit types
without air flags); 2 (this module: every action type has ``target`` and ``requires``, every unit type
``is_air``, ``hits_ground`` and ``hits_air``); 3 (``actions_per_step``, the action budget).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import IntEnum
from typing import Any

from envs.contract.arguments import ARGUMENTS, MAX_SELECTED_UNITS
from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP, check_actions_per_step
from envs.contract.catalogue import ActionType, Requirement, TargetRule
from envs.contract.columns import UNIT_COLUMNS, Alliance
from envs.contract.scalars import LOOPS_PER_SECOND, SCALAR_NAMES, SCALARS
from envs.contract.sizes import check_sizes

SPEC_VERSION = 3
RACES = ("terran", "zerg", "protoss")


class SpecError(ValueError):
    """A spec dict that is not a valid spec of this version; ``field`` is the offending key (dotted path)."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"spec: {field_name}: {problem}")
        self.field = field_name


@dataclass(frozen=True)
class ActionTypeEntry:
    """One action type as the agent sees it: index, name, arguments, target rule, requirement, raw function."""

    index: int
    name: str
    arguments: tuple[str, ...]
    target: TargetRule
    requires: Requirement
    pysc2_function: str
    pysc2_function_id: int
    pysc2_function_type: str
    ability_id: int
    description: str

    @classmethod
    def of(cls, a: ActionType) -> ActionTypeEntry:
        """The entry of a catalogue action type."""
        return cls(a.index, a.name, a.arguments, a.target, a.requires, a.function, a.function_id, a.function_type,
                   a.ability_id, a.description)  # fmt: skip


@dataclass(frozen=True)
class UnitTypeEntry:
    """One unit type: its SC2 id and race, the action types it can be selected for, and where it fights."""

    name: str
    sc2_id: int
    race: str  # one of RACES
    abilities: tuple[str, ...]  # names of the action types a unit of this type can carry out
    is_air: bool
    hits_ground: bool
    hits_air: bool


@dataclass(frozen=True)
class Spec:
    """The contract of one environment configuration (see envs/contract/README.md for every field)."""

    env: str  # "skirmish" or "sc2"
    max_units: int
    location_resolution: int
    map_size: tuple[float, float]  # (width, height) in map units that positions are normalised over
    action_types: tuple[ActionTypeEntry, ...]
    unit_types: tuple[UnitTypeEntry, ...]
    unit_type_ids: tuple[int, ...]  # every unit type id an observation may hold (the featurizer's vocabulary)
    order_ids: dict[str, int]  # values the order_id_* columns may hold, by name
    unit_columns: tuple[str, ...] = UNIT_COLUMNS
    scalars: tuple[str, ...] = SCALAR_NAMES
    scalar_descriptions: dict[str, str] = field(default_factory=lambda: dict(SCALARS))
    action_arguments: tuple[str, ...] = ARGUMENTS
    max_selected_units: int = MAX_SELECTED_UNITS
    alliance: dict[str, int] = field(default_factory=lambda: {a.name: int(a) for a in Alliance})
    game_loops_per_second: float = LOOPS_PER_SECOND
    actions_per_step: int = DEFAULT_ACTIONS_PER_STEP  # each player's action budget per agent step (no_ops free)
    spec_version: int = SPEC_VERSION
    # what observations under this spec cannot tell (a replay: health, orders, ...): unit column names,
    # "scalars.<name>" and "available_actions"; those entries hold 0 (flags: True) and an agent reads none of them
    unknown: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            check_sizes(self.max_units, self.location_resolution, self.map_size)
        except ValueError as error:
            raise SpecError("sizes", str(error)) from None
        try:
            check_actions_per_step(self.actions_per_step)
        except ValueError as error:
            raise SpecError("actions_per_step", str(error)) from None
        object.__setattr__(self, "map_size", (float(self.map_size[0]), float(self.map_size[1])))
        if [a.index for a in self.action_types] != list(range(len(self.action_types))):
            raise SpecError("action_types", "entries must be indexed 0..A-1 in order")
        names = {a.name for a in self.action_types}
        for a in self.action_types:
            extra = set(a.arguments) - set(self.action_arguments)
            if extra:
                raise SpecError(f"action_types.{a.name}.arguments", f"{sorted(extra)} are not action arguments")
            if (a.target is TargetRule.none) == ("target_unit" in a.arguments):
                raise SpecError(f"action_types.{a.name}.target", "must be none exactly when target_unit is unused")
        stray = sorted(set(self.unknown) - set(self.unit_columns) - {f"scalars.{n}" for n in self.scalars}
                       - {"available_actions"})  # fmt: skip
        if stray:
            raise SpecError("unknown", f"{stray} are not unit columns, scalars.<name> or available_actions")
        for u in self.unit_types:
            if u.race not in RACES:
                raise SpecError(f"unit_types.{u.name}.race", f"expected one of {RACES}, got {u.race!r}")
            if set(u.abilities) - names:
                raise SpecError(f"unit_types.{u.name}.abilities", f"{sorted(set(u.abilities) - names)} are unknown")

    @property
    def num_action_types(self) -> int:
        return len(self.action_types)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe form (lists, names for enums), which ``from_dict`` reads back to an equal spec; ``unknown``
        only where it lists something, so every spec without it keeps its dict (and checkpoints their specs)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "unknown" or self.unknown}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Spec:
        """Read a ``to_dict`` form; ``SpecError`` naming the field for another version, a missing key or a bad type."""
        if not isinstance(data, Mapping):
            raise SpecError("spec", f"expected a dict, got {type(data).__name__}")
        version = data.get("spec_version")
        if version != SPEC_VERSION:
            raise SpecError("spec_version", f"this spec has version {version!r}; this code reads only version "
                                            f"{SPEC_VERSION}")  # fmt: skip
        values = _read_fields(cls, {"unknown": [], **data}, "", _SPEC_READERS)
        values["action_types"] = tuple(
            ActionTypeEntry(**_read_fields(ActionTypeEntry, _mapping(a, f"action_types[{i}]"), f"action_types[{i}].",
                                           _ACTION_READERS))
            for i, a in enumerate(values["action_types"])
        )  # fmt: skip
        values["unit_types"] = tuple(
            UnitTypeEntry(**_read_fields(UnitTypeEntry, _mapping(u, f"unit_types[{i}]"), f"unit_types[{i}].",
                                         _UNIT_READERS))
            for i, u in enumerate(values["unit_types"])
        )  # fmt: skip
        return cls(**values)


def _plain(value: Any) -> Any:
    if isinstance(value, IntEnum):
        return value.name
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    return value


Reader = Callable[[Any], Any]  # returns the typed value, or raises TypeError with what was expected


def _read_fields(cls: type, data: Mapping[str, Any], where: str, readers: dict[str, Reader]) -> dict[str, Any]:
    missing = [f.name for f in fields(cls) if f.name not in data]
    if missing:
        raise SpecError(f"{where}{missing[0]}", f"missing (missing keys: {', '.join(missing)})")
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise SpecError(f"{where}{unknown[0]}", f"unexpected key (unexpected keys: {', '.join(unknown)})")
    values = {}
    for f in fields(cls):
        try:
            values[f.name] = readers[f.name](data[f.name])
        except TypeError as error:
            raise SpecError(f"{where}{f.name}", f"expected {error}, got {type(data[f.name]).__name__} "
                            f"{data[f.name]!r:.60}") from None  # fmt: skip
    return values


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(where, f"expected a dict, got {type(value).__name__}")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("an int")
    return value


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("a number")
    return float(value)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("a string")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("true or false")
    return value


def _list_of(item: Reader, what: str) -> Reader:
    def read(value: Any) -> tuple:
        try:
            if not isinstance(value, list | tuple):
                raise TypeError
            return tuple(item(v) for v in value)
        except TypeError:
            raise TypeError(f"a list of {what}") from None

    return read


def _dict_of(item: Reader, what: str) -> Reader:
    def read(value: Any) -> dict:
        try:
            if not isinstance(value, Mapping):
                raise TypeError
            return {_str(k): item(v) for k, v in value.items()}
        except TypeError:
            raise TypeError(f"a dict of name -> {what}") from None

    return read


def _enum(kind: type[IntEnum]) -> Reader:
    def read(value: Any) -> IntEnum:
        if not isinstance(value, str) or value not in kind.__members__:
            raise TypeError(f"one of {', '.join(kind.__members__)}")
        return kind[value]

    return read


def _pair(value: Any) -> tuple[float, float]:
    read = _list_of(_float, "numbers")
    try:
        pair = read(value)
    except TypeError:
        pair = ()
    if len(pair) != 2:
        raise TypeError("[width, height]")
    return pair


def _entries(value: Any) -> list:
    if not isinstance(value, list | tuple):
        raise TypeError("a list of dicts")
    return list(value)


_SPEC_READERS: dict[str, Reader] = {
    "env": _str,
    "max_units": _int,
    "location_resolution": _int,
    "map_size": _pair,
    "action_types": _entries,
    "unit_types": _entries,
    "unit_type_ids": _list_of(_int, "ints"),
    "order_ids": _dict_of(_int, "int"),
    "unit_columns": _list_of(_str, "strings"),
    "scalars": _list_of(_str, "strings"),
    "scalar_descriptions": _dict_of(_str, "string"),
    "action_arguments": _list_of(_str, "strings"),
    "max_selected_units": _int,
    "alliance": _dict_of(_int, "int"),
    "game_loops_per_second": _float,
    "actions_per_step": _int,
    "spec_version": _int,
    "unknown": _list_of(_str, "strings"),
}
_ACTION_READERS: dict[str, Reader] = {
    "index": _int,
    "name": _str,
    "arguments": _list_of(_str, "strings"),
    "target": _enum(TargetRule),
    "requires": _enum(Requirement),
    "pysc2_function": _str,
    "pysc2_function_id": _int,
    "pysc2_function_type": _str,
    "ability_id": _int,
    "description": _str,
}
_UNIT_READERS: dict[str, Reader] = {
    "name": _str,
    "sc2_id": _int,
    "race": _str,
    "abilities": _list_of(_str, "strings"),
    "is_air": _bool,
    "hits_ground": _bool,
    "hits_air": _bool,
}
