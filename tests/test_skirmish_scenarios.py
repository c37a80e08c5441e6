"""Skirmish scenarios: shipped files load with the right armies, bad files fail clearly, the generator is seeded."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from envs.contract.scalars import LOOPS_PER_SECOND
from envs.contract.spec import RACES
from envs.skirmish.generator import random_scenario
from envs.skirmish.scenario import Scenario, ScenarioError, UnitPlacement, known_units, load_scenario, scenario_names
from envs.skirmish.units import default_units

# name -> {owner: {unit: count}}; the SMAC-named ones follow SMAC's compositions.
EXPECTED = {
    "3m": {1: {"marine": 3}, 2: {"marine": 3}},
    "8m": {1: {"marine": 8}, 2: {"marine": 8}},
    "8m_vs_9m": {1: {"marine": 8}, 2: {"marine": 9}},
    "2s3z": {1: {"stalker": 2, "zealot": 3}, 2: {"stalker": 2, "zealot": 3}},
    "3s5z_vs_3s6z": {1: {"stalker": 3, "zealot": 5}, 2: {"stalker": 3, "zealot": 6}},
    "MMM": {1: {"marine": 7, "marauder": 2, "medivac": 1}, 2: {"marine": 7, "marauder": 2, "medivac": 1}},
    "27m_vs_30m": {1: {"marine": 27}, 2: {"marine": 30}},
    "zealots_vs_zerglings_corridor": {1: {"zealot": 6}, 2: {"zergling": 24}},
    "so_many_banelings": {1: {"zealot": 7}, 2: {"baneling": 32}},
    "marines_tanks_vs_zerglings_banelings": {
        1: {"marine": 16, "siege_tank_sieged": 2},
        2: {"zergling": 24, "baneling": 8},
    },
}
MIRRORS = {"10v10_mixed": 10, "64v64_mixed": 64, "mixed_256v256": 256}
GOOD = """\
description: test
map_size: [20, 10]
time_limit_s: 10
player1:
  - {unit: marine, count: 2, at: [5, 5], formation: line}
player2:
  - {unit: zergling, count: 3, at: [15, 5], formation: scatter, size: [4, 4], seed: 3}
"""


def _counts(scenario: Scenario) -> dict[int, dict[str, int]]:
    return {owner: dict(Counter(p.unit for p in scenario.placements if p.owner == owner)) for owner in (1, 2)}


def _min_distance(scenario: Scenario) -> float:
    pos = np.array([(p.x, p.y) for p in scenario.placements])
    dist = np.hypot(*(pos[:, None, :] - pos[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(dist, np.inf)
    return float(dist.min())


def _check_playable(scenario: Scenario) -> None:
    for p in scenario.placements:
        assert p.unit in known_units() and p.owner in (1, 2)
        assert 0 <= p.x <= scenario.map_width and 0 <= p.y <= scenario.map_height, p
    assert _min_distance(scenario) > 0.5
    assert isinstance(scenario.time_limit_loops, int) and scenario.time_limit_loops > 0


def test_registered_scenarios_include_the_required_ones():
    names = scenario_names()
    assert set(EXPECTED) | set(MIRRORS) <= set(names)
    assert names == sorted(names)


@pytest.mark.parametrize("name", scenario_names())
def test_every_shipped_scenario_loads_and_is_playable(name):
    scenario = load_scenario(name)
    assert scenario.name == name and scenario.description
    _check_playable(scenario)
    one, two = ([p for p in scenario.placements if p.owner == k] for k in (1, 2))
    # player 1 starts on the left facing right, player 2 on the right facing left
    assert np.mean([p.x for p in one]) < scenario.map_width / 2 < np.mean([p.x for p in two])
    assert all(p.facing == 0.0 for p in one) and all(p.facing == pytest.approx(math.pi) for p in two)
    # slots: all of player 1 first, then player 2
    assert [p.owner for p in scenario.placements] == [1] * len(one) + [2] * len(two)
    assert load_scenario(name) == scenario  # deterministic expansion


@pytest.mark.parametrize("name", scenario_names())
def test_shipped_ground_units_start_without_overlapping(name):
    scenario = load_scenario(name)
    table = default_units()
    ground = [p for p in scenario.placements if not table.is_air[table.index[p.unit]]]
    pos = np.array([(p.x, p.y) for p in ground])
    radius = np.array([table.radius[table.index[p.unit]] for p in ground])
    gap = np.hypot(*(pos[:, None, :] - pos[None, :, :]).transpose(2, 0, 1)) - radius[:, None] - radius[None, :]
    np.fill_diagonal(gap, np.inf)
    assert gap.min() >= 0.0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_compositions_match_their_names(name):
    assert _counts(load_scenario(name)) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(MIRRORS))
def test_mixed_mirrors_are_mirrored_with_healers_and_splash(name):
    scenario = load_scenario(name)
    counts = _counts(scenario)
    assert sum(counts[1].values()) == sum(counts[2].values()) == MIRRORS[name]
    assert counts[1] == counts[2]
    assert {"medivac", "baneling"} <= set(counts[1])  # healers and splash
    races = {_race(unit) for unit in counts[1]}
    assert races == {"terran", "zerg", "protoss"}
    one = sorted((p.unit, p.x, p.y) for p in scenario.placements if p.owner == 1)
    two = sorted((p.unit, round(scenario.map_width - p.x, 4), p.y) for p in scenario.placements if p.owner == 2)
    assert one == two


def _race(unit: str) -> str:
    table = default_units()
    return RACES[table.race[table.index[unit]]]


def test_corridor_is_narrow_and_big_battle_has_512_units():
    corridor = load_scenario("zealots_vs_zerglings_corridor")
    assert corridor.map_height <= 8 < 4 * corridor.map_height <= corridor.map_width
    assert len(load_scenario("mixed_256v256").placements) == 512


def test_load_by_path_and_time_in_seconds(tmp_path):
    path = tmp_path / "custom.yaml"
    path.write_text(GOOD)
    for ref in (path, str(path)):
        scenario = load_scenario(ref)
        assert scenario.name == "custom" and (scenario.map_width, scenario.map_height) == (20.0, 10.0)
        assert scenario.time_limit_loops == round(10 * LOOPS_PER_SECOND)
        assert _counts(scenario) == {1: {"marine": 2}, 2: {"zergling": 3}}
        assert [(p.x, p.y) for p in scenario.placements[:2]] == [(5.0, 4.5), (5.0, 5.5)]
    shipped = load_scenario(Path(__file__).parents[1] / "envs/skirmish/scenarios/3m.yaml")
    assert shipped == load_scenario("3m")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("unit: marine", "unit: battlecruiser"), "unknown unit 'battlecruiser'"),
        (GOOD.replace("count: 2, ", ""), "missing required key 'count'"),
        (GOOD.replace("count: 2", "count: 0"), "count must be a positive integer"),
        (GOOD.replace("at: [5, 5]", "at: [5, 9.8]"), "outside the 20 x 10 map"),
        (GOOD.replace("at: [15, 5]", "at: [15, 9.5]"), "outside the 20 x 10 map"),
        (GOOD.replace("map_size: [20, 10]\n", ""), "missing required key 'map_size'"),
        (GOOD.replace("map_size: [20, 10]", "map_size: [20]"), "map_size must be a pair"),
        (GOOD.replace("time_limit_s: 10", "time_limit_s: -1"), "time_limit_s must be a positive number"),
        (GOOD.replace("time_limit_s: 10", "time_limit_loops: 10\ntime_limit_s: 1"), "exactly one of"),
        (GOOD.replace("description", "descripton"), "unknown key(s) ['descripton']"),
        (GOOD.replace("formation: line", "formation: wedge"), "unknown formation 'wedge'"),
        (GOOD.replace("formation: line", "formation: line, per_rank: 2"), "per_rank applies only to formation grid"),
        (GOOD.replace("size: [4, 4]", "size: [1, 1]"), "3 units do not fit"),
        (GOOD.replace("formation: scatter, size: [4, 4], seed: 3", "formation: line, spacing: 0"), "spacing must"),
        (GOOD + "  - {unit: marine, count: 1, at: [5, 4.5]}\n", "spawn on the same point (5, 4.5)"),
        ("player1: [", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        (GOOD.replace("player2:\n  - {unit: zergling", "player2: []\nx:\n  - {unit: zergling"), "unknown key"),
        (GOOD.split("player2:")[0] + "player2: []\n", "player2 must be a non-empty list"),
    ],
)
def test_malformed_files_raise_one_clear_error_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_group_errors_name_the_player_and_group(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace("unit: zergling, count: 3", "unit: zergling, count: -3"))
    with pytest.raises(ScenarioError, match=r"player2 group 0 \(zergling\): count must be a positive integer"):
        load_scenario(path)


def test_unknown_names_and_missing_files(tmp_path):
    with pytest.raises(ScenarioError, match=r"unknown scenario 'nope'; registered: .*3m"):
        load_scenario("nope")
    with pytest.raises(ScenarioError, match=r"missing\.yaml: cannot read scenario file"):
        load_scenario(tmp_path / "missing.yaml")


def test_scenario_dataclass_validates_what_the_engine_relies_on():
    base = load_scenario("3m")
    stray = UnitPlacement("marine", 1, 40.0, 5.0)
    with pytest.raises(ScenarioError, match="outside the 32 x 32 map"):
        dataclasses.replace(base, placements=base.placements + (stray,))
    with pytest.raises(ScenarioError, match="owner 3"):
        dataclasses.replace(base, placements=base.placements + (UnitPlacement("marine", 3, 1.0, 1.0),))
    with pytest.raises(ScenarioError, match="player 2 has no units"):
        dataclasses.replace(base, placements=tuple(p for p in base.placements if p.owner == 1))
    with pytest.raises(ScenarioError, match="unknown type 'ghost'"):
        dataclasses.replace(base, placements=base.placements + (UnitPlacement("ghost", 1, 1.0, 1.0),))
    with pytest.raises(ScenarioError, match=r"units 0 \(marine, player 1\) and 6 .* same point"):
        dataclasses.replace(base, placements=base.placements + (dataclasses.replace(base.placements[0], owner=2),))
    with pytest.raises(ScenarioError, match="time_limit_loops must be >= 1"):
        dataclasses.replace(base, time_limit_loops=0)


@pytest.mark.parametrize("start_positions", ["reflect", "surrounded"])
def test_generator_is_deterministic_per_seed_and_varies_across_seeds(start_positions):
    scenarios = [random_scenario(seed, start_positions=start_positions) for seed in range(12)]
    assert [s.name for s in scenarios] == [f"random_{seed}" for seed in range(12)]
    assert all(random_scenario(seed, start_positions=start_positions) == s for seed, s in enumerate(scenarios))
    assert len({s.placements for s in scenarios}) == 12
    assert len({tuple(sorted(_counts(s)[1].items())) for s in scenarios}) > 3
    for s in scenarios:
        _check_playable(s)
        counts = _counts(s)
        assert 5 <= sum(counts[1].values()) == sum(counts[2].values()) <= 10
        for owner in (1, 2):
            assert len({_race(u) for u in counts[owner]}) == 1  # one race per side


def test_generator_start_position_modes():
    reflect = random_scenario(3, units_per_side=(12, 12), start_positions="reflect")
    one = sorted((p.x, p.y) for p in reflect.placements if p.owner == 1)
    two = sorted((round(reflect.map_width - p.x, 4), p.y) for p in reflect.placements if p.owner == 2)
    assert one == two
    assert max(x for x, _ in one) < reflect.map_width / 2
    surrounded = random_scenario(3, units_per_side=(12, 12), start_positions="surrounded")
    centre = np.array([surrounded.map_width, surrounded.map_height]) / 2
    mine = np.array([(p.x, p.y) for p in surrounded.placements if p.owner == 1])
    theirs = np.array([(p.x, p.y) for p in surrounded.placements if p.owner == 2])
    assert np.linalg.norm(mine.mean(axis=0) - centre) < 2
    assert np.linalg.norm(theirs - centre, axis=1).min() > np.linalg.norm(mine - centre, axis=1).max()
    angles = np.arctan2(*(theirs - centre).T[::-1])
    assert np.ptp(np.unwrap(np.sort(angles))) > math.pi / 2  # enemies come from more than one side
    facing = np.array([p.facing for p in surrounded.placements if p.owner == 2])
    towards = np.arctan2(*(centre - theirs).T[::-1])
    assert np.allclose(np.cos(facing - towards), 1.0)


def test_generator_options():
    zerg = random_scenario(1, races=("zerg",), units_per_side=(30, 30), extra_enemies=2)
    counts = _counts(zerg)
    assert sum(counts[1].values()) == 30 and sum(counts[2].values()) == 32
    assert {_race(u) for owner in (1, 2) for u in counts[owner]} == {"zerg"}
    only = random_scenario(2, races=("terran",), unit_weights={"marine": 1.0, "medivac": 3.0})
    assert set(_counts(only)[1]) <= {"marine", "medivac"} and "marine" in _counts(only)[1]
    healers = random_scenario(4, races=("terran",), units_per_side=(1, 1), unit_weights={"medivac": 9, "marine": 1e-9})
    assert _counts(healers)[1] == {"marine": 1}  # a side always gets something that can attack
    big = random_scenario(0, units_per_side=(256, 256), start_positions="surrounded")
    assert len(big.placements) == 512
    _check_playable(big)
    strip = random_scenario(0, units_per_side=(8, 8), map_size=(40.0, 12.0))  # reflect fits a wide strip
    assert (strip.map_width, strip.map_height) == (40.0, 12.0)
    _check_playable(strip)
    assert random_scenario(0, time_limit_loops=99).time_limit_loops == 99


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"races": ("elves",)}, "races must be a non-empty subset"),
        ({"races": "zerg"}, "races must be a non-empty subset"),
        ({"units_per_side": (5, 2)}, "units_per_side must be"),
        ({"start_positions": "random"}, "start_positions must be one of"),
        ({"unit_weights": {"ghost": 1.0}}, "unknown unit 'ghost'"),
        ({"unit_weights": {"marine": -1.0}}, "weight of 'marine' must be"),
        ({"races": ("terran",), "unit_weights": {"medivac": 1.0}}, "race 'terran' has no unit type that can attack"),
        ({"units_per_side": (200, 200), "map_size": (32.0, 32.0)}, "map_size 32 x 32 is too small"),
        ({"start_positions": "surrounded", "map_size": (40.0, 12.0)}, "map_size 40 x 12 is too small"),
        ({"extra_enemies": -1}, "extra_enemies must be"),
    ],
)
def test_generator_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as info:
        random_scenario(0, **kwargs)
    assert message in str(info.value)
