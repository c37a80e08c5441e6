"""Full games: the opening position and mineral gathering (rates, saturation, exact timing, mining out)."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import numpy as np
import pytest

from envs.skirmish.commands import Command
from envs.skirmish.economy.game import FullGame
from envs.skirmish.economy.gathering import NONE
from envs.skirmish.economy.rules import default_rules

MINUTE = 1344  # loops in one game minute


def _rules(**changes):
    return dataclasses.replace(default_rules(), **changes)


def _mined(game: FullGame, player: int = 1) -> int:
    return game.minerals(player) - game.rules.start_minerals


def test_opening_position_per_race():
    game = FullGame("duel", ("zerg", "protoss"), seed=0)
    names = game.rules.units.names
    st = game.engine.state
    for player, race, extras in ((1, "zerg", {"hatchery": 1, "overlord": 1, "larva": 3}), (2, "protoss", {"nexus": 1})):
        mine = [names[t] for t in st.utype[st.alive & (st.owner == player)]]
        worker = game.rules.races[race].worker
        assert mine.count(worker) == 12 and {n: mine.count(n) for n in extras} == extras
        assert len(mine) == 12 + sum(extras.values())
        workers = np.flatnonzero(st.alive & (st.owner == player) & (st.utype == game.rules.units.type_index(worker)))
        assert not game.engine.solid[workers].any()  # all twelve start gathering
    assert game.minerals(1) == game.minerals(2) == 50 and not game.done
    assert len(set(FullGame("four_corners", seed=s).bases for s in range(8))) > 1  # seeded start pairs
    with pytest.raises(ValueError, match="race must be one of"):
        FullGame("duel", ("terran", "random"))


def test_twelve_workers_mine_at_lotv_rates_and_both_sides_equally():
    game = FullGame("duel", ("terran", "protoss"), seed=0)
    for _ in range(MINUTE // 8):
        game.step(8)
    per_worker_minute = _mined(game) / 12
    # One trip: about 0.8 s each way over the 3 cells between the town hall and its line at 3.94 speed, 1.99 s mining
    # and a 0.357 s pause: about 4 s for 5 minerals, so 60-75 a minute for a worker with its field mostly to itself.
    assert 60 <= per_worker_minute <= 78
    assert game.minerals(1) == game.minerals(2)  # mirrored map, mirrored economy


def test_income_saturates_past_two_workers_per_field():
    def income(workers: int) -> int:
        game = FullGame("duel", seed=0, rules=_rules(start_workers=workers))
        game.step(3 * MINUTE)
        return _mined(game)

    eight, sixteen, twenty_four = income(8), income(16), income(24)
    assert sixteen > 1.8 * eight  # a second worker per field nearly doubles a line
    assert twenty_four < 1.25 * sixteen  # a third mostly waits for the field
    assert twenty_four / 3 <= 60 / 1.99 * 5 * 8  # never above one trip per field per 1.99 s (Liquipedia's ceiling)


def test_gathering_does_not_depend_on_the_step_size():
    hashes = set()
    for step in (1, 8, 61, 400):
        game = FullGame("duel", ("protoss", "zerg"), seed=5)
        while game.loop < 800:
            game.step(min(step, 800 - game.loop))
        hashes.add(game.state_hash())
    assert len(hashes) == 1


def test_minerals_are_conserved_and_fields_run_out():
    small = {name: dataclasses.replace(r, contents=40) if not r.vespene else r
             for name, r in default_rules().resources.items()}  # fmt: skip
    game = FullGame("duel", seed=1, rules=_rules(resources=MappingProxyType(small)))
    g = game.gathering
    initial = int(g.contents.sum())
    for _ in range(30):
        game.step(MINUTE // 10)
        in_hands = int(g.carry.sum())
        assert int(game.bank.collected[:, 0].sum()) + in_hands + int(g.contents.sum()) == initial
        assert (g.contents >= 0).all()
    base_fields = (np.linalg.norm(g.field_pos - game.engine.state.pos[0], axis=1) < 12.0) & ~g.vespene
    assert (g.contents[base_fields] == 0).all()  # the main's line is mined out ...
    assert _mined(game) == 40 * base_fields.sum()  # ... into player 1's bank
    workers = np.flatnonzero(game.engine.state.utype == game.rules.units.type_index("scv"))
    assert (g.phase[workers] == NONE).all() and game.engine.solid[workers].all()  # idle and solid again


def test_a_worker_ordered_away_stops_gathering():
    game = FullGame("duel", seed=2)
    game.step(200)
    worker = int(np.flatnonzero(game.engine.state.utype == game.rules.units.type_index("scv"))[0])
    game.engine.issue(1, Command("move", units=(worker,), target_pos=(60.0, 60.0)))
    game.step(8)
    assert game.gathering.phase[worker] == NONE and game.engine.solid[worker]
    game.step(2 * MINUTE)
    assert np.hypot(*(game.engine.state.pos[worker] - (60.0, 60.0))) < 0.5  # it went where it was told


def test_gas_through_a_finished_gas_building_of_ones_own():
    rules = _rules(start_minerals=1000)
    game = FullGame("duel", ("terran", "protoss"), seed=0, rules=rules)
    g, st = game.gathering, game.engine.state
    scvs = np.flatnonzero((st.owner == 1) & (st.utype == rules.units.type_index("scv"))).tolist()
    geyser = int(np.flatnonzero(g.vespene & (np.linalg.norm(g.field_pos - st.pos[0], axis=1) < 12.0))[0])
    with pytest.raises(ValueError, match="gas without its own finished gas building"):
        game.gather(1, scvs[1], geyser)
    game.construction.order(1, scvs[0], "refinery", tuple(g.field_pos[geyser]))
    game.step(21 * 23 + 200)  # walk there and build for 21 s
    refinery = int(g.building[geyser])
    assert refinery >= 0 and rules.units.names[st.utype[refinery]] == "refinery"
    probe = int(np.flatnonzero(st.utype == rules.units.type_index("probe"))[0])
    with pytest.raises(ValueError, match="cannot be mined by player 2"):
        game.gather(2, probe, geyser)  # not the enemy's gas

    def gas_per_minute(workers: int) -> float:
        trial = FullGame("duel", ("terran", "protoss"), seed=0, rules=rules)
        trial.construction.order(1, scvs[0], "refinery", tuple(g.field_pos[geyser]))
        trial.step(21 * 23 + 200)
        for w in scvs[1 : 1 + workers]:
            trial.gather(1, w, geyser)
        start = int(trial.bank.vespene[1])
        trial.step(3 * MINUTE)
        return (int(trial.bank.vespene[1]) - start) / 3

    one, three, four = gas_per_minute(1), gas_per_minute(3), gas_per_minute(4)
    cap = 60 / 1.981 * 4  # one trip per 1.981 s inside the building
    assert 1.6 * one < three <= cap + 1 and three > 0.95 * cap  # more workers saturate the geyser ...
    assert four <= three + 1  # ... and a fourth only waits
    # The refinery is destroyed: its workers go back to minerals.
    trial = FullGame("duel", ("terran", "protoss"), seed=0, rules=rules)
    trial.construction.order(1, scvs[0], "refinery", tuple(g.field_pos[geyser]))
    trial.step(21 * 23 + 200)
    trial.gather(1, scvs[1], geyser)
    trial.step(300)
    trial.engine.state.alive[int(trial.gathering.building[geyser])] = False
    trial.engine.invalidate_caches()
    trial.step(400)
    assert not trial.gathering.vespene[trial.gathering.field[scvs[1]]]


def test_the_compiled_deserter_check_finds_what_the_array_rule_finds():
    """``_deserters`` (one compiled pass) against the rule written over arrays, on random cycle phases, orders,
    goals, deaths and targets: the same workers, in slot order."""
    from envs.skirmish.commands import Order
    from envs.skirmish.economy.gathering import TO_FIELD, TO_HALL, _deserters

    rng = np.random.default_rng(0)
    for _ in range(50):
        n = 64
        phase = rng.integers(0, 6, n).astype(np.int8)
        goal = rng.integers(0, 3, (n, 2)).astype(np.float64)
        kind = rng.choice([int(o) for o in Order], (n, 5)).astype(np.int8)
        pos = np.where(rng.random((n, 5, 2)) < 0.7, goal[:, None, :], rng.integers(0, 3, (n, 5, 2)))
        alive, target = rng.random(n) < 0.9, np.where(rng.random(n) < 0.1, 3, -1).astype(np.int32)
        moving = (phase == TO_FIELD) | (phase == TO_HALL)
        k = kind[:, 0]
        ordered = np.where(moving, (k != Order.MOVE) & (k != Order.IDLE), k != Order.IDLE)
        off = moving & (k == Order.MOVE) & np.any(pos[:, 0] != goal, axis=1)
        expected = np.flatnonzero((phase != NONE) & (~alive | ordered | off | (target >= 0)))
        out = np.zeros(n, dtype=np.int64)
        count = _deserters(phase, goal, alive, kind, pos.astype(np.float64), target, out)
        assert out[:count].tolist() == expected.tolist()
