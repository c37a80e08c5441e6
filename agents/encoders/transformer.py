"""AlphaStar's entity encoder: a Transformer over the unit tokens (the baseline the Perceiver IO replaces).

Features -> Linear(dim) -> ``num_layers`` x perceiver_io ``SelfAttentionLayer`` (``num_heads`` heads of
``head_channels``, MLP dim*widening -> dim, padding keys masked) -> ``entity_embeddings`` = ReLU -> Linear
-> ReLU; ``embedded_entity`` = masked mean -> Linear -> ReLU (AlphaStar's detailed architecture).
"""

from __future__ import annotations

import torch
from torch import nn

from agents.config import TransformerEntityEncoderConfig
from agents.encoders.base import EntityEncoder, UnitMaxPool, masked_mean, padded
from perceiver_io.layers import SelfAttentionLayer


class TransformerEntityEncoder(EntityEncoder):
    """Self-attention over all units: cost grows with the square of the unit count."""

    def __init__(self, config: TransformerEntityEncoderConfig, in_channels: int) -> None:
        super().__init__()
        self.config = config
        self.in_channels, self.unit_dim, self.entity_dim = in_channels, config.unit_dim, config.entity_dim
        self.projection = nn.Linear(in_channels, config.dim)
        channels = config.num_heads * config.head_channels
        self.layers = nn.ModuleList(
            SelfAttentionLayer(config.dim, config.num_heads, channels, channels, config.widening_factor)
            for _ in range(config.num_layers)
        )
        self.unit_head = nn.Linear(config.dim, config.unit_dim)
        self.entity_head = nn.Linear(config.dim, config.entity_dim)
        if config.unit_max_pool:
            self.unit_pool = UnitMaxPool(config.unit_dim, config.entity_dim)

    def encode(self, features: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor | None
               ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        features = padded(features, mask, rows)
        x = self.projection(features) * mask[..., None].to(features.dtype)
        for layer in self.layers:
            x = layer(x, mask)
        units = torch.relu(self.unit_head(torch.relu(x)))
        entity = torch.relu(self.entity_head(masked_mean(x, mask)))
        return units, entity
