"""Full games: training, morphing, larva, supply and the reasons an order is illegal."""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
import pytest

from envs.skirmish.economy.game import FullGame
from envs.skirmish.economy.gathering import NONE
from envs.skirmish.economy.production import MAX_QUEUE, IllegalOrder
from envs.skirmish.economy.rules import default_rules

SCV_LOOPS = 269  # 12 game seconds


def _rich(minerals=2000, vespene=0, **changes):
    return dataclasses.replace(default_rules(), start_minerals=minerals, start_vespene=vespene, **changes)


def _slots(game: FullGame, player: int, name: str) -> list[int]:
    st = game.engine.state
    t = game.rules.units.type_index(name)
    return np.flatnonzero(st.alive & (st.owner == player) & (st.utype == t)).tolist()


def _count(game: FullGame, player: int) -> collections.Counter:
    st, names = game.engine.state, game.rules.units.names
    return collections.Counter(names[t] for t in st.utype[st.alive & (st.owner == player)])


def test_a_town_hall_trains_workers_one_after_another_and_they_go_mining():
    game = FullGame("duel", ("terran", "protoss"), seed=0, rules=_rich())
    cc = _slots(game, 1, "command_center")[0]
    for _ in range(3):
        game.production.order(1, cc, "scv")
    assert game.minerals(1) == 2000 - 150 and game.supply(1) == (15.0, 15.0)  # paid and reserved at once
    assert game.production.check(1, cc, "scv") == "supply"
    game.step(SCV_LOOPS - 1)
    assert _count(game, 1)["scv"] == 12
    game.step(1)
    assert _count(game, 1)["scv"] == 13  # the first one, on its loop
    game.step(2 * SCV_LOOPS)
    assert _count(game, 1)["scv"] == 15 and game.supply(1) == (15.0, 15.0)
    newest = _slots(game, 1, "scv")[-1]
    assert game.gathering.phase[newest] != NONE  # LotV: new workers mine without being told


def test_reasons_for_illegal_orders():
    game = FullGame("duel", ("terran", "zerg"), seed=0, rules=_rich(minerals=60))
    cc, hatchery = _slots(game, 1, "command_center")[0], _slots(game, 2, "hatchery")[0]
    larva = _slots(game, 2, "larva")[0]
    check = game.production.check
    assert check(2, cc, "scv") == "not_owner"
    assert check(1, cc, "marine") == "not_a_producer"
    assert check(1, cc, "supply_depot") == "not_a_producer"  # structures are built by workers, not ordered here
    assert check(2, larva, "zergling") == "requirements"  # no spawning pool
    assert check(2, hatchery, "lair") == "requirements"
    assert check(2, larva, "overlord") == "minerals"
    assert check(1, cc, "scv") is None
    game.production.order(1, cc, "scv")
    with pytest.raises(IllegalOrder, match="cannot order 'scv' from slot .*: minerals") as caught:
        game.production.order(1, cc, "scv")
    assert caught.value.reason == "minerals" and game.minerals(1) == 10  # nothing taken for a refused order
    rich = FullGame("duel", seed=0, rules=_rich(minerals=10_000, start_workers=6))
    cc = _slots(rich, 1, "command_center")[0]
    for _ in range(MAX_QUEUE):
        rich.production.order(1, cc, "scv")
    assert rich.production.check(1, cc, "scv") == "queue_full"


def test_larva_morph_through_eggs_and_grow_back():
    game = FullGame("duel", ("zerg", "zerg"), seed=0, rules=_rich())
    hatchery = _slots(game, 1, "hatchery")[0]
    larva = _slots(game, 1, "larva")
    game.production.order(1, larva[0], "drone")
    game.production.order(1, larva[1], "overlord")
    assert _count(game, 1)["egg"] == 2 and _count(game, 1)["larva"] == 1
    assert game.supply(1) == (13.0, 14.0)
    game.step(246)  # one larva every 11 game seconds while under three
    assert _count(game, 1)["larva"] == 2
    game.step(SCV_LOOPS - 246)
    assert _count(game, 1)["drone"] == 13 and _count(game, 1)["egg"] == 1
    game.step(403 - SCV_LOOPS)  # the overlord takes 18 s
    assert _count(game, 1)["overlord"] == 2 and game.supply(1) == (13.0, 22.0)
    game.step(10 * 246)
    assert _count(game, 1)["larva"] == 3  # never more than three per hatchery
    larva_positions = game.engine.state.pos[_slots(game, 1, "larva")]
    assert (np.linalg.norm(larva_positions - game.engine.state.pos[hatchery], axis=1) < 4.0).all()


def test_zerglings_come_in_pairs_and_a_killed_egg_frees_its_supply():
    game = FullGame("duel", ("zerg", "terran"), seed=0, rules=_rich())
    hx, hy = game.map.bases[game.bases[0]].hall
    game.construction.order(1, _slots(game, 1, "drone")[0], "spawning_pool", (hx + 5.5, hy + 7.5))
    game.step(46 * 23 + 100)  # the drone walks over and becomes the pool (46 s)
    assert "spawning_pool" in game.production.finished_structures(1)
    larva = _slots(game, 1, "larva")
    game.production.order(1, larva[0], "zergling")
    game.production.order(1, larva[1], "drone")
    assert game.supply(1) == (13.0, 14.0)  # 11 drones, a pair of zerglings and a drone paid for
    egg = larva[1]
    game.engine.state.alive[egg] = False  # (as if killed)
    game.engine.invalidate_caches()
    game.step(1)
    assert game.supply(1) == (12.0, 14.0)  # the drone's reserved supply is back
    game.step(381)  # 17 game seconds
    assert _count(game, 1)["zergling"] == 2 and game.supply(1) == (12.0, 14.0)


def test_production_does_not_depend_on_the_step_size():
    hashes = set()
    for step in (1, 8, 97):
        game = FullGame("duel", ("terran", "zerg"), seed=4, rules=_rich())
        cc, larva = _slots(game, 1, "command_center")[0], _slots(game, 2, "larva")
        for _ in range(3):
            game.production.order(1, cc, "scv")
        game.production.order(2, larva[0], "drone")
        game.production.order(2, larva[2], "overlord")
        while game.loop < 900:
            game.step(min(step, 900 - game.loop))
        hashes.add(game.state_hash())
    assert len(hashes) == 1
