"""Target-unit head: a pointer over the rows the chosen action type's target rule allows (see ``legality.py``).

AlphaStar: keys are a Conv1D (32 channels) of the unit embeddings, the query is the pointer query of the
autoregressive embedding and function features. AlphaStar leaves the embedding unchanged afterwards; here
Linear(chosen key) is added so that the location and queued heads are conditioned on the target too.
"""

from __future__ import annotations

import torch
from torch import nn

from agents.heads.arguments import ArgumentTable
from agents.heads.autoregressive import HeadOutput, add_where_used
from agents.heads.config import HeadsConfig
from agents.heads.distributions import categorical
from agents.heads.query import PointerQuery


class TargetUnitHead(nn.Module):
    """[B, N, D] unit embeddings and the ``allowed`` rows [B, N] -> a target unit row [B] (-1 where unused)."""

    def __init__(self, unit_dim: int, table: ArgumentTable, config: HeadsConfig) -> None:
        super().__init__()
        self.config = config
        self.keys = nn.Linear(unit_dim, config.key_dim)
        self.query = PointerQuery(table, config)
        self.embed_target = nn.Linear(config.key_dim, config.autoregressive_dim)

    def forward(
        self,
        autoregressive_embedding: torch.Tensor,
        unit_embeddings: torch.Tensor,
        allowed: torch.Tensor,
        action_type: torch.Tensor,
        used: torch.Tensor,
        action: torch.Tensor | None = None,
        greedy: bool = False,
        temperature: float | torch.Tensor = 1.0,
        generator: torch.Generator | None = None,
        with_entropy: bool = True,
    ) -> HeadOutput:
        used = used.bool()
        keys = self.keys(unit_embeddings)
        query = self.query(autoregressive_embedding, action_type)
        choice = categorical(
            torch.einsum("bnk,bk->bn", keys, query),
            allowed.bool(),
            used,
            action=action,
            greedy=greedy,
            temperature=temperature,
            generator=generator,
            name="target_unit",
            with_entropy=with_entropy,
        )
        target_key = keys.gather(1, choice.index[:, None, None].expand(-1, 1, keys.shape[-1])).squeeze(1)
        embedding = add_where_used(autoregressive_embedding, self.embed_target(target_key), used)
        return HeadOutput(torch.where(used, choice.index, -1), choice.log_prob, choice.entropy, embedding)
