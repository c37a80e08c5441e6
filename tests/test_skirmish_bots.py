"""Built-in Skirmish bots: legal play at every level, determinism, the micro behaviours, cheats, the ladder."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from envs.contract.columns import UnitColumn as C
from envs.skirmish.actions import translate
from envs.skirmish.botgame import bot_match, mirrored, play_bot_game
from envs.skirmish.bots import LEVEL_CONFIGS, LEVELS, LevelConfig, cheat_units, make_bot
from envs.skirmish.bots.facts import default_facts
from envs.skirmish.bots.formation import formation_points, ranks
from envs.skirmish.bots.micro import kite, retreat
from envs.skirmish.bots.orders import FOCUS, JOIN, KITE, RETREAT, ROUTINE, Intent, Orders, SpecInfo
from envs.skirmish.bots.targeting import assign_targets
from envs.skirmish.bots.view import Army, View, parse
from envs.skirmish.commands import Command
from envs.skirmish.engine import Engine
from envs.skirmish.ladder import plan_ladder, run_ladder
from envs.skirmish.match import Match
from envs.skirmish.observation import observe
from envs.skirmish.scenario import Scenario, UnitPlacement, load_scenario
from envs.skirmish.spec import skirmish_spec
from training.bots_cli import main as bots_main

FACTS = default_facts()
SC2_ID = {"marine": 48, "marauder": 51, "medivac": 54, "zealot": 73, "stalker": 74, "zergling": 105}


def army(
    units: list[tuple[str, float, float, float]], cooldown: float = 0.0, first_tag: int = 0, first_row: int = 0
) -> Army:
    """An Army of (unit name, x, y, health + shield) rows, as a bot would parse it."""
    k = len(units)
    types = np.array([SC2_ID[u] for u, *_ in units], dtype=np.intp)
    vitality = np.array([v for *_, v in units], dtype=np.float64).reshape(k)
    return Army(
        rows=np.arange(k, dtype=np.int64) + first_row,
        tags=np.arange(k, dtype=np.int64) + first_tag,
        types=types,
        pos=np.array([(x, y) for _, x, y, _ in units], dtype=np.float64).reshape(k, 2),
        vitality=vitality,
        vitality_ratio=vitality / (FACTS.hp[types] + FACTS.shields[types]),
        cooldown=np.full(k, cooldown),
        order_len=np.zeros(k, dtype=np.int64),
    )


# ------------------------------------------------------------------------------------------ levels


def test_levels_follow_pysc2_difficulty_names_and_make_bot_checks_them():
    assert LEVELS == ("very_easy", "easy", "medium", "medium_hard", "hard", "harder", "very_hard",
                      "cheat_vision", "cheat_money", "cheat_insane")  # fmt: skip
    assert [LEVEL_CONFIGS[n].name for n in LEVELS] == list(LEVELS)
    assert LEVEL_CONFIGS["cheat_vision"].vision and not LEVEL_CONFIGS["cheat_vision"].extra_units
    assert LEVEL_CONFIGS["cheat_money"].extra_units > 0 and not LEVEL_CONFIGS["cheat_money"].vision
    assert LEVEL_CONFIGS["cheat_insane"].vision and LEVEL_CONFIGS["cheat_insane"].extra_units > 0
    with pytest.raises(ValueError, match="unknown level 'impossible'"):
        make_bot("impossible", 1)
    with pytest.raises(ValueError, match="player must be 1 or 2"):
        make_bot("easy", 3)
    with pytest.raises(ValueError, match="targeting 'psychic'"):
        LevelConfig("x", act_every=1, obs_delay=0, apm=1, targeting="psychic")


def test_levels_get_faster_and_sharper_up_the_ladder():
    configs = [LEVEL_CONFIGS[n] for n in LEVELS[:7]]
    assert [c.act_every for c in configs] == sorted((c.act_every for c in configs), reverse=True)
    assert [c.apm for c in configs] == sorted(c.apm for c in configs)
    assert [c.retreat_hp for c in configs] == sorted(c.retreat_hp for c in configs)
    assert configs[0].trickle and configs[0].targeting == "random"
    assert configs[-1].formation and configs[-1].overkill and configs[-1].kite and configs[-1].retreat_hp > 0


# ------------------------------------------------------------------------------------------ legal play


@pytest.mark.parametrize("scenario", ["3m", "MMM", "marines_tanks_vs_zerglings_banelings", "3s5z_vs_3s6z"])
def test_every_level_plays_legal_actions_in_strict_mode(scenario):
    """Strict matches raise on any illegal action; every level plays whole games as either player."""
    for i, level in enumerate(LEVELS):
        opponent = LEVELS[(i + 3) % len(LEVELS)]
        match = play_bot_game(scenario, {1: level, 2: opponent}, seed=i, record=True)
        assert match.winner is not None
        cap = {p: min(LEVEL_CONFIGS[name].apm, match.actions_per_step) for p, name in ((1, level), (2, opponent))}
        for step in match.actions_log:
            for player, actions in step.items():
                assert 1 <= len(actions) <= cap[player]
                for action in actions:
                    assert action["selected_units"].shape == (64,)
                    chosen = action["selected_units"]
                    assert ((chosen >= 0).cumprod() | (chosen == -1)).all()  # rows first, then -1 padding


def test_bots_play_legally_with_fog_and_on_a_crowded_map():
    for level in ("very_easy", "medium", "very_hard", "cheat_vision"):
        match = play_bot_game("2s3z", {1: level, 2: "hard"}, seed=1, fog=True, record=False)
        assert match.winner is not None
    match = play_bot_game("64v64_mixed", {1: "very_hard", 2: "easy"}, seed=0, record=False)
    assert match.winner is not None


def test_delayed_bot_decides_on_an_old_view_but_selects_rows_of_the_current_one():
    """obs_delay: decisions come from an old observation; rows are re-mapped by tag so dead units are never sent."""
    engine = Engine(load_scenario("8m"))
    spec = skirmish_spec((32.0, 32.0))
    bot = make_bot("medium", 1, seed=0)  # obs_delay 1, acts every 3 steps
    engine.issue(2, Command("attack_move", tuple(range(8, 16)), target_pos=(10.0, 16.0)))
    while not engine.done:
        obs, rows, _ = observe(engine, 1)
        for action in bot.act(obs, spec):  # strict: raises on a dead, enemy or padding row
            for command in translate(action, rows, engine, 1, spec):
                engine.issue(1, command)
        engine.advance(8)
    assert bot.step > 3 and len(bot.history) == 2


# ------------------------------------------------------------------------------------------ determinism


def test_a_bot_is_deterministic_given_its_seed():
    def actions(level: str, seed: int) -> list:
        match = play_bot_game("2s3z", {1: level, 2: "medium"}, seed=0, record=True)
        return [[(a["action_type"], a["selected_units"].tolist(), a["target_unit"], a["target_location"].tolist())
                 for a in step[1]] for step in match.actions_log], match.engine.state_hash()  # fmt: skip

    assert actions("very_hard", 0) == actions("very_hard", 0)
    assert actions("very_easy", 0) == actions("very_easy", 0)
    bot = make_bot("very_easy", 1, seed=5)
    match = Match("3m", seed=0)
    first = [bot.act(match.reset()[1], match.spec) for _ in range(20)]
    bot.reset()
    again = [bot.act(match.reset()[1], match.spec) for _ in range(20)]
    assert [[a["selected_units"].tolist() for a in step] for step in first] == [
        [a["selected_units"].tolist() for a in step] for step in again
    ]


# Action streams of every level (as player 1 and 2, with and without fog, with immobile units), recorded as
# hashes from the bots before their speed-ups: optimisations must not change a single decision.
ACTION_STREAMS = {
    ("10v10_mixed", "very_easy", "medium_hard", 0, False): "d9063be88cac0dfb",  # 53 steps
    ("MMM", "very_easy", "medium_hard", 10, True): "c2725ad7ab49d15a",  # 45 steps
    ("2s3z", "medium_hard", "very_easy", 20, False): "72c1092d2f26874f",  # 41 steps
    ("10v10_mixed", "easy", "hard", 1, False): "968ea68b777ce7f7",  # 46 steps
    ("MMM", "easy", "hard", 11, False): "17d95ccbf7b1fde4",  # 44 steps
    ("2s3z", "hard", "easy", 21, False): "4cae5333fc5d4be1",  # 45 steps
    ("10v10_mixed", "medium", "harder", 2, False): "b26794905bff1d87",  # 56 steps
    ("MMM", "medium", "harder", 12, True): "1b3b1d9e7b4c5860",  # 55 steps
    ("2s3z", "harder", "medium", 22, False): "41bbc7166a3f7191",  # 69 steps
    ("10v10_mixed", "medium_hard", "very_hard", 3, False): "2bff0400fb12c5e4",  # 59 steps
    ("MMM", "medium_hard", "very_hard", 13, False): "16f7d68d15ad26a3",  # 68 steps
    ("2s3z", "very_hard", "medium_hard", 23, False): "3c10c03b160b2776",  # 77 steps
    ("10v10_mixed", "hard", "cheat_vision", 4, False): "6969fd6d44d34fad",  # 77 steps
    ("MMM", "hard", "cheat_vision", 14, True): "d4a14269e66152e5",  # 64 steps
    ("2s3z", "cheat_vision", "hard", 24, False): "f9033ade854cda17",  # 78 steps
    ("10v10_mixed", "harder", "cheat_money", 5, False): "7c34f09bf6491b17",  # 61 steps
    ("MMM", "harder", "cheat_money", 15, False): "2c1f3a214ca18c64",  # 49 steps
    ("2s3z", "cheat_money", "harder", 25, False): "fe3397c165be00f7",  # 45 steps
    ("10v10_mixed", "very_hard", "cheat_insane", 6, False): "b34cb0b51a13b9a9",  # 72 steps
    ("MMM", "very_hard", "cheat_insane", 16, True): "81035f4438354558",  # 56 steps
    ("2s3z", "cheat_insane", "very_hard", 26, False): "53533559086c4b30",  # 72 steps
    ("10v10_mixed", "cheat_vision", "very_easy", 7, False): "7ceeb1b042f40c4f",  # 49 steps
    ("MMM", "cheat_vision", "very_easy", 17, False): "a9325cbb717c2f4d",  # 46 steps
    ("2s3z", "very_easy", "cheat_vision", 27, False): "8971a0109d801dae",  # 38 steps
    ("10v10_mixed", "cheat_money", "easy", 8, False): "6ccf7064537d0591",  # 35 steps
    ("MMM", "cheat_money", "easy", 18, True): "c88b00acb6a10c9e",  # 31 steps
    ("2s3z", "easy", "cheat_money", 28, False): "b796ec2841d8d76f",  # 38 steps
    ("10v10_mixed", "cheat_insane", "medium", 9, False): "66c2377da96669de",  # 37 steps
    ("MMM", "cheat_insane", "medium", 19, False): "4ae227d79556c4e1",  # 33 steps
    ("2s3z", "medium", "cheat_insane", 29, False): "eb0cb27e22b4ed2b",  # 37 steps
    ("marines_tanks_vs_zerglings_banelings", "very_hard", "hard", 30, False): "fd9e8e1f5063bcbc",  # 25 steps
    ("marines_tanks_vs_zerglings_banelings", "harder", "medium", 31, True): "0188f855a6b3611c",  # 84 steps
    ("8m_vs_9m", "very_hard", "cheat_insane", 32, False): "6db515945c5cc7b7",  # 40 steps
}


def action_stream_hash(scenario: str, levels: dict[int, str], seed: int, fog: bool) -> str:
    """sha256 (first 16 hex digits) of both bots' action dicts over a whole game."""
    match, bots = bot_match(scenario, levels, seed, fog=fog)
    obs = match.reset()
    digest = hashlib.sha256()
    while not match.engine.done:
        actions = {p: bots[p].act(obs[p], match.spec) for p in (1, 2)}
        for p in (1, 2):
            for a in actions[p]:
                digest.update(repr((p, a["action_type"], a["selected_units"].tolist(), a["target_unit"],
                                    a["target_location"].tolist(), a["queued"])).encode())  # fmt: skip
        obs, *_ = match.step(actions)
    return digest.hexdigest()[:16]


def test_every_level_sends_the_recorded_action_streams():
    assert {lv for _, a, b, _, _ in ACTION_STREAMS for lv in (a, b)} == set(LEVELS)
    got = {case: action_stream_hash(case[0], {1: case[1], 2: case[2]}, case[3], case[4]) for case in ACTION_STREAMS}
    assert got == ACTION_STREAMS


def test_random_levels_depend_on_the_seed():
    """very_easy releases its units in a seeded random order."""
    match = Match("8m", seed=0)
    obs = match.reset()[1]
    picks = {tuple(make_bot("very_easy", 1, seed=s).act(obs, match.spec)[0]["selected_units"][:1]) for s in range(8)}
    assert len(picks) > 1


# ------------------------------------------------------------------------------------------ behaviours


def test_focus_fire_puts_the_group_on_the_weakest_enemy_in_reach():
    own = army([("marine", 10, 10 + i, 45) for i in range(4)])
    enemy = army([("marine", 15, 11, 45), ("marine", 15, 12, 20), ("marine", 15.2, 13, 45), ("marine", 30, 12, 1)],
                 first_tag=100)  # fmt: skip
    rng = np.random.default_rng(0)
    focus = assign_targets(own, enemy, FACTS, "focus", rng)
    assert (focus == 1).all()  # the 20-hp marine; the 1-hp one is far out of reach
    nearest = assign_targets(own, enemy, FACTS, "nearest", rng)
    assert len(set(nearest.tolist())) > 1


def test_overkill_avoidance_spreads_volleys_once_a_target_is_covered():
    own = army([("marine", 10, 10 + 0.5 * i, 45) for i in range(8)])
    enemy = army([("marine", 15, 12, 10), ("marine", 15, 13, 45)], first_tag=100)
    rng = np.random.default_rng(0)
    plain = assign_targets(own, enemy, FACTS, "focus", rng)
    spread = assign_targets(own, enemy, FACTS, "focus", rng, overkill=True)
    assert (plain == 0).all()
    assert (spread == 0).sum() == 2  # two 6-damage volleys cover 10 hp (with margin)
    assert (spread == 1).sum() == 6


def test_a_reloading_stalker_kites_a_zealot_and_a_ready_one_does_not():
    zealot = army([("zealot", 12, 10, 150)], first_tag=100)
    reloading = army([("stalker", 10, 10, 160)], cooldown=20.0)
    who, points = kite(reloading, zealot, FACTS, np.array([32.0, 32.0]), horizon=8.0)
    assert who.tolist() == [0] and points[0, 0] < 10  # away from the zealot (to the left)
    ready = army([("stalker", 10, 10, 160)], cooldown=0.0)
    assert kite(ready, zealot, FACTS, np.array([32.0, 32.0]), horizon=8.0)[0].size == 0
    marine = army([("marine", 12, 10, 45)], first_tag=100)  # same-ish range: nothing to gain
    assert kite(army([("marine", 10, 10, 45)], cooldown=10.0), marine, FACTS, np.array([32.0, 32.0]), 8.0)[0].size == 0


def test_hurt_ranged_units_step_out_of_the_enemy_focus():
    own = army([("marine", 10, 10, 8), ("marine", 10, 11, 45), ("marine", 10, 12, 45), ("medivac", 6, 11, 150)])
    enemy = army([("marine", 14.5, 10, 45)], first_tag=100)
    size = np.array([32.0, 32.0])
    retreating: set[int] = set()
    who, points = retreat(own, enemy, FACTS, 0.3, size, retreating)
    assert who.tolist() == [0] and retreating == {0}
    assert np.allclose(points[0], (6, 11))  # to the medivac
    who, points = retreat(own.take(np.arange(3)), enemy, FACTS, 0.3, size, set())
    assert who.tolist() == [0] and points[0, 0] < 10  # no healer: behind the army, away from the enemy
    healed = army([("marine", 10, 10, 40), ("marine", 10, 11, 45), ("marine", 10, 12, 45)])
    assert retreat(healed, enemy, FACTS, 0.3, size, retreating)[0].size == 0 and retreating == set()
    stalker = army([("stalker", 10, 10, 20), ("stalker", 10, 11, 160), ("stalker", 10, 12, 160)])
    assert retreat(stalker, enemy, FACTS, 0.3, size, set())[0].size == 0  # shields: stays (measured better)
    zerglings = army([("zergling", 10.5, 10, 35)], first_tag=100)  # faster than a marine: no escape
    assert retreat(own.take(np.arange(3)), zerglings, FACTS, 0.3, size, set())[0].size == 0


def test_formation_puts_melee_in_front_on_an_arc_facing_the_enemy():
    own = army([("stalker", 8, 14, 160), ("zealot", 9, 16, 150), ("zealot", 7, 18, 150), ("stalker", 6, 20, 160)])
    assert ranks(own, FACTS).tolist() == [1, 0, 0, 1]
    points = formation_points(own, FACTS, np.array([24.0, 16.0]), advance=1.0, map_size=np.array([32.0, 32.0]))
    zealots, stalkers = points[[1, 2]], points[[0, 3]]
    assert zealots[:, 0].min() > stalkers[:, 0].max()  # melee rank nearer the enemy (to the right)
    radial = np.linalg.norm(points - [24.0, 16.0], axis=1)
    assert np.ptp(radial[[1, 2]]) < 1e-9  # one rank = one radius around the enemy: a concave line


def test_orders_send_the_most_valuable_within_the_budget_skip_dead_units_and_repeat_nothing():
    spec = SpecInfo.from_spec(skirmish_spec((32.0, 32.0)))
    own = army([("marine", 10, 10 + i, 45) for i in range(5)])
    enemy = army([("marine", 15, 12, 45)], first_tag=100, first_row=5)
    now = View(own, enemy, 0, np.array([32.0, 32.0]))
    orders = Orders()
    intents = [Intent("attack_move", (3, 4, 99), point=(20.0, 12.0), priority=JOIN),
               Intent("attack_unit", (0, 1), target=100, priority=FOCUS),
               Intent("move", (2,), point=(5.0, 5.0), priority=RETREAT)]  # fmt: skip
    actions = orders.emit(intents, now, spec, FACTS, budget=2)
    assert len(actions) == 2  # retreat and focus fire first, sent in plan order
    assert actions[0]["target_unit"] == 5 and actions[0]["selected_units"][:3].tolist() == [0, 1, -1]
    assert actions[1]["target_location"].tolist() == [10, 10]  # (5, 5) on a 64-cell grid over 32 map units
    again = orders.emit(intents, now, spec, FACTS, budget=2)  # unit 2 already carries its move (order_len aside)
    assert [a["selected_units"][:2].tolist() for a in again] == [[3, 4], [0, 1]]  # attack re-sent: order_len 0
    gone = View(own, army([], first_tag=100), 0, np.array([32.0, 32.0]))
    fallback = Orders().emit([Intent("attack_unit", (0,), target=100, point=(15.0, 12.0))], gone, spec, FACTS, 4)
    assert fallback[0]["action_type"] == spec.index["attack_move"]  # target out of sight: go where it was


def test_orders_under_a_short_budget_serve_every_group_in_turn():
    """Waiting raises a command's priority by one per decision, so a routine group is not starved by urgent ones."""
    spec = SpecInfo.from_spec(skirmish_spec((32.0, 32.0)))
    own = army([("marine", 10, 10 + i, 45) for i in range(4)])
    now = View(own, army([], first_tag=100), 0, np.array([32.0, 32.0]))
    orders = Orders()
    served = []
    for step in range(8):  # new points every decision, so no command is ever a repeat
        intents = [Intent("move", (0,), point=(5.0 + step, 5.0), priority=RETREAT),
                   Intent("move", (1,), point=(6.0 + step, 5.0), priority=KITE),
                   Intent("move", (2, 3), point=(7.0 + step, 5.0), priority=ROUTINE)]  # fmt: skip
        (action,) = orders.emit(intents, now, spec, FACTS, budget=1)
        served.append(int(action["selected_units"][0]))
    assert served[:3] == [0, 0, 0] and served.count(0) == 5  # the retreat first and most often
    assert served.index(1) < served.index(2) and set(served) == {0, 1, 2}  # then kiting, then the routine move


def test_parse_splits_own_units_and_visible_enemies():
    engine = Engine(load_scenario("MMM"))
    obs, rows, _ = observe(engine, 2)
    view = parse(obs, FACTS)
    assert len(view.own) == len(view.enemy) == 10
    assert (engine.state.owner[rows[view.own.rows]] == 2).all()
    assert view.map_size.tolist() == [32.0, 32.0]
    assert set(view.own.types.tolist()) == {48, 51, 54}
    with pytest.raises(ValueError, match="expected obs"):
        parse({"units": np.zeros((4, 3)), "unit_mask": np.ones(4, bool), "scalars": np.zeros(12)}, FACTS)
    for bad_type in (999, -3, 49):  # past the table, negative, inside it but no unit
        units = np.array(obs["units"])
        units[rows.size - 1, C.unit_type] = bad_type
        with pytest.raises(ValueError, match=f"unit type id {bad_type} is not in the unit table"):
            parse({**obs, "units": units}, FACTS)


# ------------------------------------------------------------------------------------------ cheats


def test_cheat_units_adds_a_fraction_of_the_army_behind_it():
    base = load_scenario("2s3z")
    more = cheat_units(base, 2, 0.25)
    own = [p for p in base.placements if p.owner == 2]
    extra = more.placements[len(base.placements) :]
    assert len(extra) == 2  # ceil(0.25 * 5)
    assert all(p.owner == 2 for p in extra) and {p.unit for p in extra} <= {p.unit for p in own}
    assert min(p.x for p in extra) > max(p.x for p in own)  # player 2 stands on the right: extras further right
    assert all(0 <= p.x <= more.map_width for p in extra)
    assert more.placements[: len(base.placements)] == base.placements
    assert cheat_units(base, 1, 0.0) is base
    with pytest.raises(ValueError, match="player must be 1 or 2"):
        cheat_units(base, 0, 0.5)
    Engine(more)  # a playable scenario


def test_cheat_money_bot_gets_its_extra_units_in_a_match():
    match = play_bot_game("3m", {1: "very_hard", 2: "cheat_money"}, seed=0, record=False)
    owners = match.engine.state.owner
    assert (owners == 2).sum() == (owners == 1).sum() + 1


# ------------------------------------------------------------------------------------------ ladder


def test_mirrored_gives_both_sides_player_ones_army_reflected():
    base = load_scenario("8m_vs_9m")
    for variant in (0, 3):
        sc = mirrored(base, variant)
        left = [p for p in sc.placements if p.owner == 1]
        right = [p for p in sc.placements if p.owner == 2]
        assert len(left) == len(right) == 8
        for a, b in zip(left, right, strict=True):
            assert a.unit == b.unit and a.y == b.y and a.x == pytest.approx(sc.map_width - b.x)
    assert mirrored(base, 0).placements[:8] == tuple(p for p in base.placements if p.owner == 1)
    assert mirrored(base, 1).placements != mirrored(base, 2).placements


def test_ladder_smoke_result_structure(tmp_path):
    result = run_ladder(["very_easy", "very_hard"], ["3m"], games=2, processes=1, seed=0)
    cell = result.cell("very_hard", "very_easy")
    assert sum(cell.values()) == 2 and result.games == 2
    assert result.cell("very_easy", "very_hard") == {"win": cell["loss"], "draw": cell["draw"], "loss": cell["win"]}
    data = json.loads(json.dumps(result.to_json()))
    assert data["levels"] == ["very_easy", "very_hard"] and data["scenarios"] == ["3m"]
    assert set(data["adjacent"][0]) >= {"level", "below", "win", "draw", "loss", "win_rate", "holds"}
    table = result.to_markdown()
    assert "| **very_hard** |" in table and "vs level below" in table
    plan = plan_ladder(["easy", "medium", "hard"], ["3m", "2s3z"], 3)
    assert len(plan) == 3 * 2 * 3 and [g.swapped for g in plan[:3]] == [False, True, False]
    assert len(plan_ladder(["easy", "medium", "hard"], ["3m"], 2, adjacent_only=True)) == 4
    with pytest.raises(ValueError, match="unknown bot level"):
        plan_ladder(["easy", "godlike"], ["3m"], 2)


def test_ladder_does_not_depend_on_the_number_of_processes():
    args = (["easy", "medium"], ["3m", "2s3z"], 2)
    assert run_ladder(*args, processes=1).counts == run_ladder(*args, processes=2).counts


def test_identical_levels_score_exactly_half():
    """Sides swapped with the same engine seed: a level against a copy of itself wins every game it loses."""
    copy = run_ladder(["very_hard", "cheat_vision"], ["3m", "2s3z"], games=4, processes=1)  # no fog: same play
    cell = copy.cell("cheat_vision", "very_hard")
    assert cell["win"] == cell["loss"] and sum(cell.values()) == 8


def test_bots_cli_prints_the_matrix_and_writes_json(tmp_path, capsys):
    out = tmp_path / "ladder.json"
    rc = bots_main(["ladder", "--levels", "very_easy,hard", "--scenarios", "3m", "--games", "2", "--processes", "1",
                    "--json", str(out), "--quiet"])  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 0 and "| **hard** |" in text and out.exists()
    assert json.loads(out.read_text())["holds"] is True
    assert bots_main(["ladder", "--levels", "easy,nope", "--quiet", "--json", str(out)]) == 2
    assert "unknown bot level 'nope'" in capsys.readouterr().err


def test_very_hard_beats_very_easy_on_3m_mirrored():
    result = run_ladder(["very_easy", "very_hard"], ["3m"], games=20, processes=2)
    assert result.win_rate("very_hard", "very_easy") >= 0.8


@pytest.mark.slow
def test_the_ladder_holds_on_the_standard_scenarios():
    """Each non-cheat level beats the one below in >= 60% of decided games (adjacent pairs, 100 games each)."""
    result = run_ladder(games=20, processes=2, adjacent_only=True, seed=0)
    assert result.holds, result.to_markdown()


def test_a_scenario_with_only_immobile_units_is_handled():
    tanks = Scenario("tanks", 32.0, 32.0, (UnitPlacement("siege_tank_sieged", 1, 10.0, 16.0),
                                           UnitPlacement("marine", 2, 28.0, 16.0)), 200)  # fmt: skip
    for level in ("very_easy", "hard", "very_hard"):
        match = play_bot_game(tanks, {1: level, 2: level}, seed=0, record=False)
        assert match.winner is not None
