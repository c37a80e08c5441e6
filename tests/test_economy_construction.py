"""Full games: construction in each race's way, placement rules, and what a structure counts for when."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from envs.skirmish.commands import Command
from envs.skirmish.economy.construction import START_HP, IllegalBuild
from envs.skirmish.economy.game import FullGame
from envs.skirmish.economy.gathering import NONE
from envs.skirmish.economy.rules import default_rules


def _game(races, minerals=3000, vespene=1000, seed=0):
    rules = dataclasses.replace(default_rules(), start_minerals=minerals, start_vespene=vespene)
    return FullGame("duel", races, seed=seed, rules=rules)


def _slots(game, player, name):
    st = game.engine.state
    return np.flatnonzero(st.alive & (st.owner == player) & (st.utype == game.rules.units.type_index(name))).tolist()


def _site(game, player, dx, dy):
    """A point offset from the player's main town hall, mirrored for player 2 (its base is rotated)."""
    hx, hy = game.map.bases[game.bases[player - 1]].hall
    sign = 1 if player == 1 else -1
    return hx + sign * dx, hy + sign * dy


def test_an_scv_builds_a_depot_and_supply_counts_only_when_it_is_done():
    game = _game(("terran", "terran"))
    scv = _slots(game, 1, "scv")[0]
    site = _site(game, 1, 9.0, 9.0)
    assert game.production.check(1, _slots(game, 1, "scv")[1], "barracks") == "not_a_producer"
    assert game.construction.check(1, scv, "barracks", site) == "requirements"  # barracks need a depot
    game.construction.order(1, scv, "supply_depot", site)
    assert game.minerals(1) == 2900
    assert game.construction.check(1, _slots(game, 1, "scv")[1], "supply_depot", site) == "placement"  # reserved
    game.step(200)
    depot = _slots(game, 1, "supply_depot")[0]
    st = game.engine.state
    assert 0.0 < game.construction.progress(depot) < 1.0 and st.hp[depot] < 400.0
    assert game.supply(1)[1] == 15.0 and game.gathering.phase[scv] == NONE  # the SCV stays while it builds
    game.step(470)
    assert game.construction.progress(depot) == 1.0 and st.hp[depot] == pytest.approx(400.0)
    assert game.supply(1)[1] == 23.0 and game.gathering.phase[scv] != NONE  # done: supply, and back to mining
    assert game.construction.check(1, scv, "barracks", _site(game, 1, 9.0, 14.0)) is None


def test_structures_start_low_and_gain_hp_evenly():
    game = _game(("protoss", "terran"))
    probe = _slots(game, 1, "probe")[0]
    game.construction.order(1, probe, "pylon", _site(game, 1, 8.0, 8.0))
    game.step(150)
    pylon = _slots(game, 1, "pylon")[0]
    started = game.construction.orders[[i for i, o in game.construction.orders.items() if o.slot == pylon][0]]
    hp = []
    for _ in range(10):
        game.step(20)
        hp.append(game.engine.state.hp[pylon])
    fraction = (game.loop - started.started_at) / (started.done_at - started.started_at)
    expected = 200 * (START_HP + (1 - START_HP) * fraction)
    assert hp[-1] == pytest.approx(expected, abs=200 * 0.9 * 16 / 403 + 1e-9)  # within one 16-loop tick
    assert np.all(np.diff(hp) > 0)


def test_protoss_needs_power_and_its_probe_goes_straight_back():
    game = _game(("protoss", "zerg"))
    probes = _slots(game, 1, "probe")
    gate_site = _site(game, 1, 10.5, 4.5)
    assert game.construction.check(1, probes[0], "gateway", gate_site) == "power"
    game.construction.order(1, probes[0], "pylon", _site(game, 1, 8.0, 8.0))
    game.step(120)
    assert game.gathering.phase[probes[0]] != NONE  # warped in: the probe is mining again
    assert game.construction.check(1, probes[1], "gateway", gate_site) == "power"  # the pylon is not done yet
    game.step(420)
    assert game.construction.check(1, probes[1], "gateway", gate_site) is None
    assert game.construction.check(1, probes[1], "gateway", _site(game, 1, 30.5, 30.5)) == "power"  # out of range


def test_a_drone_becomes_its_structure_on_creep():
    game = _game(("zerg", "terran"))
    drone = _slots(game, 1, "drone")[0]
    tag = int(game.engine.state.tag[drone])
    assert game.construction.check(1, drone, "spawning_pool", _site(game, 1, 9.5, 9.5)) == "creep"
    game.construction.order(1, drone, "spawning_pool", _site(game, 1, 5.5, 7.5))
    used_before = game.supply(1)[0]
    game.step(150)
    assert _slots(game, 1, "spawning_pool") == [drone] and game.engine.state.tag[drone] == tag  # same unit
    assert game.supply(1)[0] == used_before - 1  # the drone is gone from the supply
    larva = _slots(game, 1, "larva")[0]
    assert game.production.check(1, larva, "zergling") == "requirements"
    game.step(46 * 23)
    assert game.production.check(1, larva, "zergling") is None


def test_town_halls_keep_off_the_minerals_and_gas_buildings_take_a_free_geyser():
    game = _game(("terran", "zerg"))
    scvs = _slots(game, 1, "scv")
    hall = game.map.bases[game.bases[0]].hall
    natural = game.map.bases[game.map.naturals[0]]
    assert game.construction.check(1, scvs[0], "command_center", natural.hall) is None
    assert game.construction.check(1, scvs[0], "command_center", (natural.hall[0] - 3, natural.hall[1])) == "placement"
    geysers = [s for s in game.map.bases[game.bases[0]].resources if s.resource == "vespene_geyser"]
    assert game.construction.check(1, scvs[0], "refinery", (hall[0], hall[1] + 10)) == "geyser"
    game.construction.order(1, scvs[0], "refinery", (geysers[0].x, geysers[0].y))
    assert game.construction.check(1, scvs[1], "refinery", (geysers[0].x, geysers[0].y)) == "geyser"
    assert game.construction.check(1, scvs[1], "refinery", (geysers[1].x, geysers[1].y)) is None


def test_a_worker_sent_elsewhere_cancels_its_order_and_a_destroyed_structure_frees_its_cells():
    game = _game(("terran", "terran"))
    scv = _slots(game, 1, "scv")[0]
    site = _site(game, 1, 9.0, 9.0)
    game.construction.order(1, scv, "supply_depot", site)
    game.engine.issue(1, Command("move", units=(scv,), target_pos=(60.0, 60.0)))
    game.step(100)
    assert game.minerals(1) >= 3000 and not game.construction.orders.keys() - _registered(game)  # refunded
    assert game.construction.check(1, _slots(game, 1, "scv")[1], "supply_depot", site) is None  # cells free
    game.construction.order(1, _slots(game, 1, "scv")[1], "supply_depot", site)
    game.step(700)
    depot = _slots(game, 1, "supply_depot")[0]
    game.engine.state.alive[depot] = False  # (as if destroyed)
    game.engine.invalidate_caches()
    game.step(1)
    assert game.construction.check(1, _slots(game, 1, "scv")[2], "supply_depot", site) is None
    assert game.supply(1)[1] == 15.0


def _registered(game):
    return {i for i, o in game.construction.orders.items() if o.structure is None}


def test_illegal_builds_raise_with_their_reason():
    game = _game(("terran", "protoss"), minerals=50)
    scv = _slots(game, 1, "scv")[0]
    with pytest.raises(IllegalBuild, match="cannot build 'supply_depot' .*: minerals") as caught:
        game.construction.order(1, scv, "supply_depot", _site(game, 1, 9.0, 9.0))
    assert caught.value.reason == "minerals" and game.minerals(1) == 50
    assert game.construction.check(1, scv, "pylon", _site(game, 1, 9.0, 9.0)) == "not_a_builder"
    assert game.construction.check(2, scv, "pylon", _site(game, 2, 9.0, 9.0)) == "not_owner"


def test_construction_does_not_depend_on_the_step_size():
    hashes = set()
    for step in (1, 8, 113):
        game = _game(("terran", "zerg"), seed=3)
        game.construction.order(1, _slots(game, 1, "scv")[0], "supply_depot", _site(game, 1, 9.0, 9.0))
        game.construction.order(2, _slots(game, 2, "drone")[0], "spawning_pool", _site(game, 2, 5.5, 7.5))
        while game.loop < 1200:
            game.step(min(step, 1200 - game.loop))
        hashes.add(game.state_hash())
    assert len(hashes) == 1


def test_a_weapons_upgrade_improves_the_army_in_the_field_and_what_comes_after():
    game = _game(("terran", "zerg"))
    scvs = _slots(game, 1, "scv")
    game.construction.order(1, scvs[0], "supply_depot", _site(game, 1, 9.0, 9.0))
    game.construction.order(1, scvs[1], "engineering_bay", _site(game, 1, 9.5, -9.5))
    game.step(46 * 23)
    assert {"supply_depot", "engineering_bay"} <= game.production.finished_structures(1)
    game.construction.order(1, scvs[2], "barracks", _site(game, 1, 13.5, 3.5))
    game.step(50 * 23)
    barracks, bay = _slots(game, 1, "barracks")[0], _slots(game, 1, "engineering_bay")[0]
    game.production.order(1, barracks, "marine")
    game.production.order(1, bay, "terran_infantry_weapons_1")
    assert game.production.check(1, bay, "terran_infantry_weapons_1") == "busy"  # being researched
    game.step(18 * 23)
    veteran = _slots(game, 1, "marine")[0]
    game.step(115 * 23 - 18 * 23)
    names = game.rules.units.names
    assert names[game.engine.state.utype[veteran]] == "marine+terran_infantry_weapons_1"  # upgraded in the field
    assert game.production.check(1, bay, "terran_infantry_weapons_1") == "busy"  # done: cannot be done again
    game.production.order(1, barracks, "marine")
    game.step(19 * 23)
    upgraded = _slots(game, 1, "marine+terran_infantry_weapons_1")
    assert len(upgraded) == 2 and not _slots(game, 1, "marine")  # a new marine comes out upgraded
    units = game.rules.units
    assert units.damage[units.type_index("marine+terran_infantry_weapons_1")] == 7.0
    assert game.supply(1)[0] == 12 + 2  # upgraded marines still cost one supply each


def test_a_builder_that_dies_is_forgotten_when_a_new_unit_takes_its_slot():
    game = _game(("terran", "terran"))
    scv = _slots(game, 1, "scv")[0]
    game.construction.order(1, scv, "supply_depot", _site(game, 1, 9.0, 9.0))
    game.step(120)  # it arrived and the depot is going up, the SCV beside it
    (site,) = [o for o in game.construction.orders.values() if o.structure == "supply_depot"]
    assert site.slot >= 0 and not site.finished and site.worker == scv
    game.engine.state.alive[scv] = False  # (as if killed while building)
    game.engine.invalidate_caches()
    game.step(1)
    newcomer = game.production._spawn_beside(_slots(game, 1, "command_center")[0], "marine", 1)
    assert newcomer == scv and site.worker == -1  # the slot's new unit is not the builder
    game.step(24 * 22)  # the depot finishes: nobody is sent mining, least of all the marine
    assert site.finished and game.gathering.phase[scv] == NONE and game.supply(1)[1] == 23.0
