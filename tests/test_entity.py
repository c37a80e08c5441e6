"""Entity sets: the agent's path (entity adapter -> 32 latents -> one query per element)."""

import pytest
import torch

from perceiver_io import EncoderConfig, PerceiverIO
from perceiver_io.adapters import EntitySetAdapter
from perceiver_io.decoders.per_element import PerElementDecoder


def entity_model(in_channels=10, width=32, out=16):
    cfg = EncoderConfig.small(num_latents=32, d_latents=64)
    return PerceiverIO(cfg, input_adapter=EntitySetAdapter(in_channels, width),
                       decoder=PerElementDecoder(cfg.d_latents, query_channels=width, output_channels=out)).eval()


def run(model, x, mask):
    return model(x, mask=mask, query_mask=mask)


def test_per_element_outputs_and_zero_padding_rows():
    model = entity_model()
    x = torch.randn(2, 12, 10)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[0, 7:] = False
    out = run(model, x, mask)
    assert out.shape == (2, 12, 16)
    assert (out[0, 7:] == 0).all() and (out[0, :7] != 0).any()


def test_padding_rows_never_change_real_outputs():
    model = entity_model()
    x = torch.randn(1, 12, 10)
    mask = torch.ones(1, 12, dtype=torch.bool)
    mask[0, 8:] = False
    y = x.clone()
    y[0, 8:] = torch.randn(4, 10) * 100
    torch.testing.assert_close(run(model, x, mask), run(model, y, mask))
    torch.testing.assert_close(run(model, x, mask)[:, :8], run(model, x[:, :8], mask[:, :8]), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("junk", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_padding_rows_reach_no_output_or_gradient(junk):
    """NaN or inf in masked rows: the real rows equal those with zero padding, padding outputs are exactly 0 and
    every gradient is finite (the rows are replaced before any matmul, never multiplied by a zero mask)."""
    model = entity_model().train()
    x = torch.randn(2, 12, 10)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[0, 7:] = False
    mask[1, 10:] = False
    clean = run(model, x, mask)
    dirty = x.clone()
    dirty[~mask] = junk
    out = run(model, dirty, mask)
    assert torch.equal(out[mask], clean[mask]) and (out[~mask] == 0).all()
    out.square().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_outputs_are_equivariant_to_permuting_elements():
    model = entity_model()
    x = torch.randn(2, 9, 10)
    mask = torch.rand(2, 9) > 0.3
    mask[:, 0] = True
    perm = torch.randperm(9)
    torch.testing.assert_close(run(model, x, mask)[:, perm], run(model, x[:, perm], mask[:, perm]),
                               atol=1e-5, rtol=1e-4)


def test_caller_supplied_queries_and_bad_shapes():
    model = entity_model()
    x = torch.randn(2, 5, 10)
    queries = torch.randn(2, 3, 32)
    assert model(x, queries=queries).shape == (2, 3, 16)
    with pytest.raises(ValueError, match=r"per-element queries must have shape \[batch, tokens, 32\]"):
        model(x, queries=torch.randn(2, 3, 31))
    with pytest.raises(ValueError, match=r"entity features must have shape \[batch, tokens, 10\]"):
        model(torch.randn(2, 5, 9))
    with pytest.raises(ValueError, match=r"entity mask must have shape"):
        model(x, mask=torch.ones(2, 4, dtype=torch.bool))
