"""Masked categorical choice shared by every head: sample (or argmax) or score a given choice.

Explicit masked log-softmax rather than ``torch.distributions`` so that rows that are not active (the action
type does not use this argument, or the selection already ended) get exactly zero log-prob and entropy, and
rows with nothing allowed fail loudly instead of producing NaNs.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class Choice(NamedTuple):
    """``index`` [B] (meaningless where inactive), ``log_prob`` and ``entropy`` [B] (0 where inactive)."""

    index: torch.Tensor
    log_prob: torch.Tensor
    entropy: torch.Tensor


def categorical(
    logits: torch.Tensor,
    mask: torch.Tensor,
    active: torch.Tensor,
    *,
    action: torch.Tensor | None = None,
    greedy: bool = False,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    name: str = "choice",
) -> Choice:
    """Choose among ``logits`` [B, K] where ``mask`` [B, K]; ``action`` [B] is scored instead of sampled.

    Logits are divided by ``temperature`` for both sampling and scoring, so scoring a sampled choice at the
    same temperature gives back its log-prob. Sampling draws from ``generator`` (else the global RNG).
    """
    if not temperature > 0:
        raise ValueError(f"{name}: temperature must be > 0, got {temperature}")
    if bool((active & ~mask.any(-1)).any()):
        raise ValueError(f"{name}: a row that uses this argument has nothing it may choose")
    mask = mask | ~mask.any(-1, keepdim=True)  # inactive rows with nothing allowed: keep the softmax finite
    log_p = (logits / temperature).masked_fill(~mask, float("-inf")).log_softmax(-1)
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
