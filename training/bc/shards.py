"""Sequence shards on disk and the stream that feeds them to training through a torch DataLoader.

A shard is one ``.npz`` file of sequences [S, T, ...] (observation keys, action keys with each step's sub-actions [S, T,
N, ...], ``head_mask``, ``first``, ``valid``, and per sequence ``replay`` and ``player``), written atomically, the same
bytes for the same sequences, its size and sha256 recorded in the cache's manifest. A :class:`SequenceStream` is
an endless, seeded stream of training sequences. Its readers, one per (rank, DataLoader worker), each take their own
shards (round-robin; when there are fewer shards with training data than readers, every reader takes every R-th sequence
instead). A reader's order in epoch ``e`` is drawn from ``(seed, reader, e)``: shards in a random order, each shard's
sequences permuted, mixed through a shuffle buffer. The order is computed on sequence indices before any data is read,
so a resumed run skips the batches it already consumed without reading them, and sees exactly the batches it would have
seen.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from envs.contract.observation import OBS_KEYS

ACTION_DTYPES = {
    "action_type": np.int16,
    "selected_units": np.int16,
    "target_unit": np.int16,
    "target_location": np.int16,
    "queued": np.int8,
}
HEAD_MASK = "head_mask"  # bool [..., len(HEADS)]: which heads a sample teaches (.SC2Replay samples: two of five)
SEQUENCE_KEYS = (*OBS_KEYS, *ACTION_DTYPES, HEAD_MASK, "first", "valid")

Batch = dict[str, torch.Tensor]
Items = list[tuple[int, np.ndarray]]  # per shard: (shard index, positions of the sequences to use)


ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # every member's timestamp: the same arrays always give the same bytes


def shard_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """One shard as the bytes of a compressed ``.npz`` (plain arrays only, so it loads without pickle); the same
    arrays always give the same bytes, so a shard rebuilt from its replays can be checked against its sha256."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, values in arrays.items():
            member = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(member, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(values), allow_pickle=False)
    return buffer.getvalue()


def write_shard(path: Path, data: bytes) -> dict[str, Any]:
    """Write shard bytes to ``path`` atomically (a temporary file renamed into place, so a killed writer never
    leaves a half shard under the real name); returns its manifest record: file, bytes, sha256."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return {"file": path.name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def shard_problem(path: Path, record: dict[str, Any]) -> str | None:
    """Why the shard at ``path`` is not the one its manifest ``record`` describes (missing, another size, another
    sha256), or None."""
    try:
        size = path.stat().st_size
        if size != record["bytes"]:
            return f"has {size} bytes, expected {record['bytes']}"
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as error:
        return "is missing" if isinstance(error, FileNotFoundError) else f"cannot be read ({error.strerror or error})"
    return None if digest == record["sha256"] else "does not match its sha256 (damaged or replaced)"


def read_shard(path: Path) -> dict[str, np.ndarray]:
    """Every array of a shard, in memory."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def collate(sequences: Sequence[dict[str, np.ndarray]]) -> Batch:
    """Sequences [T, ...] -> a time-major batch [T, B, ...]: float observations, bool masks, long actions."""
    batch: Batch = {}
    for key in SEQUENCE_KEYS:
        stacked = torch.from_numpy(np.stack([s[key] for s in sequences], axis=1))
        batch[key] = stacked.long() if key in ACTION_DTYPES else stacked
    return batch


def split_obs_action(batch: Batch) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """A batch's observation dict and action dict (the agent's input formats)."""
    return {k: batch[k] for k in OBS_KEYS}, {k: batch[k] for k in ACTION_DTYPES}


def assign(items: Items, reader: int, readers: int) -> Items:
    """The items reader ``reader`` of ``readers`` reads: whole shards round-robin, or every R-th sequence."""
    if len(items) >= readers:
        return items[reader::readers]
    flat = [(shard, int(p)) for shard, positions in items for p in positions]
    if len(flat) < readers:
        raise ValueError(f"only {len(flat)} training sequences for {readers} readers (processes x workers)")
    mine: dict[int, list[int]] = {}
    for shard, position in flat[reader::readers]:
        mine.setdefault(shard, []).append(position)
    return [(shard, np.asarray(positions)) for shard, positions in mine.items()]


def epoch_order(items: Items, seed: int, reader: int, epoch: int, buffer: int) -> Iterator[tuple[int, int]]:
    """The (shard, position) order of one reader's epoch: shards shuffled, sequences permuted, a shuffle buffer."""
    rng = np.random.default_rng([seed, reader, epoch])
    pool: list[tuple[int, int]] = []
    for index in rng.permutation(len(items)):
        shard, positions = items[index]
        for position in rng.permutation(positions):
            pool.append((shard, int(position)))
            if len(pool) >= max(buffer, 1):
                pick = int(rng.integers(len(pool)))
                pool[pick], pool[-1] = pool[-1], pool[pick]
                yield pool.pop()
    rng.shuffle(pool)
    yield from pool


def reader_place(rank: int, world: int, skip_batches: int) -> tuple[int, int, int]:
    """(this reader, readers in all, batches this reader already delivered) for the calling DataLoader worker of
    process ``rank`` of ``world``, ``skip_batches`` into a run. The loader asks its workers for batches round-robin
    from worker 0, so after k batches worker w delivers what worker (w + k) % W delivered in the uninterrupted run:
    it takes that worker's place."""
    info = get_worker_info()
    workers = info.num_workers if info is not None else 1
    worker = ((info.id if info is not None else 0) + skip_batches) % workers
    return rank * workers + worker, world * workers, len(range(worker, skip_batches, workers))


class SequenceStream(IterableDataset):
    """Endless training sequences for one process (``rank`` of ``world``), split over the DataLoader's workers.

    ``skip_batches``: batches of ``batch_size`` this process already consumed (a resumed run). The batches that
    follow are the uninterrupted run's when the DataLoader's ``num_workers`` and the world size are unchanged.
    """

    def __init__(
        self,
        load: Callable[[int], dict[str, np.ndarray]],
        items: Items,
        *,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        buffer: int = 256,
        skip_batches: int = 0,
    ) -> None:
        super().__init__()
        self.load, self.items = load, items
        self.batch_size, self.seed, self.rank, self.world = batch_size, seed, rank, world
        self.buffer, self.skip_batches = buffer, skip_batches

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        reader, readers, skip = reader_place(self.rank, self.world, self.skip_batches)
        items = assign(self.items, reader, readers)
        per_epoch = sum(len(p) for _, p in items)
        skip *= self.batch_size
        epoch, skip = divmod(skip, per_epoch)
        while True:
            remaining = {shard: len(p) for shard, p in items}
            loaded: dict[int, dict[str, np.ndarray]] = {}
            for shard, position in epoch_order(items, self.seed, reader, epoch, self.buffer):
                remaining[shard] -= 1
                if skip > 0:
                    skip -= 1
                else:
                    if shard not in loaded:
                        loaded[shard] = self.load(shard)
                    yield {key: values[position] for key, values in loaded[shard].items()}
                if remaining[shard] == 0:
                    loaded.pop(shard, None)
            epoch += 1


def batches(load: Callable[[int], dict[str, np.ndarray]], items: Items, batch_size: int) -> Iterator[Batch]:
    """The sequences of ``items`` in order, as batches (the held-out split; the last batch may be smaller)."""
    pending: list[dict[str, np.ndarray]] = []
    for shard, positions in items:
        arrays = load(shard)
        for position in positions:
            pending.append({key: values[position] for key, values in arrays.items()})
            if len(pending) == batch_size:
                yield collate(pending)
                pending = []
    if pending:
        yield collate(pending)
