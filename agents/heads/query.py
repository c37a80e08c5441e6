"""Pointer-head query from the autoregressive embedding and the chosen action type's function features.

AlphaStar: ``func_embed`` (one-hot of the unit types that can accept the action type -> Linear 256 -> ReLU) is
added to Linear 256 of the autoregressive embedding, then ReLU -> Linear to the key width.
"""

from __future__ import annotations

import torch
from torch import nn

from agents.heads.arguments import ArgumentTable
from agents.heads.config import HeadsConfig


class PointerQuery(nn.Module):
    """[B, autoregressive_dim] embedding + [B] action type -> [B, key_dim] query."""

    def __init__(self, table: ArgumentTable, config: HeadsConfig) -> None:
        super().__init__()
        self.table = table
        self.function = nn.Sequential(nn.Linear(table.feature_dim, config.query_hidden), nn.ReLU())
        self.embedding = nn.Linear(config.autoregressive_dim, config.query_hidden)
        self.out = nn.Linear(config.query_hidden, config.key_dim)

    def forward(self, autoregressive_embedding: torch.Tensor, action_type: torch.Tensor) -> torch.Tensor:
        function = self.function(self.table.features[action_type])
        return self.out(torch.relu(self.embedding(autoregressive_embedding) + function))
