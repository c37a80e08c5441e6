"""Encoder, PerceiverIO assembly, original Perceiver: shapes, masking, weight sharing, gradients, errors."""

import numpy as np
import pytest
import torch

from perceiver_io import EncoderConfig, Perceiver, PerceiverConfig, PerceiverEncoder, PerceiverIO
from perceiver_io.adapters import EntitySetAdapter
from perceiver_io.decoders.basic import BasicDecoder
from perceiver_io.decoders.classification import ClassificationDecoder


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_encoder_output_shape_and_latent_count():
    cfg = EncoderConfig.small(num_latents=7, d_latents=16, num_self_attention_heads=2)
    enc = PerceiverEncoder(cfg, input_dim=5)
    assert enc(torch.randn(3, 11, 5)).shape == (3, 7, 16)


def test_masked_inputs_equal_truncated_inputs():
    enc = PerceiverEncoder(EncoderConfig.small(), input_dim=6).eval()
    x = torch.randn(2, 12, 6)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[:, 9:] = False
    torch.testing.assert_close(enc(x, mask), enc(x[:, :9]), atol=1e-6, rtol=1e-5)
    # Garbage in masked positions changes nothing.
    y = x.clone()
    y[:, 9:] = 1e3
    torch.testing.assert_close(enc(y, mask), enc(x, mask))


def test_weight_sharing_across_blocks_is_counted_once():
    one = PerceiverEncoder(EncoderConfig.small(num_blocks=1), input_dim=6)
    three = PerceiverEncoder(EncoderConfig.small(num_blocks=3), input_dim=6)
    assert n_params(one) == n_params(three)
    three.load_state_dict(one.state_dict())
    x = torch.randn(1, 4, 6)
    assert not torch.allclose(one(x), three(x))


def test_original_perceiver_shares_weights_after_first_block():
    shared = Perceiver(PerceiverConfig.small(num_cross_attends=4, share_weights_after_first=True), input_dim=6)
    distinct = Perceiver(PerceiverConfig.small(num_cross_attends=4, share_weights_after_first=False), input_dim=6)
    two = Perceiver(PerceiverConfig.small(num_cross_attends=2, share_weights_after_first=False), input_dim=6)
    assert shared.block_schedule() == [0, 1, 1, 1]
    assert n_params(shared) == n_params(two) < n_params(distinct)
    logits = shared(torch.randn(3, 9, 6))
    assert logits.shape == (3, 10)


def test_original_perceiver_masks_inputs():
    model = Perceiver(PerceiverConfig.small(), input_dim=4).eval()
    x = torch.randn(2, 8, 4)
    mask = torch.ones(2, 8)
    mask[:, 5:] = 0
    torch.testing.assert_close(model(x, attention_mask=mask), model(x[:, :5]), atol=1e-6, rtol=1e-5)


def test_gradients_reach_every_parameter():
    cfg = EncoderConfig.small(num_blocks=2)
    decoder = BasicDecoder(cfg.d_latents, output_num_channels=3, output_index_dims=(5,), num_channels=16,
                           position_encoding="fourier",
                           position_encoding_kwargs={"num_bands": 4, "max_resolution": (5,), "project_pos_dim": 16})
    model = PerceiverIO(cfg, input_adapter=EntitySetAdapter(7, 24), decoder=decoder)
    out = model(torch.randn(2, 6, 7), mask=torch.ones(2, 6, dtype=torch.bool))
    out.square().sum().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_subsampled_decoding_equals_slice_of_full_decoding():
    cfg = EncoderConfig.small()
    dec = BasicDecoder(cfg.d_latents, 2, output_index_dims=(4, 6), num_channels=16, position_encoding="trainable",
                       position_encoding_kwargs={"index_dims": (4, 6), "num_channels": 16})
    model = PerceiverIO(cfg, decoder=dec, input_dim=5).eval()
    x = torch.randn(2, 10, 5)
    points = torch.tensor([0, 7, 23, 5])
    torch.testing.assert_close(model(x, subsampled_output_points=points), model(x)[:, points])


def test_fourier_subsampled_points_use_the_half_open_grid():
    # HF/DeepMind place subsampled query i at -1 + 2 i / n (in [-1, 1)), unlike the full linspace grid.
    cfg = EncoderConfig.small()
    dec = BasicDecoder(cfg.d_latents, 2, output_index_dims=(4, 6), num_channels=18, position_encoding="fourier",
                       position_encoding_kwargs={"num_bands": 4, "max_resolution": (4, 6)})
    model = PerceiverIO(cfg, decoder=dec, input_dim=5).eval()
    x = torch.randn(2, 10, 5)
    latents, adapted = model.encode(x)
    queries = dec.build_queries(adapted, torch.tensor([0, 7, 23]))
    torch.testing.assert_close(queries[0, :, :2], torch.tensor([[-1.0, -1.0], [-0.5, -2 / 3], [0.5, 2 / 3]]))
    # Decoding all points in chunks equals decoding them at once.
    everything = torch.arange(24)
    whole = model(x, subsampled_output_points=everything)
    chunks = torch.cat([model(x, subsampled_output_points=c) for c in everything.chunk(5)], dim=1)
    torch.testing.assert_close(chunks, whole)


def test_classification_decoder_returns_one_logit_vector():
    cfg = EncoderConfig.small()
    model = PerceiverIO(cfg, decoder=ClassificationDecoder(cfg.d_latents, 4), input_dim=5)
    assert model(torch.randn(3, 8, 5)).shape == (3, 4)


@pytest.mark.parametrize(
    "bad,match",
    [
        (torch.randn(8, 5), r"\[batch, tokens, 5\]"),
        (torch.randn(2, 8, 4), r"4 channels instead of 5"),
    ],
)
def test_bad_input_shapes_raise_value_errors_naming_the_expected_shape(bad, match):
    model = PerceiverIO(EncoderConfig.small(), input_dim=5)
    with pytest.raises(ValueError, match=match):
        model(bad)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_floating_inputs_of_another_dtype_are_cast_to_the_model_dtype(dtype):
    """The one dtype rule at every entry point: float64 (numpy's), half and bfloat16 inputs are cast to the model's
    dtype; the outputs are what float32 inputs of the same values give."""
    from perceiver_io.adapters import ImageAdapter
    from perceiver_io.decoders.per_element import PerElementDecoder

    torch.manual_seed(0)
    x = torch.randn(2, 8, 5).to(dtype)
    plain = PerceiverIO(EncoderConfig.small(), input_dim=5).eval()
    torch.testing.assert_close(plain(x), plain(x.float()))
    assert plain(x).dtype == torch.float32
    entity = PerceiverIO(EncoderConfig.small(d_latents=32), input_adapter=EntitySetAdapter(5, 16),
                         decoder=PerElementDecoder(32, query_channels=16, output_channels=3)).eval()  # fmt: skip
    mask, queries = torch.ones(2, 8, dtype=torch.bool), torch.randn(2, 8, 16).to(dtype)
    torch.testing.assert_close(entity(x, mask=mask, queries=queries),
                               entity(x.float(), mask=mask, queries=queries.float()))  # fmt: skip
    image = ImageAdapter(prep_type="conv1x1", out_channels=4, spatial_downsample=1, position_encoding="trainable",
                         position_encoding_kwargs=dict(index_dims=(4, 4), num_channels=3))  # fmt: skip
    pixels = torch.randn(1, 3, 4, 4)
    torch.testing.assert_close(image(pixels.to(dtype)).tokens, image(pixels.to(dtype).float()).tokens)
    encoder = PerceiverEncoder(EncoderConfig.small(), input_dim=5).eval()
    torch.testing.assert_close(encoder(x), encoder(x.float()))
    original = Perceiver(PerceiverConfig.small(), input_dim=5).eval()
    torch.testing.assert_close(original(x), original(x.float()))


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: (PerceiverIO(EncoderConfig.small(), input_dim=5), torch.ones(2, 8, 5, dtype=torch.long)), "inputs"),
        (lambda: (PerceiverEncoder(EncoderConfig.small(), input_dim=5), torch.ones(2, 8, 5, dtype=torch.int32)),
         "encoder inputs"),
        (lambda: (EntitySetAdapter(5, 16), torch.ones(2, 8, 5, dtype=torch.bool)), "entity features"),
    ],
)
def test_inputs_that_are_not_floating_point_raise_one_error_naming_them(make, name):
    module, x = make()
    with pytest.raises(ValueError, match=rf"^{name} must be a floating-point tensor \(cast to the model's "
                                         rf"torch.float32\), got torch\.\w+$"):  # fmt: skip
        module(x)


def test_bad_mask_shape_is_named():
    model = PerceiverIO(EncoderConfig.small(), input_dim=5)
    with pytest.raises(ValueError, match=r"attention_mask must have shape \[batch, tokens\] = \(2, 8\)"):
        model(torch.randn(2, 8, 5), attention_mask=torch.ones(2, 7))


def test_config_validation():
    with pytest.raises(ValueError, match="divisible"):
        EncoderConfig(d_latents=30, num_self_attention_heads=8)
    with pytest.raises(ValueError, match="cross_attention_shape_for_attention"):
        EncoderConfig.small(cross_attention_shape_for_attention="x")


def test_decoder_cross_attention_honours_a_key_padding_mask():
    dec = BasicDecoder(16, 3, output_index_dims=(4,), num_channels=8, position_encoding="trainable",
                       position_encoding_kwargs={"index_dims": 4, "num_channels": 8}).eval()
    queries = torch.randn(2, 4, 8)
    keys = torch.randn(2, 10, 16)
    key_mask = torch.ones(2, 10, dtype=torch.bool)
    key_mask[:, 6:] = False
    torch.testing.assert_close(dec(queries, keys, latent_mask=key_mask), dec(queries, keys[:, :6]),
                               atol=1e-6, rtol=1e-5)
    query_mask = torch.tensor([[1, 1, 0, 0], [1, 0, 1, 0]], dtype=torch.bool)
    assert (dec.cross_attention(queries, keys, q_mask=query_mask)[~query_mask] == 0).all()


def test_decoder_queries_can_concatenate_the_inputs_without_positions():
    cfg = EncoderConfig.small()
    dec = BasicDecoder(cfg.d_latents, 3, output_index_dims=(6,), num_channels=5 + 5, position_encoding="fourier",
                       position_encoding_kwargs={"num_bands": 2, "max_resolution": (6,)},
                       concat_preprocessed_input=True)
    model = PerceiverIO(cfg, input_adapter=EntitySetAdapter(4, 5), decoder=dec)
    x = torch.randn(2, 6, 4)
    adapted = model.adapt(x)
    queries = dec.build_queries(adapted)
    assert queries.shape == (2, 6, 10)
    torch.testing.assert_close(queries[..., :5], adapted.without_pos)
    assert model(x).shape == (2, 6, 3)
    with pytest.raises(ValueError, match="needs the adapter's inputs without positions"):
        dec.build_queries(type(adapted)(tokens=adapted.tokens))


def test_numpy_inputs_and_out_of_vocabulary_token_ids_raise_one_error_naming_them():
    from perceiver_io.adapters.text import TextAdapter

    model = PerceiverIO(EncoderConfig.small(), input_dim=5)
    with pytest.raises(ValueError, match=r"^inputs must be a torch.Tensor, got ndarray \(torch.from_numpy"):
        model(np.zeros((2, 8, 5)))
    text = TextAdapter(vocab_size=10, max_position_embeddings=8, d_model=4)
    text(torch.tensor([[0, 9, 3]]))  # in range: runs
    vocabulary = r"^text inputs must be token ids in \[0, 10\) \(the vocabulary\), got "
    for ids, bad in (([[0, 10, 3]], r"10 at \[0, 1\]"), ([[1, 2], [-1, 0]], r"-1 at \[1, 0\]")):
        with pytest.raises(ValueError, match=vocabulary + bad):
            text(torch.tensor(ids))
    with pytest.raises(ValueError, match=r"^text inputs must be a torch.Tensor, got ndarray"):
        text(np.zeros((1, 3), dtype=np.int64))
