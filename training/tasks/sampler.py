"""The training data order: one seeded permutation per epoch, batched per optimizer step, resumable at any step."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class StepBatchSampler:
    """Yields the dataset indices of steps ``start_step .. steps - 1``.

    Step ``s`` reads positions ``[s * batch, (s + 1) * batch)`` of the endless sequence of epoch permutations
    (epoch ``e`` is shuffled with seed ``(seed, e)``), so a resumed run sees exactly the batches it would have.
    """

    def __init__(self, size: int, batch_size: int, steps: int, seed: int = 0, start_step: int = 0) -> None:
        if size < 1:
            raise ValueError("cannot sample batches from an empty dataset")
        self.size, self.batch_size, self.steps = size, batch_size, steps
        self.seed, self.start_step = seed, start_step

    def __len__(self) -> int:
        return max(0, self.steps - self.start_step)

    def _epoch(self, epoch: int) -> np.ndarray:
        return np.random.default_rng((self.seed, epoch)).permutation(self.size)

    def __iter__(self) -> Iterator[list[int]]:
        position = self.start_step * self.batch_size
        epoch, offset = divmod(position, self.size)
        order = self._epoch(epoch)
        for _ in range(len(self)):
            batch: list[int] = []
            while len(batch) < self.batch_size:
                take = order[offset : offset + self.batch_size - len(batch)]
                batch.extend(int(i) for i in take)
                offset += len(take)
                if offset == self.size:
                    epoch, offset = epoch + 1, 0
                    order = self._epoch(epoch)
            yield batch
