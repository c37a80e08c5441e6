"""The action budget: at most ``actions_per_step`` actions per player per agent step, for bots and agents alike."""

from __future__ import annotations

import numpy as np
import pytest

from envs.contract.action import make_action
from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP
from envs.contract.catalogue import ATTACK_MOVE, MOVE, NO_OP, STOP
from envs.contract.columns import UnitColumn as C
from envs.skirmish.botgame import play_bot_game
from envs.skirmish.bots import LEVEL_CONFIGS, LEVELS, make_bot
from envs.skirmish.budget import ActionBudgetError
from envs.skirmish.env import SkirmishEnv
from envs.skirmish.ladder import plan_ladder
from envs.skirmish.match import Match
from envs.skirmish.replay import load_replay, save_replay
from training.bots_cli import main as bots_main
from training.replays_cli import main as replays_main


def moves(rows, count):
    """``count`` distinct move actions, each of the own units at ``rows`` to its own cell."""
    return [make_action(MOVE, rows, target_location=(10 + i, 10)) for i in range(count)]


def test_the_spec_publishes_the_budget_and_bad_budgets_are_refused():
    assert Match("3m").spec.actions_per_step == DEFAULT_ACTIONS_PER_STEP
    assert Match("3m", actions_per_step=3).spec.actions_per_step == 3
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=r"actions_per_step must be an int in \[1, 64\]"):
            Match("3m", actions_per_step=bad)


def test_strict_match_over_budget_raises_naming_player_count_and_limit_before_playing_anything():
    match = Match("3m", actions_per_step=2)
    match.reset()
    before = match.engine.state_hash()
    with pytest.raises(ActionBudgetError, match=r"player 2 sent 3 actions in one agent step; the budget is 2 per step"):
        match.step({1: moves([0], 1), 2: moves([0], 3)})
    assert match.engine.state_hash() == before and match.steps == 0  # nothing was played, not even player 1's


def test_no_ops_use_no_budget():
    match = Match("3m", actions_per_step=1, record=True)
    match.reset()
    actions = [make_action(NO_OP), *moves([0], 1), make_action(NO_OP)]
    _, _, _, _, infos = match.step({1: actions, 2: make_action(NO_OP)})
    assert infos[1]["over_budget"] == 0 and len(match.actions_log[0][1]) == 3


def test_lenient_match_plays_the_first_n_and_counts_the_rest():
    match = Match("3m", actions_per_step=2, lenient=True, record=True)
    match.reset()
    sent = [make_action(NO_OP), *moves([0], 2), make_action(STOP, [1]), make_action(ATTACK_MOVE, [2])]
    obs, _, _, _, infos = match.step({1: sent, 2: moves([0], 2)})
    assert (infos[1]["over_budget"], infos[2]["over_budget"]) == (2, 0)
    played = match.actions_log[0][1]
    assert len(played) == 3 and all(a is b for a, b in zip(played, sent, strict=False))  # no_op + first two, in order
    assert obs[1]["units"][:3, C.order_length].tolist() == [1, 0, 0]  # the dropped attack-move never happened


def test_replays_record_only_the_played_actions_and_replay_identically(tmp_path):
    match = Match("3m", 4, actions_per_step=1, lenient=True, record=True)
    obs = match.reset()
    bot = make_bot("very_hard", 2, 0)
    dropped = 0
    for step in range(40):
        rows = [0, 1] if step % 2 else [2]
        obs, _, term, trunc, infos = match.step({1: moves(rows, 1 + step % 3), 2: bot.act(obs[2], match.spec)})
        dropped += infos[1]["over_budget"]
        assert infos[2]["over_budget"] == 0
        if term or trunc:
            break
    replay = load_replay(save_replay(tmp_path / "budget.skreplay", match, {1: "policy:greedy", 2: "bot:very_hard"}))
    assert dropped > 0 and replay.header.actions_per_step == 1
    assert all(len(step[1]) <= 1 for step in replay.actions)
    steps = list(replay.steps())  # re-simulated under the recorded budget; the final hash is checked
    assert all(s.infos[1]["over_budget"] == 0 for s in steps)
    for step, played in zip(steps, match.actions_log, strict=True):
        for player in (1, 2):
            assert len(step.actions[player]) == len(played[player])
            for a, b in zip(step.actions[player], played[player], strict=True):
                assert a["action_type"] == b["action_type"]
                assert np.array_equal(a["selected_units"], b["selected_units"])


@pytest.mark.parametrize("budget", [1, 2, 3])
def test_every_bot_level_stays_within_the_budget(budget):
    """Strict matches raise over budget; every level, the cheat levels too, plays whole games as either side."""
    for i, level in enumerate(LEVELS):
        scenario = ("3m", "MMM", "3s5z_vs_3s6z", "marines_tanks_vs_zerglings_banelings")[i % 4]
        opponent = LEVELS[(i + 5) % len(LEVELS)]
        match = play_bot_game(scenario, {1: level, 2: opponent}, seed=i, actions_per_step=budget)
        assert match.winner is not None
        cap = {1: min(budget, LEVEL_CONFIGS[level].apm), 2: min(budget, LEVEL_CONFIGS[opponent].apm)}
        counts = {1: [], 2: []}
        for step in match.actions_log:
            for player, actions in step.items():
                counts[player].append(sum(a["action_type"] != NO_OP for a in actions))
        for player in (1, 2):
            assert max(counts[player]) <= cap[player]
        if budget > 1 and LEVEL_CONFIGS[level].apm >= budget:
            assert max(counts[1]) == budget  # the budget is used, not just respected


def test_the_env_applies_the_budget_to_the_agent_and_reports_the_bots():
    env = SkirmishEnv("3m", "very_hard", actions_per_step=2, lenient=True, seed=0, max_units=None)
    env.reset()
    assert env.skirmish_spec.actions_per_step == 2
    _, _, _, _, info = env.step(moves([0], 3))
    assert (info["over_budget"], info["opponent_over_budget"]) == (1, 0)
    strict = SkirmishEnv("3m", "very_hard", actions_per_step=1, seed=0, max_units=None)
    strict.reset()
    with pytest.raises(ActionBudgetError, match="player 1 sent 2 actions"):
        strict.step(moves([0], 2))


def test_the_ladder_plays_under_the_budget_and_the_clis_check_it(tmp_path, capsys):
    assert {g.actions_per_step for g in plan_ladder(["easy", "hard"], ["3m"], 2, actions_per_step=3)} == {3}
    for command, argv in ((bots_main, ["ladder", "--levels", "easy,hard", "--games", "2", "--actions-per-step", "0"]),
                          (replays_main, ["record", "--games", "1", "--actions-per-step", "0"])):  # fmt: skip
        with pytest.raises(SystemExit) as exit_info:  # argparse's error for a bad flag
            command([*argv, "--quiet"])
        assert exit_info.value.code == 2
        assert "error: argument --actions-per-step: expected an integer in [1, 64], got 0" in capsys.readouterr().err
