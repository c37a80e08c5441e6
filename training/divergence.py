"""The finite-loss guard every trainer (BC, the RL learner, the task trainer) runs before its optimizer step.

A non-finite loss term or gradient norm stops the run with ``DivergedError`` naming the step and the terms: the
step is not applied, so no weights after it exist to be saved, and the good checkpoints are not pruned (the newest
on disk is the last good one, which ``--resume`` continues).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch


class DivergedError(FloatingPointError):
    """Training produced a non-finite loss or gradient; ``step`` is the optimizer step that was not taken."""

    def __init__(self, step: int, bad: dict[str, float]) -> None:
        terms = ", ".join(f"{name}={value}" for name, value in bad.items())
        super().__init__(
            f"training diverged at step {step}: non-finite {terms}; the step was not applied and nothing after it "
            "was saved (the run's newest checkpoint, if any, is the last good one: continue it with --resume and a "
            "lower learning rate or stronger gradient clipping)"
        )
        self.step = step
        self.bad = bad


def check_finite(step: int, terms: Mapping[str, float | torch.Tensor]) -> None:
    """Raise ``DivergedError`` if any of ``terms`` (loss terms, gradient norm) is NaN or infinite."""
    values = {name: float(value) for name, value in terms.items()}
    bad = {name: value for name, value in values.items() if not math.isfinite(value)}
    if bad:
        raise DivergedError(step, bad)
