"""Scalar encoder: the observation's ``scalars`` and the previous action type -> one embedding vector.

Scalars span many magnitudes (game loop in the thousands, ratios in [0, 1]), so each goes through a signed
``log1p`` first; the previous action type gets a learned embedding, with its own index for "none" (-1, the
first step of an episode).
"""

from __future__ import annotations

import torch
from torch import nn

from agents.config import ScalarEncoderConfig
from agents.spec import AgentSpec


class ScalarEncoder(nn.Module):
    """``scalars`` [B, S] float + ``previous_action_type`` [B] int (-1: none) -> [B, config.dim]."""

    def __init__(self, spec: AgentSpec, config: ScalarEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or ScalarEncoderConfig()
        self.num_scalars = len(spec.scalars)
        self.num_action_types = spec.num_action_types
        self.action_embedding = nn.Embedding(self.num_action_types + 1, self.config.action_dim)
        self.projection = nn.Linear(self.num_scalars + self.config.action_dim, self.config.dim)

    @property
    def out_channels(self) -> int:
        return self.config.dim

    def forward(self, scalars: torch.Tensor, previous_action_type: torch.Tensor) -> torch.Tensor:
        if scalars.dim() != 2 or scalars.shape[-1] != self.num_scalars:
            raise ValueError(f"scalars must have shape [batch, {self.num_scalars}], got {tuple(scalars.shape)}")
        if tuple(previous_action_type.shape) != (scalars.shape[0],):
            raise ValueError(
                f"previous_action_type must have shape [batch] = ({scalars.shape[0]},), "
                f"got {tuple(previous_action_type.shape)}"
            )
        action = previous_action_type.long()
        if bool(((action < -1) | (action >= self.num_action_types)).any()):
            raise ValueError(f"previous_action_type must be in [-1, {self.num_action_types - 1}]")
        action = torch.where(action < 0, self.num_action_types, action)
        x = torch.sign(scalars) * torch.log1p(scalars.abs())
        return torch.relu(self.projection(torch.cat([x.float(), self.action_embedding(action)], -1)))
