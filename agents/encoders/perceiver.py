"""The Perceiver IO entity encoder that replaces AlphaStar's Transformer (Perceiver IO paper, App. B).

Features -> ``EntitySetAdapter`` (tokens of ``token_channels``) -> ``PerceiverEncoder`` (cross-attend into
``num_latents`` latents, ``num_self_attends`` latent self-attention layers) -> ``PerElementDecoder`` whose
queries are the units' own tokens -> per-unit outputs; AlphaStar's unchanged downstream: ``entity_embeddings``
= ReLU -> Linear(unit_dim) -> ReLU, and ``embedded_entity`` = mean of the latents -> Linear -> ReLU. Cost is
linear in the unit count; no position features, so unit outputs are permutation-equivariant.
"""

from __future__ import annotations

import torch
from torch import nn

from agents.config import PerceiverEntityEncoderConfig
from agents.encoders.base import EntityEncoder, UnitMaxPool
from perceiver_io.adapters.entity import EntitySetAdapter
from perceiver_io.config import EncoderConfig
from perceiver_io.decoders.per_element import PerElementDecoder
from perceiver_io.encoder import PerceiverEncoder


class PerceiverEntityEncoder(EntityEncoder):
    """Units -> a small latent array -> one decoder query per unit."""

    def __init__(self, config: PerceiverEntityEncoderConfig, in_channels: int) -> None:
        super().__init__()
        self.config = config
        self.in_channels, self.unit_dim, self.entity_dim = in_channels, config.unit_dim, config.entity_dim
        self.adapter = EntitySetAdapter(in_channels, config.token_channels)
        self.encoder = PerceiverEncoder(
            EncoderConfig(
                num_latents=config.num_latents,
                d_latents=config.d_latents,
                num_self_attends_per_block=config.num_self_attends,
                num_self_attention_heads=config.num_self_attention_heads,
                num_cross_attention_heads=config.num_cross_attention_heads,
                self_attention_widening_factor=config.widening_factor,
                cross_attention_widening_factor=config.widening_factor,
            ),
            input_dim=config.token_channels,
        )
        self.decoder = PerElementDecoder(
            latent_dim=config.d_latents,
            query_channels=config.token_channels,
            num_heads=config.num_decoder_heads,
            widening_factor=config.widening_factor,
        )
        self.unit_head = nn.Linear(config.token_channels, config.unit_dim)
        self.entity_head = nn.Linear(config.d_latents, config.entity_dim)
        if config.unit_max_pool:
            self.unit_pool = UnitMaxPool(config.unit_dim, config.entity_dim)

    def encode(self, features: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor | None
               ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        adapted = self.adapter(features, mask, rows=rows)
        latents = self.encoder(adapted.tokens, adapted.mask)
        decoded = self.decoder(self.decoder.build_queries(adapted), latents, query_mask=mask)
        units = torch.relu(self.unit_head(torch.relu(decoded)))
        # sum / count is mean's own arithmetic, but its backward expands the [B, C] gradient instead of writing a
        # divided copy the size of the latents
        entity = torch.relu(self.entity_head(latents.sum(dim=1) / latents.shape[1]))
        return units, entity
