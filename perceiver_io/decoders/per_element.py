"""Per-element decoder: one query per input element (supplied by the caller) reads the latents back out."""

from __future__ import annotations

import torch
from torch import nn

from perceiver_io.adapters.base import AdaptedInput
from perceiver_io.attention import zero_padding
from perceiver_io.checks import check_tokens
from perceiver_io.decoders.base import OutputAdapter
from perceiver_io.layers import CrossAttentionLayer


class PerElementDecoder(OutputAdapter):
    """Decode [B, N, query_channels] caller queries (by default the elements' own embeddings) to [B, N, out].

    Rows whose ``query_mask`` is False (padding elements) come out as exact zeros.
    """

    def __init__(
        self,
        latent_dim: int,
        query_channels: int,
        output_channels: int | None = None,
        num_heads: int = 1,
        qk_channels: int | None = None,
        v_channels: int | None = None,
        widening_factor: int = 1,
        use_query_residual: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.query_channels = query_channels
        self.cross_attention = CrossAttentionLayer(
            q_dim=query_channels,
            kv_dim=latent_dim,
            num_heads=num_heads,
            qk_channels=qk_channels,
            v_channels=v_channels,
            widening_factor=widening_factor,
            use_query_residual=use_query_residual,
            dropout=dropout,
        )
        self.final_layer = (
            nn.Linear(query_channels, output_channels) if output_channels is not None else nn.Identity()
        )

    @property
    def num_query_channels(self) -> int:
        return self.query_channels

    def build_queries(self, adapted: AdaptedInput, subsampled_points: torch.Tensor | None = None) -> torch.Tensor:
        queries = adapted.without_pos if isinstance(adapted.without_pos, torch.Tensor) else adapted.tokens
        if subsampled_points is not None:
            queries = queries[:, subsampled_points.long()]
        return queries

    def forward(
        self,
        queries: torch.Tensor,
        latents: torch.Tensor,
        query_mask: torch.Tensor | None = None,
        latent_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        check_tokens("per-element queries", queries, self.query_channels)
        out = self.final_layer(self.cross_attention(queries, latents, kv_mask=latent_mask, q_mask=query_mask))
        if isinstance(self.final_layer, nn.Identity):
            return out  # the cross-attention already zeroed the masked rows
        return zero_padding(out, query_mask)
