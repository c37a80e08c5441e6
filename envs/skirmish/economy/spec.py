"""The spec of a full Skirmish game: the full-game catalogue, every unit type of the rules, the economy scalars.

Same contract and version as a battle's spec (``skirmish_spec``), with three differences an agent reads from it:
the action types go past the base seven (``economy.catalogue``), the scalars add ``ECONOMY_SCALARS`` (food cap,
army and worker supply, idle workers, larva), and the unit-type vocabulary holds the structures, workers, larva,
eggs and the neutral resources (mineral fields and geysers, which no player selects, so they are not
``unit_types`` entries but are in ``unit_type_ids``). An upgraded form (``marine+terran_infantry_weapons_1``) shares
its base type's StarCraft II id and abilities, so it is listed once.
"""

from __future__ import annotations

import functools

from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP
from envs.contract.scalars import ECONOMY_SCALARS, SCALAR_NAMES, SCALARS
from envs.contract.sizes import DEFAULT_MAX_UNITS, DEFAULT_RESOLUTION
from envs.contract.spec import RACES, ActionTypeEntry, Spec, UnitTypeEntry
from envs.skirmish.catalogue import unit_abilities
from envs.skirmish.economy.catalogue import full_catalogue
from envs.skirmish.economy.rules import Rules, default_rules
from envs.skirmish.spec import skirmish_spec

FULL_SCALAR_NAMES = SCALAR_NAMES + tuple(name for name, _ in ECONOMY_SCALARS)
_DESCRIPTIONS = dict(SCALARS) | dict(ECONOMY_SCALARS) | {
    "minerals": "minerals banked (pysc2 player.minerals)",
    "vespene": "vespene banked (pysc2 player.vespene)",
    "food_used": "supply of the player's living units and of those paid for in production (player.food_used)",
    "army_count": "number of the player's living army units: neither workers nor structures (player.army_count)",
    "own_vitality": "health + shields of the player's living units over their maximum (1: all unhurt)",
    "enemy_vitality_visible": "health + shields of the visible enemy units over their maximum (1 when none is seen)",
}


def full_game_spec(map_size: tuple[float, float], *, rules: Rules | None = None, max_units: int = DEFAULT_MAX_UNITS,
                   resolution: int = DEFAULT_RESOLUTION,
                   actions_per_step: int = DEFAULT_ACTIONS_PER_STEP) -> Spec:  # fmt: skip
    """The spec of a full game on a ``map_size`` (width, height) map under ``rules`` (the shipped ones by default)."""
    return _full_game_spec(tuple(map_size), rules or default_rules(), int(max_units), int(resolution),
                           int(actions_per_step))  # fmt: skip


@functools.lru_cache(maxsize=64)
def _full_game_spec(map_size: tuple[float, float], rules: Rules, max_units: int, resolution: int,
                    actions_per_step: int) -> Spec:  # fmt: skip
    table, catalogue = rules.units, full_catalogue(rules)
    base = skirmish_spec(map_size, max_units=max_units, resolution=resolution, units=table,
                         actions_per_step=actions_per_step)  # fmt: skip
    can = unit_abilities(table.speed > 0, table.armed, table.healer)
    entries, seen = [], set()
    for i, name in enumerate(table.names):
        sc2_id = int(table.sc2_id[i])
        if sc2_id in seen:  # an upgraded form: its base type is listed
            continue
        seen.add(sc2_id)
        abilities = [a.name for a in base.action_types if can[i, a.index]]
        abilities += [catalogue.action_types[index].name for index, e in catalogue.economy.items() if name in e.makers]
        entries.append(UnitTypeEntry(name=name, sc2_id=sc2_id, race=RACES[int(table.race[i])],
                                     abilities=tuple(abilities), is_air=bool(table.is_air[i]),
                                     hits_ground=bool(table.hits_ground[i]),
                                     hits_air=bool(table.hits_air[i])))  # fmt: skip
    resources = {r.sc2_id for r in rules.resources.values()}
    order_ids = dict(base.order_ids) | {catalogue.action_types[i].name: catalogue.action_types[i].function_id
                                        for i in catalogue.economy}  # fmt: skip
    return Spec(
        env="skirmish",
        max_units=max_units,
        location_resolution=resolution,
        map_size=map_size,
        actions_per_step=actions_per_step,
        action_types=tuple(ActionTypeEntry.of(a) for a in catalogue.action_types),
        unit_types=tuple(entries),
        unit_type_ids=tuple(sorted(seen | resources)),
        order_ids=order_ids,
        scalars=FULL_SCALAR_NAMES,
        scalar_descriptions={name: _DESCRIPTIONS[name] for name in FULL_SCALAR_NAMES},
    )
