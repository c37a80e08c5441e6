"""Crafted and damaged .SC2Replay files: a decompression bomb is refused before mpyq or sc2reader inflate it, and a
fuzz of mutated replays lets only ReplayReadError out (``pytest tests/test_sc2replay_safety.py -s`` prints counts)."""

from __future__ import annotations

import bz2
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("s2protocol")
pytest.importorskip("sc2reader")
mpyq = pytest.importorskip("mpyq")

from envs.sc2replay import ReplayReadError, read_replay  # noqa: E402
from envs.sc2replay.protocol import MAX_UNPACKED_BYTES  # noqa: E402

REPLAYS = Path(__file__).resolve().parents[2] / "shared" / "sc2_replays"
SOURCE = REPLAYS / "sc2reader_4.3.0.64469_PvT_vsAI_VeryEasy.SC2Replay"
pytestmark = pytest.mark.skipif(not SOURCE.is_file(), reason=f"the shared replay {SOURCE.name} is missing")


def bomb(source: Path, size: int) -> bytes:
    """``source`` with its game events replaced by bzip2 data of ``size`` zero bytes (80 bytes for 64 MiB), in the
    space the events had: the archive's tables and sizes are untouched, only what the events inflate to changes."""
    archive = mpyq.MPQArchive(str(source), listfile=False)
    block = archive.block_table[archive.get_hash_table_entry("replay.game.events").block_table_index]
    stream, zeros = bz2.BZ2Compressor(9), bytes(1 << 20)
    data = b"\x10" + b"".join([*(stream.compress(zeros) for _ in range(size >> 20)), stream.flush()])
    assert len(data) <= block.archived_size
    blob = bytearray(source.read_bytes())
    start = archive.header["offset"] + block.offset
    blob[start : start + len(data)] = data
    return bytes(blob)


def test_a_decompression_bomb_is_refused_in_bounded_memory(tmp_path):
    path = tmp_path / "bomb.SC2Replay"
    path.write_bytes(bomb(SOURCE, 2 * MAX_UNPACKED_BYTES))
    assert path.stat().st_size == SOURCE.stat().st_size
    tracemalloc.start()
    try:
        with pytest.raises(ReplayReadError, match=f"bomb.SC2Replay: too large: .* more than {MAX_UNPACKED_BYTES}"):
            read_replay(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20  # counted in 1 MiB pieces; mpyq would have held all 64 MiB
    print(f"\nSC2 bomb: {path.stat().st_size} bytes, {2 * MAX_UNPACKED_BYTES} inside, read peak {peak / 2**20:.1f} MiB")
    path.write_bytes(bomb(SOURCE, 1 << 20))  # a small one gets through the size check and fails as corrupt events
    with pytest.raises(ReplayReadError, match="corrupt"):
        read_replay(path)


def mutate(blob: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    kind = ["truncate", "flip", "flip_many"][int(rng.integers(3))]
    if kind == "truncate":
        return kind, blob[: int(rng.integers(len(blob)))]
    out = bytearray(blob)
    for _ in range(1 if kind == "flip" else int(rng.integers(2, 20))):
        i = int(rng.integers(len(out)))
        out[i] ^= 1 << int(rng.integers(8))
    return kind, bytes(out)


def test_fuzz_only_replay_read_errors_escape(tmp_path):
    tries, rng, blob = 200, np.random.default_rng(15), SOURCE.read_bytes()
    outcomes: Counter = Counter()
    for i in range(tries):
        kind, data = mutate(blob, rng)
        path = tmp_path / f"m{i}.SC2Replay"
        path.write_bytes(data)
        try:
            read_replay(path)
            outcome = "read"
        except ReplayReadError as err:
            outcome = f"ReplayReadError: {err.problem.split(':')[0]}"
        outcomes[outcome] += 1
        outcomes[f"kind {kind}"] += 1
        path.unlink()
    assert outcomes["read"] < tries and len([k for k in outcomes if k.startswith("ReplayReadError")]) >= 3
    print(f"\nSC2 fuzz: {tries} files tried")
    for key, n in sorted(outcomes.items(), key=lambda kv: (kv[0].startswith("kind"), -kv[1])):
        print(f"  {n:5d}  {key}")


def test_a_replay_with_more_commands_than_the_limit_is_refused(monkeypatch):
    # a crafted file within the byte limits could still hold millions of commands, each a sample kept in memory
    import envs.sc2replay.reader as reader

    assert read_replay(SOURCE).num_samples == 38
    monkeypatch.setattr(reader, "MAX_COMMANDS", 10)
    with pytest.raises(ReplayReadError, match="too large: more than 10 commands"):
        read_replay(SOURCE)
