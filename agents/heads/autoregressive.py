"""The autoregressive embedding passed from head to head, and what every head returns.

Each head reads the embedding of the choices made before it and returns it updated with its own choice, so
later heads are conditioned on earlier ones (AlphaStar order: action type -> selected units -> target unit ->
target location -> queued). Rows whose action type does not use a head's argument pass it through unchanged.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class HeadOutput(NamedTuple):
    """``choice`` in the action contract's format (absent: -1, or zeros for the location and queued);
    ``log_prob`` and ``entropy`` [B] (0 where unused; the entropy None where the head was called
    ``with_entropy=False``); the updated ``autoregressive_embedding`` [B, D]."""

    choice: torch.Tensor
    log_prob: torch.Tensor
    entropy: torch.Tensor | None
    autoregressive_embedding: torch.Tensor


def add_where_used(embedding: torch.Tensor, update: torch.Tensor, used: torch.Tensor) -> torch.Tensor:
    """``embedding + update`` on rows where ``used`` [B], ``embedding`` elsewhere."""
    return embedding + torch.where(used[:, None], update, torch.zeros_like(update))
