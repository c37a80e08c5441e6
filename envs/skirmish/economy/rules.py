"""Full-game rules: data/economy.yaml read into typed, validated tables (recipes, upgrades, races, gathering).

The engine's unit table for full games is units.yaml extended by economy.yaml's ``units`` (``Rules.units``); the
combat table and spec are untouched. Loading checks the whole tech tree: every recipe's maker, requirements and
intermediate forms exist, belong to its race, and can be reached from the race's starting units, so a typo in the
data is one clear error naming the recipe and the field, not a game that silently cannot build something.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from envs.contract.scalars import LOOPS_PER_SECOND
from envs.contract.spec import RACES
from envs.skirmish.units import UNITS_FILE, UnitTable

ECONOMY_FILE = Path(__file__).parent.parent / "data" / "economy.yaml"
STRUCTURE = "structure"  # the attribute economy.yaml adds for buildings

_TOP_KEYS = {"loops_per_second", "attributes", "supply_max", "gathering", "resources", "races", "start_minerals",
             "start_vespene", "start_workers", "recipes", "upgrades", "units"}  # fmt: skip
_RECIPE_KEYS = {"how", "made_by", "cost", "time", "function", "requires", "count", "footprint", "site",
                "supply_provided", "via", "counts_as", "exempt"}  # fmt: skip
_UPGRADE_KEYS = {"made_by", "cost", "time", "function", "damage", "bonus"}
_RACE_KEYS = {"worker", "town_halls", "build_style", "start", "power", "creep", "larva"}
_GATHERING_KEYS = {"minerals_per_trip", "vespene_per_trip", "mineral_time", "mineral_pause", "vespene_time",
                   "workers_per_field", "max_workers_per_field", "workers_per_geyser"}  # fmt: skip


class RulesError(ValueError):
    """The full-game rules file is malformed; the message names the file, the entry and the field."""


class How(StrEnum):
    """How a recipe's product comes to be."""

    train = "train"  # a structure makes a unit and stays
    build = "build"  # a worker places a structure on the grid
    morph = "morph"  # the maker turns into the product (larva -> unit, hatchery -> lair, zergling -> baneling)


class BuildStyle(StrEnum):
    """What a race's worker does while a structure goes up."""

    worker_busy = "worker_busy"  # terran: the SCV constructs until the structure is done
    worker_free = "worker_free"  # protoss: the probe starts a warp-in and is free at once
    worker_consumed = "worker_consumed"  # zerg: the drone becomes the structure


@dataclass(frozen=True)
class Cost:
    minerals: int
    vespene: int


def seconds_to_loops(seconds: float) -> int:
    """Whole game loops for a duration in game seconds (rounded, at least 1)."""
    return max(1, round(seconds * LOOPS_PER_SECOND))


@dataclass(frozen=True)
class Recipe:
    """How one unit or structure type is made. ``time`` in game seconds; ``requires``: finished structure types."""

    name: str
    race: str
    how: How
    made_by: str
    cost: Cost
    time: float
    function: str  # the pysc2 raw function that orders it
    requires: tuple[str, ...] = ()
    count: int = 1  # units per order (zerglings come in pairs)
    footprint: int = 0  # side of the square on the placement grid (structures that are built)
    on_geyser: bool = False  # gas buildings go on a vespene geyser
    supply_provided: float = 0.0
    via: str | None = None  # the unit type the maker is while it morphs (egg, cocoon)
    counts_as: str | None = None  # satisfies requirements on this type too (lair -> hatchery)
    exempt: bool = False  # needs no pylon power / creep

    @property
    def loops(self) -> int:
        return seconds_to_loops(self.time)


@dataclass(frozen=True)
class Upgrade:
    """A research: per unit type, extra damage per hit and extra bonus damage once finished."""

    name: str
    race: str
    made_by: str
    cost: Cost
    time: float
    function: str
    damage: Mapping[str, float]
    bonus: Mapping[str, float]

    @property
    def loops(self) -> int:
        return seconds_to_loops(self.time)


@dataclass(frozen=True)
class Gathering:
    minerals_per_trip: int
    vespene_per_trip: int
    mineral_time: float  # game seconds a worker occupies its field per trip
    mineral_pause: float  # game seconds it then waits before walking back (the field is free meanwhile)
    vespene_time: float  # game seconds inside the gas building per trip
    workers_per_field: int
    max_workers_per_field: int
    workers_per_geyser: int


@dataclass(frozen=True)
class Resource:
    """A neutral mineral field or vespene geyser: not an engine unit (it cannot be attacked)."""

    name: str
    sc2_id: int
    radius: float
    footprint: tuple[int, int]  # cells on the placement grid, (width, height)
    contents: int
    vespene: bool


@dataclass(frozen=True)
class Larva:
    unit: str
    every: float  # game seconds between spawns while under ``max``
    max: int

    @property
    def loops(self) -> int:
        return seconds_to_loops(self.every)


@dataclass(frozen=True)
class RaceRules:
    name: str
    worker: str
    town_halls: tuple[str, ...]
    build_style: BuildStyle
    start: tuple[str, ...]  # unit types a player starts with, besides the workers
    power_provider: str | None = None  # protoss: structures go up inside this type's power field...
    power_radius: float = 0.0  # ... of this radius
    creep_radius: float = 0.0  # zerg: structures go up within this distance of a finished town hall
    larva: Larva | None = None


@dataclass(frozen=True, eq=False)
class Rules:
    """Everything a full game needs beyond combat: the extended unit table and the economy's tables."""

    units: UnitTable
    recipes: Mapping[str, Recipe]
    upgrades: Mapping[str, Upgrade]
    races: Mapping[str, RaceRules]
    gathering: Gathering
    resources: Mapping[str, Resource]
    supply_max: int
    start_minerals: int
    start_vespene: int
    start_workers: int
    forms: Mapping[tuple[str, str], str] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    # (unit, upgrade) -> its upgraded unit type

    def form(self, unit: str, upgrades: set[str]) -> str:
        """The unit type a player with ``upgrades`` finished fields for ``unit`` (its upgraded form, if any)."""
        for upgrade in upgrades:
            if (unit, upgrade) in self.forms:
                return self.forms[(unit, upgrade)]
        return unit

    def recipe(self, name: str) -> Recipe:
        """The recipe of a unit or structure type; a clear error lists the makeable types."""
        if name not in self.recipes:
            raise KeyError(f"no recipe for {name!r}; makeable: {', '.join(self.recipes)}")
        return self.recipes[name]

    def satisfied(self, requires: tuple[str, ...], owned: set[str]) -> bool:
        """Whether finished structures of the types in ``owned`` meet ``requires`` (lair counting as hatchery)."""
        also = (self.recipes[o].counts_as for o in owned if o in self.recipes)
        have = set(owned) | {a for a in also if a}
        return all(r in have for r in requires)

    def is_structure(self, unit_type: str) -> bool:
        return bool(self.units.attributes[self.units.type_index(unit_type)] & self.units.attribute_bit(STRUCTURE))


def load_rules(path: str | Path = ECONOMY_FILE, units_path: str | Path = UNITS_FILE) -> Rules:
    """Read and validate a full-game rules file (format: data/economy.yaml) on top of a unit file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise RulesError(f"{path}: cannot read rules ({' '.join(str(error).split())})") from None
    units = UnitTable.load(units_path, path)
    try:
        rules = _build(data, units)
        specs = {**(yaml.safe_load(Path(units_path).read_text()) or {}).get("units", {}), **data.get("units", {})}
        forms = _upgraded_forms(rules, specs)
    except RulesError as error:
        raise RulesError(f"{path}: {error}") from None
    if not forms:
        return rules
    upgraded = UnitTable.load(units_path, path, add={name: spec for name, (_, _, spec) in forms.items()})
    return dataclasses.replace(rules, units=upgraded, forms=MappingProxyType(
        {(unit, upgrade): name for name, (unit, upgrade, _) in forms.items()}))  # fmt: skip


@lru_cache(maxsize=1)
def default_rules() -> Rules:
    """The shipped full-game rules (cached; treat as read-only)."""
    return load_rules()


def _build(data: Any, units: UnitTable) -> Rules:
    _keys(data, _TOP_KEYS, "the file", required=("recipes", "races", "gathering", "resources"))
    if data.get("loops_per_second", LOOPS_PER_SECOND) != LOOPS_PER_SECOND:
        raise RulesError(f"loops_per_second must be {LOOPS_PER_SECOND}, got {data['loops_per_second']!r}")
    if STRUCTURE not in units.attribute_names:
        raise RulesError(f"attributes must add {STRUCTURE!r}")
    recipes = {str(n): _recipe(str(n), spec, units) for n, spec in _mapping(data, "recipes", "the file").items()}
    upgrades = {str(n): _upgrade(str(n), spec, units) for n, spec in _mapping(data, "upgrades", "the file").items()}
    races = {str(n): _race(str(n), spec, units) for n, spec in _mapping(data, "races", "the file").items()}
    if set(races) != set(RACES):
        raise RulesError(f"races must define exactly {list(RACES)}, got {sorted(races)}")
    gathering = _gathering(_mapping(data, "gathering", "the file"))
    resources = {str(n): _resource(str(n), spec) for n, spec in _mapping(data, "resources", "the file").items()}
    if not any(r.vespene for r in resources.values()) or all(r.vespene for r in resources.values()):
        raise RulesError("resources must hold at least one mineral field and one vespene geyser")
    rules = Rules(
        units=units,
        recipes=MappingProxyType(recipes),
        upgrades=MappingProxyType(upgrades),
        races=MappingProxyType(races),
        gathering=gathering,
        resources=MappingProxyType(resources),
        supply_max=int(_number(data, "supply_max", "the file", default=200, minimum=1)),
        start_minerals=int(_number(data, "start_minerals", "the file", default=50)),
        start_vespene=int(_number(data, "start_vespene", "the file", default=0)),
        start_workers=int(_number(data, "start_workers", "the file", default=12)),
    )
    _check_tree(rules)
    return rules


def _upgraded_forms(rules: Rules, specs: dict) -> dict[str, tuple[str, str, dict]]:
    """Each upgraded unit as a unit type of its own, ``<unit>+<upgrade>``, with the extra damage in its weapon: the
    engine's damage table then covers upgrades per player, with no per-player state in the engine."""
    forms: dict[str, tuple[str, str, dict]] = {}
    seen: dict[str, str] = {}
    for upgrade in rules.upgrades.values():
        for unit in sorted(set(upgrade.damage) | set(upgrade.bonus)):
            if unit in seen:
                raise RulesError(f"upgrade {upgrade.name!r}: {unit!r} already gains from {seen[unit]!r} (one upgrade "
                                 "per unit type: further levels and armor upgrades are left out)")  # fmt: skip
            seen[unit] = upgrade.name
            weapon = dict(specs[unit].get("weapon") or {})
            if not weapon:
                raise RulesError(f"upgrade {upgrade.name!r}: {unit!r} has no weapon to upgrade")
            if upgrade.bonus.get(unit) and not weapon.get("bonus_vs"):
                raise RulesError(f"upgrade {upgrade.name!r}: {unit!r} has no bonus damage to raise")
            weapon["damage"] = weapon["damage"] + upgrade.damage.get(unit, 0.0)
            if upgrade.bonus.get(unit):
                weapon["bonus"] = weapon.get("bonus", 0) + upgrade.bonus[unit]
            forms[f"{unit}+{upgrade.name}"] = (unit, upgrade.name, {**specs[unit], "weapon": weapon})
    return forms


def _recipe(name: str, spec: Any, units: UnitTable) -> Recipe:
    where = f"recipe {name!r}"
    _keys(spec, _RECIPE_KEYS, where, required=("how", "made_by", "cost", "time", "function"))
    if name not in units.index:
        raise RulesError(f"{where}: {name!r} is not a unit type of units.yaml or economy.yaml")
    try:
        how = How(spec["how"])
    except ValueError:
        raise RulesError(f"{where}: how must be one of {[h.value for h in How]}, got {spec['how']!r}") from None
    race = _race_of(name, units)
    made_by = _unit(spec, "made_by", where, units, race)
    via = _unit(spec, "via", where, units, race) if "via" in spec else None
    counts_as = _unit(spec, "counts_as", where, units, race) if "counts_as" in spec else None
    footprint = int(_number(spec, "footprint", where, default=0))
    if (how == How.build) != (footprint > 0):
        raise RulesError(f"{where}: a footprint is required exactly for built structures (how: build)")
    site = spec.get("site")
    if site not in (None, "geyser"):
        raise RulesError(f"{where}: site must be 'geyser' or absent, got {site!r}")
    requires = spec.get("requires", [])
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise RulesError(f"{where}: requires must be a list of structure types, got {requires!r}")
    return Recipe(
        name=name,
        race=race,
        how=how,
        made_by=made_by,
        cost=_cost(spec, where),
        time=_number(spec, "time", where, minimum=1e-3),
        function=_text(spec, "function", where),
        requires=tuple(requires),
        count=int(_number(spec, "count", where, default=1, minimum=1)),
        footprint=footprint,
        on_geyser=site == "geyser",
        supply_provided=_number(spec, "supply_provided", where, default=0),
        via=via,
        counts_as=counts_as,
        exempt=bool(spec.get("exempt", False)),
    )


def _upgrade(name: str, spec: Any, units: UnitTable) -> Upgrade:
    where = f"upgrade {name!r}"
    _keys(spec, _UPGRADE_KEYS, where, required=("made_by", "cost", "time", "function"))
    made_by = _unit(spec, "made_by", where, units, None)
    race = _race_of(made_by, units)
    effects = {}
    for key in ("damage", "bonus"):
        table = spec.get(key) or {}
        if not isinstance(table, dict):
            raise RulesError(f"{where}: {key} must map unit types to numbers, got {table!r}")
        for unit in table:
            if unit not in units.index or _race_of(unit, units) != race:
                raise RulesError(f"{where}: {key} names {unit!r}, which is not a {race} unit type")
            _number(table, unit, f"{where} {key}")
        effects[key] = MappingProxyType({str(u): float(a) for u, a in table.items()})
    if not effects["damage"] and not effects["bonus"]:
        raise RulesError(f"{where}: an upgrade must change some unit's damage or bonus")
    return Upgrade(name=name, race=race, made_by=made_by, cost=_cost(spec, where),
                   time=_number(spec, "time", where, minimum=1e-3), function=_text(spec, "function", where),
                   damage=effects["damage"], bonus=effects["bonus"])  # fmt: skip


def _race(name: str, spec: Any, units: UnitTable) -> RaceRules:
    where = f"race {name!r}"
    _keys(spec, _RACE_KEYS, where, required=("worker", "town_halls", "build_style", "start"))
    if name not in RACES:
        raise RulesError(f"{where}: must be one of {list(RACES)}")
    try:
        style = BuildStyle(spec["build_style"])
    except ValueError:
        raise RulesError(f"{where}: build_style must be one of {[s.value for s in BuildStyle]}, "
                         f"got {spec['build_style']!r}") from None  # fmt: skip
    town_halls = spec["town_halls"]
    start = spec["start"]
    for key, value in (("town_halls", town_halls), ("start", start)):
        if not isinstance(value, list) or not value:
            raise RulesError(f"{where}: {key} must be a non-empty list of unit types, got {value!r}")
        for unit in value:
            _unit({key: unit}, key, where, units, name)
    power = _mapping(spec, "power", where) if "power" in spec else None
    creep = _mapping(spec, "creep", where) if "creep" in spec else None
    larva = _mapping(spec, "larva", where) if "larva" in spec else None
    return RaceRules(
        name=name,
        worker=_unit(spec, "worker", where, units, name),
        town_halls=tuple(town_halls),
        build_style=style,
        start=tuple(start),
        power_provider=_unit(power, "provider", f"{where} power", units, name) if power else None,
        power_radius=_number(power, "radius", f"{where} power", minimum=1e-3) if power else 0.0,
        creep_radius=_number(creep, "radius", f"{where} creep", minimum=1e-3) if creep else 0.0,
        larva=Larva(unit=_unit(larva, "unit", f"{where} larva", units, name),
                    every=_number(larva, "every", f"{where} larva", minimum=1e-3),
                    max=int(_number(larva, "max", f"{where} larva", minimum=1))) if larva else None,  # fmt: skip
    )


def _gathering(spec: dict) -> Gathering:
    where = "gathering"
    _keys(spec, _GATHERING_KEYS, where, required=tuple(sorted(_GATHERING_KEYS)))
    g = Gathering(
        minerals_per_trip=int(_number(spec, "minerals_per_trip", where, minimum=1)),
        vespene_per_trip=int(_number(spec, "vespene_per_trip", where, minimum=1)),
        mineral_time=_number(spec, "mineral_time", where, minimum=1e-3),
        mineral_pause=_number(spec, "mineral_pause", where),
        vespene_time=_number(spec, "vespene_time", where, minimum=1e-3),
        workers_per_field=int(_number(spec, "workers_per_field", where, minimum=1)),
        max_workers_per_field=int(_number(spec, "max_workers_per_field", where, minimum=1)),
        workers_per_geyser=int(_number(spec, "workers_per_geyser", where, minimum=1)),
    )
    if g.max_workers_per_field < g.workers_per_field:
        raise RulesError(f"{where}: max_workers_per_field must be >= workers_per_field")
    return g


def _resource(name: str, spec: Any) -> Resource:
    where = f"resource {name!r}"
    _keys(spec, {"kind", "sc2_id", "radius", "footprint", "contents"}, where,
          required=("kind", "sc2_id", "radius", "footprint", "contents"))  # fmt: skip
    footprint = spec["footprint"]
    if not (isinstance(footprint, list) and len(footprint) == 2 and all(_whole(v) for v in footprint)):
        raise RulesError(f"{where}: footprint must be [width, height] in whole cells, got {footprint!r}")
    if spec["kind"] not in ("minerals", "vespene"):
        raise RulesError(f"{where}: kind must be 'minerals' or 'vespene', got {spec['kind']!r}")
    return Resource(
        name=name,
        sc2_id=int(_number(spec, "sc2_id", where, minimum=1)),
        radius=_number(spec, "radius", where, minimum=1e-3),
        footprint=(footprint[0], footprint[1]),
        contents=int(_number(spec, "contents", where, minimum=1)),
        vespene=spec["kind"] == "vespene",
    )


def _check_tree(rules: Rules) -> None:
    """Every recipe's maker and requirements are makeable by its race, starting from its starting units."""
    for recipe in rules.recipes.values():
        where = f"recipe {recipe.name!r}"
        for req in recipe.requires:
            if req not in rules.recipes or not rules.is_structure(req) or rules.recipes[req].race != recipe.race:
                raise RulesError(f"{where}: requires {req!r}, which is not a {recipe.race} structure with a recipe")
        if recipe.how == How.build and recipe.made_by != rules.races[recipe.race].worker:
            raise RulesError(f"{where}: structures are built by the race's worker "
                             f"{rules.races[recipe.race].worker!r}, not {recipe.made_by!r}")  # fmt: skip
        if recipe.how == How.train and not rules.is_structure(recipe.made_by):
            raise RulesError(f"{where}: units are trained by a structure, and {recipe.made_by!r} is not one")
    for race in rules.races.values():
        owned = set(race.start) | {race.worker}
        reachable = _reachable(rules, race.name, owned)
        for name, recipe in rules.recipes.items():
            if recipe.race == race.name and name not in reachable:
                raise RulesError(f"recipe {name!r} cannot be reached from {race.name}'s start {sorted(owned)}: "
                                 f"it needs {recipe.made_by!r} and {list(recipe.requires)}")  # fmt: skip
        for upgrade in rules.upgrades.values():
            if upgrade.race == race.name and upgrade.made_by not in reachable | owned:
                raise RulesError(f"upgrade {upgrade.name!r}: {race.name} cannot make its maker {upgrade.made_by!r}")
        if race.power_provider and race.power_provider not in reachable | owned:
            raise RulesError(f"race {race.name!r}: power provider {race.power_provider!r} has no reachable recipe")


def _reachable(rules: Rules, race: str, owned: set[str]) -> set[str]:
    have = set(owned)
    while True:
        mine = ((n, r) for n, r in rules.recipes.items() if r.race == race and n not in have)
        new = {n for n, r in mine if r.made_by in have and rules.satisfied(r.requires, have)}
        if not new:
            return have
        have |= new


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _race_of(unit: str, units: UnitTable) -> str:
    return RACES[int(units.race[units.type_index(unit)])]


def _unit(spec: dict, key: str, where: str, units: UnitTable, race: str | None) -> str:
    name = spec.get(key)
    if not isinstance(name, str) or name not in units.index:
        raise RulesError(f"{where}: {key} must be a unit type of units.yaml or economy.yaml, got {name!r}")
    if race is not None and _race_of(name, units) != race:
        raise RulesError(f"{where}: {key} {name!r} is {_race_of(name, units)}, expected a {race} unit type")
    return name


def _cost(spec: dict, where: str) -> Cost:
    cost = spec.get("cost")
    if not (isinstance(cost, list) and len(cost) == 2 and all(isinstance(v, int) and v >= 0 for v in cost)):
        raise RulesError(f"{where}: cost must be [minerals, vespene] as non-negative ints, got {cost!r}")
    return Cost(minerals=cost[0], vespene=cost[1])


def _text(spec: dict, key: str, where: str) -> str:
    value = spec.get(key)
    if not isinstance(value, str) or not value:
        raise RulesError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value


def _number(spec: dict, key: str, where: str, default: float | None = None, minimum: float = 0.0) -> float:
    value = spec.get(key, default)
    if value is None:
        raise RulesError(f"{where}: missing required field {key!r}")
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise RulesError(f"{where}: {key} must be a number >= {minimum}, got {value!r}")
    return float(value)


def _mapping(spec: dict, key: str, where: str) -> dict:
    value = spec.get(key) or {}
    if not isinstance(value, dict):
        raise RulesError(f"{where}: {key} must be a mapping, got {value!r:.60}")
    return value


def _keys(spec: Any, allowed: set[str], where: str, required: tuple[str, ...] = ()) -> None:
    if not isinstance(spec, dict):
        raise RulesError(f"{where}: expected a mapping, got {spec!r:.60}")
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise RulesError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    for key in required:
        if key not in spec:
            raise RulesError(f"{where}: missing required field {key!r}")
