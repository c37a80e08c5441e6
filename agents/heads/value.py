"""Value head: an MLP on the core output giving a scalar state-value estimate per row."""

from __future__ import annotations

import torch
from torch import nn

from agents.heads.config import HeadsConfig


class ValueHead(nn.Module):
    """[B, core_dim] -> [B]."""

    def __init__(self, core_dim: int, config: HeadsConfig) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(core_dim, config.value_hidden), nn.ReLU(), nn.Linear(config.value_hidden, 1))

    def forward(self, core_output: torch.Tensor) -> torch.Tensor:
        return self.mlp(core_output).squeeze(-1)
