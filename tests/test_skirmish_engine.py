"""Skirmish engine mechanics with hand-computed outcomes, determinism, and a fuzz test of invariants.

Time: 22.4 loops per game second. Per-loop values used below (from data/units.yaml):
marine cooldown 0.61 s = 13.664 loops, marauder 1.07 s = 23.968 loops, zergling regen 0.38 / 22.4 hp per loop,
shields +2.8 / 22.4 = 0.125 per loop from 160 loops after the last damage, medivac heal 12.6 / 22.4 = 0.5625 hp
per loop for 1/3 energy per hp, energy regen 0.7875 / 22.4 = 0.03515625 per loop, marine speed 3.15 / 22.4 =
0.140625 per loop. Most tests switch the cooldown jitter off so shot times are exact.
"""

from __future__ import annotations

import dataclasses
import json
import math
import runpy
from pathlib import Path

import numpy as np
import pytest

from envs.skirmish import engine as engine_module
from envs.skirmish.combat import resolve_hits, sequential_cap
from envs.skirmish.commands import Command, Order
from envs.skirmish.engine import Engine
from envs.skirmish.movement import candidate_pairs
from envs.skirmish.scenario import Scenario, UnitPlacement, load_scenario
from envs.skirmish.state import QUEUE_LENGTH
from envs.skirmish.units import UnitDataError, UnitTable, default_units

EXACT = dataclasses.replace(default_units(), cooldown_jitter=0.0)
MARINE_PERIOD = 0.61 * 22.4
ZERG_REGEN = 0.38 / 22.4
BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "env.py"


def make(*units: tuple[str, int, float, float], size: tuple[float, float] = (32, 32), limit: int = 10_000) -> Scenario:
    """A scenario from (unit, owner, x, y) rows, slots in the given order."""
    placements = tuple(UnitPlacement(name, owner, x, y) for name, owner, x, y in units)
    return Scenario("test", size[0], size[1], placements, limit)


def engine(*units: tuple[str, int, float, float], **kwargs) -> Engine:
    size = kwargs.pop("size", (32, 32))
    return Engine(make(*units, size=size), units=EXACT, **kwargs)


def stay(e: Engine, player: int, *slots: int) -> None:
    """Hold fire for one loop: a move to where the units stand (they neither scan nor fire on that loop)."""
    for s in slots:
        x, y = e.state.pos[s]
        e.issue(player, Command("move", (s,), target_pos=(x, y)))


# ---------------------------------------------------------------- unit data


def test_unit_table_has_the_ten_units_with_sc2_ids():
    units = default_units()
    ids = {"marine": 48, "marauder": 51, "medivac": 54, "siege_tank_sieged": 32, "zergling": 105, "baneling": 9,
           "roach": 110, "hydralisk": 107, "zealot": 73, "stalker": 74}  # fmt: skip
    for name, sc2_id in ids.items():
        assert units.sc2_id[units.type_index(name)] == sc2_id
    marine = units.type_index("marine")
    assert units.cooldown_loops[marine] == pytest.approx(MARINE_PERIOD)
    assert units.shield_delay_loops[units.type_index("stalker")] == 160
    assert units.is_air[units.type_index("medivac")] and units.healer[units.type_index("medivac")]
    with pytest.raises(KeyError, match="unknown unit type 'ghost'"):
        units.type_index("ghost")


def test_bad_unit_file_names_the_unit_and_field(tmp_path):
    path = tmp_path / "units.yaml"
    path.write_text("attributes: [light]\nunits:\n  blob: {sc2_id: 1, race: terran, hp: 10}\n")
    with pytest.raises(UnitDataError, match=r"units.yaml: unit 'blob': missing required field 'armor'"):
        UnitTable.load(path)
    path.write_text(
        "units:\n  blob: {sc2_id: 1, race: terran, hp: 10, armor: 0, speed: 1, radius: 1, sight: 1, "
        "attributes: [], supply: 1, wings: 2}\n"
    )
    with pytest.raises(UnitDataError, match=r"unknown field\(s\) \['wings'\]"):
        UnitTable.load(path)


# ---------------------------------------------------------------- weapons, armor, shields


@pytest.mark.parametrize(("marines", "kill_loop"), [(3, 15), (2, 29), (1, 83)])
def test_marines_kill_a_zergling_on_the_right_loop(marines, kill_loop):
    # A zergling (35 hp, regen 0.38/s) holds 3.25 from the marines (range 5); idle marines auto-acquire it.
    # Volleys of 6 each land on loops 1, 15 (ready 1 + 13.664 = 14.664), 29 (28.328), 42 (41.992: the
    # fraction carries), 56, 70, 83.
    # 3 marines: 18 + 18 >= 35 + 14 loops of regen -> loop 15.  2 marines: 12 x 3 = 36 >= 35 + 28 x regen
    # (= 35.475) -> loop 29.  1 marine: 6 shots = 36 < 35 + 69 x regen (36.17); the 7th, on loop 83, kills.
    e = engine(*[("marine", 1, 10, 10 + i) for i in range(marines)], ("zergling", 2, 14, 11))
    zergling = marines
    e.issue(2, Command("hold", (zergling,)))
    e.advance(kill_loop - 1)
    assert e.state.alive[zergling] and not e.done
    e.advance(1)
    assert not e.state.alive[zergling] and e.done and e.winner == 1 and e.loop == kill_loop
    assert ("death", marines - 1, zergling) in e.events


def test_zergling_hp_before_the_second_volley_includes_regeneration():
    e = engine(("marine", 1, 10, 10), ("marine", 1, 10, 11), ("marine", 1, 10, 12), ("zergling", 2, 14, 11))
    e.issue(2, Command("hold", (3,)))
    e.advance(14)  # volley on loop 1 (35 - 18 = 17), then 14 loops of regen
    assert e.state.hp[3] == pytest.approx(17 + 14 * ZERG_REGEN)
    assert e.state.cooldown[0] == pytest.approx(1 + MARINE_PERIOD - 14)


def test_marauder_bonus_vs_armored_and_armor():
    # Marauder 10 (+10 armored): roach (armored, armor 1) loses 20 - 1 = 19 hp; stalker shields absorb all 20.
    e = engine(("marauder", 1, 10, 10), ("roach", 2, 14, 10), ("marauder", 1, 10, 20), ("stalker", 2, 14, 20))
    e.issue(1, Command("attack_unit", (0,), target_unit=1))
    e.issue(1, Command("attack_unit", (2,), target_unit=3))
    stay(e, 2, 1, 3)
    e.advance(1)
    st = e.state
    assert st.hp[1] == pytest.approx(145 - 19 + ZERG_REGEN)
    assert st.shield[3] == 60 and st.hp[3] == 80
    # Volleys on loops 1, 25, 49, 73 strip the 80 shields; the 5th (loop 97) takes 20 - 1 = 19 hp.
    e.issue(2, Command("hold", (3,)))
    e.advance(72)
    assert st.shield[3] == 0 and st.hp[3] == 80
    e.advance(24)
    assert st.hp[3] == 61


def test_zealot_hits_twice_through_armor_and_shield_spill():
    # Zealot 2 x 8: marauder (armor 1) takes 2 x 7 = 14. Stalker with 5 shields left: the first hit spends
    # the 5 shields and 3 - 1 armor = 2 reach hp, the second hit deals 8 - 1 = 7: hp 80 - 9 = 71.
    e = engine(("zealot", 1, 10, 10), ("marauder", 2, 11.1, 10), ("zealot", 1, 10, 20), ("stalker", 2, 11.2, 20))
    e.issue(1, Command("attack_unit", (0,), target_unit=1))
    e.issue(1, Command("attack_unit", (2,), target_unit=3))
    stay(e, 2, 1, 3)
    e.state.shield[3] = 5.0
    e.state.last_damage_loop[3] = 0  # recently damaged: no shield regeneration during the test
    e.invalidate_caches()  # after editing state directly
    e.advance(1)
    st = e.state
    assert st.hp[1] == 125 - 14
    assert st.shield[3] == 0 and st.hp[3] == 71
    assert [ev for ev in e.events if ev[0] == "attack"] == [("attack", 0, 1), ("attack", 2, 3)]


def test_minimum_damage_is_half_a_point():
    units = dataclasses.replace(EXACT, armor=np.where(np.array(EXACT.names) == "roach", 20.0, EXACT.armor))
    e = Engine(make(("marine", 1, 10, 10), ("roach", 2, 14, 10)), units=units)
    stay(e, 2, 1)
    e.advance(1)
    assert e.state.hp[1] == pytest.approx(145 - 0.5 + ZERG_REGEN)


def test_tank_splash_hits_only_inside_its_zones_and_hurts_friends():
    # Tank 40 (+30 armored) at the marine at (16, 10). Edge distances from that centre (marine radius 0.375):
    # (16, 10.8): 0.425 <= 0.4687 full 40; (16, 11.1): 0.725 <= 0.7812 half 20; (16, 8.5): 1.125 <= 1.25
    # quarter 10; (16, 7.2): 2.425 outside. The tank's own zergling at (15.1, 10): 0.525 -> half (20 of 35).
    e = engine(
        ("siege_tank_sieged", 1, 8, 10),
        ("marine", 2, 16, 10),
        ("marine", 2, 16, 10.8),
        ("marine", 2, 16, 11.1),
        ("marine", 2, 16, 8.5),
        ("marine", 2, 16, 7.2),
        ("zergling", 1, 15.1, 10),
    )
    e.issue(1, Command("attack_unit", (0,), target_unit=1))
    stay(e, 2, 1, 2, 3, 4, 5)
    stay(e, 1, 6)
    e.advance(1)
    hp = e.state.hp
    assert hp[1] == 45 - 40 and hp[2] == 45 - 40 and hp[3] == 45 - 20 and hp[4] == 45 - 10 and hp[5] == 45
    assert hp[6] == pytest.approx(35 - 20 + ZERG_REGEN)
    splashed = sorted(v for kind, a, v in e.events if kind == "splash" and a == 0)
    assert splashed == [2, 3, 4, 6]


def test_tank_cannot_fire_inside_its_minimum_range():
    e = engine(("siege_tank_sieged", 1, 10, 10), ("marine", 2, 11.5, 10), ("medivac", 2, 30, 30))
    e.issue(2, Command("hold", (1,)))
    e.advance(20)
    assert e.state.hp[1] == 45 and e.state.attack_target[0] == -1


def test_baneling_dies_dealing_splash_with_bonus_vs_light():
    # 16 (+19 light) to enemy ground units within 2.2 of the baneling: marines 45 -> 10; zealot (light)
    # shields 50 -> 15; roach (armored) 16 - 1 = 15 hp; the far marine and the baneling's friend are untouched.
    e = engine(
        ("baneling", 1, 10, 10),
        ("marine", 2, 10.8, 10),
        ("marine", 2, 10, 11.9),
        ("zealot", 2, 9, 8.6),
        ("roach", 2, 8.4, 11.2),
        ("marine", 2, 13.5, 10),
        ("marine", 1, 9.2, 10),
    )
    e.issue(1, Command("attack_unit", (0,), target_unit=1))
    stay(e, 2, 1, 2, 3, 4, 5)
    stay(e, 1, 6)
    e.advance(1)
    st = e.state
    assert not st.alive[0] and st.hp[0] == 0
    assert st.hp[1] == 10 and st.hp[2] == 10 and st.shield[3] == 15 and st.hp[3] == 100
    assert st.hp[4] == pytest.approx(145 - 15 + ZERG_REGEN) and st.hp[5] == 45 and st.hp[6] == 45
    assert ("death", 0, 0) in e.events
    assert sorted(v for kind, a, v in e.events if kind == "splash") == [1, 2, 3, 4]


def test_shields_regenerate_only_after_the_delay_at_the_right_rate():
    # A baneling bursts on the stalker on loop 1 (16 to shields: 80 -> 64). Shields regenerate on loops
    # 161, 162, ... (160 loops after the damage) by 0.125 each: loop 200 -> 64 + 40 x 0.125 = 69.
    e = engine(("stalker", 1, 10, 10), ("baneling", 2, 11.1, 10), ("medivac", 2, 30, 30))
    e.issue(2, Command("attack_unit", (1,), target_unit=0))
    e.issue(1, Command("hold", (0,)))
    e.advance(160)
    assert e.state.shield[0] == 64 and e.state.last_damage_loop[0] == 1
    e.advance(1)
    assert e.state.shield[0] == pytest.approx(64.125)
    e.advance(39)
    assert e.state.shield[0] == pytest.approx(69.0)
    e.advance(200)
    assert e.state.shield[0] == 80


def test_medivac_heals_at_its_rate_and_spends_energy():
    # 0.5625 hp per loop for 0.1875 energy; energy regenerates 0.03515625 per loop. The 25 missing hp take
    # 44.4 loops: full on loop 45, having spent 25 / 3 energy. The damaged stalker is mechanical: never healed.
    e = engine(("medivac", 1, 10, 10), ("marine", 1, 12, 10), ("stalker", 1, 10, 12), ("medivac", 2, 30, 30))
    st = e.state
    st.hp[1] = 20.0
    st.hp[2] = 50.0
    e.invalidate_caches()
    e.advance(16)
    assert st.hp[1] == pytest.approx(20 + 16 * 0.5625)
    assert st.energy[0] == pytest.approx(50 - 16 * 0.1875 + 16 * 0.03515625)
    assert ("heal", 0, 1) in e.events
    e.advance(29)
    assert st.hp[1] == 45 and st.hp[2] == 50
    assert st.energy[0] == pytest.approx(50 - 25 / 3 + 45 * 0.03515625)
    e.advance(5)
    assert st.attack_target[0] == -1 and not [ev for ev in e.events if ev[0] == "heal"]


def test_medivac_without_energy_cannot_heal():
    e = engine(("medivac", 1, 10, 10), ("marine", 1, 12, 10), ("medivac", 2, 30, 30))
    e.state.hp[1] = 20.0
    e.state.energy[0] = 0.0
    e.invalidate_caches()
    e.advance(1)  # the loop's regeneration comes after healing
    assert e.state.hp[1] == 20.0
    e.advance(1)  # 0.03515625 energy buys 0.10546875 hp
    assert e.state.hp[1] == pytest.approx(20 + 3 * 0.03515625)
    e.advance(18)  # from then on every loop's energy regeneration is spent at once: a trickle of 0.10546875 hp
    assert e.state.hp[1] == pytest.approx(20 + 19 * 3 * 0.03515625)
    assert e.state.energy[0] == pytest.approx(0.03515625)


def test_hits_in_one_loop_drain_shields_then_hp_in_order():
    # Victim 0: 10 shields, armor 1, hit by 6, 6, 8 in that order: 6 to shields; 4 to shields and 2 - 1 = 1 hp;
    # 8 - 1 = 7 hp. Victim 1 (no shields, armor 1) hit by 0.8: the 0.5 minimum.
    victims = np.array([0, 0, 0, 1])
    raw = np.array([6.0, 6.0, 8.0, 0.8])
    absorbed, loss = resolve_hits(np.array([0, 3]), victims, raw, np.array([10.0, 0.0]), np.array([1.0, 1.0]))
    assert absorbed.tolist() == [6, 4, 0, 0] and loss.tolist() == [0, 1, 7, 0.5]
    # Rows in any order sharing per-key budgets: key 2 (budget 7) gets 3, 3 then 1; key 0 (budget 0.5) gets 0.5.
    capped = sequential_cap(np.array([2, 0, 2, 2]), np.array([3.0, 1.0, 3.0, 3.0]), np.array([0.5, 0.0, 7.0]))
    assert capped.tolist() == [3, 0.5, 3, 1]


def test_grid_candidate_pairs_match_brute_force():
    rng = np.random.default_rng(5)
    n = 300
    z = rng.uniform(0, 40, n) + 1j * rng.uniform(0, 25, n)
    reach = rng.uniform(0.3, 1.5, n)
    slots = np.sort(rng.choice(n, 250, replace=False))  # >= 96 units: the grid path
    pi, pj = candidate_pairs(z, reach, slots)
    got = set(zip(pi.tolist(), pj.tolist(), strict=True))
    a, b = np.triu_indices(slots.size, 1)
    a, b = slots[a], slots[b]
    near = np.abs(z[a] - z[b]) <= reach[a] + reach[b]
    assert got == set(zip(np.minimum(a, b)[near].tolist(), np.maximum(a, b)[near].tolist(), strict=True))
    assert len(got) == pi.size  # each pair once


# ---------------------------------------------------------------- orders and movement


def test_hold_position_never_moves_and_fires_only_in_range():
    e = engine(("marine", 1, 16, 16), ("zergling", 2, 23, 16), *[("zergling", 2, 26, 13 + 2 * i) for i in range(4)])
    e.issue(1, Command("hold", (0,)))
    e.issue(2, Command("hold", (1,)))
    start = e.state.pos[0].copy()
    e.advance(40)  # the held zergling is 6.25 away: beyond range 5, inside sight: the marine waits
    assert np.array_equal(e.state.pos[0], start) and e.state.hp[1] == 35
    e.issue(2, Command("attack_move", (1, 2, 3, 4, 5), target_pos=(16, 16)))
    shots = 0
    while not e.done:  # five zerglings swarm and push around the marine: it stands and shoots
        e.advance(1)
        assert np.array_equal(e.state.pos[0], start)
        shots += sum(kind == "attack" and a == 0 for kind, a, _ in e.events)
    assert shots >= 2 and e.winner == 2


def test_attack_move_fights_then_resumes_the_move():
    e = engine(("marine", 1, 5, 10), ("zergling", 2, 20, 10), ("medivac", 2, 60, 60), size=(64, 64))
    e.issue(1, Command("attack_move", (0,), target_pos=(60, 10)))
    e.issue(2, Command("hold", (1,)))
    e.advance(80)  # acquired at edge 9 (sight), walked into range 5 by loop 66, now shooting in place
    x = e.state.pos[0, 0]
    assert e.state.attack_target[0] == 1
    assert x == pytest.approx(20 - 0.75 - 5)
    while e.state.alive[1]:
        assert e.state.pos[0, 0] == x
        e.advance(1)
    assert e.state.order_kind[0, 0] == Order.ATTACK_MOVE and e.state.attack_target[0] == -1
    e.advance(400)
    assert tuple(e.state.pos[0]) == (60, 10) and e.state.order_len[0] == 0 and e.state.order_kind[0, 0] == Order.IDLE


def test_queued_orders_run_in_sequence_with_exact_arrival():
    # 10 map units at 0.140625 per loop: 71 full steps then the last 0.015625 -> arrives on loop 72.
    e = engine(("marine", 1, 10, 10), ("medivac", 2, 30, 30))
    e.issue(1, Command("move", (0,), target_pos=(20, 10)))
    e.issue(1, Command("move", (0,), target_pos=(20, 20), queued=True))
    e.issue(1, Command("move", (0,), target_pos=(10, 20), queued=True))
    assert e.state.order_len[0] == 3
    e.advance(71)
    assert e.state.pos[0, 0] == pytest.approx(20 - 0.015625) and e.state.order_len[0] == 3
    e.advance(1)
    assert tuple(e.state.pos[0]) == (20, 10) and e.state.order_len[0] == 2
    assert tuple(e.state.order_pos[0, 0]) == (20, 20)
    e.advance(72)
    assert tuple(e.state.pos[0]) == (20, 20) and e.state.order_len[0] == 1
    e.advance(72)
    assert tuple(e.state.pos[0]) == (10, 20) and e.state.order_len[0] == 0
    assert e.state.facing[0] == pytest.approx(math.pi)


def test_queue_holds_at_most_eight_orders_and_stop_clears_it():
    e = engine(("marine", 1, 10, 10), ("medivac", 2, 30, 30))
    for i in range(QUEUE_LENGTH + 3):
        e.issue(1, Command("move", (0,), target_pos=(12 + i, 10), queued=True))
    assert e.state.order_len[0] == QUEUE_LENGTH
    e.issue(1, Command("stop", (0,)))
    assert e.state.order_len[0] == 0 and (e.state.order_kind[0] == Order.IDLE).all()
    e.advance(10)
    assert tuple(e.state.pos[0]) == (10, 10)


def test_attack_unit_chases_and_completes_when_the_target_dies():
    e = engine(("marine", 1, 5, 10), ("marine", 1, 5, 12), ("zergling", 2, 25, 10), ("zergling", 2, 25, 20))
    e.issue(1, Command("attack_unit", (0, 1), target_unit=2))
    e.issue(1, Command("move", (0, 1), target_pos=(5, 30), queued=True))
    e.issue(2, Command("hold", (2, 3)))
    while e.state.alive[2]:
        e.advance(1)
    e.advance(1)
    assert e.state.order_kind[0, 0] == Order.MOVE and e.state.order_len[0] == 1


def test_idle_unit_fights_back_against_an_attacker_out_of_its_range():
    e = engine(("zergling", 1, 10, 10), ("marine", 2, 14, 10))
    e.issue(2, Command("attack_unit", (1,), target_unit=0))
    e.advance(1)
    assert e.state.attack_target[0] == 1
    e.advance(4)
    assert e.state.pos[0, 0] > 10


def test_follow_keeps_close_to_a_moving_unit():
    e = engine(("marine", 1, 10, 10), ("marine", 1, 5, 10), ("medivac", 2, 60, 60), size=(64, 64))
    e.issue(1, Command("move", (0,), target_pos=(40, 10)))
    e.issue(1, Command("follow", (1,), target_unit=0))
    e.advance(400)
    gap = np.hypot(*(e.state.pos[1] - e.state.pos[0])) - 0.75
    assert gap == pytest.approx(0.5, abs=1e-6) and e.state.order_kind[1, 0] == Order.FOLLOW


def test_units_stay_inside_the_map():
    e = engine(*[("zergling", 1, 1 + i % 3, 1 + i // 3) for i in range(9)], ("medivac", 2, 30, 30), size=(32, 32))
    e.issue(1, Command("move", tuple(range(9)), target_pos=(-50, -50)))
    e.advance(200)
    pos = e.state.pos[:9]
    assert (pos >= 0).all() and (pos <= 32).all()


def test_collisions_separate_overlapping_ground_units_but_not_air():
    e = engine(
        ("marine", 1, 10, 10),
        ("marine", 1, 10.1, 10),
        ("medivac", 1, 20, 20),
        ("medivac", 1, 20.1, 20),
        ("medivac", 2, 30, 30),
    )
    e.advance(10)
    st = e.state
    assert np.hypot(*(st.pos[1] - st.pos[0])) >= 0.75 - 1e-9
    assert st.pos[0, 0] < 10 and st.pos[1, 0] > 10.1  # pushed apart symmetrically along the line of centres
    assert st.pos[0, 0] + st.pos[1, 0] == pytest.approx(20.1)
    assert np.hypot(*(st.pos[3] - st.pos[2])) == pytest.approx(0.1)


def test_fog_hides_units_beyond_sight():
    units = (("marine", 1, 10, 10), ("marine", 2, 18, 10), ("marine", 2, 25, 10))
    fogged = Engine(make(*units), fog=True)
    assert fogged.visible(1).tolist() == [True, True, False]
    assert fogged.visible(2).tolist() == [True, True, True]  # the marine at 18 sees 8 away (sight 9 + radius)
    fogged.issue(2, Command("move", (2,), target_pos=(31, 10)))
    fogged.issue(2, Command("move", (1,), target_pos=(30, 10)))
    fogged.advance(60)
    assert fogged.visible(1).tolist() == [True, False, False]
    assert fogged.visible(2).tolist() == [False, True, True]
    assert Engine(make(*units)).visible(1).all()


# ---------------------------------------------------------------- API, determinism, fuzz


def test_bad_input_raises_clear_errors():
    e = engine(("marine", 1, 10, 10), ("marine", 2, 20, 10))
    with pytest.raises(ValueError, match="loops must be a non-negative int"):
        e.advance(-1)
    with pytest.raises(ValueError, match="does not own"):
        e.issue(1, Command("stop", (1,)))
    with pytest.raises(ValueError, match=r"engine indices in \[0, 2\)"):
        e.issue(1, Command("stop", (5,)))
    with pytest.raises(ValueError, match="unknown"):
        Command("dance", (0,))
    with pytest.raises(ValueError, match="needs target_pos"):
        Command("move", (0,))


def test_selection_and_target_flags_follow_each_players_last_command():
    e = engine(("marine", 1, 10, 10), ("marine", 1, 10, 11), ("marine", 2, 20, 10), ("marine", 2, 20, 11))
    e.issue(1, Command("attack_unit", (0, 1), target_unit=2))
    e.issue(2, Command("follow", (3,), target_unit=2))
    st = e.state
    assert st.was_selected.tolist() == [True, True, False, True] and st.was_targeted.tolist() == [0, 0, 1, 0]
    e.issue(1, Command("stop", (1,)))
    assert st.was_selected.tolist() == [False, True, False, True] and st.was_targeted.tolist() == [0, 0, 1, 0]
    e.issue(2, Command("hold", (2,)))
    assert st.was_selected.tolist() == [False, True, True, False] and not st.was_targeted.any()


def test_time_limit_is_a_draw():
    e = Engine(make(("marine", 1, 2, 2), ("marine", 2, 30, 30), limit=50), units=EXACT)
    e.advance(100)
    assert e.done and e.winner == 0 and e.loop == 50
    e.advance(8)
    assert e.loop == 50


def _scripted_game(seed: int, split: int = 8, scenario: str = "10v10_mixed", steps: int = 80) -> Engine:
    e = Engine(load_scenario(scenario), seed=seed)
    st = e.state
    for step in range(steps):
        if step % 10 == 0 and not e.done:
            for p in (1, 2):
                mine = np.flatnonzero(st.alive & (st.owner == p))
                centre = st.pos[st.alive & (st.owner != p)].mean(axis=0)
                e.issue(p, Command("attack_move", tuple(mine.tolist()), target_pos=tuple(centre)))
        for _ in range(8 // split):
            e.advance(split)
    return e


def test_determinism_same_seed_same_hash_and_seed_drives_the_jitter():
    a, b = _scripted_game(0), _scripted_game(0)
    assert a.state_hash() == b.state_hash()
    assert a.events == b.events
    assert _scripted_game(1).state_hash() != a.state_hash()


def _assert_same_game(a: Engine, b: Engine) -> None:
    """Same decisions (who lives, where everyone is, targets, orders); regenerated values equal up to rounding."""
    assert (a.loop, a.winner) == (b.loop, b.winner)
    for name in ("alive", "attack_target", "order_kind", "order_len", "last_damage_loop", "stall"):
        assert np.array_equal(getattr(a.state, name), getattr(b.state, name)), name
    for name in ("pos", "hp", "shield", "energy", "cooldown"):
        np.testing.assert_allclose(getattr(a.state, name), getattr(b.state, name), rtol=0, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("scenario", ["10v10_mixed", "zealots_vs_zerglings_corridor"])
def test_results_do_not_depend_on_how_loops_are_split_into_advance_calls(scenario):
    _assert_same_game(_scripted_game(3, 8, scenario, 60), _scripted_game(3, 1, scenario, 60))


def test_skipped_work_lazy_heals_and_pair_windows_change_nothing(monkeypatch):
    # The engine skips scans, weapon, leash and overlap checks that cannot succeed, heals lazily in closed form
    # and rebuilds collision pairs every PAIR_WINDOW loops; doing all of it every loop must give the same game.
    reference = [_scripted_game(seed, 8, name, 60) for name in ("MMM", "64v64_mixed") for seed in (0, 1)]

    def scan_next_loop(self, slots, gap, t):
        self._next_scan[slots] = t + 1

    def leash_every_loop(self, t):
        dropped = leash(self, t)
        self._leash_at = t + 1
        return dropped

    def separate_every_loop(*args):
        return separate(*args)[0], 1

    leash, separate = engine_module.Engine._leash, engine_module.separation
    monkeypatch.setattr(engine_module.Engine, "_wait", scan_next_loop)
    monkeypatch.setattr(engine_module.Engine, "_next_fire", lambda self, t: t + 1.0)
    monkeypatch.setattr(engine_module.Engine, "_leash", leash_every_loop)
    monkeypatch.setattr(engine_module, "separation", separate_every_loop)
    monkeypatch.setattr(engine_module.Engine, "_heal_start", lambda self, *args: None)
    monkeypatch.setattr(engine_module, "PAIR_WINDOW", 1)
    plain = [_scripted_game(seed, 8, name, 60) for name in ("MMM", "64v64_mixed") for seed in (0, 1)]
    for a, b in zip(reference, plain, strict=True):
        _assert_same_game(a, b)


def _random_scenario(rng: np.random.Generator) -> Scenario:
    names = default_units().names
    size = (float(rng.integers(12, 40)), float(rng.integers(8, 30)))
    placements = []
    for owner in (1, 2):
        for _ in range(int(rng.integers(1, 12))):
            x = rng.uniform(0, size[0] / 2) + (size[0] / 2 if owner == 2 else 0)
            placements.append(UnitPlacement(str(rng.choice(names)), owner, x, rng.uniform(0, size[1])))
    return Scenario("fuzz", size[0], size[1], tuple(placements), 1200)


def _random_command(rng: np.random.Generator, e: Engine, player: int) -> Command:
    st = e.state
    mine = np.flatnonzero(st.owner == player)  # dead units included: the engine must ignore them
    units = tuple(rng.choice(mine, size=int(rng.integers(1, mine.size + 1)), replace=False).tolist())
    kind = str(rng.choice(["stop", "hold", "move", "attack_move", "attack_unit", "follow"]))
    point = (float(rng.uniform(-5, e.scenario.map_width + 5)), float(rng.uniform(-5, e.scenario.map_height + 5)))
    target = int(rng.integers(st.n))
    return Command(kind, units, target_unit=target, target_pos=point, queued=bool(rng.random() < 0.3))


def test_fuzz_random_commands_keep_invariants():
    rng = np.random.default_rng(1234)
    for game in range(30):
        e = Engine(_random_scenario(rng), seed=game)
        u = e.units
        st = e.state
        ut = st.utype
        while not e.done:
            for player in (1, 2):
                if rng.random() < 0.5:
                    e.issue(player, _random_command(rng, e, player))
            dead_before = ~st.alive.copy()
            pos_before = st.pos.copy()
            e.advance(int(rng.integers(1, 12)))
            assert (st.hp >= 0).all() and (st.hp <= u.hp[ut] + 1e-9).all()
            assert (st.shield >= 0).all() and (st.shield <= u.shields[ut] + 1e-9).all()
            assert (st.energy >= 0).all() and (st.energy <= u.energy_max[ut] + 1e-9).all()
            assert (st.pos >= 0).all() and (st.pos[:, 0] <= e.scenario.map_width).all()
            assert (st.pos[:, 1] <= e.scenario.map_height).all()
            assert (st.cooldown >= 0).all() and ((st.order_len >= 0) & (st.order_len <= QUEUE_LENGTH)).all()
            assert np.array_equal(st.pos[dead_before], pos_before[dead_before])  # the dead never move
            assert (st.hp[~st.alive] == 0).all() and (st.attack_target[~st.alive] == -1).all()
            targets = st.attack_target[st.attack_target >= 0]
            assert st.alive[targets].all()
            for kind, actor, _ in e.events:
                if kind in ("attack", "heal"):
                    assert not dead_before[actor]  # the dead never fire or heal
        assert e.winner in (0, 1, 2)


def test_benchmark_smoke(tmp_path, capsys):
    out = tmp_path / "env.json"
    code = runpy.run_path(str(BENCH))["main"](["--scenarios", "3m", "--min-seconds", "0", "--max-games", "1",
                                               "--out", str(out)])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "steps/s" in text and "3m" in text
    report = json.loads(out.read_text())
    assert [r["layer"] for r in report["results"]] == ["engine", "env", "batched"]
    for result in report["results"]:
        assert result["scenario"] == "3m" and result["steps"] > 0 and result["steps_per_s"] > 0
        assert result["loops"] <= result["steps"] * 8


def test_game_is_a_draw_as_soon_as_neither_side_can_hurt_the_other():
    from envs.skirmish.scenario import Scenario, UnitPlacement

    medivac_vs_zealot = Scenario(
        name="stalemate", map_width=20.0, map_height=20.0, time_limit_loops=10_000,
        placements=(UnitPlacement("medivac", 1, 5.0, 10.0), UnitPlacement("zealot", 2, 15.0, 10.0)),
    )
    engine = Engine(medivac_vs_zealot, seed=0)
    assert engine.done and engine.winner == 0 and engine.loop == 0
    marine_vs_zealot = Scenario(
        name="fight", map_width=20.0, map_height=20.0, time_limit_loops=10_000,
        placements=(UnitPlacement("marine", 1, 5.0, 10.0), UnitPlacement("zealot", 2, 15.0, 10.0)),
    )
    assert not Engine(marine_vs_zealot, seed=0).done


def test_see_all_players_see_through_fog():
    from envs.skirmish.scenario import Scenario, UnitPlacement

    far_apart = Scenario(
        name="fog", map_width=100.0, map_height=20.0, time_limit_loops=1000,
        placements=(UnitPlacement("marine", 1, 5.0, 10.0), UnitPlacement("marine", 2, 95.0, 10.0)),
    )
    engine = Engine(far_apart, seed=0, fog=True)
    assert engine.visible(1).tolist() == [True, False]
    engine.see_all = frozenset({1})
    assert engine.visible(1).tolist() == [True, True]
    assert engine.visible(2).tolist() == [False, True]
