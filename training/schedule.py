"""Learning-rate schedules of the supervised runs (the paper's tasks, behaviour cloning): linear warm-up, then
constant, cosine, or constant-then-cosine."""

from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine", "constant_cosine")


def lr_factor(step: int, steps: int, warmup: int, schedule: str) -> float:
    """Multiplier of the peak learning rate at ``step`` (0-based) of ``steps``.

    ``constant_cosine`` holds the peak for the first half and then decays with a cosine, as the paper's ImageNet
    runs do; ``cosine`` decays from the end of warm-up. Both reach 0 at the last step.
    """
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    start = max(warmup, steps // 2) if schedule == "constant_cosine" else warmup
    if step < start:
        return 1.0
    span = max(1, steps - start)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - start) / span)))
