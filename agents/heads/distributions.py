"""Masked categorical choice shared by every head: sample (or argmax) or score a given choice.

Explicit masked log-softmax rather than ``torch.distributions`` so that rows that are not active (the action
type does not use this argument, or the selection already ended) get exactly zero log-prob and entropy, and
rows with nothing allowed fail loudly instead of producing NaNs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch


class Choice(NamedTuple):
    """``index`` [B] (meaningless where inactive), ``log_prob`` and ``entropy`` [B] (0 where inactive)."""

    index: torch.Tensor
    log_prob: torch.Tensor
    entropy: torch.Tensor


class RecordedDistribution(NamedTuple):
    """One head's (or one selection step's) masked log-probabilities ``log_p`` [B, K] and ``active`` rows [B]."""

    name: str
    log_p: torch.Tensor
    active: torch.Tensor


_recorders: list[list[RecordedDistribution]] = []


@contextmanager
def recording() -> Iterator[list[RecordedDistribution]]:
    """Collect every distribution ``categorical`` builds inside the block, in call order (for exact KL terms)."""
    records: list[RecordedDistribution] = []
    _recorders.append(records)
    try:
        yield records
    finally:
        _recorders.remove(records)


def kl_divergence(p: list[RecordedDistribution], q: list[RecordedDistribution]) -> dict[str, torch.Tensor]:
    """KL(p || q) per head name ([B], summed over selection steps) of two recordings of the same teacher-forced
    actions (so both hold the same distributions in the same order); inactive rows contribute 0."""
    if [r.name for r in p] != [r.name for r in q]:
        raise ValueError("kl_divergence: the two recordings do not hold the same distributions (different actions?)")
    total: dict[str, torch.Tensor] = {}
    for a, b in zip(p, q, strict=True):
        allowed = torch.isfinite(a.log_p)
        terms = torch.where(allowed, a.log_p.exp() * (a.log_p - b.log_p.masked_fill(~allowed, 0.0)), 0.0)
        kl = torch.where(a.active, terms.sum(-1), 0.0)
        total[a.name] = total[a.name] + kl if a.name in total else kl
    return total


def categorical(
    logits: torch.Tensor,
    mask: torch.Tensor,
    active: torch.Tensor,
    *,
    action: torch.Tensor | None = None,
    greedy: bool = False,
    temperature: float | torch.Tensor = 1.0,
    generator: torch.Generator | None = None,
    name: str = "choice",
) -> Choice:
    """Choose among ``logits`` [B, K] where ``mask`` [B, K]; ``action`` [B] is scored instead of sampled.

    Logits are divided by ``temperature`` (a number, or one per row [B]) for both sampling and scoring, so scoring
    a sampled choice at the same temperature gives back its log-prob. Sampling draws from ``generator`` (else the
    global RNG).
    """
    if isinstance(temperature, torch.Tensor):
        if not bool((temperature > 0).all()):
            raise ValueError(f"{name}: temperatures must be > 0, got {temperature.min().item()}")
        temperature = temperature.to(logits.dtype).reshape(-1, 1)
    elif not temperature > 0:
        raise ValueError(f"{name}: temperature must be > 0, got {temperature}")
    if bool((active & ~mask.any(-1)).any()):
        raise ValueError(f"{name}: a row that uses this argument has nothing it may choose")
    mask = mask | ~mask.any(-1, keepdim=True)  # inactive rows with nothing allowed: keep the softmax finite
    log_p = (logits / temperature).masked_fill(~mask, float("-inf")).log_softmax(-1)
    for records in _recorders:
        records.append(RecordedDistribution(name, log_p, active))
    if action is None:
        index = log_p.argmax(-1) if greedy else torch.multinomial(log_p.exp(), 1, generator=generator).squeeze(-1)
    else:
        index = torch.where(active, action.long(), torch.zeros_like(action, dtype=torch.long))
        in_range = (index >= 0) & (index < logits.shape[-1])
        allowed = in_range & mask.gather(-1, index.clamp(0, logits.shape[-1] - 1)[:, None]).squeeze(-1)
        if not bool(allowed[active].all()):
            raise ValueError(f"{name}: a teacher-forced choice is not allowed by the mask")
    log_prob = log_p.gather(-1, index[:, None]).squeeze(-1)
    entropy = -(log_p.exp() * log_p.masked_fill(~mask, 0.0)).sum(-1)
    zero = logits.new_zeros(())
    return Choice(index, torch.where(active, log_prob, zero), torch.where(active, entropy, zero))
