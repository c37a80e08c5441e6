"""A replay command's ability -> its name (sc2reader's datapacks) -> the contract's action type (the catalogue).

Names: a command carries an ability *link* and command index, whose meaning shifts from build to build (the game
inserts abilities into its table). sc2reader ships tables for some builds and decodes a replay with the nearest
lower one. When that table is not the replay's own (builds 64469, 65895 and 75800 among the shared replays), an id
is named only where that table and the next higher one agree: abilities inserted in between shift the ids
past them, so a name both neighbours give is very likely right, and a name they disagree on is left unknown (the
shared replays' chrono boosts are such ids). A replay newer than every table uses the newest table unchecked.

The agreement rule loses most names where the tables far apart (a 3.1 replay between LotV's base table and 44401's
agree on a quarter of its commands), so the lower table alone is first checked against the replay itself
(``production_check``): of the commands it names as making a unit (train, build, morph, warp in), the share followed
by a new unit of that type of the same player within 100 game seconds. A table whose ids are shifted names the wrong
unit and fails; one that passes (at least ``CHECK_MIN`` such commands, ``CHECK_SHARE`` of them followed) names the
whole replay.

Action types: ``catalogue().ability_name_index`` matches pysc2's general ability names (``Train_Marine``,
``Build_Pylon``, ``Attack`` + point = attack_move ...). sc2reader's names often differ; ``ALIASES`` and
``_RULES`` turn them into pysc2's (``RightClick`` -> ``Smart``, ``MorphDrone`` -> ``Train_Drone``,
``WarpInStalker`` -> ``TrainWarp_Stalker``, ``UpgradeGroundWeapons1`` -> ``Research_ProtossGroundWeapons``, ...).
What still does not match keeps its name and gets no action type.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from envs.sc2.catalogue import catalogue

# sc2reader ability name (trailing upgrade level removed) -> pysc2 ability name (function name without target)
ALIASES = {
    "RightClick": "Smart",
    "ScanMove": "Attack",
    "SpawnLarva": "Effect_InjectLarva",
    "ChronoBoostEnergyCost": "Effect_ChronoBoostEnergyCost",
    "CalldownMULE": "Effect_CalldownMULE",
    "QueenTransfusion": "Effect_Transfusion",
    "ReturnCargo": "Harvest_Return",
    "ScannerSweep": "Effect_Scan",
    "PsionicStorm": "Effect_PsiStorm",
    "Revelation": "Effect_OracleRevelation",
    "UseStimpack": "Effect_Stim",
    "MedivacSpeedBoost": "Effect_MedivacIgniteAfterburners",
    "SCVRepair": "Effect_Repair",
    "SalvageShared": "Effect_Salvage",
    "BuildAutoTurret": "Effect_AutoTurret",
    "OracleWeapon": "Behavior_PulsarBeamOn",
    "OracleWeaponOff": "Behavior_PulsarBeamOff",
    "TransformToWarpGate": "Morph_WarpGate",
    "PhasingMode": "Morph_WarpPrismPhasingMode",
    "TransportMode": "Morph_WarpPrismTransportMode",
    "ArchonWarpSelection": "Morph_Archon",
    "LowerSupplyDepot": "Morph_SupplyDepot_Lower",
    "RaiseSupplyDepot": "Morph_SupplyDepot_Raise",
    "CreepTumor": "Build_CreepTumor",
    "CancelSlot": "Cancel_Last",
    "ResearchPsiStormTech": "Research_PsiStorm",
    "Researchoverlordspeed": "Research_PneumatizedCarapace",
    "EvolveMetabolicBoost": "Research_ZerglingMetabolicBoost",
    "EvolveAdrenalGlands": "Research_ZerglingAdrenalGlands",
    "EvolveGlialReconstitution": "Research_GlialRegeneration",
    "EvolveFlyerAttacks": "Research_ZergFlyerAttack",
    "ResearchZergFlyerWeapons": "Research_ZergFlyerAttack",
    "TrainViking": "Train_VikingFighter",
}
# (pattern, replacements, targets it applies to or None for all): naming patterns of sc2reader's ability names
_RULES: tuple[tuple[re.Pattern[str], tuple[str, ...], tuple[str, ...] | None], ...] = tuple(
    (re.compile(pattern), replacements, targets)
    for pattern, replacements, targets in (
        (r"^WarpIn(\w+)$", (r"TrainWarp_\1",), None),
        (r"^Train(\w+)$", (r"TrainWarp_\1",), ("point",)),  # a warp gate's train at a point
        (r"^UpgradeTo(\w+)$", (r"Morph_\1",), None),
        (r"^MorphTo(\w+)$", (r"Morph_\1",), None),
        (r"^Morph(\w+)$", (r"Train_\1", r"Morph_\1"), None),  # larva morphs are pysc2 trains
        (r"^Upgrade(\w+)$", (r"Research_\1", r"Research_Protoss\1", r"Research_Terran\1"), None),
        (r"^Evolve(\w+)$", (r"Research_\1", r"Research_Zergling\1"), None),
        (r"^(Research\w+?)s$", (r"\1",), None),  # ResearchZergGroundArmors -> ResearchZergGroundArmor
        (r"^Build\w+(Reactor|TechLab)$", (r"Build_\1",), None),
        (r"^Build(\w+)$", (r"Train_\1",), None),  # BuildHellion, BuildWidowMine: factory trains
        (r"^Lift\w+$", ("Lift",), None),
        (r"^Land\w+$", ("Land",), None),
        (r"^Unburrow\w+$", ("BurrowUp",), None),
        (r"^Burrow\w*Up$", ("BurrowUp",), None),
        (r"^Burrow\w+$", ("BurrowDown",), None),
        (r"^Root\w+$", ("Morph_Root",), None),
        (r"^Uproot\w+$", ("Morph_Uproot",), None),
        (r"^UnloadAll\w+$", ("UnloadAll",), None),
        (r"^\w+Cancel$", ("Cancel",), None),
        (r"^(\w+)$", (r"Effect_\1", r"Morph_\1", r"Behavior_\1"), None),
    )
)
_LEVEL = re.compile(r"^(\w+?)(?:Level)?\d+$")  # UpgradeGroundWeapons1, ResearchZergMeleeWeaponsLevel2


PRODUCTION_WINDOW = 2240  # game loops (100 s at Faster) in which an ordered unit appears: walk, queue, build time
CHECK_MIN = 20  # production commands the check needs before it can accept a table
CHECK_SHARE = 0.8  # of them followed by their unit


@dataclass(frozen=True)
class AbilityNames:
    """Ability id (link << 5 | command index) -> name for one replay, and where the names come from."""

    names: dict[int, str]
    datapacks: tuple[str, ...]  # sc2reader datapack ids used: one (the replay's own, checked, or unchecked), or two
    check: str | None = None  # what ``production_check`` found, where it ran

    def name(self, ability_id: int) -> str | None:
        return self.names.get(int(ability_id))


@dataclass(frozen=True)
class ProductionEvidence:
    """What a replay shows of its players' production: each human command (loop, player, ability id), and per
    player the loops at which each unit type appeared (born, placed, or morphed into), ascending."""

    commands: list[tuple[int, int, int]]
    appeared: dict[int, dict[str, list[int]]]


def production_check(abilities: dict[int, Any], evidence: ProductionEvidence) -> tuple[int, float]:
    """(commands ``abilities`` (id -> sc2reader Ability) names as making a unit, share of them followed within
    ``PRODUCTION_WINDOW`` loops by a new unit of that type of the same player)."""
    named = followed = 0
    for loop, player, ability_id in evidence.commands:
        ability = abilities.get(ability_id)
        unit = getattr(getattr(ability, "build_unit", None), "name", None)
        if unit is None:
            continue
        named += 1
        loops = evidence.appeared.get(player, {}).get(unit, [])
        first = bisect.bisect_left(loops, loop)
        followed += first < len(loops) and loops[first] <= loop + PRODUCTION_WINDOW
    return named, followed / named if named else 0.0


def ability_names(datapacks: dict[str, object], chosen: object, base_build: int,
                  evidence: Callable[[], ProductionEvidence] | None = None) -> AbilityNames:  # fmt: skip
    """The ability names of a replay that sc2reader decoded with datapack ``chosen``, out of the expansion's
    ``datapacks`` (version id -> sc2reader Build), for a replay of ``base_build``; ``evidence`` (called only where
    a check is needed) lets a table that is not the replay's own name it whole when it passes ``production_check``."""
    lower = {k: a.name for k, a in chosen.abilities.items()}
    if str(chosen.id) == str(base_build):
        return AbilityNames(lower, (str(chosen.id),))
    newer = sorted((int(v), pack) for v, pack in datapacks.items() if v.isdigit() and int(v) > _build_number(chosen.id))
    if not newer:
        return AbilityNames(lower, (str(chosen.id),))
    check = None
    if evidence is not None:
        named, share = production_check(chosen.abilities, evidence())
        check = (f"table {chosen.id}: {share:.0%} of the {named} production commands it names were followed by "
                 f"their unit within {PRODUCTION_WINDOW} loops")  # fmt: skip
        if named >= CHECK_MIN and share >= CHECK_SHARE:
            return AbilityNames(lower, (str(chosen.id),), check + ": used whole")
        check += f" (needs {CHECK_MIN} and {CHECK_SHARE:.0%}): only the names it shares with the next table"
    upper_pack = newer[0][1]
    upper = {k: a.name for k, a in upper_pack.abilities.items()}
    agreed = {k: name for k, name in lower.items() if upper.get(k) == name}
    return AbilityNames(agreed, (str(chosen.id), str(upper_pack.id)), check)


def _build_number(pack_id: object) -> int:
    text = str(pack_id)
    return int(text) if text.isdigit() else 0


def unknown_ability_name(ability_id: int) -> str:
    """The name a command keeps when its ability id has no (confirmed) name."""
    return f"unknown_ability_{ability_id >> 5}_{ability_id & 31}"


@cache
def action_type_index(name: str, target: str) -> int | None:
    """The catalogue index for sc2reader ability ``name`` with ``target`` none|point|unit, or None."""
    cat = catalogue()
    for candidate in candidate_names(name, target):
        index = cat.ability_name_index(candidate, target)
        if index is not None:
            return index
    return None


def candidate_names(name: str, target: str) -> Iterator[str]:
    """pysc2 ability names ``name`` may stand for, most specific first."""
    m = _LEVEL.match(name)
    bases = (name, m.group(1)) if m else (name,)
    for base in bases:
        if base in ALIASES:
            yield ALIASES[base]
        yield base
    for base in bases:
        for pattern, replacements, targets in _RULES:
            if targets is not None and target not in targets:
                continue
            if pattern.match(base):
                for replacement in replacements:
                    yield pattern.sub(replacement, base)
