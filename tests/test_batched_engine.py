"""BatchedEngine plays every game exactly as a single Engine: equal state hashes, winners, loops and events.

Each test runs the same games through single Engines and one BatchedEngine with the same commands and advance
sizes, comparing after every advance: shipped scenarios, seeded random scenarios (generator.py and a fuzz
generator with every unit type), random commands of every kind (queued too) mid-game, fog, games of different
sizes and lengths in one batch, and slots reset to new games while the others keep playing.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from envs.skirmish.batched import BatchedEngine
from envs.skirmish.commands import COMMAND_KINDS, Command
from envs.skirmish.engine import Engine
from envs.skirmish.generator import random_scenario
from envs.skirmish.observation import observe
from envs.skirmish.scenario import Scenario, UnitPlacement, load_scenario, scenario_names
from envs.skirmish.units import default_units

EXACT = dataclasses.replace(default_units(), cooldown_jitter=0.0)
SMALL = [name for name in scenario_names() if name not in ("64v64_mixed", "mixed_256v256")]


def _fuzz_scenario(rng: np.random.Generator) -> Scenario:
    """Every unit type at random places on a random map (1-11 units a side)."""
    names = default_units().names
    size = (float(rng.integers(12, 40)), float(rng.integers(8, 30)))
    placements = []
    for owner in (1, 2):
        for _ in range(int(rng.integers(1, 12))):
            x = rng.uniform(0, size[0] / 2) + (size[0] / 2 if owner == 2 else 0)
            placements.append(UnitPlacement(str(rng.choice(names)), owner, x, rng.uniform(0, size[1])))
    return Scenario("fuzz", size[0], size[1], tuple(placements), int(rng.integers(200, 1200)))


def _random_command(rng: np.random.Generator, st, scenario: Scenario, player: int) -> Command:
    """A command of any kind (queued at times) for some of ``player``'s units, dead ones included."""
    mine = np.flatnonzero(st.owner == player)
    units = tuple(rng.choice(mine, size=int(rng.integers(1, mine.size + 1)), replace=False).tolist())
    kind = str(rng.choice(COMMAND_KINDS))
    point = (float(rng.uniform(-5, scenario.map_width + 5)), float(rng.uniform(-5, scenario.map_height + 5)))
    return Command(kind, units, target_unit=int(rng.integers(st.n)), target_pos=point,
                   queued=bool(rng.random() < 0.3))  # fmt: skip


def _attack_move_all(st, issue) -> None:
    """Both players attack-move their living units to the centre of the living enemy army."""
    for player in (1, 2):
        mine = np.flatnonzero(st.alive & (st.owner == player))
        enemy = st.alive & (st.owner != player)
        if mine.size and enemy.any():
            centre = st.pos[enemy].mean(axis=0)
            issue(player, Command("attack_move", tuple(mine.tolist()), target_pos=(centre[0], centre[1])))


def _assert_same(singles: list[Engine], batch: BatchedEngine, fog: bool = False) -> None:
    for g, e in enumerate(singles):
        assert (batch.loop[g], batch.winner[g]) == (e.loop, -1 if e.winner is None else e.winner), g
        assert batch.state_hash(g) == e.state_hash(), f"game {g} ({e.scenario.name}) at loop {e.loop}"
        assert batch.events(g) == e.events, g
        if fog:
            for player in (1, 2):
                assert np.array_equal(batch.visible(g, player), e.visible(player))


def _play(scenarios: list[Scenario], seeds: list[int], rng: np.random.Generator, *, units=None, fog=False,
          random_orders=True, rounds=400, new_game=None) -> BatchedEngine:  # fmt: skip
    """Play the games in lockstep through both engines (random commands and advance sizes), checking every
    round; ``new_game(k)`` (scenario, seed) reloads finished slots until it returns None."""
    singles = [Engine(s, seed=seed, fog=fog, units=units) for s, seed in zip(scenarios, seeds, strict=True)]
    batch = BatchedEngine(scenarios, seeds, fog=fog, units=units,
                          capacity=max(len(s.placements) for s in scenarios) + 4)  # fmt: skip
    _assert_same(singles, batch, fog)
    resets = 0
    for step in range(rounds):
        for g, e in enumerate(singles):
            if e.done and new_game is not None:
                fresh = new_game(resets)
                if fresh is not None:
                    resets += 1
                    singles[g] = e = Engine(fresh[0], seed=fresh[1], fog=fog, units=units)
                    batch.reset_game(g, fresh[0], fresh[1])
            if random_orders:
                for player in (1, 2):
                    if rng.random() < 0.3:
                        command = _random_command(rng, e.state, e.scenario, player)
                        e.issue(player, command)
                        batch.issue(g, player, command)
            elif step % 8 == 0 and not e.done:
                _attack_move_all(e.state, e.issue)
                _attack_move_all(batch.game_state(g), lambda p, c, g=g: batch.issue(g, p, c))
        loops = int(rng.integers(0, 13))
        for e in singles:
            e.advance(loops)
        batch.advance(loops)
        _assert_same(singles, batch, fog)
        if batch.done.all():
            break
    return batch


def test_shipped_scenarios_of_different_sizes_in_one_batch_match_single_engines():
    names = SMALL
    batch = _play([load_scenario(n) for n in names], list(range(len(names))), np.random.default_rng(0),
                  random_orders=False)  # fmt: skip
    assert batch.done.all() and len(set(batch.loop.tolist())) > 3  # games ended at different loops


@pytest.mark.parametrize("units", [None, EXACT], ids=["jitter", "exact"])
def test_random_commands_on_fuzz_scenarios_match_single_engines(units):
    rng = np.random.default_rng(7)
    scenarios = [_fuzz_scenario(rng) for _ in range(12)]
    _play(scenarios, list(range(12)), rng, units=units, rounds=150)


def test_generated_scenarios_with_fog_and_slots_reset_mid_run_match_single_engines():
    rng = np.random.default_rng(3)
    modes = ("reflect", "surrounded")
    scenarios = [random_scenario(s, start_positions=modes[s % 2]) for s in range(6)]

    def new_game(k: int) -> tuple[Scenario, int] | None:
        return None if k >= 8 else (random_scenario(100 + k, start_positions=modes[k % 2]), 100 + k)

    batch = _play(scenarios, list(range(6)), rng, fog=True, random_orders=False, rounds=600, new_game=new_game)
    assert set(batch.seeds) & set(range(100, 108))


def test_games_left_out_of_an_advance_pause_and_play_on_as_single_engines():
    """Advancing random subsets: a paused game (mid-fight: collisions, lazy healing) continues bit-identically."""
    rng = np.random.default_rng(8)  # (pauses a lazily healing game: seed found by trying)
    names = ("MMM", "2s3z", "10v10_mixed", "3s5z_vs_3s6z", "MMM", "marines_tanks_vs_zerglings_banelings")
    scenarios = [load_scenario(n) for n in names]
    singles = [Engine(s, seed=k) for k, s in enumerate(scenarios)]
    batch = BatchedEngine(scenarios, list(range(len(scenarios))))
    played = np.zeros(len(scenarios), dtype=int)
    for step in range(400):
        if step % 8 == 0:
            for g, e in enumerate(singles):
                _attack_move_all(e.state, e.issue)
                _attack_move_all(batch.game_state(g), lambda p, c, g=g: batch.issue(g, p, c))
        games = np.flatnonzero(rng.random(len(singles)) < 0.6)
        loops = int(rng.integers(1, 9))
        for g in games:
            singles[g].advance(loops)
        batch.advance(loops, games if step % 2 else np.isin(np.arange(len(singles)), games))
        played[games] += 1
        for g, e in enumerate(singles):
            assert (batch.loop[g], batch.state_hash(g)) == (e.loop, e.state_hash()), (step, g)
            assert batch.events(g) == (e.events if g in games else []), (step, g)
        if batch.done.all():
            break
    assert batch.done.all() and played.min() > 20
    with pytest.raises(ValueError, match="advance: games must be indices"):
        batch.advance(1, [len(singles)])


def test_load_puts_a_freshly_built_engine_into_a_slot():
    """``load``: the engine's state, orders issued before loading, see_all and fog carry over; it plays on alike."""
    scenario = load_scenario("2s3z")
    batch = BatchedEngine([load_scenario("3m")] * 2, [0, 1], capacity=12)
    single, built = Engine(scenario, seed=5, fog=True), Engine(scenario, seed=5, fog=True)
    for e in (single, built):
        e.see_all = frozenset({2})
        e.issue(1, Command("attack_move", (0, 1, 2), target_pos=(20.0, 10.0)))
    view = batch.load(1, built)
    assert view is batch.game(1) and view.fog and view.see_all == {2} and view.state_hash() == single.state_hash()
    batch.advance(5)
    single.advance(5)
    for _ in range(200):
        _attack_move_all(single.state, single.issue)
        _attack_move_all(view.state, view.issue)
        view.advance(8)
        single.advance(8)
        assert view.state_hash() == single.state_hash() and np.array_equal(view.visible(1), single.visible(1))
        if single.done:
            break
    assert view.done and view.winner == single.winner and batch.loop[0] == 5
    with pytest.raises(ValueError, match="load: the engine must be at loop 0"):
        batch.load(0, single)
    with pytest.raises(ValueError, match="has 20 slots; this batch holds at most 12"):
        batch.load(0, Engine(load_scenario("10v10_mixed")))
    with pytest.raises(ValueError, match="unit table is not this batch's"):
        batch.load(0, Engine(scenario, units=EXACT))


def test_game_views_drive_observations_like_the_engine():
    scenario = load_scenario("MMM")
    single, batch = Engine(scenario, seed=4), BatchedEngine([load_scenario("3m"), scenario], [0, 4])
    view = batch.game(1)
    for _ in range(30):
        _attack_move_all(single.state, single.issue)
        _attack_move_all(view.state, view.issue)
        single.advance(8)
        batch.advance(8)
    assert view.loop == single.loop and view.winner == single.winner and view.events == single.events
    for player in (1, 2):
        got, want = observe(view, player, 32), observe(single, player, 32)
        for key, value in want[0].items():
            assert np.array_equal(got[0][key], value), key


def test_bad_input_raises_clear_errors():
    scenario = load_scenario("3m")
    with pytest.raises(ValueError, match="2 scenarios but 1 seeds"):
        BatchedEngine([scenario, scenario], [0])
    batch = BatchedEngine([scenario], [0])
    with pytest.raises(ValueError, match=r"game index must be an int in \[0, 1\), got 1"):
        batch.issue(1, 1, Command("stop", (0,)))
    with pytest.raises(ValueError, match="has 20 units; this batch holds at most 6 per game"):
        batch.reset_game(0, load_scenario("10v10_mixed"), 0)
    with pytest.raises(ValueError, match="advance: loops must be a non-negative int"):
        batch.advance(-1)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_sweep_every_scenario_and_random_games_match_single_engines(seed):
    rng = np.random.default_rng(seed)
    names = scenario_names()
    _play([load_scenario(n) for n in names], [seed] * len(names), rng, random_orders=False, rounds=300)
    scenarios = [_fuzz_scenario(rng) for _ in range(24)] + [random_scenario(seed * 50 + k) for k in range(24)]
    _play(scenarios, list(range(48)), rng, fog=bool(seed % 2), rounds=300)
