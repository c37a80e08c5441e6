"""Image adapter (every prep type), conv stem, image classifiers and their HF parity / parameter counts."""

import math

import pytest
import torch
import torch.nn.functional as F

from perceiver_io.adapters.conv_stem import ConvStem
from perceiver_io.adapters.image import ImageAdapter
from perceiver_io.config import EncoderConfig
from perceiver_io.hf import from_huggingface, from_state_dict
from perceiver_io.hf.image import RULES, image_adapter_rules
from perceiver_io.hf.keys import load_mapped_state_dict
from perceiver_io.tasks.image import ImageClassifierConfig, build_image_classifier

transformers = pytest.importorskip("transformers")
hf_mod = pytest.importorskip("transformers.models.perceiver.modeling_perceiver")

HF_CLASSES = {
    "learned": "PerceiverForImageClassificationLearned",
    "fourier": "PerceiverForImageClassificationFourier",
    "conv": "PerceiverForImageClassificationConvProcessing",
}


def fourier(*max_resolution, num_bands=6):
    return dict(num_bands=num_bands, max_resolution=max_resolution)


def test_conv_stem_gives_55_by_55_at_224():
    stem = ConvStem(3, 8).eval()
    with torch.no_grad():
        out = stem(torch.randn(1, 3, 224, 224))
    assert out.shape == (1, 8, 55, 55)
    assert ConvStem.output_size(224, 224) == (55, 55)
    assert ConvStem.output_size(37, 20) == tuple(stem(torch.randn(1, 3, 37, 20)).shape[-2:])


@pytest.mark.parametrize(
    "kwargs, shape, grid, content",
    [
        (
            dict(prep_type="conv", out_channels=8, position_encoding_kwargs=fourier(8, 8)),
            (2, 3, 32, 28),
            (7, 6),
            8,
        ),
        (
            dict(
                prep_type="conv1x1",
                out_channels=5,
                spatial_downsample=2,
                position_encoding_kwargs=fourier(8, 8),
            ),
            (2, 3, 16, 12),
            (8, 6),
            5,
        ),
        (
            dict(prep_type="patches", spatial_downsample=4, position_encoding_kwargs=fourier(4, 4)),
            (2, 3, 16, 12),
            (4, 3),
            48,
        ),
        (
            dict(
                prep_type="patches",
                spatial_downsample=2,
                temporal_downsample=2,
                in_channels=1,
                position_encoding_kwargs=fourier(2, 4, 4),
            ),
            (2, 4, 1, 8, 8),
            (2, 4, 4),
            8,
        ),
        (
            dict(
                prep_type="patches",
                spatial_downsample=1,
                temporal_downsample=2,
                in_channels=4,
                conv_after_patching=True,
                conv_after_patching_in_channels=8,
                out_channels=6,
                position_encoding_kwargs=fourier(5, 7),
            ),
            (2, 2, 4, 5, 7),
            (5, 7),
            6,
        ),
        (
            dict(prep_type="pixels", spatial_downsample=2, position_encoding_kwargs=fourier(8, 8)),
            (2, 3, 16, 15),
            (8, 8),
            3,
        ),
        (
            dict(
                prep_type="pixels",
                spatial_downsample=2,
                temporal_downsample=3,
                position_encoding_kwargs=fourier(2, 4, 4),
            ),
            (2, 6, 3, 8, 8),
            (2, 4, 4),
            3,
        ),
        (
            dict(
                prep_type="conv1x1",
                out_channels=5,
                spatial_downsample=1,
                position_encoding="trainable",
                position_encoding_kwargs=dict(index_dims=(4, 6), num_channels=7, project_pos_dim=5),
                concat_or_add_pos="add",
            ),
            (2, 3, 4, 6),
            (4, 6),
            5,
        ),
        (dict(prep_type="pixels", spatial_downsample=1, position_encoding="none"), (2, 3, 4, 5), (4, 5), 3),
    ],
)
def test_adapter_shapes(kwargs, shape, grid, content):
    adapter = ImageAdapter(**kwargs).eval()
    x = torch.randn(*shape)
    out = adapter(x)
    n = math.prod(grid)
    assert out.index_dims == grid
    assert out.tokens.shape == (2, n, adapter.num_channels)
    assert out.without_pos.shape == (2, n, content)
    assert out.mask is None
    if kwargs.get("concat_or_add_pos", "concat") == "concat":
        torch.testing.assert_close(out.tokens[..., :content], out.without_pos)
    if kwargs["prep_type"] == "pixels":
        s, t = kwargs["spatial_downsample"], kwargs.get("temporal_downsample", 1)
        picked = x[..., ::s, ::s] if x.dim() == 4 else x[:, ::t, :, ::s, ::s]
        torch.testing.assert_close(out.without_pos, picked.movedim(-3, -1).reshape(2, n, content))


def test_trainable_position_table_resizes_to_the_input_grid():
    adapter = ImageAdapter(
        prep_type="conv1x1",
        out_channels=4,
        spatial_downsample=1,
        position_encoding="trainable",
        position_encoding_kwargs=dict(index_dims=(4, 4), num_channels=3),
    )
    x = torch.randn(2, 3, 6, 5)
    with pytest.raises(
        ValueError, match=r"16 positions .* \(6, 5\) = 30 tokens; pass resize_pos_encoding=True"
    ):
        adapter(x)
    out = adapter(x, resize_pos_encoding=True)
    table = adapter.position_encoding.embeddings.reshape(1, 4, 4, 3).permute(0, 3, 1, 2)
    expected = F.interpolate(table, size=(6, 5), mode="bicubic", align_corners=False)
    torch.testing.assert_close(out.tokens[0, :, 4:], expected.reshape(3, 30).t())
    torch.testing.assert_close(adapter(x, interpolate_pos_encoding=True).tokens, out.tokens)
    assert adapter(torch.randn(1, 3, 4, 4), resize_pos_encoding=True).tokens.shape == (1, 16, 7)


@pytest.mark.parametrize(
    "kwargs, inputs, message",
    [
        (
            dict(prep_type="conv"),
            torch.randn(2, 3, 32),
            r"expects \[B, C, H, W\] with C=3, got shape \(2, 3, 32\)",
        ),
        (dict(prep_type="conv"), torch.randn(1, 2, 3, 16, 16), r"expects \[B, C, H, W\] with C=3"),
        (
            dict(prep_type="conv1x1", position_encoding_kwargs=fourier(4, 4)),
            torch.randn(2, 4, 8, 8),
            r"with C=3, got shape \(2, 4, 8, 8\) \(4 channels\)",
        ),
        (
            dict(prep_type="pixels", spatial_downsample=1),
            torch.randn(2, 3),
            r"\[B, C, H, W\] or \[B, T, C, H, W\]",
        ),
        (
            dict(prep_type="pixels", temporal_downsample=2),
            torch.randn(2, 3, 8, 8),
            r"needs videos \[B, T, C, H, W\]",
        ),
        (
            dict(prep_type="patches", temporal_downsample=2),
            torch.randn(2, 3, 8, 8),
            r"needs videos \[B, T, C, H, W\]",
        ),
        (dict(prep_type="patches", spatial_downsample=3), torch.randn(2, 3, 8, 8), "divisible by 3"),
        (dict(prep_type="conv"), torch.randn(2, 3, 4, 4), "at least 5x5"),
        (
            dict(
                prep_type="patches",
                spatial_downsample=2,
                temporal_downsample=2,
                position_encoding_kwargs=fourier(4, 4),
            ),
            torch.randn(1, 4, 3, 8, 8),
            r"Fourier encoding is 2-D .* token grid \(2, 4, 4\) is 3-D",
        ),
    ],
)
def test_bad_inputs_raise_value_errors_naming_the_shape(kwargs, inputs, message):
    adapter = ImageAdapter(**kwargs)
    with pytest.raises(ValueError, match=message):
        adapter(inputs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(prep_type="sift"), "prep_type must be one of"),
        (dict(position_encoding="learned"), "position_encoding must be one of"),
        (dict(concat_or_add_pos="mul"), "concat_or_add_pos must be 'concat' or 'add'"),
        (dict(prep_type="conv", spatial_downsample=2), "spatial_downsample must be 4"),
        (dict(prep_type="conv1x1", temporal_downsample=2), "temporal_downsample must be 1"),
        (dict(prep_type="patches", spatial_downsample=2, conv_after_patching=True), r"must equal .* \(12\)"),
        (dict(prep_type="pixels", concat_or_add_pos="add"), "content has 3 channels, positions have 258"),
    ],
)
def test_bad_adapter_settings_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImageAdapter(**kwargs)


HF_PREP_CASES = [
    (
        dict(
            prep_type="conv",
            spatial_downsample=1,
            fourier_position_encoding_kwargs=dict(
                num_bands=6, max_resolution=(8, 8), concat_pos=True, sine_only=False
            ),
        ),
        dict(prep_type="conv", position_encoding_kwargs=fourier(8, 8)),
        (2, 3, 30, 26),
    ),
    (
        dict(
            prep_type="conv1x1",
            spatial_downsample=2,
            out_channels=8,
            position_encoding_type="trainable",
            project_pos_dim=8,
            trainable_position_encoding_kwargs=dict(num_channels=8, index_dims=48),
        ),
        dict(
            prep_type="conv1x1",
            spatial_downsample=2,
            out_channels=8,
            position_encoding="trainable",
            position_encoding_kwargs=dict(index_dims=(8, 6), num_channels=8, project_pos_dim=8),
        ),
        (2, 3, 16, 12),
    ),
    (
        dict(
            prep_type="pixels",
            spatial_downsample=1,
            concat_or_add_pos="concat",
            fourier_position_encoding_kwargs=dict(
                num_bands=4, max_resolution=(9, 9), concat_pos=True, sine_only=True
            ),
        ),
        dict(
            prep_type="pixels",
            spatial_downsample=1,
            position_encoding_kwargs=dict(
                num_bands=4, max_resolution=(9, 9), concat_pos=True, sine_only=True
            ),
        ),
        (2, 3, 9, 7),
    ),
    (
        dict(
            prep_type="patches",
            spatial_downsample=1,
            temporal_downsample=2,
            conv_after_patching=True,
            conv_after_patching_in_channels=54,
            fourier_position_encoding_kwargs=dict(
                num_bands=6, max_resolution=(6, 6), concat_pos=True, sine_only=False
            ),
        ),
        dict(
            prep_type="patches",
            in_channels=27,
            spatial_downsample=1,
            temporal_downsample=2,
            conv_after_patching=True,
            position_encoding_kwargs=fourier(6, 6),
        ),
        (2, 2, 27, 6, 5),
    ),
    (
        dict(
            prep_type="patches",
            spatial_downsample=4,
            temporal_downsample=2,
            fourier_position_encoding_kwargs=dict(
                num_bands=6, max_resolution=(2, 4, 4), concat_pos=True, sine_only=False
            ),
        ),
        dict(
            prep_type="patches",
            spatial_downsample=4,
            temporal_downsample=2,
            position_encoding_kwargs=fourier(2, 4, 4),
        ),
        (2, 4, 3, 16, 16),
    ),
]


@pytest.mark.parametrize("hf_kwargs, our_kwargs, shape", HF_PREP_CASES)
def test_adapter_matches_hf_preprocessor(hf_kwargs, our_kwargs, shape):
    hf = hf_mod.PerceiverImagePreprocessor(transformers.PerceiverConfig(), **hf_kwargs).eval()
    ours = ImageAdapter(**our_kwargs).eval()
    load_mapped_state_dict(ours, hf.state_dict(), image_adapter_rules("", ""))
    assert ours.num_channels == hf.num_channels
    x = torch.randn(*shape)
    with torch.no_grad():
        tokens, _, without_pos = hf(x)
        out = ours(x)
    assert (out.tokens - tokens).abs().max() <= 1e-6
    assert (out.without_pos - without_pos).abs().max() <= 1e-6


def randomize(model):
    """Move every weight and BatchNorm statistic away from its init so the logits are O(1)."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.normal_()
            elif name.endswith("running_var"):
                b.uniform_(0.5, 2.0)
    return model.eval()


def hf_classifier(kind, **overrides):
    base = dict(
        num_latents=8,
        d_latents=32,
        num_blocks=1,
        num_self_attends_per_block=2,
        num_self_attention_heads=2,
        num_cross_attention_heads=1,
        num_labels=5,
        image_size=8,
    )
    config = transformers.PerceiverConfig(**{**base, **overrides})
    return randomize(getattr(transformers, HF_CLASSES[kind])(config))


ENCODER_VARIANTS = [
    {},
    {
        "num_self_attention_heads": 4,
        "num_cross_attention_heads": 2,
        "qk_channels": 16,
        "v_channels": 32,
        "num_blocks": 2,
        "use_query_residual": False,
    },
    {"cross_attention_shape_for_attention": "q", "num_blocks": 3, "self_attention_widening_factor": 2},
]


@pytest.mark.parametrize("overrides", ENCODER_VARIANTS)
@pytest.mark.parametrize("kind, size", [("learned", 8), ("fourier", 8), ("conv", 20)])
def test_image_classifiers_match_hf(kind, size, overrides):
    hf = hf_classifier(kind, **overrides)
    ours = from_huggingface(hf)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        expected = hf(inputs=x).logits
        got = ours(x)
    assert got.shape == (2, 5)
    assert expected.abs().max() > 0.1
    assert (got - expected).abs().max() <= 1e-5


def test_attention_mask_and_offline_state_dict_match_hf():
    hf = hf_classifier("fourier", num_blocks=2)
    ours = from_state_dict(dict(hf.state_dict()), hf.config.to_dict(), HF_CLASSES["fourier"])
    x = torch.randn(2, 3, 6, 6)
    mask = torch.ones(2, 36, dtype=torch.long)
    mask[1, 20:] = 0
    with torch.no_grad():
        assert (ours(x, attention_mask=mask) - hf(inputs=x, attention_mask=mask).logits).abs().max() <= 1e-5


def test_learned_model_resizes_its_position_table_like_hf():
    hf = hf_classifier("learned")
    ours = from_huggingface(hf)
    x = torch.randn(2, 3, 12, 10)
    with torch.no_grad():
        expected = hf(inputs=x, interpolate_pos_encoding=True).logits
        assert (ours(x, interpolate_pos_encoding=True) - expected).abs().max() <= 1e-5
        assert (ours(x, resize_pos_encoding=True) - expected).abs().max() <= 1e-5
    with pytest.raises(ValueError, match="resize_pos_encoding=True"):
        ours(x)


@pytest.mark.parametrize("residual", [False, True])
def test_decoder_options_match_an_hf_decoder_built_with_them(residual):
    hf = hf_classifier("learned")
    hf.perceiver.decoder = hf_mod.PerceiverClassificationDecoder(
        hf.config,
        num_channels=32,
        trainable_position_encoding_kwargs={"num_channels": 32, "index_dims": 1},
        use_query_residual=residual,
        num_heads=4,
        qk_channels=16,
        v_channels=8,
        widening_factor=2,
    )
    randomize(hf)
    config = ImageClassifierConfig(
        encoder=EncoderConfig(
            num_latents=8,
            d_latents=32,
            num_self_attends_per_block=2,
            num_self_attention_heads=2,
            num_cross_attention_heads=1,
        ),
        preprocessing="learned",
        image_size=8,
        num_classes=5,
        decoder_num_heads=4,
        decoder_qk_channels=16,
        decoder_v_channels=8,
        decoder_widening_factor=2,
        decoder_use_query_residual=residual,
    )
    ours = build_image_classifier(config).eval()
    load_mapped_state_dict(ours, hf.state_dict(), RULES)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert (ours(x) - hf(inputs=x).logits).abs().max() <= 1e-5


@pytest.mark.parametrize("kind", ["learned", "fourier", "conv"])
def test_paper_parameter_counts_equal_hf(kind):
    hf_config = transformers.PerceiverConfig(
        num_latents=512,
        d_latents=1024,
        num_blocks=8,
        num_self_attends_per_block=6,
        num_self_attention_heads=8,
        num_cross_attention_heads=1,
        image_size=224,
        num_labels=1000,
    )
    with torch.device("meta"):
        hf = getattr(transformers, HF_CLASSES[kind])(hf_config)
        ours = build_image_classifier(ImageClassifierConfig.paper(kind))
    count = lambda m: sum(p.numel() for p in m.parameters())
    assert count(ours) == count(hf)
    assert sum(b.numel() for b in ours.buffers()) == sum(b.numel() for b in hf.buffers())


def test_paper_presets_and_small_models():
    paper = ImageClassifierConfig.paper("conv")
    assert (paper.encoder.num_latents, paper.encoder.d_latents, paper.encoder.num_blocks) == (512, 1024, 8)
    assert (paper.encoder.num_self_attends_per_block, paper.encoder.num_self_attention_heads) == (6, 8)
    assert paper.num_classes == 1000 and paper.image_size == 224 and paper.decoder_use_query_residual
    for kind, channels in [("learned", 64), ("fourier", 3 + 2 * 2 * 16 + 2), ("conv", 16 + 2 * 2 * 16 + 2)]:
        model = build_image_classifier(ImageClassifierConfig.small(kind)).eval()
        assert model.input_adapter.num_channels == channels
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="preprocessing must be one of"):
        ImageClassifierConfig.small("patches")
