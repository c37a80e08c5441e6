"""Softmax attention over a few heads at a time with ``bmm``, for query/key heads of another size than value heads.

SDPA's fused CPU kernel needs one head size, so unequal sizes would have to be zero-padded: for qk < v every
query-key product (forward, and three times in backward) would be as wide as the values. Here the products keep
their own widths. Scores for one chunk of heads (about ``CHUNK_SCORES`` of them) are computed, softmaxed in place and
applied to the values; the heads are read and the gradients written in the projections' [B, N, H, d] layout, so no
head transposes are copied. Backward uses ``dS = P * (dP - rowsum(dO * O))`` with the probabilities ``P`` either
kept from the forward (``keep_probs``: small attentions) or recomputed chunk by chunk (memory stays one chunk, as in
the fused kernel). With one head and the probabilities kept, every example is computed at once (one ``bmm`` per
product): for small one-head attentions of any sizes this backward beats the fused kernel's (``attention.attend``).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.autograd.function import once_differentiable

CHUNK_SCORES = 1 << 20  # scores per chunk (4 MiB in float32); at least one head per chunk


def _chunks(batch: int, heads: int, per_head: int) -> Iterator[tuple[int, slice]]:
    """(example, heads) blocks of about ``CHUNK_SCORES`` scores, in order."""
    step = max(1, min(heads, CHUNK_SCORES // max(1, per_head)))
    for b in range(batch):
        for h in range(0, heads, step):
            yield b, slice(h, min(heads, h + step))


def _probabilities(
    scaled_query: torch.Tensor, key: torch.Tensor, hidden: torch.Tensor | None, out: torch.Tensor
) -> torch.Tensor:
    """softmax(scaled_query @ key^T) of one chunk [h, N, M] into ``out``; ``hidden`` (True = masked) -> 0."""
    scores = torch.bmm(scaled_query, key.transpose(1, 2), out=out)
    if hidden is not None:
        scores.masked_fill_(hidden, float("-inf"))
    return torch.softmax(scores, -1, out=scores)


class ChunkedAttention(torch.autograd.Function):
    """``softmax(scale * q k^T [masked]) v`` for heads [B, H, *, d] (any strides; queries may be broadcast over the
    batch); the output is [B, H, N, dv] laid out as [B, N, H, dv], so merging its heads is a view.

    ``apply(query, key, value, attn_mask, scale, keep_probs)``: ``attn_mask`` [B, 1, N or 1, M] is True where a key
    may be attended (every query needs one); ``keep_probs`` saves all B x H x N x M probabilities for backward."""

    @staticmethod
    def forward(ctx, query, key, value, attn_mask, scale, keep_probs):  # noqa: D102 (documented on the class)
        b, h, n, _ = query.shape
        m, dv = key.shape[2], value.shape[-1]
        hidden = None if attn_mask is None else ~attn_mask.expand(b, 1, -1, -1)
        query = query * scale  # the queries are scaled, not the scores: N x d products instead of N x M
        out = value.new_empty(b, n, h, dv).transpose(1, 2)
        if keep_probs and h == 1:  # one head: every example at once (the heads' layout is the batch's)
            scores = _probabilities(query[:, 0], key[:, 0], None if hidden is None else hidden[:, 0],
                                    query.new_empty(b, n, m))  # fmt: skip
            torch.bmm(scores, value[:, 0], out=out[:, 0])
            ctx.save_for_backward(query, key, value, out, hidden, scores[:, None])
            ctx.scale = scale
            return out
        chunk = h if keep_probs else max(1, min(h, CHUNK_SCORES // max(1, n * m)))
        scores = query.new_empty(b if keep_probs else 1, chunk, n, m)
        for i, heads in _chunks(b, h, 0 if keep_probs else n * m):
            buffer = scores[i, heads] if keep_probs else scores[0, : heads.stop - heads.start]
            probs = _probabilities(query[i, heads], key[i, heads], None if hidden is None else hidden[i], buffer)
            out[i, heads] = torch.bmm(probs, value[i, heads])
        ctx.save_for_backward(query, key, value, out, hidden, scores if keep_probs else None)
        ctx.scale = scale
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # noqa: D102
        query, key, value, out, hidden, kept = ctx.saved_tensors  # query scaled
        b, h, n, dqk = query.shape
        m, dv = key.shape[2], value.shape[-1]
        grad_q = query.new_empty(b, n, h, dqk).transpose(1, 2)
        grad_k = key.new_empty(b, m, h, dqk).transpose(1, 2)
        grad_v = value.new_empty(b, m, h, dv).transpose(1, 2)
        row_dot = (grad_out * out).sum(-1, keepdim=True)  # rowsum(dO * O) = rowsum(dP * P), [B, H, N, 1]
        if kept is not None and h == 1:  # one head: every example at once
            q, k, v, d_out, probs = query[:, 0], key[:, 0], value[:, 0], grad_out[:, 0], kept[:, 0]
            torch.bmm(probs.transpose(1, 2), d_out, out=grad_v[:, 0])
            grad_scores = torch.bmm(d_out, v.transpose(1, 2)).sub_(row_dot[:, 0]).mul_(probs)
            torch.mul(torch.bmm(grad_scores, k), ctx.scale, out=grad_q[:, 0])
            torch.bmm(grad_scores.transpose(1, 2), q, out=grad_k[:, 0])  # q is scaled
            return grad_q, grad_k, grad_v, None, None, None
        chunk = h if kept is not None else max(1, min(h, CHUNK_SCORES // max(1, n * m)))
        probs_buf = query.new_empty(chunk, n, m) if kept is None else None
        grad_scores_buf = query.new_empty(chunk, n, m)
        for i, heads in _chunks(b, h, 0 if kept is not None else n * m):
            size = heads.stop - heads.start
            q, k, v, d_out = query[i, heads], key[i, heads], value[i, heads], grad_out[i, heads]
            if kept is not None:
                probs = kept[i, heads]
            else:
                probs = _probabilities(q, k, None if hidden is None else hidden[i], probs_buf[:size])
            grad_v[i, heads] = torch.bmm(d_out.transpose(1, 2), probs).transpose(1, 2)
            grad_scores = torch.bmm(d_out, v.transpose(1, 2), out=grad_scores_buf[:size])
            grad_scores.sub_(row_dot[i, heads]).mul_(probs)
            torch.mul(torch.bmm(grad_scores, k), ctx.scale, out=grad_q[i, heads])
            grad_k[i, heads] = torch.bmm(q.transpose(1, 2), grad_scores).transpose(1, 2)  # q is scaled
        return grad_q, grad_k, grad_v, None, None, None
