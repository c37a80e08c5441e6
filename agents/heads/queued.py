"""Queued head: whether the command is queued behind the units' current orders (0 or 1).

It is the last head, so it returns the autoregressive embedding unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from agents.heads.autoregressive import HeadOutput
from agents.heads.config import HeadsConfig
from agents.heads.distributions import categorical


class QueuedHead(nn.Module):
    """[B, autoregressive_dim] -> queued [B] in {0, 1} (0 where unused)."""

    def __init__(self, config: HeadsConfig) -> None:
        super().__init__()
        self.config = config
        self.logits = nn.Sequential(
            nn.Linear(config.autoregressive_dim, config.query_hidden), nn.ReLU(), nn.Linear(config.query_hidden, 2)
        )

    def forward(
        self,
        autoregressive_embedding: torch.Tensor,
        used: torch.Tensor,
        action: torch.Tensor | None = None,
        greedy: bool = False,
        temperature: float | torch.Tensor = 1.0,
        generator: torch.Generator | None = None,
        with_entropy: bool = True,
    ) -> HeadOutput:
        used = used.bool()
        logits = self.logits(autoregressive_embedding)
        choice = categorical(
            logits,
            torch.ones_like(logits, dtype=torch.bool),
            used,
            action=action,
            greedy=greedy,
            temperature=temperature,
            generator=generator,
            name="queued",
            with_entropy=with_entropy,
        )
        queued = torch.where(used, choice.index, 0)
        return HeadOutput(queued, choice.log_prob, choice.entropy, autoregressive_embedding)
