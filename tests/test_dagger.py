"""DAgger's data: replays whose labelled side carries a demonstrator's actions per step (format version 3), recorded
by ``pstar replays record --label-with``, with agents as players, and cloned from their labels by BC."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest

from envs.skirmish.botgame import play_bot_game
from envs.skirmish.replay import (
    FORMAT_VERSION,
    MAGIC,
    ReplayError,
    encode_action,
    load_header,
    load_replay,
)
from training import replays_cli
from training.bc.dataset import ActionRules, BuildSettings, replay_result
from training.replays_cli import build_parser, plan_games


def jobs(out, games, *extra):
    args = build_parser().parse_args(["record", "--games", str(games), "--scenarios", "3m", "MMM", "--mirror",
                                      "--max-units", "64", "--out", str(out), "--seed", "11", *extra])  # fmt: skip
    return list(plan_games(args))


def side(steps, player):
    """One player's actions (or labels) per step, in the file's compact form (comparable with ==)."""
    return [[encode_action(a) for a in step[player]] for step in steps]


def recorded(results):
    assert all(not isinstance(r, str) for r in results), results
    return [load_replay(r.path) for r in results]


def test_beta_one_plays_the_labels_and_is_the_demonstrators_own_game(tmp_path):
    """With beta 1 the labelled side plays every label: the game is the expert's own game against the same bot, and
    each step's played actions are its labels; the learner (here a bot level) only watches."""
    games = jobs(tmp_path, 2, "--p1", "medium", "--p2", "very_hard", "--label-with", "expert", "--beta", "1")
    for job, replay in zip(games, recorded(replays_cli.record_batch(games)), strict=True):
        alone = play_bot_game(job.scenario, {1: "expert", 2: "very_hard"}, job.seed, variant=1 + job.seed % 16,
                              max_units=64)  # fmt: skip
        assert replay.header.final_hash == alone.engine.state_hash() and replay.header.labels == {1: "expert"}
        assert replay.header.players[1] == "bot:medium mixed with expert (beta 1)"
        assert side(replay.actions, 1) == side(replay.labels, 1)
        steps = list(replay.steps())  # re-simulates (hash checked at the end) and carries the labels
        assert side([s.labels for s in steps], 1) == side(replay.labels, 1)


def test_beta_zero_plays_the_learner_and_labels_what_the_expert_would_do(tmp_path):
    """With beta 0 the game is the learner's (the same as recording it unlabelled); the labels differ from its
    actions on some steps (the expert would have played otherwise) and are never empty of decisions."""
    labelled = jobs(tmp_path / "a", 2, "--p1", "medium", "--p2", "very_hard", "--label-with", "expert")
    plain = jobs(tmp_path / "b", 2, "--p1", "medium", "--p2", "very_hard")
    for a, b in zip(recorded(replays_cli.record_batch(labelled)), recorded(replays_cli.record_batch(plain)),
                    strict=True):  # fmt: skip
        assert a.header.final_hash == b.header.final_hash and side(a.actions, 1) == side(b.actions, 1)
        assert a.header.labels == {1: "expert"} and not b.header.labels and not any(b.labels)
        assert len(a.labels) == a.header.steps
        differ = sum(x != y for x, y in zip(side(a.actions, 1), side(a.labels, 1), strict=True))
        assert 0 < differ < a.header.steps


def test_an_agent_records_games_as_a_player_and_bc_clones_its_labels_not_its_moves(tmp_path):
    """A shipped agent plays side 2 (sampling, one thread); the expert labels it; BC takes side 2's samples with the
    labels as targets whatever ``players`` says, and ``players`` still chooses in unlabelled replays."""
    games = jobs(tmp_path, 2, "--p1", "very_hard", "--p2", "pretrained:pio", "--label-with", "expert",
                 "--label-side", "2", "--beta", "0.5")  # fmt: skip
    results = replays_cli.record_batch(games)
    for replay in recorded(results):
        assert replay.header.players == {1: "bot:very_hard", 2: "pretrained:pio mixed with expert (beta 0.5)"}
        assert replay.header.labels == {2: "expert"} and replay.header.format_version == FORMAT_VERSION
        assert "pretrained-pio" in replay.path.name
    settings = BuildSettings(players="1", sequence_length=8, max_units=64, resolution=64)
    result = replay_result(results[0].path, settings)
    assert result.skipped is None and result.info["players"] == {"2": "pretrained:pio mixed with expert (beta 0.5)"}
    replay = load_replay(results[0].path)
    no_op = ActionRules(result.spec).no_op_type
    valid = result.arrays["valid"].reshape(-1)
    types = result.arrays["action_type"].reshape(-1, result.arrays["action_type"].shape[-1])[valid][:, 0]
    labelled = [[a["action_type"] for a in step[2] if a["action_type"] != no_op] for step in replay.labels]
    played = [[a["action_type"] for a in step[2] if a["action_type"] != no_op] for step in replay.actions]
    assert not any(key.startswith("dropped") for key in result.stats), result.stats
    assert types.tolist() == [step[0] if step else no_op for step in labelled]
    assert labelled != played  # half the steps were the agent's own, and it does not play like the expert
    plain = jobs(tmp_path / "plain", 1, "--p1", "very_hard", "--p2", "easy")
    (plain_record,) = replays_cli.record_batch(plain)
    assert replay_result(plain_record.path, settings).info["players"] == {"1": "bot:very_hard"}


def test_recording_refuses_an_agent_with_other_rows_and_a_bad_beta_in_one_line(tmp_path, capsys):
    argv = ["record", "--games", "1", "--scenarios", "3m", "--out", str(tmp_path), "--quiet", "--p2", "easy"]
    assert replays_cli.main([*argv, "--p1", "pretrained:pio", "--max-units", "512"]) == 2
    assert "agent 'pretrained:pio' observes with max_units 64; pass --max-units 64" in capsys.readouterr().err
    assert replays_cli.main([*argv, "--p1", "easy", "--label-with", "expert", "--beta", "1.5"]) == 2
    assert "--beta is 1.5, expected a probability in [0, 1]" in capsys.readouterr().err
    assert replays_cli.main([*argv, "--p1", "easy", "--label-with", "nobody"]) == 2
    assert "unknown bot level 'nobody'" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.skreplay"))


def _rewrite(source, path, header_change, version):
    """``source`` re-encoded into ``path`` with its header changed and the prefix's version set (CRCs valid)."""
    replay = load_replay(source)
    header = replay.header.to_json()
    header_change(header)
    body = [list(row) for row in zip(side(replay.actions, 1), side(replay.actions, 2), strict=True)]
    head = zlib.compress(json.dumps(header).encode())
    data = zlib.compress(json.dumps(body).encode())
    prefix = struct.pack("<8sHHIIII", MAGIC, version, 0, len(head), zlib.crc32(head), len(data), zlib.crc32(data))
    path.write_bytes(prefix + head + data)


def test_version_2_files_still_read_and_bad_labels_are_one_clear_error(tmp_path):
    (record,) = replays_cli.record_batch(jobs(tmp_path, 1, "--p1", "easy", "--p2", "medium"))
    path = tmp_path / "changed.skreplay"

    def as_v2(header):
        header["format_version"] = 2
        del header["labels"], header["full_game"]

    def as_v3(**fields):
        return lambda header: (header.pop("full_game"), header.update(format_version=3, **fields))

    _rewrite(record.path, path, as_v2, 2)
    old = load_replay(path)
    assert old.header.format_version == 2 and old.header.labels == {} and not any(old.labels)
    old.verify()
    _rewrite(record.path, path, as_v3(labels={"1": "expert"}), 3)
    with pytest.raises(ReplayError, match="malformed step: .* expected \\[player-1 actions, player-2 actions, "
                                          "player-1 labels\\]"):  # fmt: skip
        load_replay(path)
    _rewrite(record.path, path, as_v3(labels={"3": "expert"}), 3)
    with pytest.raises(ReplayError, match="bad header: labels is .*expected a labeller's name for players 1"):
        load_header(path)
    _rewrite(record.path, path, as_v3(labels={}), 2)
    with pytest.raises(ReplayError, match="bad header: format_version 3, the file's prefix says 2"):
        load_header(path)


def test_a_labeller_whose_labels_were_not_played_labels_the_command_again():
    """A bot skips commands a unit is already carrying out; as a labeller (DAgger) its commands are often not
    played, so ``unplayed`` makes it forget them: the next step labels the same command again, where a bot that
    believes it was sent labels nothing."""
    from envs.skirmish.botgame import bot_match
    from training.bc.labels import LabelledPlayer

    class Idle:  # the learner: does nothing
        def act(self, observation, spec):
            return []

    def commands(beta):  # the labels of the first decisions, with the steps they came on
        match, bots = bot_match("3m", {1: "medium"}, seed=4)
        player = LabelledPlayer(Idle(), bots[1], beta=beta, seed=0)
        for _ in range(12):
            played = player.act(match.observations[1], match.spec)
            match.step({1: played, 2: []})
        return [(t, encode_action(a)) for t, step in enumerate(player.labels) for a in step if a["action_type"]]

    forgetting, played = commands(0.0), commands(1.0)  # 0: never played, and the labeller is told
    assert played and forgetting[0] == played[0]
    first = played[0][1]
    assert sum(command == first for _, command in played) == 1  # played: the units carry it out, no need again
    assert sum(command == first for _, command in forgetting) >= 2  # not played: labelled again


def test_label_repeat_window_thins_repeated_economy_labels_of_a_full_game(tmp_path):
    """A full-game labeller asks every step for an order the learner does not follow; ``label_repeat_window`` keeps
    an economy label only if its type was not kept within the window, leaves the rest of its step unscored (-1, not a
    no_op), and leaves combat labels, unlabelled replays and window 0 exactly as they were."""
    from training.cli import main as pstar

    assert pstar(["eval-full", "bot:very_easy", "--levels", "very_easy", "--games", "1", "--processes", "1", "--seed",
                  "2", "--record", str(tmp_path), "--label-with", "very_hard", "--quiet"]) == 0  # fmt: skip
    (path,) = tmp_path.glob("*.skreplay")
    window = 16

    def types(settings):
        result = replay_result(str(path), settings)
        assert result.skipped is None
        valid = result.arrays["valid"].reshape(-1)
        return result, result.arrays["action_type"].reshape(-1, result.arrays["action_type"].shape[-1])[valid]

    full, every = types(BuildSettings("both", 8, 512, 64))
    thin, kept = types(BuildSettings("both", 8, 512, 64, label_repeat_window=window))
    rules = ActionRules(full.spec)
    economy = rules.first_economy_type
    assert every.shape == kept.shape  # one sample per step either way

    def steps_with(table, kind):
        return [t for t, row in enumerate(table.tolist()) if kind in row]

    repeated = 0
    for kind in sorted({int(k) for k in every.reshape(-1) if k >= economy}):
        asked, left = steps_with(every, kind), steps_with(kept, kind)
        assert set(left) <= set(asked) and left[0] == asked[0]
        assert all(b - a > window for a, b in zip(left, left[1:], strict=False))  # at most one per window
        for t in asked:  # each label asked is kept unless one was kept within the window before it
            assert (t in left) == (not any(0 < t - s <= window for s in left))
        repeated += len(asked) - len(left)
    assert repeated > 0 and thin.stats["thinned: repeated economy label"] >= repeated
    changed, no_op = (every != kept).any(axis=1), rules.no_op_type
    assert changed.any() and (kept[changed] != no_op).all()  # a thinned step never teaches "stop here"
    for before, after in zip(every[changed].tolist(), kept[changed].tolist(), strict=True):
        assert [k for k in after if 0 <= k < economy and k != no_op] == [k for k in before if k < economy
                                                                          and k != no_op]  # fmt: skip
    assert "thinned: repeated economy label" not in full.stats
    plain = tmp_path / "plain"
    assert pstar(["eval-full", "bot:very_easy", "--levels", "very_easy", "--games", "1", "--processes", "1", "--seed",
                  "2", "--record", str(plain), "--quiet"]) == 0  # fmt: skip
    (unlabelled,) = plain.glob("*.skreplay")
    a = replay_result(str(unlabelled), BuildSettings("both", 8, 512, 64))
    b = replay_result(str(unlabelled), BuildSettings("both", 8, 512, 64, label_repeat_window=window))
    assert all(np.array_equal(a.arrays[k], b.arrays[k]) for k in a.arrays) and a.stats == b.stats


class _Rules:
    """The slice of ``ActionRules`` that ``_player_samples`` reads: every action teachable, type 0 the no_op, types
    from 7 the economy's, a budget of 2 sub-actions; ``step`` gives the sub-action types (-1: unscored padding)."""

    no_op_type, first_economy_type, actions_per_step = 0, 7, 2

    def teachable(self, observations, actions):
        return [(a, None) for a in actions]

    def step(self, actions, ended=True):
        types = [int(a["action_type"]) for a in actions]
        return {"action_type": types + [0 if ended else -1] * (self.actions_per_step - len(types))}


def test_thinning_keeps_same_step_duplicates_and_counts_only_labels_within_the_budget():
    """Two producers may train the same unit in one step (both kept); a label cut by the action budget was never
    taught, so its repeat in the next step is kept, not thinned; a taught one's repeat within the window is thinned
    and its step left unscored."""
    from collections import Counter

    from training.bc.dataset import _player_samples

    obs = {"available_actions": np.ones(20, dtype=bool)}
    labels = [[1, 2, 11], [11], [11, 11], [12], [12], [5]]  # per step: action types
    steps = [(obs, [{"action_type": k} for k in step]) for step in labels]
    stats = Counter()
    samples = _player_samples(steps, _Rules(), stats, repeat_window=2)
    assert [s.action["action_type"] for s in samples] == [[1, 2], [11, 0], [-1, -1], [12, 0], [-1, -1], [5, 0]]
    assert stats["thinned: repeated economy label"] == 3 and stats["dropped: over the action budget"] == 1
    kept = _player_samples(steps[2:3], _Rules(), Counter(), repeat_window=2)
    assert kept[0].action["action_type"] == [11, 11]  # the same type twice in one step: both taught
    assert [s.action["action_type"] for s in _player_samples(steps, _Rules(), Counter())] == \
        [[1, 2], [11, 0], [11, 11], [12, 0], [12, 0], [5, 0]]  # fmt: skip


def test_a_new_window_resimulates_only_the_labelled_replays(tmp_path, monkeypatch):
    """The window changes what a labelled replay teaches, not an unlabelled one: a cache built with another window
    serves the unlabelled replays and the labelled ones are re-simulated."""
    from training.bc import dataset as bc_dataset
    from training.bc.dataset import prepare_data

    (labelled,) = replays_cli.record_batch(jobs(tmp_path / "l", 1, "--p1", "medium", "--p2", "very_hard",
                                                "--label-with", "expert"))  # fmt: skip
    (plain,) = replays_cli.record_batch(jobs(tmp_path / "p", 1, "--p1", "medium", "--p2", "very_hard"))
    paths = [str(labelled.path), str(plain.path)]
    prepare_data(paths, BuildSettings("both", 8, 64, 64), tmp_path / "cache", progress=False)
    simulated, real = [], bc_dataset.replay_results
    monkeypatch.setattr(bc_dataset, "replay_results", lambda paths, s: simulated.extend(paths) or real(paths, s))
    prepare_data(paths, BuildSettings("both", 8, 64, 64, label_repeat_window=16), tmp_path / "cache", progress=False)
    assert simulated == [str(labelled.path)]


def test_pstar_dagger_refuses_bad_rounds_in_one_line(capsys):
    from training.cli import main as pstar

    for argv, problem in ((["start=x", "levels=[godlike]"], "expected full-game levels"),
                          (["start=x", "label_with=cheat_money"], "expected a full-game level that does not cheat"),
                          ([], "expected the agent round 0 starts from"),
                          (["start=no/such/run", "rounds=1"], "no/such/run")):  # fmt: skip
        assert pstar(["dagger", "--quiet", *argv]) == 2
        assert "pstar dagger: error: " in (err := capsys.readouterr().err) and problem in err, err


@pytest.mark.slow
def test_pstar_dagger_plays_labels_clones_and_evaluates_each_round_and_continues_where_it_stopped(tmp_path, capsys):
    """Round k's learner is round k-1's agent, its BC data the bots' games plus every round's labelled games so far,
    its beta decayed; running again adds rounds without replaying or retraining finished ones, and a lost
    evaluation is played again alone."""
    from training.cli import main as pstar

    bots = tmp_path / "bots"
    assert pstar(["replays", "record-full", "--quiet", "--games", "1", "--p1", "very_easy", "--p2", "easy",
                  "--out", str(bots), "--workers", "1"]) == 0  # fmt: skip
    bc = [f"cache_dir={tmp_path / 'cache'}", "steps=2", "val_fraction=0", "eval_every=0", "num_workers=0",
          "batch_size=2", "max_units=512", "players=both", f"replays=[{bots}]"]
    assert pstar(["bc", "--quiet", *bc, f"run_root={tmp_path}", "name=clone"]) == 0
    argv = ["dagger", "--quiet", f"start={tmp_path / 'clone'}", "levels=[very_easy]", "games=1", "eval_games=1",
            "processes=1", "beta=0.5", f"run_root={tmp_path}", "name=d", *(f"bc.{key}" for key in bc),
            "bc.label_repeat_window=16"]
    assert pstar([*argv, "rounds=1"]) == 0
    root = tmp_path / "d"
    first = {p: p.stat().st_mtime_ns for p in (root / "round_0" / "games" / "done.json", root / "round_0" / "bc.yaml",
                                               root / "round_0" / "eval.json")}  # fmt: skip
    assert pstar([*argv, "rounds=2"]) == 0
    out = capsys.readouterr().out
    assert "| 0 | 0.5 |" in out and "| 1 | 0.25 |" in out
    assert {p: p.stat().st_mtime_ns for p in first} == first  # round 0 was not played or evaluated again
    rows = json.loads((root / "dagger.json").read_text())
    assert [r["beta"] for r in rows] == [0.5, 0.25] and all(r["evaluated"]["very_easy"]["games"] == 1 for r in rows)
    config = (root / "round_1" / "bc" / "config.yaml").read_text()
    assert str(root / "round_0" / "games") in config and str(root / "round_0" / "bc") in config  # data and start
    for game in (root / "round_1" / "games").glob("*.skreplay"):
        assert load_header(game).labels and "beta 0.25" in " ".join(load_header(game).players.values())
    (root / "round_1" / "eval.json").unlink()
    games = (root / "round_1" / "games" / "done.json").stat().st_mtime_ns
    assert pstar([*argv, "rounds=2"]) == 0
    assert (root / "round_1" / "eval.json").is_file()
    assert (root / "round_1" / "games" / "done.json").stat().st_mtime_ns == games
