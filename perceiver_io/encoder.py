"""Perceiver IO encoder: a learned latent array cross-attends to the inputs, then a shared latent stack."""

from __future__ import annotations

import torch
from torch import nn

from perceiver_io.checks import check_mask, check_tokens, float_input
from perceiver_io.config import EncoderConfig
from perceiver_io.layers import CrossAttentionLayer, SelfAttentionLayer


class PerceiverEncoder(nn.Module):
    """Map inputs [B, M, input_dim] to latents [B, num_latents, d_latents].

    One cross-attend reads the inputs into the latents; a block of ``num_self_attends_per_block``
    self-attention layers is then applied ``num_blocks`` times with the same weights.
    """

    def __init__(self, config: EncoderConfig, input_dim: int) -> None:
        super().__init__()
        self.config = config
        self.input_dim = input_dim
        self.latents = nn.Parameter(torch.randn(config.num_latents, config.d_latents) * 0.02)
        self.cross_attention = CrossAttentionLayer(
            q_dim=config.d_latents,
            kv_dim=input_dim,
            num_heads=config.num_cross_attention_heads,
            qk_channels=config.qk_channels,
            v_channels=config.v_channels,
            widening_factor=config.cross_attention_widening_factor,
            use_query_residual=config.use_query_residual,
            dropout=config.attention_dropout,
            shape_for_attention=config.cross_attention_shape_for_attention,
        )
        self.self_attends = nn.ModuleList(
            SelfAttentionLayer(
                dim=config.d_latents,
                num_heads=config.num_self_attention_heads,
                qk_channels=config.qk_channels,
                v_channels=config.v_channels,
                widening_factor=config.self_attention_widening_factor,
                dropout=config.attention_dropout,
            )
            for _ in range(config.num_self_attends_per_block)
        )

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encode ``inputs`` [B, M, input_dim]; ``mask`` [B, M] is True for real inputs."""
        check_tokens("encoder inputs", inputs, self.input_dim)
        inputs = float_input("encoder inputs", inputs, self)
        mask = check_mask("encoder input mask", mask, inputs.shape[0], inputs.shape[1])
        latents = self.latents.expand(inputs.shape[0], -1, -1)
        latents = self.cross_attention(latents, inputs, kv_mask=mask)
        for _ in range(self.config.num_blocks):
            for layer in self.self_attends:
                latents = layer(latents)
        return latents
