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


def test_milestones_give_per_race_the_games_and_median_first_step_of_each_order(tmp_path, capsys):
    """Two full games (the very_hard bot zerg in both, its opponent terran then protoss): each build, train, research
    and morph order counts once per game that sent it, at the step it was first sent; combat orders are not
    milestones; battles have none."""
    from statistics import median

    from envs.skirmish.economy.bot import FullGameBot
    from envs.skirmish.economy.match import FullMatch
    from envs.skirmish.replay import save_replay

    firsts = []
    for seed, other in ((1, "terran"), (2, "protoss")):
        match = FullMatch("duel", ("zerg", other), seed=seed, lenient=True, record=True)
        bots = {p: FullGameBot(level, match.game, p, seed) for p, level in ((1, "very_hard"), (2, "easy"))}
        for _ in range(220):
            match.step({p: bots[p].act(match.observed[p], match.spec) for p in (1, 2)})
        save_replay(tmp_path / f"g{seed}.skreplay", match, {1: "bot:very_hard", 2: "bot:easy"})
        names = [e.name for e in match.spec.action_types]
        first = {}
        for index, step in enumerate(match.actions_log):
            for action in step[1]:
                first.setdefault(names[int(action["action_type"])], index)
        firsts.append({k: v for k, v in first.items() if k.split("_")[0] in ("Build", "Train", "Research", "Morph")})
    stats = replay_stats([tmp_path])
    hard = stats.players["bot:very_hard"]
    assert hard.races == {"zerg": 2} and stats.players["bot:easy"].races == {"terran": 1, "protoss": 1}
    expected = {a: (sum(a in f for f in firsts), median(f[a] for f in firsts if a in f)) for f in firsts for a in f}
    assert {a: (n, step) for a, n, step in hard.milestones("zerg")} == expected
    assert "Train_Drone_quick" in expected and "Build_SpawningPool_pt" in expected
    assert [step for _, _, step in hard.milestones("zerg")] == sorted(step for _, step in expected.values())
    assert main(["stats", str(tmp_path), "--milestones"]) == 0
    printed = capsys.readouterr().out
    assert "| bot:very_hard | zerg | 2 | Train_Drone_quick 2/2 @" in printed and "| bot:easy | terran | 1 |" in printed
    assert replay_stats([tmp_path]).to_json()["players"][1]["milestones"]["zerg"]["Train_Drone_quick"]["games"] == 2


def test_battles_have_no_milestones(replay_dir):
    stats = replay_stats([replay_dir])
    assert all(not s.races and not s.firsts for s in stats.players.values())
    assert stats.milestone_table().count("\n") == 1  # the header only
