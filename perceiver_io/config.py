"""Typed configuration of the Perceiver IO encoder (latents, cross-attend, latent self-attention stack)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EncoderConfig:
    """Sizes of the latent array and its attention stack; names follow Hugging Face's PerceiverConfig.

    ``qk_channels``/``v_channels`` of None use the HF defaults (cross-attention: the input width when
    ``cross_attention_shape_for_attention="kv"``; self-attention: ``d_latents``).
    """

    num_latents: int = 256
    d_latents: int = 1280
    num_blocks: int = 1
    num_self_attends_per_block: int = 26
    num_self_attention_heads: int = 8
    num_cross_attention_heads: int = 8
    qk_channels: int | None = None
    v_channels: int | None = None
    cross_attention_shape_for_attention: str = "kv"
    self_attention_widening_factor: int = 1
    cross_attention_widening_factor: int = 1
    use_query_residual: bool = True
    attention_dropout: float = 0.0

    def __post_init__(self) -> None:
        for heads in (self.num_self_attention_heads, self.num_cross_attention_heads):
            if self.d_latents % heads != 0:
                raise ValueError(f"d_latents ({self.d_latents}) must be divisible by the number of heads ({heads})")
        if self.cross_attention_shape_for_attention not in ("kv", "q"):
            raise ValueError(
                "cross_attention_shape_for_attention must be 'kv' or 'q', "
                f"got {self.cross_attention_shape_for_attention!r}"
            )
        if self.num_blocks < 1 or self.num_latents < 1:
            raise ValueError("num_blocks and num_latents must be >= 1")

    @classmethod
    def small(cls, **overrides) -> EncoderConfig:
        """A CPU-friendly encoder: 32 latents of 64 channels, 2 self-attention layers."""
        base = dict(
            num_latents=32,
            d_latents=64,
            num_self_attends_per_block=2,
            num_self_attention_heads=4,
            num_cross_attention_heads=1,
        )
        return cls(**{**base, **overrides})
