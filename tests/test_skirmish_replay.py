"""Skirmish replays: round trip to the same observations and hash, determinism, desync and corrupt-file errors,
the batch reader, and the ``pstar replays`` commands."""

from __future__ import annotations

import dataclasses
import json
import struct
import zlib

import numpy as np
import pytest

from envs.contract.action import MalformedActionError
from envs.skirmish.botgame import apply_cheats, bot_seed, play_bot_game
from envs.skirmish.bots import make_bot
from envs.skirmish.generator import random_scenario
from envs.skirmish.match import Match
from envs.skirmish.replay import (
    MAGIC,
    ReplayDesyncError,
    ReplayError,
    encode_action,
    encode_file,
    load_header,
    load_replay,
    read_replays,
    save_replay,
)
from envs.skirmish.scenario import load_scenario, scenario_names
from training.replays_cli import main as replays_main

PLAYERS = {1: "bot:hard", 2: "bot:medium"}


def _play_collecting(scenario, levels, seed, **kwargs):
    """A bot game like play_bot_game, keeping every observation the players received."""
    built, see_all = apply_cheats(load_scenario(scenario) if isinstance(scenario, str) else scenario, levels)
    match = Match(built, seed, see_all=see_all, record=True, **kwargs)
    bots = {p: make_bot(levels[p], p, bot_seed(seed, p)) for p in (1, 2)}
    obs = match.reset()
    seen = []
    while not match.engine.done:
        seen.append(obs)
        obs, *_ = match.step({p: bots[p].act(obs[p], match.spec) for p in (1, 2)})
    return match, seen


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    match, seen = _play_collecting("2s3z", {1: "hard", 2: "medium"}, seed=3, max_units=32)
    path = save_replay(tmp_path_factory.mktemp("rp") / "game.skreplay", match, PLAYERS)
    return match, seen, path


def test_round_trip_same_observations_actions_and_hash(recorded):
    match, seen, path = recorded
    replay = load_replay(path)
    h = replay.header
    assert (h.scenario_name, h.scenario, h.seed, h.max_units, h.players) == ("2s3z", None, 3, 32, PLAYERS)
    assert (h.winner, h.steps, h.game_loops, h.final_hash) == (
        match.winner, len(match.actions_log), match.engine.loop, match.engine.state_hash())
    assert load_header(path) == h
    steps = list(replay.steps())  # raises ReplayDesyncError on a hash mismatch
    assert len(steps) == len(seen) == h.steps
    for step, original, logged in zip(steps, seen, match.actions_log, strict=True):
        for p in (1, 2):
            for key, value in original[p].items():
                np.testing.assert_array_equal(step.observations[p][key], value)
            assert [encode_action(a) for a in step.actions[p]] == [encode_action(a) for a in logged[p]]
    assert steps[-1].game_loop < h.game_loops <= steps[-1].game_loop + h.step_mul
    assert replay.replay().engine.state_hash() == h.final_hash


def test_same_game_gives_the_same_bytes(tmp_path):
    paths = []
    for k in range(2):
        match = play_bot_game("3m", {1: "medium", 2: "hard"}, seed=5)
        paths.append(save_replay(tmp_path / f"{k}.skreplay", match, PLAYERS))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert len(paths[0].read_bytes()) < 2000  # compact: a few hundred bytes for a short 3m game


def test_generated_scenario_with_cheats_and_fog_round_trips(tmp_path):
    match = play_bot_game(random_scenario(11), {1: "cheat_insane", 2: "hard"}, seed=11, fog=True)
    path = save_replay(tmp_path / "gen.skreplay", match, {1: "bot:cheat_insane", 2: "bot:hard"})
    replay = load_replay(path)
    assert replay.header.scenario is not None  # not a shipped scenario: stored in full
    assert replay.header.see_all == [1] and replay.header.fog
    assert replay.scenario == match.scenario
    replay.verify()


SLOW_SCENARIOS = {"mixed_256v256", "64v64_mixed", "zealots_vs_zerglings_corridor"}  # > 1 s each


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=[pytest.mark.slow] if n in SLOW_SCENARIOS else []) for n in scenario_names()]
)
def test_every_shipped_scenario_round_trips_with_fog_and_cheats(name, tmp_path):
    seed = len(name)
    match = play_bot_game(name, {1: "harder", 2: "cheat_insane"}, seed=seed, fog=seed % 2 == 0, max_units=64)
    replay = load_replay(save_replay(tmp_path / "g.skreplay", match, {1: "bot:harder", 2: "bot:cheat_insane"}))
    assert replay.replay().engine.state_hash() == match.engine.state_hash()


def test_lenient_game_with_illegal_actions_re_simulates_and_malformed_ones_raise(tmp_path):
    match = Match("3m", 2, lenient=True, record=True, max_units=16)
    rng = np.random.default_rng(0)
    obs = match.reset()
    bot = make_bot("medium", 2, 0)
    malformed = [
        {"action_type": 3, "selected_units": [0] + [-1] * 63, "target_location": [1.5, 2.0], "queued": 0},
        {"action_type": 3, "selected_units": np.full(64, -1)},  # missing target_location
        {"action_type": 0, "bogus": 1},
        "not an action",
    ]
    illegal = 0
    for t in range(25):
        mine = {"action_type": int(rng.integers(0, 7)), "selected_units": np.r_[rng.integers(0, 6, 2), [-1] * 62],
                "target_unit": int(rng.integers(-1, 6)), "target_location": rng.integers(0, 64, 2), "queued": 0}
        reply = bot.act(obs[2], match.spec)
        if t % 3 == 0:  # lenient is for the game's rules: a malformed action raises before anything is played
            state = match.engine.state_hash()
            with pytest.raises(MalformedActionError):
                match.step({1: [mine, malformed[t % len(malformed)]], 2: reply})
            assert match.engine.state_hash() == state
        obs, _, term, trunc, infos = match.step({1: mine, 2: reply})
        illegal += infos[1]["illegal_actions"]
        if term or trunc:
            break
    path = save_replay(tmp_path / "lenient.skreplay", match, {1: "policy:random", 2: "bot:medium"})
    replay = load_replay(path)
    assert sum(s.infos[1]["illegal_actions"] for s in replay.steps()) == illegal > 0


def _rewrite(src, dst, header=None, body=None):
    replay = load_replay(src)
    blob = src.read_bytes()
    _, _, _, head_len, _, body_len, _ = struct.unpack_from("<8sHHIIII", blob)
    stored = json.loads(zlib.decompress(blob[28 + head_len : 28 + head_len + body_len]))
    dst.write_bytes(encode_file(header or replay.header, body(stored) if body else stored))
    return dst


def test_tampered_replays_raise_desync_naming_the_file(recorded, tmp_path):
    _, _, path = recorded
    header = load_header(path)
    bad_hash = _rewrite(path, tmp_path / "hash.skreplay", header=dataclasses.replace(header, final_hash="0" * 64))
    with pytest.raises(ReplayDesyncError, match=r"hash\.skreplay: desync: final state hash"):
        load_replay(bad_hash).verify()

    def no_op_everything(body):
        return [[[[0, None, None, None, None]], acts[1]] for acts in body]

    bad_actions = _rewrite(path, tmp_path / "acts.skreplay", body=no_op_everything)
    with pytest.raises(ReplayDesyncError, match=r"acts\.skreplay: desync"):
        for _ in load_replay(bad_actions).steps():
            pass
    bad_seed = _rewrite(path, tmp_path / "seed.skreplay", header=dataclasses.replace(header, seed=header.seed + 1))
    with pytest.raises(ReplayDesyncError, match="seed.skreplay"):
        load_replay(bad_seed).verify()


def test_truncated_corrupt_and_foreign_files_raise_clear_errors(recorded, tmp_path):
    _, _, path = recorded
    blob = path.read_bytes()
    cases = {
        "empty": (b"", "truncated"),
        "short": (blob[:10], "truncated: 10 bytes"),
        "cut_header": (blob[:40], "truncated in the header"),
        "cut_body": (blob[:-5], "truncated in the actions"),
        "flipped": (blob[:-3] + bytes([blob[-3] ^ 0xFF]) + blob[-2:], "corrupt actions: CRC-32 mismatch"),
        "trailing": (blob + b"xx", "trailing bytes: 2 unexpected bytes after the actions"),
        "magic": (b"PK\x03\x04" + blob[4:], "not a Skirmish replay"),
        "version": (blob[:8] + struct.pack("<H", 99) + blob[10:],
                    "unsupported format version: 99,.* reads \\(2, 3, 4\\)"),
    }
    for name, (data, message) in cases.items():
        bad = tmp_path / f"{name}.skreplay"
        bad.write_bytes(data)
        with pytest.raises(ReplayError, match=rf"{name}\.skreplay: .*{message}"):
            load_replay(bad)
    with pytest.raises(ReplayError, match="missing.skreplay: cannot be read: No such file"):
        load_replay(tmp_path / "missing.skreplay")
    head = zlib.compress(json.dumps({"engine_version": "1"}).encode())
    body = zlib.compress(b"[]")
    prefix = struct.pack("<8sHHIIII", MAGIC, 2, 0, len(head), zlib.crc32(head), len(body), zlib.crc32(body))
    (tmp_path / "fields.skreplay").write_bytes(prefix + head + body)
    with pytest.raises(ReplayError, match="fields.skreplay: bad header: field 'scenario_name' is missing"):
        load_replay(tmp_path / "fields.skreplay")


def test_batch_reader_skips_and_counts_bad_files(recorded, tmp_path):
    _, _, path = recorded
    good = [tmp_path / "a.skreplay", tmp_path / "b.skreplay"]
    for g in good:
        g.write_bytes(path.read_bytes())
    (tmp_path / "c.skreplay").write_bytes(path.read_bytes()[:50])
    (tmp_path / "d.skreplay").write_bytes(b"garbage" * 10)
    _rewrite(path, tmp_path / "e.skreplay", header=dataclasses.replace(load_header(path), final_hash="f" * 64))
    batch = read_replays([tmp_path])
    assert [r.path.name for r in batch] == ["a.skreplay", "b.skreplay", "e.skreplay"]
    assert [p.name for p, _ in batch.skipped] == ["c.skreplay", "d.skreplay"]
    assert batch.counts() == {"truncated in the header": 1, "not a Skirmish replay": 1}
    verified = read_replays(sorted(tmp_path.glob("*.skreplay")), verify=True)
    assert len(list(verified)) == 2 and verified.loaded == 2
    assert verified.counts()["desync"] == 1
    stepping = read_replays([tmp_path])
    n = sum(1 for _ in stepping.steps())
    assert n == 3 * load_header(path).steps and stepping.loaded == 2 and len(stepping.skipped) == 3


def test_save_replay_needs_a_recording_match(tmp_path):
    match = Match("3m", 0)
    match.step({1: None, 2: None})
    with pytest.raises(ValueError, match="record=True"):
        save_replay(tmp_path / "x.skreplay", match, PLAYERS)


def test_replays_cli_record_and_info(tmp_path, capsys):
    out = tmp_path / "rec"
    argv = ["record", "--games", "4", "--scenarios", "3m", "random", "--p1", "medium", "--p2", "easy", "hard",
            "--workers", "2", "--out", str(out), "--max-units", "32", "--quiet"]
    assert replays_main(argv) == 0
    files = sorted(out.glob("*.skreplay"))
    assert [f.name.split("_s")[0] for f in files] == [
        "00000_3m_medium_vs_easy", "00001_random_medium_vs_easy", "00002_3m_medium_vs_hard",
        "00003_random_medium_vs_hard"]  # fmt: skip
    assert "recorded 4 games" in capsys.readouterr().out
    assert replays_main(["info", str(files[1])]) == 0
    text = capsys.readouterr().out
    assert "bot:medium" in text and "stored in the file" in text and "verify   ok" in text
    (tmp_path / "bad.skreplay").write_bytes(files[0].read_bytes()[:-1])
    assert replays_main(["info", "--no-verify", str(files[0]), str(tmp_path / "bad.skreplay")]) == 1
    text = capsys.readouterr().out
    assert "verify" not in text and "INVALID: truncated in the actions" in text
    assert replays_main(["record", "--scenarios", "nope", "--out", str(out)]) == 2
