"""Sequence shards on disk and the stream that feeds them to training through a torch DataLoader.

A shard is one ``.npz`` file of sequences [S, T, ...] (observation keys, action keys with each step's sub-actions [S, T,
N, ...], ``head_mask``, ``first``, ``valid``, and per sequence ``replay`` and ``player``). A :class:`SequenceStream` is
an endless, seeded stream of training sequences. Its readers, one per (rank, DataLoader worker), each take their own
shards (round-robin; when there are fewer shards with training data than readers, every reader takes every R-th sequence
instead). A reader's order in epoch ``e`` is drawn from ``(seed, reader, e)``: shards in a random order, each shard's
sequences permuted, mixed through a shuffle buffer. The order is computed on sequence indices before any data is read,
so a resumed run skips the batches it already consumed without reading them, and sees exactly the batches it would have
seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

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


def write_shard(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write one shard (compressed; plain arrays only, so it loads without pickle)."""
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


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
        info = get_worker_info()
        workers = info.num_workers if info is not None else 1
        # The loader asks its workers for batches round-robin from worker 0, so after k batches worker w delivers
        # what worker (w + k) % W delivered in the uninterrupted run: it takes that worker's place.
        worker = ((info.id if info is not None else 0) + self.skip_batches) % workers
        reader, readers = self.rank * workers + worker, self.world * workers
        items = assign(self.items, reader, readers)
        per_epoch = sum(len(p) for _, p in items)
        skip = len(range(worker, self.skip_batches, workers)) * self.batch_size
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
