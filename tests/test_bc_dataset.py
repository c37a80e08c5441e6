"""Behaviour-cloning data: replays -> (observation, action) sequences, bad replays skipped by reason, the stream."""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from envs.skirmish.botgame import mirrored, play_bot_game
from envs.skirmish.match import Match
from envs.skirmish.replay import encode_action, encode_file, load_replay, save_replay
from envs.skirmish.scenario import load_scenario
from training.bc import dataset as bc_dataset
from training.bc.dataset import ActionRules, BCData, BuildSettings, DatasetError, prepare_data
from training.bc.shards import SequenceStream, assign, epoch_order
from training.writable import UnwritableError

SETTINGS = BuildSettings(players="both", sequence_length=8, max_units=64, resolution=64)


def record(directory: Path, seeds=range(3), **game) -> list[Path]:
    """Hard-vs-easy games on mirrored 3m, one replay per seed."""
    paths = []
    for seed in seeds:
        match = play_bot_game(
            mirrored(load_scenario("3m"), seed), {1: "hard", 2: "easy"}, seed=seed, **{"max_units": 64, **game}
        )
        paths.append(save_replay(directory / f"g{seed}.skreplay", match, {1: "bot:hard", 2: "bot:easy"}))
    return paths


def scripted_game(match: Match) -> list[tuple[dict, list]]:
    """Plays a short game: player 1 sends three actions in its first step (one of them illegal: an enemy unit
    selected), then an explicit no_op, then nothing; returns player 1's (observation, actions) per step."""
    obs = match.reset()
    own = np.flatnonzero(obs[1]["unit_mask"] & (obs[1]["units"][:, 1] == 1))
    enemy = np.flatnonzero(obs[1]["unit_mask"] & (obs[1]["units"][:, 1] == 4))

    def select(*rows: int) -> np.ndarray:
        selected = np.full(64, -1)
        selected[: len(rows)] = rows
        return selected

    move = {
        "action_type": 3,
        "selected_units": select(own[0]),
        "target_unit": -1,
        "target_location": np.array([10, 12]),
        "queued": 0,
    }
    hold = {
        "action_type": 2,
        "selected_units": select(own[1], own[2]),
        "target_unit": -1,
        "target_location": np.array([0, 0]),
        "queued": 0,
    }
    illegal = {**hold, "selected_units": select(enemy[0])}
    sent = [[move, illegal, hold], [{"action_type": 0}], []]
    steps = []
    for actions, reply in zip(sent, [[], [move | {"selected_units": select(own[0])}], []], strict=True):
        steps.append((obs[1], actions))
        obs = match.step({1: actions, 2: reply})[0]
    return steps


def scripted_replay(path: Path) -> Path:
    """``scripted_game`` recorded under a budget of 3 actions per step, so that all three are played."""
    match = Match(mirrored(load_scenario("3m"), 0), 0, max_units=64, record=True, lenient=True, actions_per_step=3)
    scripted_game(match)
    return save_replay(path, match, {1: "script", 2: "script"})


@pytest.fixture(scope="module")
def replays(tmp_path_factory) -> list[Path]:
    return record(tmp_path_factory.mktemp("replays"))


def all_sequences(data: BCData) -> dict[str, np.ndarray]:
    return bc_dataset.concatenate([data.load(i) for i in range(len(data.shard_paths))])


def test_sequences_shapes_first_and_valid(replays, tmp_path):
    data = prepare_data([str(p.parent) for p in replays[:1]], SETTINGS, tmp_path, progress=False)
    arrays = all_sequences(data)
    count, length = arrays["valid"].shape
    budget = data.spec["actions_per_step"]
    assert length == 8 and arrays["units"].shape == (count, 8, 64, 46)
    assert arrays["selected_units"].shape == (count, 8, budget, 64)
    assert arrays["target_location"].shape == (count, 8, budget, 2)
    assert data.manifest["counts"]["replays"] == 3 and data.counts(0.1, 0)["skipped"] == {}
    for replay_id, player in itertools.product(range(3), (1, 2)):
        mine = (arrays["replay"] == replay_id) & (arrays["player"] == player)
        first, valid = arrays["first"][mine], arrays["valid"][mine]
        assert first[0, 0] and first.sum() == 1  # only the game's first step
        flat = valid.reshape(-1)
        assert flat.all() or (not flat[flat.argmin() :].any())  # padding only at the game's end
        replay = load_replay(replays[replay_id])
        expected = [(kinds + [0] * budget)[:budget]
                    for kinds in ([a["action_type"] for a in s.actions[player]] for s in replay.steps())]  # fmt: skip
        assert arrays["action_type"][mine].reshape(-1, budget)[flat].tolist() == expected  # one sample per step
    assert arrays["valid"].sum() == data.manifest["counts"]["samples"]


@pytest.mark.parametrize(("budget", "kinds", "over"), [(1, [[3], [0], [0]], 1), (2, [[3, 2], [0, 0], [0, 0]], 0),
                                                     (3, [[3, 2, 0], [0, 0, 0], [0, 0, 0]], 0)])  # fmt: skip
def test_a_step_is_one_sample_of_its_actions_up_to_the_budget(budget, kinds, over):
    match = Match(mirrored(load_scenario("3m"), 0), 0, max_units=64, lenient=True)
    rules = ActionRules({**match.spec.to_dict(), "actions_per_step": budget})
    stats = Counter()
    samples = bc_dataset._player_samples(scripted_game(match), rules, stats)
    # move and hold (the illegal one dropped; what the budget has no room for counted), then two no_op steps
    assert [s.action["action_type"].tolist() for s in samples] == kinds
    assert samples[0].action["selected_units"].shape == (budget, 64)
    assert (samples[1].action["selected_units"] == -1).all() and (samples[1].action["target_unit"] == -1).all()
    assert stats["dropped: no selected unit can carry the action type"] == 1  # an enemy selected
    assert stats["dropped: over the action budget"] == over
    assert stats["multi_action_steps"] == (budget > 1) and stats["no_op_samples"] == 2


def test_recorded_bot_steps_teach_several_actions_per_step(replays):
    replay = load_replay(replays[0])
    rules = ActionRules({**replay.new_match().spec.to_dict(), "actions_per_step": 2})
    steps = [({k: np.array(v) for k, v in s.observations[1].items()}, list(s.actions[1])) for s in replay.steps()]
    stats = Counter()
    samples = bc_dataset._player_samples(steps, rules, stats)
    assert len(samples) == len(steps) and stats["multi_action_steps"] > 0  # the hard bot often sends two
    for sample, (_, actions) in zip(samples, steps, strict=True):
        sent = [a["action_type"] for a in actions][:2]
        assert sample.action["action_type"].tolist() == sent + [0] * (2 - len(sent))


def test_legality_is_checked_in_bounded_batches_whatever_the_resolution(monkeypatch):
    """A player's actions were checked in one batch holding [actions, R * R] location cells (at resolution 1024 and
    the 25,000 actions a replay may hold: ~25 GB); the batches are bounded now, with the same outcome."""
    match = Match(mirrored(load_scenario("3m"), 0), 0, max_units=64, lenient=True, resolution=1024)
    obs = {key: np.array(value) for key, value in match.reset()[1].items()}
    rules = ActionRules(match.spec.to_dict())
    selections = [np.r_[[row], [-1] * 63] for row in range(6)]
    actions = [{"action_type": 3 + i % 2, "selected_units": selections[i % 6], "queued": 0,
                "target_location": np.array([i * 37 % 1024, i * 91 % 1024])} for i in range(60)]  # fmt: skip
    cells, observe = [], rules.legality.observe

    def counted(batch):
        legal = observe(batch)
        cells.append(legal.cells.numel())
        return legal

    monkeypatch.setattr(rules.legality, "observe", counted)
    chunked = rules.teachable([obs] * len(actions), actions)
    assert len(cells) > 1 and max(cells) <= bc_dataset.LEGALITY_BATCH_VALUES
    monkeypatch.setattr(bc_dataset, "LEGALITY_BATCH_VALUES", 1 << 40)
    whole = rules.teachable([obs] * len(actions), actions)
    assert cells[-1] == len(actions) * 1024 * 1024  # one batch
    assert [problem for _, problem in chunked] == [problem for _, problem in whole]
    kept = [(c, w) for (c, _), (w, _) in zip(chunked, whole, strict=True) if c is not None]
    assert 0 < len(kept) < len(actions)
    for c, w in kept:
        assert c.keys() == w.keys() and all(np.array_equal(c[k], w[k]) for k in c)


def test_a_recorded_step_of_several_actions_is_one_sample(tmp_path):
    path = scripted_replay(tmp_path / "scripted.skreplay")
    result = bc_dataset.replay_result(str(path), SETTINGS)
    assert result.skipped is None
    assert result.spec["actions_per_step"] == 3  # the replay's budget is the spec's
    player1 = result.arrays["player"] == 1
    kinds = result.arrays["action_type"][player1].reshape(-1, 3)[result.arrays["valid"][player1].reshape(-1)]
    assert kinds.tolist() == [[3, 2, 0], [0, 0, 0], [0, 0, 0]]  # move, hold (the illegal one dropped), the end
    units = result.arrays["units"][player1].reshape(-1, 64, 46)
    assert not np.array_equal(units[0], units[1])  # one sample per step
    assert result.stats["dropped: no selected unit can carry the action type"] == 1  # an enemy selected
    assert result.stats["multi_action_steps"] == 1 and result.stats["no_op_samples"] == 4
    player2 = result.arrays["action_type"][~player1].reshape(-1, 3)[result.arrays["valid"][~player1].reshape(-1)]
    assert player2.tolist() == [[0, 0, 0], [3, 0, 0], [0, 0, 0]]


def test_bad_replays_are_skipped_and_counted_by_reason(replays, tmp_path):
    truncated = tmp_path / "truncated.skreplay"
    truncated.write_bytes(replays[0].read_bytes()[:-20])
    other_grid = record(tmp_path / "grid", seeds=[7], resolution=32)[0]
    other_units = record(tmp_path / "units", seeds=[8], max_units=32)[0]
    good = load_replay(replays[1])
    body = [[[encode_action(a) for a in step[p]] for p in (1, 2)] for step in good.actions]
    desynced = tmp_path / "desync.skreplay"
    desynced.write_bytes(encode_file(dataclasses.replace(good.header, final_hash="0" * 64), body))
    files = [replays[0], truncated, other_grid, other_units, desynced]
    data = prepare_data([str(p) for p in files], SETTINGS, tmp_path / "cache", progress=False)
    assert data.manifest["counts"]["skipped"] == {"truncated in the actions": 1, "spec": 2, "desync": 1}
    assert data.manifest["counts"]["skip_reasons"]["spec"] == "spec: recorded with resolution 32, expected 64"
    assert data.manifest["counts"]["replays"] == 1
    assert set(all_sequences(data)["replay"].tolist()) == {0}  # nothing kept from the desynced replay
    with pytest.raises(DatasetError, match="no usable replays.*1 truncated"):
        prepare_data([str(truncated)], SETTINGS, tmp_path / "cache", progress=False)


def test_no_usable_replays_says_why_each_kind_was_skipped(replays, tmp_path):
    """The error showed only the kind ("(2 spec)"); the first reason of each kind is shown in full."""
    other_units = record(tmp_path / "units", seeds=[8, 9], max_units=32)
    truncated = tmp_path / "truncated.skreplay"
    truncated.write_bytes(replays[0].read_bytes()[:10])
    files = [str(p) for p in [*other_units, truncated]]
    expected = ("no usable replays among 3 files (2 spec: recorded with max_units 32, expected 64; "
                "1 truncated: 10 bytes, expected at least 28)")  # fmt: skip
    with pytest.raises(DatasetError, match=re.escape(expected)):
        prepare_data(files, SETTINGS, tmp_path / "cache", progress=False)


def test_a_crafted_replay_listed_first_does_not_decide_the_grid(replays, tmp_path):
    """The data's spec came from the first file: a resolution-1024 replay named '+evil' sorted before genuine
    ones got them all skipped as "spec" and a resolution-1024 agent built. The resolution is a setting now."""
    directory = tmp_path / "poison"
    directory.mkdir()
    for path in replays:
        (directory / path.name).write_bytes(path.read_bytes())
    evil = record(tmp_path / "grid", seeds=[5], resolution=1024)[0]
    (directory / "+evil.skreplay").write_bytes(evil.read_bytes())
    data = prepare_data([str(directory)], SETTINGS, tmp_path / "cache", progress=False)
    counts = data.manifest["counts"]
    assert counts["replays"] == len(replays) and counts["skipped"] == {"spec": 1}
    assert data.manifest["skipped"] == [[str(directory / "+evil.skreplay"),
                                         "spec: recorded with resolution 1024, expected 64"]]  # fmt: skip
    assert data.spec["location_resolution"] == 64
    wide = prepare_data([str(directory)], dataclasses.replace(SETTINGS, resolution=1024), tmp_path / "cache",
                        progress=False)  # fmt: skip
    assert wide.manifest["counts"]["replays"] == 1 and wide.spec["location_resolution"] == 1024
    assert wide.directory != data.directory  # the resolution is in the cache key


def test_cache_is_reused_and_keyed_by_settings(replays, tmp_path, monkeypatch):
    first = prepare_data([str(replays[0])], SETTINGS, tmp_path, progress=False)
    monkeypatch.setattr(bc_dataset, "build_cache", lambda *a, **k: pytest.fail("the cache should be reused"))
    assert prepare_data([str(replays[0])], SETTINGS, tmp_path, progress=False).directory == first.directory
    monkeypatch.undo()
    winner = prepare_data([str(replays[0])], dataclasses.replace(SETTINGS, players="winner"), tmp_path, progress=False)
    assert winner.directory != first.directory
    assert set(all_sequences(winner)["player"].tolist()) == {load_replay(replays[0]).header.winner}


def test_damaged_or_missing_shards_are_named_and_rebuilt_from_their_replays(replays, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(bc_dataset, "SHARD_SEQUENCES", 4)  # a shard per replay
    files = [str(p) for p in replays]
    data = prepare_data(files, SETTINGS, tmp_path, progress=False)
    paths = data.shard_paths
    assert len(paths) == 3
    whole = [p.read_bytes() for p in paths]
    paths[0].write_bytes(whole[0][: len(whole[0]) // 2])  # truncated
    paths[1].unlink()  # deleted
    flipped = bytearray(whole[2])
    flipped[len(flipped) // 2] ^= 0x10
    paths[2].write_bytes(bytes(flipped))  # one bit flipped, same size
    with pytest.raises(DatasetError, match=rf"{paths[0].name} cannot be read \(BadZipFile"):
        data.load(0)
    monkeypatch.setattr(bc_dataset, "build_cache", lambda *a, **k: pytest.fail("only the damaged shards are rebuilt"))
    with caplog.at_level(logging.WARNING, logger="pstar.bc"):
        again = prepare_data(files, SETTINGS, tmp_path, progress=False)
    for path, problem in zip(paths, ("has .* bytes, expected", "is missing", "does not match its sha256"), strict=True):
        assert re.search(rf"{path.name} {problem}.*; rebuilding it from its replays", caplog.text)
    assert [p.read_bytes() for p in again.shard_paths] == whole  # the same samples, byte for byte
    assert again.damaged() == [] and all_sequences(again)["valid"].shape[0] == data.manifest["counts"]["sequences"]


def test_a_shard_its_replays_no_longer_give_is_one_error_saying_to_delete_the_cache(replays, tmp_path):
    data = prepare_data([str(replays[0])], SETTINGS, tmp_path, progress=False)
    manifest = json.loads((data.directory / bc_dataset.MANIFEST).read_text())
    manifest["shards"][0]["sha256"] = "0" * 64  # a shard that no longer matches its record
    (data.directory / bc_dataset.MANIFEST).write_text(json.dumps(manifest))
    message = rf"shard_00000.npz is damaged and cannot be rebuilt \(its replays now give .* delete {data.directory}"
    with pytest.raises(DatasetError, match=message):
        prepare_data([str(replays[0])], SETTINGS, tmp_path, progress=False)


def test_an_unreadable_manifest_or_an_interrupted_build_rebuilds_the_cache(replays, tmp_path, monkeypatch, caplog):
    files = [str(p) for p in replays[:2]]
    calls = []

    real = bc_dataset.replay_results

    def interrupted(paths, settings):  # a build killed after its first replay
        if calls:
            raise KeyboardInterrupt
        calls.append(paths)
        return real(paths, settings)

    monkeypatch.setattr(bc_dataset, "REPLAY_BATCH", 1)
    monkeypatch.setattr(bc_dataset, "replay_results", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare_data(files, SETTINGS, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []  # no cache, not even half of one
    monkeypatch.undo()
    data = prepare_data(files, SETTINGS, tmp_path, progress=False)
    shards = [p.read_bytes() for p in data.shard_paths]
    (data.directory / bc_dataset.MANIFEST).write_text("{")
    with caplog.at_level(logging.WARNING, logger="pstar.bc"):
        again = prepare_data(files, SETTINGS, tmp_path, progress=False)
    assert f"bc cache {data.directory}: manifest.json cannot be read" in caplog.text
    assert [p.read_bytes() for p in again.shard_paths] == shards


def test_a_build_killed_midway_leaves_a_temporary_directory_the_next_build_removes(replays, tmp_path):
    script = (
        "import os, signal\n"
        "from pathlib import Path\n"
        "from training.bc.dataset import BuildSettings, prepare_data\n"
        "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"prepare_data([{str(replays[0])!r}], BuildSettings('both', 8, 64, 64), "
        f"Path({str(tmp_path)!r}), progress=False)\n"
    )
    root = Path(__file__).resolve().parents[1]
    killed = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(root)}, check=False)
    assert killed.returncode == -signal.SIGKILL
    [left] = list(tmp_path.iterdir())
    assert left.name.startswith(".") and any(left.iterdir())  # killed writing its first shard
    data = prepare_data([str(replays[0])], SETTINGS, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == [data.directory] and left.name.startswith(f".{data.directory.name}.")


def test_a_cache_dir_that_cannot_be_written_is_one_error(replays, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(UnwritableError, match=rf"bc cache_dir {blocker}: cannot be written"):
        prepare_data([str(replays[0])], SETTINGS, blocker, progress=False)


def test_split_holds_out_whole_replays(replays, tmp_path):
    data = prepare_data([str(p) for p in replays], SETTINGS, tmp_path, progress=False)
    train, held = data.split(0.1, seed=0)
    assert len(held) == 1 and len(train) == 2 and not train & held
    assert data.split(0.0, seed=0)[1] == set()
    shards = data.manifest["shards"]
    assert {shards[s]["replay"][p] for s, positions in data.items(held) for p in positions} == held


def test_stream_order_is_seeded_and_resumes_by_skipping():
    items = [(0, np.arange(5)), (1, np.arange(3)), (2, np.arange(4))]
    shards = {i: {"tag": np.arange(len(p)) + 100 * i} for i, p in items}
    order = list(epoch_order(items, seed=1, reader=0, epoch=0, buffer=4))
    assert sorted(order) == sorted((s, int(p)) for s, ps in items for p in ps)
    assert order == list(epoch_order(items, seed=1, reader=0, epoch=0, buffer=4))
    assert order != list(epoch_order(items, seed=1, reader=0, epoch=1, buffer=4))
    halves = [assign(items, r, 2) for r in range(2)]
    assert sorted(s for half in halves for s, _ in half) == [0, 1, 2]
    strided = [assign(items, r, 5) for r in range(5)]  # fewer shards than readers: every 5th sequence
    assert sum(len(p) for part in strided for _, p in part) == 12

    def tags(skip: int, count: int) -> list[int]:
        stream = SequenceStream(lambda shard: shards[shard], items, batch_size=2, seed=3, skip_batches=skip)
        return [int(s["tag"]) for s in itertools.islice(stream, count)]

    assert tags(0, 30)[10:] == tags(5, 20)  # 5 batches of 2 consumed: the resumed stream goes on identically


def count_simulations(monkeypatch) -> list[str]:
    """From now on, the name of every replay file the cache builds re-simulate, in order (a list that grows)."""
    simulated = []
    real = bc_dataset.replay_results

    def counted(paths, settings):
        simulated.extend(Path(path).name for path in paths)
        return real(paths, settings)

    monkeypatch.setattr(bc_dataset, "replay_results", counted)
    return simulated


def test_a_cache_of_more_replays_reads_those_another_cache_holds_instead_of_resimulating(replays, tmp_path,
                                                                                          monkeypatch):  # fmt: skip
    """DAgger adds games run after run: a new cache takes the replays a finished cache of the same settings holds,
    unchanged since, from there (the same sequences, counts and shard bytes as a build from scratch) and
    re-simulates only the others; a replay changed since is re-simulated."""
    prepare_data([str(p) for p in replays[:2]], SETTINGS, tmp_path / "a", progress=False)
    simulated = count_simulations(monkeypatch)
    grown = prepare_data([str(p) for p in replays], SETTINGS, tmp_path / "a", progress=False)
    assert simulated == [replays[2].name]
    fresh = prepare_data([str(p) for p in replays], SETTINGS, tmp_path / "b", progress=False)
    assert simulated == [replays[2].name, *(p.name for p in replays)]
    for key in ("counts", "replays", "spec"):
        assert grown.manifest[key] == fresh.manifest[key]
    assert [s["sha256"] for s in grown.manifest["shards"]] == [s["sha256"] for s in fresh.manifest["shards"]]
    simulated.clear()
    stat = replays[0].stat()
    os.utime(replays[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    try:
        prepare_data([str(replays[0]), str(replays[2])], SETTINGS, tmp_path / "a", progress=False)
    finally:
        os.utime(replays[0], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert simulated == [replays[0].name]


def test_a_cache_of_both_players_serves_a_build_of_the_winners_without_resimulating(replays, tmp_path, monkeypatch):
    """``players=winner`` after ``both`` on the same replays: each winner's sequences and counts come from the first
    cache (the same manifest and shard bytes as a build from scratch); a game without a winner is re-simulated (to
    be skipped, saying why), and a cache without per-player counts is not read for a subset."""
    files = [str(p) for p in replays]
    first = prepare_data(files, SETTINGS, tmp_path / "a", progress=False)
    simulated = count_simulations(monkeypatch)
    winner = dataclasses.replace(SETTINGS, players="winner")
    grown = prepare_data(files, winner, tmp_path / "a", progress=False)
    undecided = [p.name for p in replays if load_replay(p).header.winner not in (1, 2)]
    assert simulated == undecided and len(undecided) < len(replays)
    fresh = prepare_data(files, winner, tmp_path / "b", progress=False)
    for key in ("counts", "replays", "spec", "skipped"):
        assert grown.manifest[key] == fresh.manifest[key]
    assert [s["sha256"] for s in grown.manifest["shards"]] == [s["sha256"] for s in fresh.manifest["shards"]]
    assert 0 < grown.manifest["counts"]["samples"] < first.manifest["counts"]["samples"]
    both = prepare_data(files, SETTINGS, tmp_path / "c", progress=False)
    manifest = json.loads((both.directory / "manifest.json").read_text())
    for info in manifest["replays"]:
        del info["stats_by_player"]  # as a cache written before the counts were kept per player
    (both.directory / "manifest.json").write_text(json.dumps(manifest))
    simulated.clear()
    prepare_data(files, dataclasses.replace(SETTINGS, players="1"), tmp_path / "c", progress=False)
    assert simulated == [p.name for p in replays]
