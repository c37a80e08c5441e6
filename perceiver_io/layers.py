"""Perceiver layers with Hugging Face / DeepMind semantics: pre-LayerNorm attention, then a pre-LN MLP.

A layer computes ``a = attn(LN(q), LN(kv)) [+ q]`` and returns ``a + MLP(LN(a))``. LayerNorms use
eps 1e-5, the MLP uses exact (erf) GELU, and dropout applies to attention probabilities only.
"""

from __future__ import annotations

import torch
from torch import nn

from perceiver_io.attention import MultiHeadAttention, zero_padding
from perceiver_io.linear import Linear, linear_gelu


def shared_rows(x: torch.Tensor) -> torch.Tensor:
    """``x[:1]`` when ``x`` [B, N, C] is one array expanded over the batch (batch stride 0), else ``x``."""
    return x[:1] if x.shape[0] > 1 and x.stride(0) == 0 else x


class MLP(nn.Module):
    """Two-layer feed-forward block widening the channels by ``widening_factor``."""

    def __init__(self, dim: int, widening_factor: int = 1) -> None:
        super().__init__()
        self.fc1 = Linear(dim, dim * widening_factor)
        self.act = nn.GELU()
        self.fc2 = Linear(dim * widening_factor, dim)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        """The block's output [+ ``residual``, added as fc2 writes it]."""
        return self.fc2(linear_gelu(x, self.fc1.weight, self.fc1.bias, self.act.approximate), residual)  # fc1, act


class CrossAttentionLayer(nn.Module):
    """Queries attend to a separate key/value array; used by the encoder and every decoder.

    ``qk_channels`` defaults to ``kv_dim`` (``shape_for_attention="kv"``, HF's default) or ``q_dim``
    (``"q"``); ``v_channels`` defaults to ``qk_channels``; the output has ``q_dim`` channels.
    """

    def __init__(
        self,
        q_dim: int,
        kv_dim: int,
        num_heads: int = 1,
        qk_channels: int | None = None,
        v_channels: int | None = None,
        widening_factor: int = 1,
        use_query_residual: bool = True,
        dropout: float = 0.0,
        shape_for_attention: str = "kv",
    ) -> None:
        super().__init__()
        if shape_for_attention not in ("kv", "q"):
            raise ValueError(f"shape_for_attention must be 'kv' or 'q', got {shape_for_attention!r}")
        if qk_channels is None:
            qk_channels = kv_dim if shape_for_attention == "kv" else q_dim
        if v_channels is None:
            v_channels = qk_channels
        self.q_dim, self.kv_dim = q_dim, kv_dim
        self.use_query_residual = use_query_residual
        self.q_norm = nn.LayerNorm(q_dim)
        self.kv_norm = nn.LayerNorm(kv_dim)
        self.attention = MultiHeadAttention(q_dim, kv_dim, qk_channels, v_channels, q_dim, num_heads, dropout)
        self.mlp_norm = nn.LayerNorm(q_dim)
        self.mlp = MLP(q_dim, widening_factor)

    def forward(
        self,
        q: torch.Tensor,
        kv: torch.Tensor,
        kv_mask: torch.Tensor | None = None,
        q_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``q`` [B, N, q_dim], ``kv`` [B, M, kv_dim]; masked query rows (``q_mask`` False) come out as zeros.

        Masked rows (``q_mask`` False, and keys a [B, M] ``kv_mask`` hides) are replaced by zeros on the way in,
        so whatever they hold (NaN, inf) reaches no other row, value or gradient."""
        q = zero_padding(q, q_mask)
        if kv_mask is not None and kv_mask.dim() == 2:
            kv = zero_padding(kv, kv_mask)  # before the LayerNorm, whose weight gradients sum over every row
        # One query array broadcast over the batch (the encoder's latents, a decoder's trainable queries): its
        # LayerNorm and query projection are the same for every example, so they run once (``shared_rows``).
        a = self.attention(self.q_norm(shared_rows(q)), self.kv_norm(kv), kv_mask,
                           residual=q if self.use_query_residual else None)  # fmt: skip
        return zero_padding(self.mlp(self.mlp_norm(a), residual=a), q_mask)


class SelfAttentionLayer(nn.Module):
    """Latent (or token) self-attention with a residual on the inputs, as in the Perceiver latent stack."""

    def __init__(
        self,
        dim: int,
        num_heads: int = 1,
        qk_channels: int | None = None,
        v_channels: int | None = None,
        widening_factor: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        qk_channels = dim if qk_channels is None else qk_channels
        v_channels = qk_channels if v_channels is None else v_channels
        self.norm = nn.LayerNorm(dim)
        self.attention = MultiHeadAttention(dim, dim, qk_channels, v_channels, dim, num_heads, dropout)
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = MLP(dim, widening_factor)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [B, N, dim]; ``mask`` [B, N] hides padding tokens as keys and zeroes their outputs (their inputs
        are replaced by zeros first, so NaN or inf padding reaches nothing)."""
        x = zero_padding(x, mask)
        h = self.norm(x)
        a = self.attention(h, h, mask, residual=x)
        return zero_padding(self.mlp(self.mlp_norm(a), residual=a), mask)
