"""The full-game action catalogue: the contract's seven base types, then one type per pysc2 raw function of the
economy (gather, return cargo, rally, and every train, build, morph and research the rules hold), as AlphaStar's
action types are pysc2's functions.

Ids are pysc2's (``RAW_FUNCTIONS``: function id, function type, ability id; checked against pysc2 by the tests, which
skip without the ``sc2`` extra), so a full-game action means what the same function means in StarCraft II. What
each economy type does in Skirmish is its ``EconomyAction``: ``produce`` (train, morph or research ``product`` from
the selected producer), ``build`` (the selected worker places ``product``), ``gather``, ``return`` or ``rally``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from envs.contract.arguments import ARGUMENTS_BY_FUNCTION_TYPE
from envs.contract.catalogue import ACTION_TYPES, ActionType, Requirement, TargetRule
from envs.skirmish.economy.rules import How, Rules

# pysc2 RAW_FUNCTIONS entries the full game uses: name -> (function id, function type, ability id).
RAW_FUNCTIONS: dict[str, tuple[int, str, int]] = {
    "Harvest_Gather_unit": (102, "raw_cmd_unit", 3666),
    "Harvest_Return_quick": (103, "raw_cmd", 3667),
    "Rally_Units_pt": (106, "raw_cmd_pt", 3673),
    "Train_SCV_quick": (520, "raw_cmd", 524),
    "Train_Marine_quick": (511, "raw_cmd", 560),
    "Train_Marauder_quick": (510, "raw_cmd", 563),
    "Train_SiegeTank_quick": (521, "raw_cmd", 591),
    "Train_Medivac_quick": (512, "raw_cmd", 620),
    "Train_Probe_quick": (64, "raw_cmd", 1006),
    "Train_Zealot_quick": (49, "raw_cmd", 916),
    "Train_Stalker_quick": (50, "raw_cmd", 917),
    "Train_Drone_quick": (503, "raw_cmd", 1342),
    "Train_Overlord_quick": (515, "raw_cmd", 1344),
    "Train_Zergling_quick": (528, "raw_cmd", 1343),
    "Train_Roach_quick": (519, "raw_cmd", 1351),
    "Train_Hydralisk_quick": (507, "raw_cmd", 1345),
    "Train_Baneling_quick": (498, "raw_cmd", 80),
    "Morph_Lair_quick": (388, "raw_cmd", 1216),
    "Build_CommandCenter_pt": (187, "raw_cmd_pt", 318),
    "Build_SupplyDepot_pt": (222, "raw_cmd_pt", 319),
    "Build_Refinery_pt": (214, "raw_cmd_unit", 320),  # pysc2's name says _pt; it targets the geyser
    "Build_Barracks_pt": (185, "raw_cmd_pt", 321),
    "Build_EngineeringBay_pt": (191, "raw_cmd_pt", 322),
    "Build_Factory_pt": (194, "raw_cmd_pt", 328),
    "Build_Starport_pt": (221, "raw_cmd_pt", 329),
    "Build_Nexus_pt": (34, "raw_cmd_pt", 880),
    "Build_Pylon_pt": (35, "raw_cmd_pt", 881),
    "Build_Assimilator_unit": (36, "raw_cmd_unit", 882),
    "Build_Gateway_pt": (37, "raw_cmd_pt", 883),
    "Build_Forge_pt": (38, "raw_cmd_pt", 884),
    "Build_CyberneticsCore_pt": (47, "raw_cmd_pt", 894),
    "Build_Hatchery_pt": (197, "raw_cmd_pt", 1152),
    "Build_Extractor_unit": (193, "raw_cmd_unit", 1154),
    "Build_SpawningPool_pt": (217, "raw_cmd_pt", 1155),
    "Build_EvolutionChamber_pt": (192, "raw_cmd_pt", 1156),
    "Build_RoachWarren_pt": (215, "raw_cmd_pt", 1165),
    "Build_BanelingNest_pt": (184, "raw_cmd_pt", 1162),
    "Build_HydraliskDen_pt": (198, "raw_cmd_pt", 1157),
    "Research_TerranInfantryWeaponsLevel1_quick": (457, "raw_cmd", 652),
    "Research_ProtossGroundWeaponsLevel1_quick": (148, "raw_cmd", 1062),
    "Research_ZergMissileWeaponsLevel1_quick": (491, "raw_cmd", 1192),
}
PRODUCE, BUILD, GATHER, RETURN, RALLY = "produce", "build", "gather", "return", "rally"


@dataclass(frozen=True)
class EconomyAction:
    """What an economy action type does: its kind, the product it makes (``produce``, ``build``) and the unit types
    that may be selected for it."""

    kind: str
    product: str | None
    makers: frozenset[str]


@dataclass(frozen=True, eq=False)
class FullCatalogue:
    """The full game's action types (base ones first) and, per economy type, its ``EconomyAction``."""

    action_types: tuple[ActionType, ...]
    economy: dict[int, EconomyAction]  # action-type index -> what it does (base types are absent)

    def index(self, name: str) -> int:
        """The index of the action type ``name`` (its pysc2 function name); KeyError listing the choices."""
        for a in self.action_types:
            if a.name == name:
                return a.index
        raise KeyError(f"no action type {name!r} in the full-game catalogue; types: "
                       f"{', '.join(a.name for a in self.action_types)}")  # fmt: skip

    def product_index(self, product: str) -> int:
        """The index of the action type that trains, morphs, researches or builds ``product``."""
        for index, e in self.economy.items():
            if e.product == product:
                return index
        raise KeyError(f"no action type makes {product!r}")


@functools.cache
def full_catalogue(rules: Rules) -> FullCatalogue:
    """The catalogue of ``rules`` (every recipe and upgrade that names a pysc2 function, in file order)."""
    types, economy = list(ACTION_TYPES), {}
    workers = frozenset(race.worker for race in rules.races.values())
    producers = frozenset(r.made_by for r in rules.recipes.values() if r.how == How.train)  # structures training
    producers |= frozenset(t for race in rules.races.values() for t in race.town_halls)  # ... and larva's hatcheries

    def add(function: str, action: EconomyAction, target: TargetRule = TargetRule.none) -> None:
        if function not in RAW_FUNCTIONS:
            raise KeyError(f"{function!r} is not a pysc2 raw function the full-game catalogue knows; known: "
                           f"{', '.join(RAW_FUNCTIONS)}")  # fmt: skip
        function_id, function_type, ability = RAW_FUNCTIONS[function]
        arguments = ARGUMENTS_BY_FUNCTION_TYPE[function_type]
        index = len(types)
        what = f"{action.kind} {action.product}" if action.product else action.kind
        types.append(ActionType(index, function, function, function_id, function_type, ability, arguments,
                                Requirement.any_unit, target, f"full game: {what}"))  # fmt: skip
        economy[index] = action

    add("Harvest_Gather_unit", EconomyAction(GATHER, None, workers), TargetRule.harvestable)
    add("Harvest_Return_quick", EconomyAction(RETURN, None, workers))
    add("Rally_Units_pt", EconomyAction(RALLY, None, producers))
    for recipe in rules.recipes.values():
        kind = BUILD if recipe.how == How.build else PRODUCE
        target = TargetRule.geyser if recipe.on_geyser else TargetRule.none
        add(recipe.function, EconomyAction(kind, recipe.name, frozenset({recipe.made_by})), target)
    for upgrade in rules.upgrades.values():
        add(upgrade.function, EconomyAction(PRODUCE, upgrade.name, frozenset({upgrade.made_by})))
    return FullCatalogue(tuple(types), economy)
