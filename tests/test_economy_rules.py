"""Full-game rules (data/economy.yaml): the shipped tech trees, their pysc2 names and ids, and bad data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from envs.skirmish.economy.rules import ECONOMY_FILE, How, RulesError, default_rules, load_rules
from envs.skirmish.units import UNITS_FILE, UnitDataError, UnitTable, default_units

# Skirmish name -> pysc2 unit enum name, for every type economy.yaml adds.
PYSC2_NAMES = {
    "scv": "SCV", "siege_tank": "SiegeTank", "command_center": "CommandCenter", "supply_depot": "SupplyDepot",
    "refinery": "Refinery", "barracks": "Barracks", "engineering_bay": "EngineeringBay", "factory": "Factory",
    "starport": "Starport", "probe": "Probe", "nexus": "Nexus", "pylon": "Pylon", "assimilator": "Assimilator",
    "gateway": "Gateway", "forge": "Forge", "cybernetics_core": "CyberneticsCore", "drone": "Drone",
    "overlord": "Overlord", "larva": "Larva", "hatchery": "Hatchery", "lair": "Lair", "extractor": "Extractor",
    "spawning_pool": "SpawningPool", "evolution_chamber": "EvolutionChamber", "roach_warren": "RoachWarren",
    "baneling_nest": "BanelingNest", "hydralisk_den": "HydraliskDen", "baneling_cocoon": "BanelingCocoon",
}  # fmt: skip
EGG_ID = 103  # SC2's Egg (pysc2's enum leaves it out)


def _write(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(ECONOMY_FILE.read_text())
    edit(data)
    path = tmp_path / "economy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_combat_table_is_a_prefix_of_the_full_game_table():
    combat, full = default_units(), default_rules().units
    n = len(combat)
    assert full.names[:n] == combat.names
    assert full.attribute_names[: len(combat.attribute_names)] == combat.attribute_names
    for field in ("sc2_id", "hp", "shields", "armor", "speed", "radius", "damage", "range", "cooldown", "attributes"):
        np.testing.assert_array_equal(getattr(full, field)[:n], getattr(combat, field), err_msg=field)
    assert len(full) > n


def test_every_army_unit_of_the_roster_has_a_recipe_and_each_race_has_an_economy():
    rules = default_rules()
    roster = set(default_units().names) - {"siege_tank_sieged"}  # sieging is a combat-scenario form of the tank
    assert roster <= set(rules.recipes)
    for race in rules.races.values():
        mine = [r for r in rules.recipes.values() if r.race == race.name]
        assert race.worker in {r.name for r in mine}
        assert any(r.supply_provided > 0 and r.name not in race.town_halls for r in mine), race.name
        assert any(r.on_geyser for r in mine), race.name
        assert any(u.race == race.name for u in rules.upgrades.values()), race.name
        assert all(rules.is_structure(t) for t in race.town_halls)
    assert rules.recipe("zergling").count == 2 and rules.recipe("lair").counts_as == "hatchery"


def test_requirements_follow_the_tech_tree():
    rules = default_rules()
    assert not rules.satisfied(rules.recipe("marauder").requires, {"barracks", "supply_depot"})
    assert rules.satisfied(rules.recipe("marauder").requires, {"barracks", "factory"})
    assert rules.satisfied(rules.recipe("roach_warren").requires, {"spawning_pool"})
    assert rules.satisfied(rules.recipe("spawning_pool").requires, {"lair"})  # a lair counts as a hatchery
    assert not rules.satisfied(rules.recipe("hydralisk_den").requires, {"hatchery", "spawning_pool"})
    assert rules.recipe("scv").loops == 269  # 12 game seconds x 22.4 loops
    with pytest.raises(KeyError, match="no recipe for 'mothership'"):
        rules.recipe("mothership")


def test_upgraded_forms_carry_the_extra_damage_under_the_same_id():
    rules = default_rules()
    units = rules.units
    for (unit, upgrade), form in rules.forms.items():
        base, up = units.type_index(unit), units.type_index(form)
        assert units.sc2_id[up] == units.sc2_id[base] and units.hp[up] == units.hp[base]
        assert units.damage[up] == units.damage[base] + rules.upgrades[upgrade].damage.get(unit, 0.0)
        assert units.bonus[up] == units.bonus[base] + rules.upgrades[upgrade].bonus.get(unit, 0.0)
    assert rules.form("roach", {"zerg_missile_weapons_1"}) == "roach+zerg_missile_weapons_1"
    assert rules.form("zergling", {"zerg_missile_weapons_1"}) == "zergling"  # a melee unit: not improved
    assert len(rules.forms) == sum(len(set(u.damage) | set(u.bonus)) for u in rules.upgrades.values())


def test_ids_and_functions_are_pysc2s():
    units = pytest.importorskip("pysc2_evolved.lib.units")
    actions = pytest.importorskip("pysc2_evolved.lib.actions")
    rules = default_rules()
    by_name = {}
    for race in (units.Terran, units.Protoss, units.Zerg, units.Neutral):
        by_name.update({u.name: int(u) for u in race})
    table = rules.units
    for name, pysc2_name in PYSC2_NAMES.items():
        assert table.sc2_id[table.type_index(name)] == by_name[pysc2_name], name
    assert table.sc2_id[table.type_index("egg")] == EGG_ID
    assert rules.resources["mineral_field"].sc2_id == by_name["MineralField"]
    assert rules.resources["mineral_field_750"].sc2_id == by_name["MineralField750"]
    assert rules.resources["vespene_geyser"].sc2_id == by_name["VespeneGeyser"]
    functions = {f.name for f in actions.RAW_FUNCTIONS}
    prefix = {How.train: ("Train_",), How.build: ("Build_",), How.morph: ("Train_", "Morph_")}
    for recipe in rules.recipes.values():
        assert recipe.function in functions, recipe.name
        assert recipe.function.startswith(prefix[recipe.how]), recipe.name
    for upgrade in rules.upgrades.values():
        assert upgrade.function in functions and upgrade.function.startswith("Research_"), upgrade.name


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["recipes"]["barracks"].update(requires=["starport"]), "cannot be reached from terran's start"),
        (lambda d: d["recipes"]["marine"].update(made_by="scv"), "trained by a structure"),
        (lambda d: d["recipes"]["pylon"].update(made_by="scv"), "expected a protoss unit type"),
        (lambda d: d["recipes"]["gateway"].update(cost=[150]), r"cost must be \[minerals, vespene\]"),
        (lambda d: d["recipes"]["gateway"].update(on="geyser"), r"unknown field\(s\) \['on'\]"),
        (lambda d: d["recipes"]["gateway"].pop("footprint"), "footprint is required exactly for built structures"),
        (lambda d: d["recipes"]["roach"].update(requires=["roach"]), "requires 'roach', which is not a zerg structure"),
        (lambda d: d["upgrades"]["zerg_missile_weapons_1"]["damage"].update(marine=1), "not a zerg unit type"),
        (lambda d: d["races"].pop("zerg"), "races must define exactly"),
        (lambda d: d["upgrades"]["zerg_missile_weapons_1"].update(bonus={"roach": 1}), "'roach' has no bonus damage"),
        (lambda d: d["upgrades"].update(extra={"made_by": "evolution_chamber", "cost": [1, 1], "time": 1,
                                               "function": "x", "damage": {"roach": 1}}), "already gains from"),
        (lambda d: d["gathering"].update(max_workers_per_field=1), "max_workers_per_field must be >="),
        (lambda d: d["resources"]["vespene_geyser"].update(kind="gold"), "kind must be 'minerals' or 'vespene'"),
        (lambda d: d["recipes"].update(carrier={"how": "train", "made_by": "nexus", "cost": [350, 250], "time": 64,
                                                "function": "Train_Carrier_quick"}), "'carrier' is not a unit type"),
    ],
)
def test_bad_rules_name_the_entry_and_field(tmp_path, edit, message):
    with pytest.raises(RulesError, match=message) as caught:
        load_rules(_write(tmp_path, edit))
    assert str(tmp_path) in str(caught.value)


def test_unreadable_rules_and_clashing_units(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("recipes: [unclosed")
    with pytest.raises(RulesError, match="cannot read rules"):
        load_rules(broken)
    clash = tmp_path / "clash.yaml"
    clash.write_text(yaml.safe_dump({"units": {"marine": yaml.safe_load(UNITS_FILE.read_text())["units"]["marine"]}}))
    with pytest.raises(UnitDataError, match=r"unit\(s\) \['marine'\] are already defined"):
        UnitTable.load(UNITS_FILE, clash)
    twice = tmp_path / "twice.yaml"
    twice.write_text(yaml.safe_dump({"attributes": ["light"], "units": {}}))
    with pytest.raises(UnitDataError, match="attributes must be distinct"):
        UnitTable.load(UNITS_FILE, twice)
