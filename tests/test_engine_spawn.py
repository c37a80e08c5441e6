"""Engine operations full games need: spawn into free slots, morph in place, hp gain, the structures defeat rule;
the batched engine plays them exactly as the engine."""

from __future__ import annotations

import numpy as np
import pytest

from envs.skirmish.batched import BatchedEngine
from envs.skirmish.commands import Command
from envs.skirmish.economy.rules import default_rules
from envs.skirmish.engine import Engine
from envs.skirmish.scenario import FACING, Scenario, UnitPlacement
from envs.skirmish.state import TAG_RECYCLE


def _scenario(placements, limit=2000):
    return Scenario(name="t", map_width=40.0, map_height=40.0, placements=tuple(placements), time_limit_loops=limit)


BASE = [
    UnitPlacement("marine", 1, 10.0, 20.0, FACING[1]),
    UnitPlacement("zealot", 1, 9.0, 22.0, FACING[1]),
    UnitPlacement("marine", 2, 24.0, 20.0, FACING[2]),
    UnitPlacement("stalker", 2, 25.0, 18.0, FACING[2]),
]
LATER = [UnitPlacement("medivac", 1, 8.0, 20.0, FACING[1]), UnitPlacement("zergling", 2, 26.0, 23.0, FACING[2])]


def test_spawning_at_the_start_plays_as_if_the_units_were_placed():
    placed = Engine(_scenario(BASE + LATER), seed=3)
    spawned = Engine(_scenario(BASE), seed=3, capacity=len(BASE) + len(LATER))
    for p in LATER:
        slot = spawned.spawn(p.unit, p.owner, (p.x, p.y), facing=p.facing)
        assert spawned.state.tag[slot] == placed.state.tag[slot] + TAG_RECYCLE
    for engine in (placed, spawned):
        engine.issue(1, Command("attack_move", units=[0, 1], target_pos=(30.0, 20.0)))
        engine.advance(250)
    assert placed.events == spawned.events and placed.loop == spawned.loop and placed.winner == spawned.winner
    for name, array in placed.state.arrays().items():
        if name != "tag":
            np.testing.assert_array_equal(getattr(spawned.state, name), array, err_msg=name)


def test_a_unit_spawned_mid_game_fights_and_a_dead_slot_is_reused_cleanly():
    engine = Engine(_scenario(BASE), seed=1, capacity=len(BASE) + 1)
    engine.advance(10)
    newcomer = engine.spawn("marine", 1, (20.0, 20.0))
    assert newcomer == len(BASE) and engine.state.alive[newcomer]
    engine.advance(60)
    assert any(kind == "attack" and attacker == newcomer for kind, attacker, _ in engine.events)
    # Player 1's zealot queues an attack on player 2's marine behind a move; the marine dies and its slot is reused
    # by a new player-2 unit, which must not inherit the queued attack.
    engine.issue(1, Command("move", units=[1], target_pos=(5.0, 5.0)))
    engine.issue(1, Command("attack_unit", units=[1], target_unit=2, queued=True))
    st = engine.state
    old_tag = int(st.tag[2])
    st.alive[2] = False  # (as a death would leave it: the queued order still names slot 2)
    st.hp[2] = 0.0
    engine.invalidate_caches()
    slot = engine.spawn("zergling", 2, (30.0, 30.0))
    assert slot == 2 and st.tag[2] == old_tag + TAG_RECYCLE
    assert int(st.order_len[1]) == 1 and (st.order_unit[1] != 2).all()  # the queued attack on the old unit is gone
    assert not (st.attack_target == 2).any()


def test_morph_keeps_slot_tag_position_and_hp_fraction():
    rules = default_rules()
    engine = Engine(_scenario(BASE), units=rules.units, capacity=6)
    hatchery = engine.spawn("hatchery", 2, (30.5, 30.5), hp_fraction=0.5)
    tag, pos = int(engine.state.tag[hatchery]), engine.state.pos[hatchery].copy()
    engine.morph(hatchery, "lair")
    st = engine.state
    assert rules.units.names[st.utype[hatchery]] == "lair" and st.tag[hatchery] == tag
    np.testing.assert_array_equal(st.pos[hatchery], pos)
    assert st.hp[hatchery] == pytest.approx(1000.0)  # half of the lair's 2000, as it was half of 1500
    engine.add_hp([hatchery], [600.0])
    assert st.hp[hatchery] == pytest.approx(1600.0)
    engine.add_hp([hatchery], [10_000.0])
    assert st.hp[hatchery] == pytest.approx(2000.0)  # capped
    with pytest.raises(ValueError, match="amounts must be >= 0"):
        engine.add_hp([hatchery], [-1.0])
    with pytest.raises(ValueError, match="does not hold a living unit"):
        engine.morph(5, "egg")


def test_structures_defeat_rule():
    depots = [
        UnitPlacement("marine", 1, 15.0, 20.0, FACING[1]),
        UnitPlacement("supply_depot", 1, 3.0, 3.0),
        UnitPlacement("marine", 2, 22.0, 20.0, FACING[2]),
        UnitPlacement("supply_depot", 2, 37.0, 37.0),
    ]
    scenario = Scenario(name="depots", map_width=40.0, map_height=40.0, placements=tuple(depots),
                        time_limit_loops=20_000, roster="full")  # fmt: skip
    engine = Engine(scenario, seed=2, defeat="structures")
    assert engine.units is default_rules().units
    engine.issue(1, Command("attack_unit", units=[0], target_unit=2))
    engine.issue(2, Command("attack_unit", units=[2], target_unit=0))
    engine.advance(400)  # the marines trade until one side has no unit left ...
    alive = engine.state.alive
    assert alive[[1, 3]].all() and alive[[0, 2]].sum() == 1
    assert not engine.done  # ... and that side has not lost: it still owns its depot
    survivor = 0 if alive[0] else 2
    loser_depot = 3 if survivor == 0 else 1
    engine.issue(engine.state.owner[survivor], Command("attack_unit", units=[survivor], target_unit=loser_depot))
    engine.advance(5000)
    assert engine.done and engine.winner == engine.state.owner[survivor]
    no_depot = Scenario(name="one", map_width=40.0, map_height=40.0, placements=tuple(depots[:3]),
                        time_limit_loops=100, roster="full")  # fmt: skip
    assert Engine(no_depot, defeat="structures").winner == 1  # player 2 owns no structure: lost at once
    assert not Engine(no_depot, defeat="units").done


def test_spawn_errors():
    engine = Engine(_scenario(BASE), capacity=len(BASE) + 1)
    with pytest.raises(ValueError, match="owner must be 1 or 2"):
        engine.spawn("marine", 3, (1.0, 1.0))
    with pytest.raises(KeyError, match="unknown unit type 'probe'"):
        engine.spawn("probe", 1, (1.0, 1.0))  # the combat table has no probe
    engine.spawn("marine", 1, (1.0, 1.0))
    with pytest.raises(RuntimeError, match="all 5 slots hold living units"):
        engine.spawn("marine", 1, (2.0, 2.0))
    with pytest.raises(ValueError, match="defeat must be one of"):
        Engine(_scenario(BASE), defeat="elimination")
    with pytest.raises(ValueError, match="unknown type 'probe'"):
        _scenario([*BASE, UnitPlacement("probe", 1, 5.0, 5.0)])  # a battle's roster has no workers


class _Twin:
    """One game played by a single Engine and, in slot 1 of a BatchedEngine, by its view, while slot 0 holds another
    game that plays along; ``do`` applies the same call to both and checks their hashes stay equal."""

    def __init__(self, engine_args: tuple, units=None, **kwargs) -> None:
        units = units if units is not None else default_rules().units
        self.single = Engine(*engine_args, units=units, **kwargs)
        other = _scenario(BASE)
        self.batch = BatchedEngine([other, other], [5, 0], units=units, capacity=self.single.state.n + 2)
        self.view = self.batch.load(1, Engine(*engine_args, units=units, **kwargs))
        self.batch.issue(0, 1, Command("attack_move", units=[0, 1], target_pos=(30.0, 20.0)))

    def do(self, method: str, *args, **kwargs):
        out = getattr(self.single, method)(*args, **kwargs)
        assert getattr(self.view, method)(*args, **kwargs) == out
        if method == "advance":
            assert self.view.events == self.single.events
            self.batch.advance(args[0], [0])  # the other game plays on too (the view's game paused meanwhile)
        assert self.view.state_hash() == self.single.state_hash(), method
        assert np.array_equal(self.view.solid, self.single.solid) and self.view.winner == self.single.winner
        assert self.view.roster_version == self.single.roster_version
        return out


def test_the_batched_engine_plays_spawn_morph_hp_solidity_structures_and_defeat_as_the_engine():
    twin = _Twin((_scenario(BASE),), seed=1, capacity=len(BASE) + 3)
    twin.do("advance", 10)
    twin.do("spawn", "marine", 1, (20.0, 20.0))
    twin.do("spawn", "barracks", 2, (22.5, 19.5), hp_fraction=0.1)  # on top of units: they are pushed out
    twin.do("issue", 1, Command("attack_move", units=[0, 1, 4], target_pos=(30.0, 20.0)))
    for _ in range(6):
        twin.do("advance", 16)
        twin.do("add_hp", [5], [60.0])
    twin.do("set_solid", [0], False)
    twin.do("advance", 40)
    twin.do("set_solid", [0], True)
    living = np.flatnonzero(twin.single.state.alive & (twin.single.state.owner == 1))
    twin.do("morph", int(living[0]), "marauder")
    twin.do("advance", 300)
    depots = [UnitPlacement("marine", 1, 15.0, 20.0, FACING[1]), UnitPlacement("supply_depot", 1, 3.0, 3.0),
              UnitPlacement("marine", 2, 22.0, 20.0, FACING[2]), UnitPlacement("supply_depot", 2, 37.0, 37.0)]
    scenario = Scenario(name="depots", map_width=40.0, map_height=40.0, placements=tuple(depots),
                        time_limit_loops=20_000, roster="full")  # fmt: skip
    twin = _Twin((scenario,), seed=2, defeat="structures", capacity=6)
    twin.do("issue", 1, Command("attack_unit", units=[0], target_unit=2))
    twin.do("issue", 2, Command("attack_unit", units=[2], target_unit=0))
    twin.do("advance", 400)
    assert not twin.single.done  # the side without units still owns a depot
    survivor = 0 if twin.single.state.alive[0] else 2
    twin.do("issue", int(twin.single.state.owner[survivor]), Command("attack_unit", units=[survivor],
                                                                      target_unit=3 if survivor == 0 else 1))
    twin.do("advance", 5000)
    assert twin.view.done and twin.view.winner == twin.single.state.owner[survivor]
    batch = BatchedEngine([_scenario(BASE)], seeds=[0])
    with pytest.raises(ValueError, match="has 8 slots; this batch holds at most 4"):
        batch.load(0, Engine(_scenario(BASE), capacity=len(BASE) + 4))


@pytest.mark.parametrize("defeat", ["structures", "units"])
def test_a_unit_a_structure_pushes_into_range_fires_on_the_next_loop_in_a_long_advance(defeat):
    """A structure's hard push can outrun the closing speeds the engine skips its fire checks by (a marine inside a
    barracks' footprint leaves it 1.4 away in one loop): it fires the next loop, in one 8-loop advance as in single
    loops and in the batched engine (a desync of one replay in 300 full games, fixed in engine version 4); structures
    collide under either defeat rule in both engines."""
    placements = [UnitPlacement("barracks", 1, 20.5, 20.5), UnitPlacement("marine", 1, 21.0, 20.5),
                  UnitPlacement("zergling", 2, 27.9, 20.5), UnitPlacement("supply_depot", 2, 37.0, 37.0)]  # fmt: skip
    scenario = Scenario(name="pushed", map_width=40.0, map_height=40.0, placements=tuple(placements),
                        time_limit_loops=5000, roster="full")  # fmt: skip
    twin = _Twin((scenario,), defeat=defeat, capacity=6)
    twin.do("issue", 1, Command("attack_unit", units=[1], target_unit=2))
    twin.do("issue", 2, Command("hold", units=[2]))
    twin.do("advance", 8)
    assert twin.single.state.pos[1].tolist() == [22.375, 20.5]  # out by the east face, the zergling in range
    assert twin.single.state.last_damage_loop[2] == 2  # the loop after the push, as single loops have it


def test_units_that_are_not_solid_walk_through_each_other():
    crossing = [UnitPlacement("marine", 1, 10.0, 20.0), UnitPlacement("marine", 2, 30.0, 20.3)]

    def cross(solid: bool) -> tuple[np.ndarray, float]:
        engine = Engine(_scenario(crossing), capacity=3)
        engine.set_solid([0, 1], solid)
        engine.issue(1, Command("move", units=[0], target_pos=(30.0, 20.0)))
        engine.issue(2, Command("move", units=[1], target_pos=(10.0, 20.3)))
        sideways = 0.0
        for _ in range(80):
            engine.advance(2)
            sideways = max(sideways, float(np.abs(engine.state.pos[:2, 1] - (20.0, 20.3)).max()))
        return engine.state.pos[:2, 0].copy(), sideways

    (x0, x1), sideways = cross(solid=False)
    assert (x0, x1) == (30.0, 10.0) and sideways == 0.0  # straight through each other, as gathering workers walk
    (x0, x1), sideways = cross(solid=True)
    assert sideways > 0.1  # solid marines (radius 0.375) shove each other aside as they pass
    engine = Engine(_scenario(crossing), capacity=3)
    engine.set_solid([0], False)
    assert not engine.solid[0] and engine.solid[1]
    slot = engine.spawn("marine", 1, (5.0, 5.0))
    assert engine.solid[slot]  # a new unit collides
    with pytest.raises(ValueError, match="set_solid: slots must be in"):
        engine.set_solid([7], False)


def test_units_cannot_walk_through_structures():
    """Structures collide hard (a unit is moved out of the footprint square at once), unlike units' soft pushes."""
    rules = default_rules()
    placements = [UnitPlacement("marine", 1, 5.0, 20.0), UnitPlacement("barracks", 2, 20.5, 20.5),
                  UnitPlacement("marine", 2, 35.0, 35.0)]  # fmt: skip
    scenario = Scenario(name="wall", map_width=40.0, map_height=40.0, placements=tuple(placements),
                        time_limit_loops=5000, roster="full")  # fmt: skip
    engine = Engine(scenario, units=rules.units)
    engine.issue(1, Command("move", units=[0], target_pos=(36.0, 20.3)))
    deepest = 0.0
    for _ in range(120):
        engine.advance(2)
        gap = np.abs(engine.state.pos[0] - engine.state.pos[1]).max()  # Chebyshev distance to the barracks centre
        deepest = max(deepest, 1.5 + 0.375 - gap)
    assert deepest < 1e-9  # never inside the footprint grown by its radius: it stops at the west face
    assert 18.0 < engine.state.pos[0, 0] <= 19.0 - 0.375 + 1e-9  # (no pathing: it does not walk round)


def test_the_compiled_footprint_check_finds_what_the_array_rule_finds():
    """``engine._trapped`` (one compiled pass) against the broadcast rule: a mover is trapped when some structure is
    closer than both radii on both axes; movers keep their order."""
    from envs.skirmish.engine import _trapped

    rng = np.random.default_rng(1)
    for _ in range(50):
        pos = rng.uniform(0, 20, (40, 2))
        r = rng.uniform(0.3, 2.0, 40)
        movers, structures = rng.permutation(40)[:15], np.sort(rng.permutation(40)[:6])
        reach = r[structures][None, :] + r[movers][:, None]
        gap = np.abs(pos[movers][:, None, :] - pos[structures][None, :, :])
        expected = movers[((gap[..., 0] < reach) & (gap[..., 1] < reach)).any(axis=1)]
        assert _trapped(movers.astype(np.int64), structures, pos, r).tolist() == expected.tolist()
