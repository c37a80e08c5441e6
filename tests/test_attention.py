"""Attention and layer semantics: masking, fully masked rows, query masks, exact GELU, dropout placement, and the
kernel each head-size combination runs (fused SDPA or chunked attention)."""

import pytest
import torch

import perceiver_io.attention as attention_module
import perceiver_io.chunked_attention as chunked_module
from perceiver_io.attention import MultiHeadAttention
from perceiver_io.chunked_attention import ChunkedAttention
from perceiver_io.layers import CrossAttentionLayer, SelfAttentionLayer


def reference_attention(mha: MultiHeadAttention, q, kv, mask=None):
    """Eager softmax attention with an additive mask, the way HF computes it; ``mask`` is [B, M] or [B, N, M], and a
    query with no key gets a zero context (DeepMind's rule)."""
    h = mha.num_heads
    query = mha.q_proj(q).unflatten(-1, (h, -1)).transpose(1, 2)
    key = mha.k_proj(kv).unflatten(-1, (h, -1)).transpose(1, 2)
    value = mha.v_proj(kv).unflatten(-1, (h, -1)).transpose(1, 2)
    scores = query @ key.transpose(-1, -2) / query.shape[-1] ** 0.5
    if mask is not None:
        mask = mask[:, None, None, :] if mask.dim() == 2 else mask[:, None]
        scores = scores + (~mask).float() * torch.finfo(torch.float32).min
    weights = scores.softmax(-1)
    if mask is not None:
        weights = weights * mask.any(-1, keepdim=True)
    out = (weights @ value).transpose(1, 2).flatten(2)
    return mha.out_proj(out)


def test_matches_eager_reference_with_separate_qk_and_v_widths():
    mha = MultiHeadAttention(q_dim=12, kv_dim=20, qk_channels=16, v_channels=24, out_dim=12, num_heads=4).eval()
    q, kv = torch.randn(3, 5, 12), torch.randn(3, 9, 20)
    mask = torch.ones(3, 9, dtype=torch.bool)
    mask[1, 4:] = False
    torch.testing.assert_close(mha(q, kv, mask), reference_attention(mha, q, kv, mask), atol=1e-6, rtol=1e-5)


def _masks(kind: str, batch: int, queries: int, keys: int) -> torch.Tensor | None:
    """None, a [B, M] key mask hiding a tail, or a [B, N, M] per-query mask with one query that sees no key."""
    if kind == "none":
        return None
    if kind == "keys":
        mask = torch.ones(batch, keys, dtype=torch.bool)
        mask[1, keys // 2 :] = False
        return mask
    mask = torch.rand(batch, queries, keys, generator=torch.Generator().manual_seed(1)) > 0.4
    mask[0, 1] = False
    return mask


@pytest.mark.parametrize("path", ["small", "large"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("mask_kind", ["none", "keys", "per_query"])
@pytest.mark.parametrize(("qk", "v"), [(16, 32), (32, 16), (24, 24)])  # qk < v, qk > v, equal (4 heads)
def test_unequal_qk_and_v_head_sizes_match_eager_attention_and_its_gradients(qk, v, mask_kind, threads, path,
                                                                              monkeypatch):
    """Every CPU path equals HF-style eager attention, outputs and every gradient, for each head-size order: small
    attentions (chunked attention keeping its probabilities when the sizes differ) and large ones (chunked attention
    recomputing them, over several chunks, for qk < v; the padded fused kernel for qk > v)."""
    if path == "large":
        monkeypatch.setattr(attention_module, "KEEP_PROBS_MAX_SCORES", 0)
        monkeypatch.setattr(chunked_module, "CHUNK_SCORES", 2 * 5 * 9)  # two heads of 5 x 9 scores per chunk
    torch.manual_seed(0)
    mha = MultiHeadAttention(q_dim=12, kv_dim=20, qk_channels=qk, v_channels=v, out_dim=12, num_heads=4).eval()
    q, kv = torch.randn(3, 5, 12, requires_grad=True), torch.randn(3, 9, 20, requires_grad=True)
    mask = _masks(mask_kind, 3, 5, 9)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        results = []
        for attend in (mha, lambda *a: reference_attention(mha, *a)):
            out = attend(q, kv, mask)
            grads = torch.autograd.grad((out * torch.linspace(-1, 1, 12)).sum(), [q, kv, *mha.parameters()])
            results.append((out, *grads))
    finally:
        torch.set_num_threads(before)
    for got, expected in zip(*results, strict=True):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(("chunk", "keep_probs", "num_heads"),
                         [(1, False, 3), (2 * 5 * 7, False, 3), (1 << 20, False, 3), (1, True, 3), (1, True, 1)])
@pytest.mark.parametrize("mask_kind", ["none", "keys", "per_query"])
def test_chunked_attention_gradients_equal_the_reference_in_float64(chunk, keep_probs, num_heads, mask_kind,
                                                                    monkeypatch):  # fmt: skip
    """The hand-written backward (probabilities kept, or recomputed per chunk of one head, two heads or all; one head
    kept: every example at once) passes gradcheck, and the forward equals softmax(scale q k^T) v, with queries
    broadcast over the batch (the latents)."""
    monkeypatch.setattr(chunked_module, "CHUNK_SCORES", chunk)
    torch.manual_seed(0)
    heads = lambda *shape: torch.randn(*shape, dtype=torch.float64).transpose(1, 2).requires_grad_()  # noqa: E731
    h = num_heads
    q, k, v = heads(1, 5, h, 4), heads(2, 7, h, 4), heads(2, 7, h, 6)  # [B, H, N, d] in the projections' layout
    mask = _masks(mask_kind, 2, 5, 7)
    if mask is not None:
        mask = (mask[:, None, :] if mask.dim() == 2 else mask)[:, None]  # [B, 1, N or 1, M], as attend gets it
        mask[..., 0] = True  # every query keeps a key (attend unmasks empty rows before calling it)

    def attend(q, k, v):
        return ChunkedAttention.apply(q.expand(2, -1, -1, -1), k, v, mask, 0.37, keep_probs)

    scores = (q @ k.transpose(-1, -2)) * 0.37
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    torch.testing.assert_close(attend(q, k, v), scores.softmax(-1) @ v, atol=1e-12, rtol=1e-12)
    assert torch.autograd.gradcheck(attend, (q, k, v))


FLASH = "aten::_scaled_dot_product_flash_attention_for_cpu"


def _attention_ops(step) -> set[str]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return {event.name for event in prof.events()}


@pytest.mark.parametrize(("qk", "v", "large", "dtype", "kernel"), [
    (16, 32, False, torch.float32, "chunked"), (32, 16, False, torch.float32, "chunked"),  # no padding
    (16, 32, True, torch.float32, "chunked"),
    (32, 16, True, torch.float32, "fused"),  # large qk > v: values zero-padded for the fused kernel
    (16, 32, False, torch.bfloat16, "fused"),  # half precision: the fused kernel's float32 softmax, padded
])
def test_each_unequal_head_size_case_runs_its_kernel_forward_and_backward(qk, v, large, dtype, kernel, monkeypatch):
    """Unequal head sizes never run SDPA's bmm + softmax fallback: chunked attention (no padding) where it is
    faster, the fused kernel with the narrower side zero-padded for large attentions with qk > v and bfloat16."""
    if large:
        monkeypatch.setattr(attention_module, "KEEP_PROBS_MAX_SCORES", 0)
    mha = MultiHeadAttention(q_dim=12, kv_dim=20, qk_channels=qk, v_channels=v, out_dim=12, num_heads=4).to(dtype)
    q, kv, mask = torch.randn(2, 5, 12, dtype=dtype), torch.randn(2, 9, 20, dtype=dtype), _masks("keys", 2, 5, 9)
    ops = _attention_ops(lambda: mha(q, kv, mask).sum().backward())
    assert "aten::_scaled_dot_product_attention_math" not in ops
    assert ({FLASH, f"{FLASH}_backward"} <= ops) == (kernel == "fused")
    assert ("aten::constant_pad_nd" in ops) == (kernel == "fused")
    assert ("aten::bmm" in ops) == (kernel != "fused")


@pytest.mark.parametrize("mask_kind", ["none", "keys", "per_query"])
def test_one_small_head_runs_chunked_attention_when_differentiated_and_matches_eager_attention(mask_kind):
    """One head of equal sizes: with autograd, chunked attention keeping the probabilities (all examples at once),
    equal to eager attention in outputs and every gradient, also for a query broadcast over the batch; without
    autograd, the fused kernel."""
    torch.manual_seed(0)
    mha = MultiHeadAttention(q_dim=12, kv_dim=20, qk_channels=16, v_channels=16, out_dim=12, num_heads=1).eval()
    kv, mask = torch.randn(3, 9, 20, requires_grad=True), _masks(mask_kind, 3, 5, 9)
    for q in (torch.randn(3, 5, 12, requires_grad=True), torch.randn(1, 5, 12, requires_grad=True)):
        results = []
        for attend in (mha, lambda *a: reference_attention(mha, *a)):
            out = attend(q.expand(3, -1, -1), kv, mask)
            loss = (out * torch.linspace(-1, 1, 12)).sum()
            results.append((out, *torch.autograd.grad(loss, [q, kv, *mha.parameters()])))
        for got, expected in zip(*results, strict=True):
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    ops = _attention_ops(lambda: mha(q.expand(3, -1, -1), kv, mask).sum().backward())
    assert "aten::bmm" in ops and f"{FLASH}_backward" not in ops
    with torch.no_grad():
        assert FLASH in _attention_ops(lambda: mha(q.expand(3, -1, -1), kv, mask))


def test_a_query_array_broadcast_over_the_batch_is_normalised_and_projected_once():
    """Latents or trainable queries expanded over the batch (stride 0) give the same outputs and gradients as a
    materialised copy, while the query LayerNorm and projection see one row of the batch."""
    torch.manual_seed(0)
    layer = CrossAttentionLayer(q_dim=16, kv_dim=8, num_heads=2, qk_channels=8, v_channels=16)
    latents = torch.randn(5, 16, requires_grad=True)
    kv = torch.randn(3, 7, 8)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[2, 3:] = False
    seen = []
    layer.attention.q_proj.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[0]))
    results = []
    for q in (latents.expand(3, -1, -1), latents.expand(3, -1, -1).contiguous()):
        out = layer(q, kv, kv_mask=mask)
        loss = (out * torch.linspace(-1, 1, 16)).sum()
        results.append((out, *torch.autograd.grad(loss, [latents, *layer.parameters()])))
    assert seen == [1, 3]
    for shared, materialised in zip(*results, strict=True):
        torch.testing.assert_close(shared, materialised, atol=1e-6, rtol=1e-5)


def test_masked_keys_equal_truncated_keys():
    layer = CrossAttentionLayer(q_dim=16, kv_dim=8, num_heads=2).eval()
    q, kv = torch.randn(2, 4, 16), torch.randn(2, 10, 8)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[:, 6:] = False
    masked = layer(q, kv, kv_mask=mask)
    truncated = layer(q, kv[:, :6])
    torch.testing.assert_close(masked, truncated, atol=1e-6, rtol=1e-5)


def test_fully_masked_rows_give_zero_context_and_finite_gradients():
    mha = MultiHeadAttention(8, 8, 8, 8, 8, num_heads=2)
    q = torch.randn(2, 3, 8, requires_grad=True)
    kv = torch.randn(2, 5, 8, requires_grad=True)
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1] = False  # sample 1 has no key at all
    out = mha(q, kv, mask)
    # The attended context is zero, so only the output projection's bias remains.
    torch.testing.assert_close(out[1], mha.out_proj.bias.expand(3, 8))
    out.sum().backward()
    assert torch.isfinite(q.grad).all() and torch.isfinite(kv.grad).all()
    assert torch.isfinite(mha.q_proj.weight.grad).all()


def test_per_query_mask_zeroes_only_empty_rows():
    mha = MultiHeadAttention(8, 8, 8, 8, 8).eval()
    q, kv = torch.randn(1, 3, 8), torch.randn(1, 4, 8)
    mask = torch.ones(1, 3, 4, dtype=torch.bool)
    mask[0, 2] = False
    out = mha(q, kv, mask)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[0, 2], mha.out_proj.bias)
    assert not torch.allclose(out[0, 0], mha.out_proj.bias)


def test_query_mask_zeroes_padding_queries_and_leaves_others():
    layer = CrossAttentionLayer(q_dim=8, kv_dim=8).eval()
    q, kv = torch.randn(2, 5, 8), torch.randn(2, 6, 8)
    q_mask = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 1, 0, 1]], dtype=torch.bool)
    out = layer(q, kv, q_mask=q_mask)
    assert (out[~q_mask] == 0).all()
    torch.testing.assert_close(out[q_mask], layer(q, kv)[q_mask])


@pytest.mark.parametrize("backend", ["MATH", "FLASH_ATTENTION"])  # the CPU kernels: eager and fused
def test_nan_padding_stays_out_of_cross_and_self_attention_and_their_gradients(backend):
    """The layers on their own (e.g. the agent's Transformer encoder): masked keys, queries and tokens holding NaN
    change no real output, come out as exact zeros, and leave every gradient finite, on either SDPA kernel."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel([getattr(SDPBackend, backend)]):
        _nan_padding_case()


@pytest.mark.parametrize("path", ["small", "large"])
@pytest.mark.parametrize(("qk", "v"), [(4, 8), (8, 4)])
def test_nan_padding_stays_out_with_unequal_head_sizes(qk, v, path, monkeypatch):
    """The same with query/key heads narrower or wider than value heads: chunked attention (keeping its
    probabilities when small), or the padded fused kernel for large qk > v."""
    if path == "large":
        monkeypatch.setattr(attention_module, "KEEP_PROBS_MAX_SCORES", 0)
        monkeypatch.setattr(chunked_module, "CHUNK_SCORES", 1)
    _nan_padding_case(qk_channels=qk, v_channels=v)


def _nan_padding_case(**channels):
    torch.manual_seed(0)
    cross = CrossAttentionLayer(q_dim=8, kv_dim=6, num_heads=2, **channels)
    self_attn = SelfAttentionLayer(8, num_heads=2, **channels)
    q, kv = torch.randn(2, 5, 8), torch.randn(2, 7, 6)
    q_mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    kv_mask = torch.tensor([[1] * 7, [1, 1, 1, 0, 0, 0, 0]], dtype=torch.bool)
    clean = self_attn(cross(q, kv, kv_mask=kv_mask, q_mask=q_mask), q_mask)
    q_bad, kv_bad = q.masked_fill(~q_mask[..., None], float("nan")), kv.masked_fill(~kv_mask[..., None], float("inf"))
    out = self_attn(cross(q_bad, kv_bad, kv_mask=kv_mask, q_mask=q_mask), q_mask)
    assert torch.equal(out[q_mask], clean[q_mask]) and (out[~q_mask] == 0).all()
    out.sum().backward()
    for layer in (cross, self_attn):
        assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


def test_query_residual_switch_changes_output_by_the_query():
    with_res = CrossAttentionLayer(8, 8, use_query_residual=True).eval()
    without = CrossAttentionLayer(8, 8, use_query_residual=False).eval()
    without.load_state_dict(with_res.state_dict())
    q, kv = torch.randn(1, 2, 8), torch.randn(1, 3, 8)
    a = with_res.attention(with_res.q_norm(q), with_res.kv_norm(kv))
    expected = (a + q) + with_res.mlp(with_res.mlp_norm(a + q))
    torch.testing.assert_close(with_res(q, kv), expected)
    assert not torch.allclose(with_res(q, kv), without(q, kv))


def test_layer_norm_eps_and_exact_gelu():
    layer = SelfAttentionLayer(8, num_heads=2)
    assert layer.norm.eps == 1e-5 and layer.mlp_norm.eps == 1e-5
    assert layer.mlp.act.approximate == "none"


def test_dropout_only_on_attention_probabilities():
    layer = CrossAttentionLayer(8, 8, dropout=0.5).train()
    q, kv = torch.randn(1, 1, 8), torch.randn(1, 1, 8)
    # With a single key the attention probability is 1 (or dropped to 0 and rescaled): outputs vary
    # between runs only through the attention dropout, and eval mode is deterministic.
    outs = {tuple(layer(q, kv).flatten().tolist()) for _ in range(20)}
    assert 1 < len(outs) <= 2
    layer.eval()
    torch.testing.assert_close(layer(q, kv), layer(q, kv))


def test_head_divisibility_is_checked():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(8, 8, qk_channels=10, v_channels=8, out_dim=8, num_heads=4)
