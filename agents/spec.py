"""The agent's typed, validated view of an environment's spec (``agents`` never imports ``envs``).

``AgentSpec.from_dict`` takes the spec's dict form (``Spec.to_dict()``, what checkpoints store) or any object with a
``to_dict()`` method (the contract's ``Spec`` itself), checks that its ``spec_version`` is the one this agent was
written for and that every entry the featurizer, scalar encoder and heads read is there with the right type, and
raises one ``AgentSpecError`` naming the field otherwise. The dict is kept as given, so a checkpoint stores it whole.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SUPPORTED_SPEC_VERSION = 3
ARGUMENTS = ("selected_units", "target_unit", "target_location", "queued")
TARGET_RULES = ("none", "enemy", "other_unit", "any_unit", "harvestable", "geyser")
REQUIREMENTS = ("none", "any_unit", "mobile", "armed", "armed_or_healer")
REQUIRED_COLUMNS = ("unit_type", "alliance", "x", "y")  # the featurizer and the own-unit mask read them
PERCENT_DONE = 100.0  # progress columns are percent (pysc2's int(fraction * 100)): a finished unit's build_progress
# The largest sizes an agent is built for (the contract's own bounds), so a crafted spec in a checkpoint cannot
# make the agent allocate gigabytes: unit rows, selected units, location grid side, actions per step.
MAX_SIZES = {"max_units": 1024, "max_selected_units": 1024, "location_resolution": 1024, "actions_per_step": 64}


class AgentSpecError(ValueError):
    """A spec the agent cannot be built from; ``field`` names the offending entry."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"agent spec: {field}: {problem}")
        self.field = field


@dataclass(frozen=True)
class ActionTypeSpec:
    """What the heads need of one action type: the arguments it reads, its target rule and selection requirement."""

    index: int
    name: str
    arguments: tuple[str, ...]
    target: str  # one of TARGET_RULES
    requires: str  # one of REQUIREMENTS

    def uses(self, argument: str) -> bool:
        return argument in self.arguments


@dataclass(frozen=True)
class UnitTypeSpec:
    """What the heads need of one unit type: its SC2 id, the action types it can carry out, where it fights."""

    name: str
    sc2_id: int
    abilities: tuple[str, ...]
    is_air: bool
    hits_ground: bool
    hits_air: bool


@dataclass(frozen=True, eq=False)
class AgentSpec:
    """The spec entries the agent reads, typed; ``plain`` is the dict it was read from (stored in checkpoints)."""

    plain: dict[str, Any]
    max_units: int
    unit_columns: tuple[str, ...]
    scalars: tuple[str, ...]
    map_size: tuple[float, float]
    unit_type_ids: tuple[int, ...]
    order_ids: tuple[int, ...]
    self_alliance: int
    enemy_alliance: int
    neutral_alliance: int
    max_selected_units: int
    location_resolution: int
    action_types: tuple[ActionTypeSpec, ...]
    unit_types: tuple[UnitTypeSpec, ...]
    no_op: int  # index of the no_op action type: "do nothing", which also ends a step's actions
    actions_per_step: int  # the action budget per agent step (no_ops free): the most actions one step sends
    # what the data cannot tell (the spec's optional ``unknown``: a replay records no health, orders or available
    # actions): the agent reads none of it, so zeros there are never taken for facts
    unknown_columns: frozenset[str] = frozenset()
    unknown_scalars: frozenset[str] = frozenset()
    available_actions_known: bool = True

    @property
    def num_action_types(self) -> int:
        return len(self.action_types)

    def to_dict(self) -> dict[str, Any]:
        """The dict this view was read from (a copy), as ``Agent.checkpoint_config`` stores it."""
        return copy.deepcopy(self.plain)

    @classmethod
    def from_dict(cls, spec: Any) -> AgentSpec:
        """Read and check a spec dict, or an object with ``to_dict()``; ``AgentSpecError`` names what is wrong."""
        if isinstance(spec, AgentSpec):
            return spec
        data = spec.to_dict() if hasattr(spec, "to_dict") else spec
        if not isinstance(data, Mapping):
            raise AgentSpecError("spec", f"expected a spec dict or an object with to_dict(), got {type(spec).__name__}")
        version = data.get("spec_version")
        if version != SUPPORTED_SPEC_VERSION:
            raise AgentSpecError("spec_version", f"the spec has version {version!r}, this agent reads only version "
                                                 f"{SUPPORTED_SPEC_VERSION}; rebuild the spec (or the checkpoint) with "
                                                 "the matching code")  # fmt: skip
        read = _Reader(data)
        columns = read.names("unit_columns")
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise AgentSpecError("unit_columns", f"lacks the columns {missing}")
        map_size = read.numbers("map_size")
        if len(map_size) != 2 or not all(math.isfinite(v) and v > 0 for v in map_size):
            raise AgentSpecError("map_size", f"expected [width, height] > 0, got {data['map_size']!r}")
        alliance = read.mapping("alliance")
        for who in ("self", "enemy", "neutral"):
            if isinstance(alliance.get(who), bool) or not isinstance(alliance.get(who), int):
                raise AgentSpecError(f"alliance.{who}", f"expected an int, got {alliance.get(who)!r}")
        action_types = tuple(_action_type(read.entry("action_types", i), i) for i in range(read.count("action_types")))
        names = {a.name for a in action_types}
        unit_types = tuple(_unit_type(read.entry("unit_types", i), names) for i in range(read.count("unit_types")))
        no_op = [a.index for a in action_types if a.name == "no_op"]
        if not no_op or action_types[no_op[0]].arguments:
            raise AgentSpecError("action_types", "needs a 'no_op' action type that reads no arguments")
        order_ids = read.mapping("order_ids")
        if not all(isinstance(v, int) for v in order_ids.values()):
            raise AgentSpecError("order_ids", "expected a dict of name -> int")
        unknown = set(read.names("unknown")) if "unknown" in data else set()
        scalars = read.names("scalars")
        columns_unknown = {c for c in unknown if c in columns}
        scalars_unknown = {c.removeprefix("scalars.") for c in unknown if c.removeprefix("scalars.") in scalars}
        stray = sorted(unknown - columns_unknown - {f"scalars.{c}" for c in scalars_unknown} - {"available_actions"})
        if stray:
            raise AgentSpecError("unknown", f"names {stray}, which are not unit columns, scalars.<name> of the spec's "
                                            "scalars or available_actions")  # fmt: skip
        if columns_unknown & set(REQUIRED_COLUMNS):
            raise AgentSpecError("unknown", f"the columns {sorted(columns_unknown & set(REQUIRED_COLUMNS))} are needed")
        return cls(
            plain=copy.deepcopy(dict(data)),
            max_units=read.size("max_units"),
            unit_columns=columns,
            scalars=scalars,
            map_size=(map_size[0], map_size[1]),
            unit_type_ids=tuple(sorted(set(read.ints("unit_type_ids")))),
            order_ids=tuple(sorted({0, *order_ids.values()})),
            self_alliance=alliance["self"],
            enemy_alliance=alliance["enemy"],
            neutral_alliance=alliance["neutral"],
            max_selected_units=read.size("max_selected_units"),
            location_resolution=read.size("location_resolution"),
            action_types=action_types,
            unit_types=unit_types,
            no_op=no_op[0],
            actions_per_step=read.size("actions_per_step"),
            unknown_columns=frozenset(columns_unknown),
            unknown_scalars=frozenset(scalars_unknown),
            available_actions_known="available_actions" not in unknown,
        )


class _Reader:
    """Typed reads of a spec dict's entries, each raising ``AgentSpecError`` naming the entry."""

    def __init__(self, data: Mapping[str, Any], where: str = "") -> None:
        self.data, self.where = data, where

    def get(self, key: str) -> Any:
        if key not in self.data:
            raise AgentSpecError(self.where + key, "missing")
        return self.data[key]

    def fail(self, key: str, expected: str) -> AgentSpecError:
        return AgentSpecError(self.where + key, f"expected {expected}, got {self.data[key]!r:.60}")

    def size(self, key: str) -> int:
        """An int in [1, ``MAX_SIZES[key]``]."""
        value, most = self.get(key), MAX_SIZES[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
            raise self.fail(key, f"an int in [1, {most}]")
        return value

    def text(self, key: str) -> str:
        if not isinstance(self.get(key), str):
            raise self.fail(key, "a string")
        return self.data[key]

    def flag(self, key: str) -> bool:
        if not isinstance(self.get(key), bool):
            raise self.fail(key, "true or false")
        return self.data[key]

    def _sequence(self, key: str, kinds: tuple[type, ...], expected: str) -> tuple:
        value = self.get(key)
        ok = isinstance(value, list | tuple) and all(isinstance(v, kinds) and not isinstance(v, bool) for v in value)
        if not ok:
            raise self.fail(key, expected)
        return tuple(value)

    def names(self, key: str) -> tuple[str, ...]:
        return self._sequence(key, (str,), "a list of strings")

    def ints(self, key: str) -> tuple[int, ...]:
        return self._sequence(key, (int,), "a list of ints")

    def numbers(self, key: str) -> tuple[float, ...]:
        return tuple(float(v) for v in self._sequence(key, (int, float), "a list of numbers"))

    def mapping(self, key: str) -> Mapping[str, Any]:
        if not isinstance(self.get(key), Mapping):
            raise self.fail(key, "a dict")
        return self.data[key]

    def count(self, key: str) -> int:
        if not isinstance(self.get(key), list | tuple):
            raise self.fail(key, "a list of dicts")
        return len(self.data[key])

    def entry(self, key: str, i: int) -> _Reader:
        value = self.data[key][i]
        if not isinstance(value, Mapping):
            raise AgentSpecError(f"{self.where}{key}[{i}]", f"expected a dict, got {value!r:.60}")
        return _Reader(value, f"{self.where}{key}[{i}].")


def _action_type(read: _Reader, i: int) -> ActionTypeSpec:
    index = read.get("index")
    if index != i:
        raise AgentSpecError(f"action_types[{i}].index", f"entries must be indexed 0..A-1 in order, got {index!r}")
    arguments = read.names("arguments")
    if set(arguments) - set(ARGUMENTS):
        raise read.fail("arguments", f"a subset of {ARGUMENTS}")
    target, requires = read.text("target"), read.text("requires")
    if target not in TARGET_RULES:
        raise read.fail("target", f"one of {TARGET_RULES}")
    if requires not in REQUIREMENTS:
        raise read.fail("requires", f"one of {REQUIREMENTS}")
    if (target == "none") == ("target_unit" in arguments):
        raise read.fail("target", "'none' exactly when the type does not read target_unit")
    return ActionTypeSpec(i, read.text("name"), arguments, target, requires)


def _unit_type(read: _Reader, action_names: set[str]) -> UnitTypeSpec:
    abilities = read.names("abilities")
    if set(abilities) - action_names:
        raise read.fail("abilities", "names of the spec's action types")
    sc2_id = read.get("sc2_id")
    if isinstance(sc2_id, bool) or not isinstance(sc2_id, int):
        raise read.fail("sc2_id", "an int")
    return UnitTypeSpec(read.text("name"), sc2_id, abilities, read.flag("is_air"), read.flag("hits_ground"),
                        read.flag("hits_air"))  # fmt: skip
