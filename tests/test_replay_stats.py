"""``pstar replays stats``: each player's acting share and actions per game, read from the stored actions; bad files
skipped and counted."""

from __future__ import annotations

import json
import shutil

from envs.skirmish.replay import load_replay
from training.replay_stats import replay_stats
from training.replays_cli import main


def test_stats_count_each_players_steps_and_actions_as_stored(replay_dir):
    stats = replay_stats([replay_dir])
    replays = [load_replay(p) for p in sorted(replay_dir.glob("*.skreplay"))]
    names = tuple(e.name for e in replays[0].new_match().spec.action_types)
    assert stats.read == 3 and not stats.skipped and set(stats.players) == {"bot:hard", "bot:easy"}
    for player, name in ((1, "bot:hard"), (2, "bot:easy")):
        s = stats.players[name]
        steps = sum(len(r.actions) for r in replays)
        sent = [names[int(a["action_type"])] for r in replays for step in r.actions for a in step[player]
                if int(a["action_type"]) != 0]  # fmt: skip
        acting = sum(any(int(a["action_type"]) != 0 for a in step[player]) for r in replays for step in r.actions)
        wins = sum(r.header.winner == player for r in replays)
        assert s.games == 3 and s.steps == steps and s.actions.total() == len(sent) > 0
        assert s.acting_share == acting / steps and s.results["win"] == wins
        assert s.per_game(sent[0]) == sent.count(sent[0]) / 3


def test_pstar_replays_stats_prints_a_table_writes_json_and_counts_bad_files(replay_dir, tmp_path, capsys):
    games = tmp_path / "games"
    shutil.copytree(replay_dir, games)
    out = tmp_path / "stats.json"
    assert main(["stats", str(games), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| bot:hard | 3 |" in printed and "3 replays read" in printed
    data = json.loads(out.read_text())
    assert [p["name"] for p in data["players"]] == ["bot:easy", "bot:hard"] and data["read"] == 3

    (games / "broken.skreplay").write_bytes(b"not a replay")
    assert main(["stats", str(games)]) == 1  # the three good ones still counted
    assert "3 replays read; skipped: 1" in capsys.readouterr().out

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["stats", str(empty)]) == 2
    assert "no readable replay" in capsys.readouterr().err
