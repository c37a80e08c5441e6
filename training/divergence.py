"""The finite-loss guard every trainer (BC, the RL learner, the task trainer) runs around its optimizer step.

Before the step, a non-finite loss term or gradient norm stops the run (``check_finite``): the step is not applied.
After a step, before its weights are saved (and, in RL, sent to the actors), ``probe`` recomputes a loss with
them: finite gradients can still blow the weights up (a huge learning rate), and such weights must not become the
newest checkpoint or crash the actors. Either way the run stops with one ``DivergedError`` naming the step and the
terms, nothing from that step on is saved, and no good checkpoint is pruned: the newest on disk is the last good
one, which ``--resume`` continues. (An RL actor whose policy step fails on non-finite outputs raises it too, naming
the update its weights came from; the run then sets aside its checkpoints from that update on.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch

Terms = Mapping[str, float | torch.Tensor]


class DivergedError(FloatingPointError):
    """Training produced a non-finite loss, gradient or output; ``step`` is the optimizer step at fault."""

    def __init__(self, step: int, bad: dict[str, float], when: str) -> None:
        terms = ", ".join(f"{name}={value}" for name, value in bad.items())
        super().__init__(
            f"training diverged at step {step}: non-finite {terms} {when}; nothing from this step on was saved "
            "(the run's newest checkpoint, if any, is the last good one: continue it with --resume and a lower "
            "learning rate or stronger gradient clipping; a run that saved none starts over under another name= or "
            "once its folder is deleted)"
        )
        self.step, self.bad, self.when = step, bad, when

    def __reduce__(self) -> tuple[type, tuple[int, dict[str, float], str]]:
        return DivergedError, (self.step, self.bad, self.when)  # crosses process boundaries (Ray actors) intact


def check_finite(step: int, terms: Terms, when: str = "before the step") -> None:
    """Raise ``DivergedError`` if any of ``terms`` (loss terms, gradient norm; a tensor counts by its sum) is NaN or
    infinite."""
    values = {name: float(value.sum() if isinstance(value, torch.Tensor) else value) for name, value in terms.items()}
    bad = {name: value for name, value in values.items() if not math.isfinite(value)}
    if bad:
        raise DivergedError(step, bad, when)


def probe(step: int, terms: Callable[[], Terms]) -> None:
    """``check_finite`` of ``terms()`` computed with the weights after step ``step``, without gradients and without
    drawing from any RNG (the run's random streams stay as they were)."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        values = terms()
    check_finite(step, values, "after the step")
