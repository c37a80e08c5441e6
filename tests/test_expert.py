"""The expert demonstrator: exact game forks, play within the action contract and budget, determinism, replays,
and (slow) that it beats very_hard."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from envs.skirmish.actions import translate
from envs.skirmish.batched import BatchedEngine
from envs.skirmish.botgame import EXTRA_PLAYERS, bot_match, outcome, play_bot_game, play_bot_games
from envs.skirmish.bots import LEVELS
from envs.skirmish.budget import is_no_op
from envs.skirmish.expert.evaluate import plan_expert_games
from envs.skirmish.expert.fork import fork_into
from envs.skirmish.expert.player import Expert
from envs.skirmish.observation import observe_players
from envs.skirmish.replay import load_replay, save_replay


def _step_bots(match, bots, observations):
    return match.step({p: bots[p].act(observations[p], match.spec) for p in (1, 2)})[0]


@pytest.mark.parametrize("scenario", ["MMM", "3s5z_vs_3s6z"])
def test_fork_continues_the_game_exactly(scenario):
    """Copies of a game in progress (into a batch of another capacity) play on bit-identically to the game."""
    match, bots = bot_match(scenario, {1: "very_hard", 2: "very_hard"}, 3, variant=3)
    observations = match.reset()
    for _ in range(30):
        observations = _step_bots(match, bots, observations)
    sim = BatchedEngine([match.scenario] * 3, [0] * 3, units=match.engine.units, capacity=match.engine.state.n + 2)
    fork_into(sim, np.array([0, 2]), match.engine)
    twins = copy.deepcopy(bots)
    for _ in range(25):
        view = sim.game(0)
        seen = observe_players(view, match.max_units)
        for p in (1, 2):
            for action in twins[p].act(seen[p - 1].obs, match.spec):
                for command in translate(action, seen[p - 1].row_to_slot, view, p, match.spec):
                    sim.issue(0, p, command)
                    sim.issue(2, p, command)
        observations = _step_bots(match, bots, observations)
        sim.advance(match.step_mul, [0, 2])
        assert sim.state_hash(0) == sim.state_hash(2) == match.engine.state_hash()
    assert sim.loop[1] == 0  # a game left out is untouched


def test_expert_is_an_extra_player_not_a_level():
    assert "expert" in EXTRA_PLAYERS and "expert" not in LEVELS
    match, bots = bot_match("3m", {1: "very_hard", 2: "expert"}, 0, variant=0)
    assert isinstance(bots[2], Expert) and bots[2].match is match and bots[2].opponent is bots[1]
    assert match.see_all == () and len(match.scenario.placements) == 6  # no cheats
    with pytest.raises(ValueError, match="unknown bot level 'expurt'"):
        bot_match("3m", {1: "expurt", 2: "hard"})
    plan = plan_expert_games(["very_easy", "hard"], ["3m"], 2)
    assert [(g.first, g.second, g.swapped) for g in plan] == [("expert", "very_easy", False),
                                                             ("expert", "very_easy", True),
                                                             ("expert", "hard", False), ("expert", "hard", True)]


def test_expert_plays_legally_within_budget_and_deterministically(tmp_path):
    """A strict match (illegal or over-budget actions raise) records the same game twice; the replay re-simulates."""
    games = []
    for _ in range(2):
        match = play_bot_game("3m", {1: "very_hard", 2: "expert"}, 1, variant=1, record=True)
        games.append(match)
        sent = [sum(not is_no_op(a) for a in step[2]) for step in match.actions_log]
        assert max(sent) <= match.actions_per_step and sum(sent) > 0
    assert games[0].engine.state_hash() == games[1].engine.state_hash()
    assert games[0].steps == games[1].steps and games[0].winner == games[1].winner
    path = save_replay(tmp_path / "expert.skreplay", games[0], {1: "bot:very_hard", 2: "bot:expert"})
    assert load_replay(path).replay().engine.state_hash() == games[0].engine.state_hash()


def test_expert_in_batched_games_plays_as_alone():
    """In a MatchBatch (replay recording) the expert forks its game out of the shared batch: same game as alone."""
    def build(level):
        return lambda: bot_match("3m", {1: "expert", 2: level}, 2, variant=2)

    ended = {}
    play_bot_games([build("hard"), build("very_hard")], lambda i, m: ended.setdefault(i, m), engine="batched")
    alone = play_bot_game("3m", {1: "expert", 2: "very_hard"}, 2, variant=2, record=False)
    assert ended[1].engine.state_hash() == alone.engine.state_hash()
    assert ended[0].engine.done


def test_expert_against_a_policy_models_it():
    """With no opponent bot to copy (a policy plays), the expert still plays, modelling it as very_hard."""
    match, bots = bot_match("3m", {1: "expert", 2: None}, 0, variant=0)
    observations = match.reset()
    while not match.engine.done:
        observations = match.step({1: bots[1].act(observations[1], match.spec)})[0]
    assert outcome(match.winner, 1) == "win" and bots[1].replans > 0


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["8m_vs_9m", "2s3z", "MMM", "3s5z_vs_3s6z"])
def test_expert_beats_very_hard(scenario):
    results = []
    for g in range(4):
        swapped = g % 2 == 1
        levels = {1: "very_hard", 2: "expert"} if swapped else {1: "expert", 2: "very_hard"}
        match = play_bot_game(scenario, levels, g // 2, variant=g // 2, record=False)
        results.append(outcome(match.winner, 2 if swapped else 1))
    assert results.count("win") >= 3, results


def test_expert_eval_cli(tmp_path, capsys):
    from training.bots_cli import main

    out = tmp_path / "expert.json"
    assert main(["expert-eval", "--levels", "very_easy", "--scenarios", "3m", "--games", "1", "--processes", "1",
                 "--json", str(out), "-q"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "| very_easy | 1-0-0 |" in printed and "steps/s per process" in printed
    assert '"very_easy"' in out.read_text()
