"""Crafted and damaged .skreplay files: every problem is a ReplayError naming the file, sizes are bounded before
anything is built, batch BC skips and counts such files, and a fuzz of mutated replays lets only ReplayError out.

The crafted files carry valid CRC-32s (built with the reader's framing), so they get past the integrity check and
reach the decoder, as an attacker's would. ``python -m pytest tests/test_replay_safety.py -s`` prints the fuzz counts.
"""

from __future__ import annotations

import dataclasses
import json
import struct
import tracemalloc
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from envs.skirmish.botgame import mirrored, play_bot_game
from envs.skirmish.bots import make_bot
from envs.skirmish.match import Match
from envs.skirmish.replay import (
    FORMAT_VERSION,
    LIMITS,
    MAGIC,
    ReplayError,
    encode_file,
    load_header,
    load_replay,
    read_replays,
    save_replay,
)
from envs.skirmish.scenario import load_scenario
from training.bc.cli import main as bc_main
from training.bc.dataset import BuildSettings, replay_result

MAX_UNITS = 64  # the BC default (pstar bc at 16 or 32 fails in the agent report, an agents/ matter)
SETTINGS = BuildSettings(players="both", sequence_length=8, max_units=MAX_UNITS, resolution=64)


def framed(head: bytes, body: bytes) -> bytes:
    """A replay file around already compressed sections, with the CRC-32s the reader checks."""
    crcs = zlib.crc32(head), zlib.crc32(body)
    return struct.pack("<8sHHIIII", MAGIC, FORMAT_VERSION, 0, len(head), crcs[0], len(body), crcs[1]) + head + body


def sections(blob: bytes) -> tuple[bytes, bytes]:
    """The decompressed header and actions JSON of a replay file."""
    _, _, _, head_len, _, body_len, _ = struct.unpack_from("<8sHHIIII", blob)
    return zlib.decompress(blob[28 : 28 + head_len]), zlib.decompress(blob[28 + head_len : 28 + head_len + body_len])


def reframed(head_json: bytes, body_json: bytes) -> bytes:
    return framed(zlib.compress(head_json), zlib.compress(body_json))


@pytest.fixture(scope="module")
def base_replays(tmp_path_factory) -> list[Path]:
    return record_bases(tmp_path_factory.mktemp("base"))


def record_bases(directory: Path) -> list[Path]:
    """Two small real games: mirrored 3m (its scenario stored in the header) and a lenient 3m with illegal actions
    recorded, some beyond int64 (stored as malformed)."""
    match = play_bot_game(mirrored(load_scenario("3m"), 1), {1: "hard", 2: "medium"}, seed=1, max_units=MAX_UNITS)
    paths = [save_replay(directory / "mirrored.skreplay", match, {1: "bot:hard", 2: "bot:medium"})]
    match = Match("3m", 2, lenient=True, record=True, max_units=MAX_UNITS)
    obs, bot, rng = match.reset(), make_bot("medium", 2, 0), np.random.default_rng(0)
    for t in range(20):
        mine = {"action_type": int(rng.integers(0, 7)), "selected_units": np.r_[rng.integers(0, 6, 2), [-1] * 62],
                "target_unit": int(rng.integers(-1, 6)), "target_location": rng.integers(0, 64, 2), "queued": 0}
        junk = [{"action_type": 2**70}] if t % 4 == 0 else []  # illegal, and no int64: stored as malformed
        obs, _, term, trunc, _ = match.step({1: [mine, *junk], 2: bot.act(obs[2], match.spec)})
        if term or trunc:
            break
    paths.append(save_replay(directory / "lenient.skreplay", match, {1: "policy:random", 2: "bot:medium"}))
    return paths


def with_body(blob: bytes, edit) -> bytes:
    head, body = sections(blob)
    return reframed(head, json.dumps(edit(json.loads(body))).encode())


def first_action_with(body: list, index: int) -> list:
    return next(a for step in body for a in step[0] if a[0] != "malformed" and a[index] is not None)


# --------------------------------------------------------------------------------------- the cases


def crafted_files(base: Path) -> dict[str, tuple[bytes, str]]:
    """Each reproduction of issue 15 (items 3 and 4) as file bytes, with the problem the reader must report."""
    blob = base.read_bytes()
    head, body = sections(blob)

    def huge_selection(b):
        first_action_with(b, 1)[1][0] = 10**30
        return b

    target = first_action_with(json.loads(body), 3)[3]
    infinite = body.replace(json.dumps(target, separators=(",", ":")).encode(), b"[1e400,0]", 1)
    nested = b"[" * 100_000 + b"]" * 100_000
    header = json.loads(head)
    return {
        "selected_10e30": (with_body(blob, huge_selection), "malformed action: .*1000000000000000000000000000000"),
        "target_1e400": (reframed(head, infinite), "corrupt actions: the number 1e400 is not an integer"),
        "nan_target": (reframed(head, infinite.replace(b"1e400", b"NaN")), "corrupt actions: NaN is not a number"),
        "nested_actions": (reframed(head, nested), "corrupt actions: the JSON is nested too deeply"),
        "nested_header": (reframed(nested, body), "corrupt header: the JSON is nested too deeply"),
        "nested_players": (
            reframed(json.dumps({**header, "players": {"1": [[[[["x"]]]]], "2": "b"}}).encode(), body),
            "bad header: players is",
        ),
        "max_units_1e12": (
            reframed(json.dumps({**header, "max_units": 10**12}).encode(), body),
            "bad header: max_units is 1000000000000, expected 1..1024",
        ),
        "scenario_path": (
            reframed(json.dumps({**header, "scenario": None, "scenario_name": "/dev/zero"}).encode(), body),
            "unknown scenario: '/dev/zero' is not a shipped scenario",
        ),
        "bomb": (bomb(head), f"too large: the actions section decompresses to more than {LIMITS.actions_bytes} bytes"),
        "cpu_bomb": (idle_game(header, 400, 100, 1024), "too large: 100 steps x step_mul 1024 game loops"),
        "cpu_units": (idle_game(header, 400, 19, 1024), "too large: 400 units x 19456 game loops to re-simulate"),
        "scenario_units": (
            idle_game(header, LIMITS.scenario_units + 1, 1, 1),
            f"bad scenario: {LIMITS.scenario_units + 1} units, more than the reader's limit",
        ),
    }


def idle_game(header: dict, units: int, steps: int, step_mul: int) -> bytes:
    """The prober's CPU-time bomb: a stored scenario of ``units`` idle marines far apart with no time limit to
    speak of, ``steps`` empty steps of ``step_mul`` loops; re-simulated in full before its hash could be found wrong."""
    placements = [{"unit": "marine", "owner": 1 + i % 2, "x": 10.0 + i // 2 % 60 if i % 2 == 0 else 990.0 - i // 2 % 60,
                   "y": 10.0 + i // 120, "facing": 0.0} for i in range(units)]  # fmt: skip
    scenario = {"name": "far", "description": "", "map_width": 1000.0, "map_height": 1000.0,
                "time_limit_loops": 10**12, "placements": placements}  # fmt: skip
    crafted = {**header, "scenario": scenario, "scenario_name": "far", "steps": steps, "step_mul": step_mul}
    return reframed(json.dumps(crafted).encode(), json.dumps([[[], []]] * steps).encode())


def bomb(head_json: bytes, size: int = 64_000_000) -> bytes:
    """The issue's decompression bomb: ~94 KB on disk, ``size`` bytes of valid-looking actions JSON inside."""
    stream, unit = zlib.compressobj(9), b"[[],[]],"
    chunk = unit * (1 << 17)
    parts = [stream.compress(b"[")]
    parts += [stream.compress(chunk) for _ in range(size // len(chunk))]
    body = b"".join([*parts, stream.compress(b"[[],[]]]"), stream.flush()])
    return framed(zlib.compress(head_json), body)


def test_each_crafted_file_is_one_replay_error_naming_it(base_replays, tmp_path):
    for name, (data, message) in crafted_files(base_replays[0]).items():
        path = tmp_path / f"{name}.skreplay"
        path.write_bytes(data)
        with pytest.raises(ReplayError, match=rf"{name}\.skreplay: {message}"):
            load_replay(path)


def test_the_bomb_fails_fast_in_bounded_memory(base_replays, tmp_path):
    head, _ = sections(base_replays[0].read_bytes())
    path = tmp_path / "bomb.skreplay"
    path.write_bytes(bomb(head))
    assert 80_000 < path.stat().st_size < 100_000  # the 94 KB file, 64 MB inside
    tracemalloc.start()
    try:
        with pytest.raises(ReplayError, match="decompresses to more than"):
            load_replay(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * LIMITS.actions_bytes  # the 8 MiB output limit and its buffer, not the 97 MB inside
    print(f"\nbomb: {path.stat().st_size} bytes on disk, read peak {peak / 2**20:.1f} MiB")


def test_the_worst_file_within_the_limits_stays_small(base_replays, tmp_path):
    """As many actions as the limits allow, over as many steps: decoded within ~100 MB (measured ~62 MiB)."""
    header = dataclasses.replace(load_header(base_replays[0]), steps=LIMITS.steps, step_mul=1)
    per, extra = divmod(LIMITS.actions, LIMITS.steps)
    body = [[[[0, None, None, None, None]] * (per + (i < extra)), []] for i in range(LIMITS.steps)]
    path = tmp_path / "widest.skreplay"
    path.write_bytes(encode_file(header, body))
    tracemalloc.start()
    try:
        replay = load_replay(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(len(step[1]) for step in replay.actions) == LIMITS.actions
    assert peak < 100 * 2**20
    print(f"\nwidest file within the limits: {path.stat().st_size} bytes, read peak {peak / 2**20:.1f} MiB")
    over = [[[[0, None, None, None, None]] * (per + 1), []] for _ in range(LIMITS.steps)]
    path.write_bytes(encode_file(header, over))
    with pytest.raises(ReplayError, match=f"too large: {LIMITS.steps * (per + 1)} actions, more than"):
        load_replay(path)


def test_integers_beyond_int64_are_stored_as_malformed_and_read_back(tmp_path):
    match = Match("3m", 0, lenient=True, record=True, max_units=MAX_UNITS)
    match.step({1: [{"action_type": 2**70}], 2: None})
    replay = load_replay(save_replay(tmp_path / "big.skreplay", match, {1: "a", 2: "b"}))
    assert list(replay.actions[0][1][0]) == ["malformed"]
    replay.verify()


def test_batch_bc_skips_and_counts_every_crafted_file(base_replays, tmp_path, capsys):
    directory = tmp_path / "replays"
    directory.mkdir()
    for path in base_replays:
        (directory / path.name).write_bytes(path.read_bytes())
    crafted = crafted_files(base_replays[0])
    for name, (data, _) in crafted.items():
        (directory / f"{name}.skreplay").write_bytes(data)
    batch = read_replays([directory])
    assert sorted(r.path.name for r in batch) == sorted(p.name for p in base_replays)
    assert len(batch.skipped) == len(crafted)
    for name in crafted:  # the BC reader (one worker process's work) never raises
        assert replay_result(str(directory / f"{name}.skreplay"), SETTINGS).skipped
    argv = [f"replays=[{directory}]", "sequence_length=8", f"max_units={MAX_UNITS}", "batch_size=2", "steps=1",
            "eval_every=0", "log_every=1", "val_fraction=0", f"cache_dir={tmp_path / 'cache'}",
            f"run_root={tmp_path / 'runs'}", "name=crafted", "device=cpu", "threads=1"]  # fmt: skip
    assert bc_main(["--quiet", *argv]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "skipped:" in line)
    for kind, n in batch.counts().items():
        assert f"{n} {kind}" in line
    assert "bc: data 2 replays" in line


# ------------------------------------------------------------------------------------------------- fuzz

TOKENS = [
    "1e400", "-1e400", "NaN", "Infinity", "-Infinity", "3.5", "1" * 40, str(2**63), str(-(2**63) - 1), "9" * 5000,
    str(2**63 - 1), str(-(2**63)), str(2**62), "-2", "-1", "0", "1", "2", "5", "63", "64", "true", "null", '"x"',
    '"malformed"', "[]", "{}", '{"a": 1}', "[" * 3000 + "]" * 3000,
    "[[[[[[[[1]]]]]]]]", "[" + ",".join(["7"] * 200) + "]", '"\\ud800"', '"' + "y" * 1000 + '"',
]  # fmt: skip


def _nodes(value, path=()):
    yield path
    if isinstance(value, list):
        for i, v in enumerate(value):
            yield from _nodes(v, (*path, i))
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _nodes(v, (*path, k))


def _replace(text: bytes, rng: np.random.Generator) -> bytes:
    """The JSON with one random value (a leaf or a whole list/object) replaced by a crafted token."""
    data = json.loads(text)
    nodes = list(_nodes(data))
    target = nodes[int(rng.integers(len(nodes)))]
    sentinel = "\u0000sentinel"
    if not target:
        data = sentinel
    else:
        parent = data
        for key in target[:-1]:
            parent = parent[key]
        parent[target[-1]] = sentinel
    token = TOKENS[int(rng.integers(len(TOKENS)))]
    return json.dumps(data).replace(json.dumps(sentinel), token).encode()


def _flip(data: bytes, rng: np.random.Generator, flips: int) -> bytes:
    out = bytearray(data)
    for _ in range(flips):
        i = int(rng.integers(len(out)))
        out[i] ^= 1 << int(rng.integers(8))
    return bytes(out)


def mutate(blob: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """One mutated replay: (how it was made, its bytes)."""
    head, body = sections(blob)
    kind = ["truncate", "flip", "flip_fixed", "value_fixed", "prefix", "resize"][int(rng.integers(6))]
    if kind == "truncate":
        return kind, blob[: int(rng.integers(len(blob)))]
    if kind == "flip":  # the CRC-32 is left as it was
        return kind, _flip(blob, rng, int(rng.integers(1, 5)))
    in_header = bool(rng.integers(2))
    if kind == "flip_fixed":  # bit flips in the JSON text, CRC-32s recomputed
        head, body = (_flip(head, rng, int(rng.integers(1, 4))), body) if in_header else (head, _flip(body, rng, 1))
    elif kind == "value_fixed":
        head, body = (_replace(head, rng), body) if in_header else (head, _replace(body, rng))
    elif kind == "prefix":  # random section sizes, version or reserved bytes over a valid file
        fields = list(struct.unpack_from("<8sHHIIII", blob))
        i = int(rng.choice([1, 2, 3, 5]))
        fields[i] = int(rng.integers(0, 2**16 if i < 3 else 2**32))
        return kind, struct.pack("<8sHHIIII", *fields) + blob[28:]
    else:  # resize: the header's numbers set to the edges of (and past) the limits
        data = json.loads(head)
        keys = ["max_units", "steps", "step_mul", "resolution", "actions_per_step", "seed", "winner"]
        key = keys[int(rng.integers(len(keys)))]
        data[key] = int(rng.choice([-1, 0, 1, 2, 3, LIMITS.max_units, LIMITS.steps, 2**63, 10**12]))
        head = json.dumps(data).encode()
    return kind, reframed(head, body)


def fuzz(bases: list[Path], tries: int, seed: int, directory: Path) -> Counter:
    """Feed ``tries`` mutated replays through the reader, re-simulation and the BC reader; counts of outcomes
    ("kind -> outcome"). Anything but a ReplayError from the reader, or an exception from the BC reader, escapes."""
    rng = np.random.default_rng(seed)
    outcomes: Counter = Counter()
    blobs = [p.read_bytes() for p in bases]
    for i in range(tries):
        kind, data = mutate(blobs[i % len(blobs)], rng)
        path = directory / f"m{i}.skreplay"
        path.write_bytes(data)
        try:
            replay = load_replay(path)
            for _ in replay.steps():
                pass
            outcome = "read and re-simulated"
        except ReplayError as err:
            outcome = f"ReplayError: {err.problem.split(':')[0]}"
        skipped = replay_result(str(path), SETTINGS).skipped
        if outcome == "read and re-simulated":
            assert skipped is None or skipped.startswith(("spec:", "empty:")), skipped
        else:
            assert skipped is not None
        outcomes[outcome] += 1
        outcomes[f"kind {kind}"] += 1
        path.unlink()
    return outcomes


def test_fuzz_only_replay_errors_escape(base_replays, tmp_path):
    tries = 300
    outcomes = fuzz(base_replays, tries, seed=15, directory=tmp_path)
    errors = {k: v for k, v in outcomes.items() if k.startswith("ReplayError")}
    assert sum(v for k, v in outcomes.items() if not k.startswith("kind ")) == tries
    assert len(errors) >= 8  # the mutations reach many different checks, not only the CRC
    assert outcomes["ReplayError: corrupt actions"] + outcomes["ReplayError: corrupt header"] > 0
    assert outcomes["ReplayError: malformed action"] > 0 and outcomes["ReplayError: bad header"] > 0
    print(f"\nfuzz: {tries} files tried")
    for key, n in sorted(outcomes.items(), key=lambda kv: (kv[0].startswith("kind"), -kv[1])):
        print(f"  {n:5d}  {key}")
