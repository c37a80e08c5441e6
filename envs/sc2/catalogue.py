"""The StarCraft II action catalogue: Skirmish's seven action types first, then every general pysc2 raw function.

Indices 0..6 are Skirmish's catalogue (same names, arguments and raw functions), so an action type means the same
in both environments. The rest are pysc2's ``RAW_FUNCTIONS`` whose ``general_id`` is 0 (the general abilities an
agent issues, as in AlphaStar: ``Smart_pt``, ``Train_Marine_quick``, ``Build_Pylon_pt``, ...), in function-id
order, excluding no_op, camera moves and the six Skirmish already has. A specific function (``Attack_Attack_pt``,
``Harvest_Gather_SCV_unit``) maps to its general one through ``function_index``.

Arguments follow the raw function type: ``raw_cmd`` -> selection and queued, ``raw_cmd_pt`` -> plus a location,
``raw_cmd_unit`` -> plus a target unit, ``raw_autocast`` -> selection only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from envs.sc2.extra import require
from envs.skirmish.catalogue import ACTION_TYPES as SKIRMISH_ACTION_TYPES
from envs.skirmish.catalogue import ARGUMENTS

_SEL, _UNIT, _LOC, _Q = ARGUMENTS
ARGUMENTS_BY_FUNCTION_TYPE: dict[str, tuple[str, ...]] = {
    "raw_no_op": (),
    "raw_cmd": (_SEL, _Q),
    "raw_cmd_pt": (_SEL, _LOC, _Q),
    "raw_cmd_unit": (_SEL, _UNIT, _Q),
    "raw_autocast": (_SEL,),
}
# Target kind of a command (what a replay's command event targets) -> raw function types that take it.
TARGET_KINDS: dict[str, tuple[str, ...]] = {
    "none": ("raw_cmd", "raw_autocast"),
    "point": ("raw_cmd_pt",),
    "unit": ("raw_cmd_unit",),
}


@dataclass(frozen=True)
class SC2ActionType:
    """One entry: the contract index and name, the pysc2 raw function it calls and the arguments it reads."""

    index: int
    name: str  # Skirmish's name for 0..6, the pysc2 function name otherwise
    function: str
    function_id: int
    function_type: str
    ability_id: int
    arguments: tuple[str, ...]
    skirmish: bool  # one of Skirmish's action types

    @property
    def ability_name(self) -> str:
        """The function name without its target suffix (``Train_Marine`` for ``Train_Marine_quick``)."""
        return self.function.rsplit("_", 1)[0] if "_" in self.function else self.function


@dataclass(frozen=True)
class Catalogue:
    """The action types and the lookups into them from pysc2 function ids, abilities and ability names."""

    action_types: tuple[SC2ActionType, ...]
    by_function_id: dict[int, int]  # every raw function id (general or specific) -> action-type index
    by_ability: dict[tuple[int, str], int]  # (ability id, general or specific; function type) -> index
    by_ability_name: dict[tuple[str, str], int]  # (normalised ability name, function type) -> index

    def __len__(self) -> int:
        return len(self.action_types)

    def index(self, name: str) -> int:
        """Index of the action type called ``name``; KeyError naming the catalogue otherwise."""
        for a in self.action_types:
            if a.name == name:
                return a.index
        raise KeyError(f"no action type {name!r} in the StarCraft II catalogue ({len(self)} types)")

    def function_index(self, function_id: int) -> int | None:
        """The action type that issues raw function ``function_id`` (its general form), or None (no_op, camera)."""
        return self.by_function_id.get(int(function_id))

    def ability_index(self, ability_id: int, target: str) -> int | None:
        """The action type for SC2 ability ``ability_id`` with a ``target`` of ``none``, ``point`` or ``unit``."""
        for ftype in TARGET_KINDS[target]:
            found = self.by_ability.get((int(ability_id), ftype))
            if found is not None:
                return found
        return None

    def ability_name_index(self, name: str, target: str) -> int | None:
        """The action type for an ability called ``name`` (``Train_Marine``, ``TrainMarine``, ...) and ``target``."""
        for ftype in TARGET_KINDS[target]:
            found = self.by_ability_name.get((normalise_ability_name(name), ftype))
            if found is not None:
                return found
        return None


def normalise_ability_name(name: str) -> str:
    """Lower case without underscores, so pysc2's ``Train_Marine`` and a replay's ``TrainMarine`` compare equal."""
    return name.replace("_", "").replace(" ", "").lower()


@cache
def catalogue() -> Catalogue:
    """The catalogue, built once from pysc2's ``RAW_FUNCTIONS`` (needs the ``sc2`` extra)."""
    actions = require("pysc2_evolved.lib.actions", "The StarCraft II action catalogue")
    functions = actions.RAW_FUNCTIONS
    types: list[SC2ActionType] = []
    for a in SKIRMISH_ACTION_TYPES:
        f = functions[a.function_id]
        types.append(SC2ActionType(a.index, a.name, f.name, int(f.id), f.function_type.__name__, int(f.ability_id),
                                   a.arguments, True))  # fmt: skip
    taken = {a.function_id for a in SKIRMISH_ACTION_TYPES}
    for f in sorted(functions, key=lambda f: int(f.id)):
        ftype = f.function_type.__name__
        if f.general_id or ftype not in ARGUMENTS_BY_FUNCTION_TYPE or ftype == "raw_no_op" or int(f.id) in taken:
            continue
        types.append(SC2ActionType(len(types), f.name, f.name, int(f.id), ftype, int(f.ability_id),
                                   ARGUMENTS_BY_FUNCTION_TYPE[ftype], False))  # fmt: skip

    general: dict[tuple[int, str], int] = {(a.ability_id, a.function_type): a.index for a in types if a.ability_id}
    by_function_id = {a.function_id: a.index for a in types}
    by_ability = dict(general)
    for f in functions:
        ftype = f.function_type.__name__
        if not f.general_id:
            continue
        index = general.get((int(f.general_id), ftype))
        if index is not None:
            by_function_id.setdefault(int(f.id), index)
            by_ability.setdefault((int(f.ability_id), ftype), index)
    by_name = {(normalise_ability_name(a.ability_name), a.function_type): a.index for a in types if a.index}
    return Catalogue(tuple(types), by_function_id, by_ability, by_name)
