"""The original Perceiver: repeated cross-attends into the latents, each followed by a latent stack.

Blocks after the first may share weights (the paper's ImageNet setting); classification averages
the latents and projects them to logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from perceiver_io.adapters.base import InputAdapter
from perceiver_io.checks import check_mask, check_tokens, float_input
from perceiver_io.decoders.classification import ProjectionDecoder
from perceiver_io.layers import CrossAttentionLayer, SelfAttentionLayer


@dataclass
class PerceiverConfig:
    """Sizes of the original Perceiver; ``num_cross_attends`` blocks of cross-attend + latent stack."""

    num_latents: int = 512
    d_latents: int = 1024
    num_cross_attends: int = 8
    num_self_attends_per_block: int = 6
    num_self_attention_heads: int = 8
    num_cross_attention_heads: int = 1
    cross_attention_widening_factor: int = 1
    self_attention_widening_factor: int = 1
    share_weights_after_first: bool = True
    attention_dropout: float = 0.0
    num_classes: int = 1000

    @classmethod
    def paper(cls, **overrides) -> PerceiverConfig:
        """ImageNet size: 512 x 1024 latents, 8 cross-attends with 6-layer latent stacks, shared after the first."""
        return cls(**overrides)

    @classmethod
    def small(cls, **overrides) -> PerceiverConfig:
        base = dict(num_latents=32, d_latents=64, num_cross_attends=2, num_self_attends_per_block=2,
                    num_self_attention_heads=4, num_classes=10)
        return cls(**{**base, **overrides})


class _Block(nn.Module):
    """One cross-attend into the latents followed by a latent self-attention stack."""

    def __init__(self, config: PerceiverConfig, input_dim: int) -> None:
        super().__init__()
        self.cross_attention = CrossAttentionLayer(
            config.d_latents, input_dim, num_heads=config.num_cross_attention_heads,
            widening_factor=config.cross_attention_widening_factor, dropout=config.attention_dropout,
        )
        self.self_attends = nn.ModuleList(
            SelfAttentionLayer(config.d_latents, num_heads=config.num_self_attention_heads,
                               widening_factor=config.self_attention_widening_factor,
                               dropout=config.attention_dropout)
            for _ in range(config.num_self_attends_per_block)
        )

    def forward(self, latents: torch.Tensor, inputs: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        latents = self.cross_attention(latents, inputs, kv_mask=mask)
        for layer in self.self_attends:
            latents = layer(latents)
        return latents


class Perceiver(nn.Module):
    """Original Perceiver classifier over an input adapter's tokens (or pre-tokenised inputs)."""

    def __init__(self, config: PerceiverConfig, input_adapter: InputAdapter | None = None,
                 input_dim: int | None = None) -> None:
        super().__init__()
        if input_adapter is None and input_dim is None:
            raise ValueError("Perceiver needs an input_adapter or an input_dim")
        self.config = config
        self.input_adapter = input_adapter
        self.input_dim = input_adapter.num_channels if input_adapter is not None else int(input_dim)
        self.latents = nn.Parameter(torch.randn(config.num_latents, config.d_latents) * 0.02)
        distinct = min(config.num_cross_attends, 2) if config.share_weights_after_first else config.num_cross_attends
        self.blocks = nn.ModuleList(_Block(config, self.input_dim) for _ in range(distinct))
        self.decoder = ProjectionDecoder(config.d_latents, config.num_classes)

    def block_schedule(self) -> list[int]:
        """Which distinct block runs at each of the ``num_cross_attends`` steps."""
        n = self.config.num_cross_attends
        if self.config.share_weights_after_first:
            return [min(i, 1) for i in range(n)]
        return list(range(n))

    def forward(self, inputs, attention_mask: torch.Tensor | None = None, **adapter_kwargs) -> torch.Tensor:
        if self.input_adapter is not None:
            adapted = self.input_adapter(inputs, **adapter_kwargs)
            tokens, mask = adapted.tokens, adapted.mask
        else:
            check_tokens("inputs", inputs, self.input_dim)
            tokens, mask = float_input("inputs", inputs, self), None
        given = check_mask("attention_mask", attention_mask, tokens.shape[0], tokens.shape[1])
        if given is not None:
            mask = given if mask is None else mask & given
        latents = self.latents.expand(tokens.shape[0], -1, -1)
        for index in self.block_schedule():
            latents = self.blocks[index](latents, tokens, mask)
        return self.decoder(latents)
