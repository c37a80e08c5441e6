"""Batches whose rows each read whole games in order, so the recurrent state can flow from one sequence to the next.

``recurrent_state=carry`` trains the core as it acts: over a whole game, not from the initial state every
``sequence_length`` steps (truncated BPTT over short windows leaves the LSTM's state after hundreds of steps, the one
it acts from, unseen in training). Row ``r`` of every batch a reader yields holds the next sequence of the game that
row is reading; when its game ends the row takes the next game of the reader's order (the next game's ``first``
marks where the state starts afresh). The trainer keeps each reader's final state and starts its next batch from it,
detached (gradients stop at batch boundaries: truncated BPTT with the state carried, as in R2D2's stored state).

Readers are (rank, DataLoader worker) pairs, each with its own games (every R-th); a reader's game order in epoch
``e`` is drawn from ``(seed, reader, e)``. The schedule is computed from the games' lengths before any data is read,
so a resumed run skips the batches it consumed without reading them (its rows restart from the initial state).
With ``epochs=1`` and no shuffling (held-out metrics) every game is read once and rows that run out of games are
padded with sequences that are not ``valid``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from torch.utils.data import IterableDataset

from training.bc.shards import reader_place

Games = list[tuple[int, np.ndarray]]  # per game: (shard index, positions of its sequences in game order)
Slot = tuple[int, int] | None  # (game, its sequence index) of one row of one batch; None: padding


def schedule(lengths: list[int], rows: int, seed: int, reader: int, *, epochs: int | None = None,
             shuffle: bool = True) -> Iterator[list[Slot]]:  # fmt: skip
    """Per batch, what each of ``rows`` rows reads, for games of ``lengths`` sequences (endless unless ``epochs``)."""
    if not lengths:
        raise ValueError("a game stream needs at least one game")

    def order() -> Iterator[int]:
        epoch = 0
        while epochs is None or epoch < epochs:
            rng = np.random.default_rng([seed, reader, epoch])
            yield from (rng.permutation(len(lengths)).tolist() if shuffle else range(len(lengths)))
            epoch += 1

    games = order()
    cursor: list[list[int] | None] = [None] * rows  # per row: [game, next sequence]
    while True:
        batch: list[Slot] = []
        for row in range(rows):
            current = cursor[row]
            if current is None or current[1] == lengths[current[0]]:
                game = next(games, None)
                current = cursor[row] = None if game is None else [game, 0]
            if current is None:
                batch.append(None)
                continue
            batch.append((current[0], current[1]))
            current[1] += 1
        if all(slot is None for slot in batch):
            return
        yield batch


class GameStream(IterableDataset):
    """Sequences for one process (``rank`` of ``world``), ``rows`` at a time: each group of ``rows`` consecutive items
    is one batch, row ``r`` continuing the game of row ``r`` in the reader's previous batch (see the module doc).

    ``skip_batches``: batches this process already consumed (a resumed run); as ``SequenceStream``, the batches that
    follow are the uninterrupted run's when ``num_workers`` and the world size are unchanged.
    """

    def __init__(
        self,
        load: Callable[[int], dict[str, np.ndarray]],
        games: Games,
        *,
        rows: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        skip_batches: int = 0,
        epochs: int | None = None,
        shuffle: bool = True,
    ) -> None:
        super().__init__()
        self.load, self.games, self.rows, self.seed = load, games, rows, seed
        self.rank, self.world, self.skip_batches = rank, world, skip_batches
        self.epochs, self.shuffle = epochs, shuffle

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        reader, readers, skip = reader_place(self.rank, self.world, self.skip_batches)
        mine = self.games[reader::readers]
        if not mine:
            raise ValueError(f"only {len(self.games)} games for {readers} readers (processes x workers)")
        loaded: dict[int, dict[str, np.ndarray]] = {}
        last: list[dict[str, np.ndarray] | None] = [None] * self.rows
        plan = schedule([len(p) for _, p in mine], self.rows, self.seed, reader, epochs=self.epochs,
                        shuffle=self.shuffle)  # fmt: skip
        for number, batch in enumerate(plan):
            if number < skip:
                continue
            needed = {mine[slot[0]][0] for slot in batch if slot is not None}
            for shard in set(loaded) - needed:
                del loaded[shard]
            for row, slot in enumerate(batch):
                if slot is None:
                    yield padding(last[row] if last[row] is not None else next(s for s in last if s is not None))
                    continue
                shard, positions = mine[slot[0]]
                if shard not in loaded:
                    loaded[shard] = self.load(shard)
                last[row] = {key: values[positions[slot[1]]] for key, values in loaded[shard].items()}
                yield last[row]


def padding(sequence: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A sequence like ``sequence`` that teaches nothing and starts afresh (a row with no game left)."""
    pad = dict(sequence)
    pad["valid"] = np.zeros_like(sequence["valid"])
    pad["first"] = np.zeros_like(sequence["first"])
    pad["first"][0] = True
    return pad
