"""Full-game maps and the placement grid: base layouts as in StarCraft II, fair starts, bad maps."""

from __future__ import annotations

import math

import pytest
import yaml

from envs.skirmish.economy.maps import HALL_FOOTPRINT, MapError, base_layout, load_map, map_names
from envs.skirmish.economy.placement import PlacementGrid, snap
from envs.skirmish.economy.rules import default_rules


def test_snap_follows_footprint_parity():
    assert snap(10.2, 10.7, (5, 5)) == (10.5, 10.5)  # odd: cell centres
    assert snap(10.2, 10.7, (2, 2)) == (10.0, 11.0)  # even: cell corners
    assert snap(10.2, 10.7, (2, 1)) == (10.0, 10.5)


def test_grid_places_clears_and_refuses_overlaps():
    grid = PlacementGrid(20, 10)
    assert grid.cells(5.5, 5.5, (3, 3)) == (4, 4, 7, 7)
    grid.place(5.5, 5.5, (3, 3), occupant=7)
    assert not grid.free(7.5, 5.5, (3, 3)) and grid.free(8.5, 5.5, (3, 3))
    with pytest.raises(ValueError, match=r"cannot place a 3x3 footprint at \(6.5, 5.5\)"):
        grid.place(6.5, 5.5, (3, 3), occupant=8)
    assert not grid.free(19.5, 5.5, (3, 3)) and grid.free(19.5, 5.5, (1, 1))  # the map edge
    grid.clear(7)
    assert grid.free(5.5, 5.5, (3, 3))
    grid.place(10.0, 5.5, (2, 1), occupant=3, resource=True)  # cells x 9..10, y 5
    assert not grid.near_resource(4.5, 5.5, (3, 3), gap=3)  # footprint cells x 3..5; cells 6, 7, 8 free between
    assert grid.near_resource(5.5, 5.5, (3, 3), gap=3)  # footprint to x 6: only 7 and 8 between
    assert grid.near_resource(4.5, 5.5, (3, 3), gap=4)


@pytest.mark.parametrize("side", ["east", "west", "north", "south"])
def test_base_layout_is_sc2s_mineral_line(side):
    rules = default_rules()
    spots = base_layout((40.5, 40.5), side)
    fields = [s for s in spots if not rules.resources[s.resource].vespene]
    geysers = [s for s in spots if rules.resources[s.resource].vespene]
    assert len(fields) == 8 and len(geysers) == 2
    assert sorted(rules.resources[s.resource].contents for s in fields) == [900] * 4 + [1800] * 4
    grid = PlacementGrid(81, 81)
    for i, s in enumerate(spots):
        grid.place(s.x, s.y, rules.resources[s.resource].footprint, occupant=i + 1, resource=True)
    # Every resource stands exactly 3 free cells beyond the town hall's footprint, as on SC2's ladder maps.
    assert not grid.near_resource(40.5, 40.5, HALL_FOOTPRINT, gap=3)
    assert grid.near_resource(40.5, 40.5, HALL_FOOTPRINT, gap=4)
    direction = {"east": (1, 0), "west": (-1, 0), "north": (0, 1), "south": (0, -1)}[side]
    for s in fields:
        assert 6.0 <= math.dist((40.5, 40.5), (s.x, s.y)) <= 9.0
        assert (s.x - 40.5) * direction[0] + (s.y - 40.5) * direction[1] > 5.5  # on the named side


@pytest.mark.parametrize("name", ["duel", "four_corners"])
def test_shipped_maps_are_fair(name):
    game_map = load_map(name)
    assert name in map_names() and 2 <= len(game_map.starts) <= 4
    assert game_map.time_limit_loops == 40320  # 30 game minutes
    profiles = []
    for start, natural in zip(game_map.starts, game_map.naturals, strict=True):
        hall = game_map.bases[start].hall
        others = [b for i, b in enumerate(game_map.bases) if i != start]
        nearest = min(others, key=lambda b: math.dist(hall, b.hall))
        assert nearest is game_map.bases[natural]  # the natural is the closest other base
        resources = sorted(round(math.dist(hall, (s.x, s.y)), 6) for s in game_map.bases[start].resources)
        bases = sorted(round(math.dist(hall, b.hall), 6) for b in others)
        profiles.append((tuple(resources), tuple(bases)))
    assert len(set(profiles)) == 1  # every start: the same mineral line and the same distances to every base
    # The map maps onto itself under its symmetry (point symmetry for duel, both mirrors for four_corners).
    spots = {(s.resource, s.x, s.y) for s in game_map.resources()}
    w, h = game_map.width, game_map.height
    assert {(r, w - x, h - y) for r, x, y in spots} == spots
    if name == "four_corners":
        assert {(r, w - x, y) for r, x, y in spots} == spots


def _map_file(tmp_path, **changes):
    data = {"map_size": [64, 64], "bases": [{"hall": [16.5, 16.5], "minerals": "west", "start": True},
                                            {"hall": [47.5, 47.5], "minerals": "east", "start": True}]}  # fmt: skip
    data.update(changes)
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_custom_map_loads_by_path(tmp_path):
    game_map = load_map(_map_file(tmp_path, time_limit_loops=2000))
    assert game_map.name == "custom" and game_map.starts == (0, 1) and game_map.naturals == (None, None)
    assert game_map.time_limit_loops == 2000


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bases": [{"hall": [16.0, 16.5], "minerals": "west", "start": True}]}, r"centres on a cell centre.*16.5"),
        ({"bases": [{"hall": [16.5, 16.5], "minerals": "west", "start": True}]}, "needs 2 to 4 start bases"),
        ({"bases": [{"hall": [16.5, 16.5], "minerals": "up", "start": True}]}, "minerals side must be one of"),
        ({"bases": [{"hall": [4.5, 16.5], "minerals": "west", "start": True},
                    {"hall": [47.5, 47.5], "minerals": "east", "start": True}]}, "leave the map"),  # fmt: skip
        ({"bases": [{"hall": [16.5, 16.5], "minerals": "west", "start": True},
                    {"hall": [20.5, 16.5], "minerals": "east", "start": True}]}, "not buildable"),  # fmt: skip
        ({"bases": [{"hall": [16.5, 16.5], "minerals": "west", "start": True, "natural": 0},
                    {"hall": [47.5, 47.5], "minerals": "east", "start": True}]}, "natural must be the"),  # fmt: skip
        ({"map_size": [64]}, "map_size must be"),
        ({"time_limit_s": -1}, "time_limit_s must be a positive number"),
        ({"fog": True}, r"unknown field\(s\) \['fog'\]"),
    ],
)
def test_bad_maps_name_the_file_and_problem(tmp_path, changes, message):
    with pytest.raises(MapError, match=message) as caught:
        load_map(_map_file(tmp_path, **changes))
    assert "custom.yaml" in str(caught.value)


def test_unknown_map_lists_the_shipped_ones():
    with pytest.raises(MapError, match="unknown map 'lost_temple'; shipped maps: duel, four_corners"):
        load_map("lost_temple")
