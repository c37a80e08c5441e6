"""Multi-head attention on ``scaled_dot_product_attention`` with Perceiver's separate q/k and v widths.

Masks are boolean with ``True`` meaning "attend to / keep". A query whose keys are all masked
returns zeros (never NaN, also in the backward pass), matching DeepMind's Perceiver. Masked rows are replaced by
zeros (``zero_padding``), never multiplied by a zero mask: a softmax weight of exactly 0 times a NaN or inf key or
value is still NaN, so whatever padding holds would otherwise reach every real output (and gradient).

PyTorch's fused CPU kernel (flash attention) needs one head size for queries, keys and values; with Perceiver's
unequal widths (HF's MLM: qk 256 vs v 1280) SDPA would fall back to bmm + softmax, materialising every attention
matrix. So the narrower side is zero-padded to the wider head size (zero channels leave q.k and the kept value
channels unchanged) and the scale stays 1/sqrt(qk head size). Where padding costs more than it saves (every qk < v,
small qk > v) unequal sizes run ``perceiver_io.chunked_attention`` instead (``attend``), as do small one-head
attentions that autograd will differentiate (the fused kernel's backward is slower there).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from perceiver_io.chunked_attention import ChunkedAttention
from perceiver_io.linear import Linear


def zero_padding(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``x`` [B, M, C] with the rows ``mask`` [B, M] marks False (or 0) replaced by zeros (``x`` when no mask)."""
    if mask is None:
        return x
    return torch.where((mask if mask.dtype == torch.bool else mask != 0)[..., None], x, 0.0)  # ~20% < masked_fill


# Up to this many attention scores per call (4 MiB in float32) unequal head sizes keep their probabilities for
# backward instead of recomputing them (``ChunkedAttention``): 1.2-1.3x faster than the padded fused kernel there.
KEEP_PROBS_MAX_SCORES = 1 << 20


def attend(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None,
    dropout: float,
    scale: float,
) -> torch.Tensor:
    """Softmax attention of heads [B, H, *, d] (``attn_mask`` True = attend), returned with the heads merged:
    [B, N, H * value head size].

    On CPU without dropout, unequal query/key and value head sizes run ``ChunkedAttention`` (keeping the
    probabilities up to ``KEEP_PROBS_MAX_SCORES`` scores), except large ones with qk > v and half precision (whose
    softmax the fused kernel accumulates in float32): their narrower side is zero-padded for the fused kernel. One
    head of equal sizes runs it too when autograd will differentiate it and it is small (keeping the probabilities,
    all examples at once: fwd+bwd ~0.75x the fused kernel's at [1024, 1, 20, 64] x [1024, 1, 32, 64])."""
    b, h, n, qk = query.shape
    v = value.shape[-1]
    if query.device.type == "cpu" and dropout == 0.0:
        small = b * h * n * key.shape[2] <= KEEP_PROBS_MAX_SCORES
        exact = query.dtype in (torch.float32, torch.float64)
        differentiated = torch.is_grad_enabled() and (query.requires_grad or key.requires_grad or value.requires_grad)
        if exact and ((qk != v and (small or qk < v)) or (qk == v and h == 1 and small and differentiated)):
            out = ChunkedAttention.apply(query, key, value, attn_mask, scale, small)
            return out.transpose(1, 2).reshape(b, n, h * v)
        if qk < v:
            query, key = F.pad(query, (0, v - qk)), F.pad(key, (0, v - qk))
        elif qk > v:
            value = F.pad(value, (0, qk - v))
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask, dropout_p=dropout, scale=scale)
    return out.transpose(1, 2)[..., :v].reshape(b, n, h * v)


class MultiHeadAttention(nn.Module):
    """Project queries, keys and values, attend per head with SDPA, and project the heads back out."""

    def __init__(
        self,
        q_dim: int,
        kv_dim: int,
        qk_channels: int,
        v_channels: int,
        out_dim: int,
        num_heads: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if qk_channels % num_heads != 0:
            raise ValueError(f"qk_channels ({qk_channels}) must be divisible by num_heads ({num_heads})")
        if v_channels % num_heads != 0:
            raise ValueError(f"v_channels ({v_channels}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.qk_channels = qk_channels
        self.v_channels = v_channels
        self.dropout = dropout
        self.q_proj = Linear(q_dim, qk_channels)
        self.k_proj = Linear(kv_dim, qk_channels)
        self.v_proj = Linear(kv_dim, v_channels)
        self.out_proj = Linear(v_channels, out_dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.view(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(self, q: torch.Tensor, kv: torch.Tensor, kv_mask: torch.Tensor | None = None,
                residual: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """Attend from ``q`` [B, N, q_dim] to ``kv`` [B, M, kv_dim]; a ``q`` of batch 1 serves every example (it is
        projected once). ``residual`` [B, N, out_dim] is added to the output (as the output projection writes it).

        ``kv_mask`` is [B, M] (key padding) or [B, N, M] (per query), True where a key may be attended; the rows
        of keys no query may attend are zeroed before the projections (see the module docstring).
        """
        if kv_mask is not None:
            kv = zero_padding(kv, kv_mask if kv_mask.dim() == 2 else kv_mask.any(dim=1))
        key = self._heads(self.k_proj(kv))
        value = self._heads(self.v_proj(kv))
        query = self._heads(self.q_proj(q).expand(key.shape[0], -1, -1))
        attn_mask = None
        empty_rows = None
        if kv_mask is not None:
            mask = kv_mask[:, None, :] if kv_mask.dim() == 2 else kv_mask  # [B, N or 1, M]
            has_key = mask.any(dim=-1, keepdim=True)
            if not bool(has_key.all()):
                # Unmask rows with no key at all so softmax stays finite, then zero what they attended.
                empty_rows = ~has_key
                mask = mask | empty_rows
            attn_mask = mask[:, None]
        dropout = self.dropout if self.training else 0.0
        out = attend(query, key, value, attn_mask, dropout, scale=(self.qk_channels // self.num_heads) ** -0.5)
        if empty_rows is not None:
            out = out.masked_fill(empty_rows, 0.0)
        return self.out_proj(out, residual)
