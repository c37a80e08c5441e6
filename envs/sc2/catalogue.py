"""The StarCraft II action catalogue: the contract's seven base types first, then every general pysc2 raw function.

Indices 0..6 are the base catalogue (``envs.contract.catalogue``: same names, arguments, raw functions and target
rules), so an action type means the same in every environment. The rest are pysc2's ``RAW_FUNCTIONS`` whose
``general_id`` is 0 (the general abilities an agent issues, as in AlphaStar: ``Smart_pt``, ``Train_Marine_quick``,
``Build_Pylon_pt``, ...), in function-id order, excluding no_op, camera moves and the six the base catalogue already
has. A specific function (``Attack_Attack_pt``, ``Harvest_Gather_SCV_unit``) maps to its general one through
``function_index``.

Arguments follow the raw function type: ``raw_cmd`` -> selection and queued, ``raw_cmd_pt`` -> plus a location,
``raw_cmd_unit`` -> plus a target unit, ``raw_autocast`` -> selection only (``envs.contract.arguments``). Every type
but no_op requires ``any_unit``: without the game's data there is no per-type ability table, and the game rejects a
command for the units that cannot obey. The added unit-targeted types take ``TargetRule.any_unit`` (a right-click,
a gather, a load may name any unit, own, neutral or enemy); the base ones keep their rules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

from envs.contract.arguments import ARGUMENTS_BY_FUNCTION_TYPE
from envs.contract.catalogue import ACTION_TYPES as BASE_ACTION_TYPES
from envs.contract.catalogue import ActionType, Requirement, TargetRule
from envs.sc2.extra import require

# Target kind of a command (what a replay's command event targets) -> raw function types that take it.
TARGET_KINDS: dict[str, tuple[str, ...]] = {
    "none": ("raw_cmd", "raw_autocast"),
    "point": ("raw_cmd_pt",),
    "unit": ("raw_cmd_unit",),
}


def ability_name(a: ActionType) -> str:
    """The raw function's name without its target suffix (``Train_Marine`` for ``Train_Marine_quick``)."""
    return a.function.rsplit("_", 1)[0] if "_" in a.function else a.function


@dataclass(frozen=True)
class Catalogue:
    """The action types and the lookups into them from pysc2 function ids, abilities and ability names."""

    action_types: tuple[ActionType, ...]
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
    types = [replace(a, requires=Requirement.any_unit if a.requires else Requirement.none) for a in BASE_ACTION_TYPES]
    taken = {a.function_id for a in BASE_ACTION_TYPES}
    for f in sorted(functions, key=lambda f: int(f.id)):
        ftype = f.function_type.__name__
        if f.general_id or ftype not in ARGUMENTS_BY_FUNCTION_TYPE or ftype == "raw_no_op" or int(f.id) in taken:
            continue
        target = TargetRule.any_unit if ftype == "raw_cmd_unit" else TargetRule.none
        arguments = ARGUMENTS_BY_FUNCTION_TYPE[ftype]
        types.append(ActionType(len(types), f.name, f.name, int(f.id), ftype, int(f.ability_id), arguments,
                                Requirement.any_unit, target, f"pysc2 {f.name}"))  # fmt: skip

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
    by_name = {(normalise_ability_name(ability_name(a)), a.function_type): a.index for a in types if a.index}
    return Catalogue(tuple(types), by_function_id, by_ability, by_name)
