"""Full-game bots: they play whole games through the contract (strict: every action legal and within the budget),
the stronger level wins, cheat levels see through fog and gather more, and the ladder plans mirrored games."""

from __future__ import annotations

import json

import numpy as np
import pytest

from envs.contract.columns import Alliance
from envs.contract.columns import UnitColumn as C
from envs.skirmish.economy.bot import FULL_GAME_BOT_LEVELS, apply_full_game_cheats
from envs.skirmish.economy.ladder import plan_full_ladder, play_full_bot_game
from envs.skirmish.economy.match import FullMatch
from tests.test_economy_fuzz import _check_invariants


def test_a_stronger_bot_wins_a_strict_full_game():
    match = play_full_bot_game({1: "very_easy", 2: "medium"}, ("zerg", "terran"), seed=0, lenient=False)
    assert match.winner == 2 and match.illegal_actions == {1: 0, 2: 0}
    assert match.game.loop < match.game.engine.scenario.time_limit_loops  # decided, not a draw
    st = match.game.engine.state
    loser = st.alive & (st.owner == 1)
    assert not any(match.game.rules.is_structure(match.game.rules.units.names[t]) for t in st.utype[loser])
    _check_invariants(match.game)


def test_cheat_levels_see_through_fog_and_gather_more():
    match = FullMatch("duel", ("protoss", "protoss"), seed=1)
    apply_full_game_cheats(match, {1: "very_hard", 2: "cheat_insane"})
    for player, sees in ((1, False), (2, True)):
        obs = match.observations[player]
        enemies = obs["unit_mask"] & (obs["units"][:, C.alliance] == Alliance.enemy)
        assert bool(enemies.any()) == sees
    for _ in range(150):  # nobody acts: both sides keep mining with their 12 probes
        match.step({})
    mined = match.game.bank.collected[:, 0]
    assert mined[1] > 300 and 1.8 < mined[2] / mined[1] < 2.2


def test_the_full_ladder_plays_each_variant_twice_with_sides_swapped():
    plan = plan_full_ladder(["easy", "medium", "hard"], 4, seed=7)
    assert [(g.first, g.second) for g in plan] == [("medium", "easy")] * 4 + [("hard", "medium")] * 4
    assert [g.swapped for g in plan[:4]] == [False, True, False, True]
    assert plan[0].races == plan[1].races and plan[0].seed == plan[1].seed == 7 and plan[2].seed == 8
    assert {r for g in plan for r in g.races} <= {"terran", "protoss", "zerg"}
    with pytest.raises(ValueError, match="distinct levels"):
        plan_full_ladder(["easy", "grandmaster"], 2)
    assert len(FULL_GAME_BOT_LEVELS) == 10 and np.all([isinstance(n, str) for n in FULL_GAME_BOT_LEVELS])


def test_pstar_bots_full_ladder_prints_the_matrix_and_writes_json(tmp_path, capsys):
    from training.bots_cli import main

    out = tmp_path / "full.json"
    status = main(["full-ladder", "--levels", "very_easy,medium", "--games", "2", "--processes", "1",
                   "--json", str(out), "--quiet"])  # fmt: skip
    printed = capsys.readouterr().out
    assert status == 0 and "| **medium** | 100% (2-0-0) |" in printed and "2 full games" in printed
    assert json.loads(out.read_text())["holds"] is True
    assert main(["full-ladder", "--levels", "very_easy,medium", "--map", "nowhere", "--json", str(out),
                 "--quiet"]) == 2  # fmt: skip
    assert "unknown map 'nowhere'" in capsys.readouterr().err


def test_pstar_eval_full_plays_both_sides_and_reports_wilson_intervals(tmp_path, capsys):
    from training.cli import main as pstar
    from training.eval.full_games import plan

    games = plan(["easy"], 4, 10, ["random"])
    assert [g.side for g in games] == [1, 2, 1, 2] and games[0].races == games[1].races and games[2].seed == 11
    out = tmp_path / "eval.json"
    assert pstar(["eval-full", "bot:medium", "--levels", "very_easy", "--games", "2", "--processes", "1",
                  "--json", str(out)]) == 0  # fmt: skip
    assert "| very_easy | 2-0-0 | 100% [34, 100] |" in capsys.readouterr().out
    assert json.loads(out.read_text())["levels"]["very_easy"]["win"] == 2
    assert pstar(["eval-full", "bot:medium", "--levels", "grandmaster"]) == 2
    assert "unknown full-game level(s) ['grandmaster']" in capsys.readouterr().err
    assert pstar(["eval-full", "bot:medium", "--temperature", "0"]) == 2
    assert "--temperature is 0.0, expected a number > 0" in capsys.readouterr().err
    assert pstar(["eval-full", "bot:medium", "--core-window", "0"]) == 2
    assert "--core-window is 0, expected a number of steps >= 1" in capsys.readouterr().err


def test_eval_full_records_dagger_data_the_labeller_playing_with_beta_one(tmp_path, capsys):
    """``--record --label-with L --beta 1``: the labelled side plays every label, so each game is L's own game
    against the opponent (the same final hash as a bot game), the labels are its actions, and the replay verifies."""
    from envs.skirmish.replay import encode_action, load_replay
    from training.cli import main as pstar
    from training.eval.full_games import plan

    assert pstar(["eval-full", "bot:very_easy", "--levels", "very_easy", "--games", "2", "--processes", "1",
                  "--seed", "3", "--record", str(tmp_path), "--label-with", "medium", "--beta", "1"]) == 0  # fmt: skip
    assert "| very_easy | 2-0-0 | 100% [34, 100] |" in capsys.readouterr().out  # medium's wins, not very_easy's
    files = sorted(tmp_path.glob("*.skreplay"))
    for game, path in zip(plan(["very_easy"], 2, 3, ["random"]), files, strict=True):
        replay = load_replay(path)
        alone = play_full_bot_game({game.side: "medium", 3 - game.side: "very_easy"}, game.races, seed=game.seed)
        assert replay.header.final_hash == alone.state_hash() and replay.header.labels == {game.side: "bot:medium"}
        assert replay.header.players[game.side] == "bot:very_easy mixed with bot:medium (beta 1)"
        types = replay.new_match().spec.action_types
        played, labelled = ([[encode_action(a, types) for a in step[game.side]] for step in steps]
                            for steps in (replay.actions, replay.labels))  # fmt: skip
        assert played == labelled and any(played)
    assert pstar(["eval-full", "bot:easy", "--record", str(tmp_path), "--label-with", "cheat_money"]) == 2
    assert "expected a full-game level that does not cheat" in capsys.readouterr().err
    assert pstar(["eval-full", "bot:easy", "--label-with", "hard"]) == 2
    assert "--label-with, --beta and --keep need --record" in capsys.readouterr().err
    assert pstar(["eval-full", str(tmp_path / "no_run")]) == 2  # found before any worker starts
    assert f"checkpoint {tmp_path / 'no_run'}: not found" in capsys.readouterr().err
    assert pstar(["eval-full", "bot:godlike"]) == 2
    assert "expected bot:<full-game level>" in capsys.readouterr().err
    assert pstar(["eval-full", "pretrained:pio"]) == 2  # a battle agent
    assert "its agent was trained on another game (7 action types, a full game has 48)" in capsys.readouterr().err


def test_eval_full_keep_won_records_only_the_games_the_player_won(tmp_path, capsys):
    """``--record --keep won`` (self-imitation's data): the replays written are the evaluated player's wins, one per
    win in the table, each naming that player's side as the winner; draws and losses are not written."""
    from envs.skirmish.replay import load_header
    from training.cli import main as pstar

    out = tmp_path / "eval.json"
    won = tmp_path / "won"
    assert pstar(["eval-full", "bot:medium", "--levels", "very_easy", "very_hard", "--games", "2", "--processes", "1",
                  "--seed", "5", "--record", str(won), "--keep", "won", "--json", str(out)]) == 0  # fmt: skip
    table = json.loads(out.read_text())["levels"]
    assert table["very_easy"]["win"] == 2 and table["very_hard"]["win"] < 2  # some games are not written
    files = sorted(won.glob("*.skreplay"))
    assert len(files) == sum(row["win"] for row in table.values())
    for path in files:
        side = int(path.name.split("_side")[1][0])
        assert load_header(path).winner == side and load_header(path).players[side] == "bot:medium"
    assert pstar(["eval-full", "bot:medium", "--keep", "won"]) == 2
    assert "--keep need --record" in capsys.readouterr().err
