"""Audio/label/multimodal adapters, video and multimodal decoders, chunked autoencoding, HF parity."""

import math

import pytest
import torch

from perceiver_io.adapters.audio import AudioAdapter
from perceiver_io.adapters.base import AdaptedInput
from perceiver_io.adapters.label import OneHotAdapter
from perceiver_io.adapters.multimodal import MultimodalAdapter
from perceiver_io.decoders.basic import BasicDecoder
from perceiver_io.decoders.multimodal import MultimodalDecoder, MultimodalPostprocessor, split_by_modality
from perceiver_io.decoders.postprocessors import AudioPostprocessor, ProjectionPostprocessor
from perceiver_io.decoders.video import VideoAutoencodingDecoder
from perceiver_io.position_encoding import fourier_features, linear_positions
from perceiver_io.tasks.multimodal import MultimodalAutoencoderConfig, build_multimodal_autoencoder
from perceiver_io.tasks.multimodal_chunks import autoencode_in_chunks

FOURIER_1D = {"num_bands": 3, "max_resolution": (32,)}


def small_inputs(config: MultimodalAutoencoderConfig, batch: int = 2) -> dict[str, torch.Tensor]:
    return {
        "audio": torch.randn(batch, config.audio_samples, 1),
        "image": torch.randn(batch, config.num_frames, 3, config.image_size, config.image_size),
        "label": torch.nn.functional.one_hot(
            torch.arange(batch) % config.num_classes, config.num_classes
        ).float(),
    }


# ----------------------------------------------------------------------------------------------- adapters


def test_audio_adapter_patches_and_fourier_positions():
    adapter = AudioAdapter(samples_per_patch=4, position_encoding_kwargs=FOURIER_1D)
    audio = torch.randn(2, 32)
    out = adapter(audio)
    assert adapter.num_channels == 4 + 1 + 2 * 3 == out.tokens.shape[-1]
    assert out.tokens.shape == (2, 8, 11) and out.index_dims == (8,)
    torch.testing.assert_close(out.without_pos, audio.reshape(2, 8, 4))
    torch.testing.assert_close(out.tokens[:, :, :4], audio.reshape(2, 8, 4))
    pos = fourier_features(linear_positions((8,)).reshape(8, 1), 3, (32,))
    torch.testing.assert_close(out.tokens[0, :, 4:], pos)
    # A trailing channel axis of 1 is the same waveform.
    torch.testing.assert_close(adapter(audio[..., None]).tokens, out.tokens)


def test_audio_adapter_add_and_trainable_positions():
    add = AudioAdapter(
        2,
        position_encoding_kwargs={"num_bands": 2, "max_resolution": (8,), "project_pos_dim": 2},
        concat_or_add_pos="add",
    )
    assert add.num_channels == 2 and add(torch.randn(3, 8)).tokens.shape == (3, 4, 2)
    table = AudioAdapter(
        2, position_encoding="trainable", position_encoding_kwargs={"index_dims": 4, "num_channels": 5}
    )
    out = table(torch.randn(3, 8))
    assert out.tokens.shape == (3, 4, 7)
    torch.testing.assert_close(out.tokens[1, :, 2:], table.position_encoding.embeddings)
    with pytest.raises(ValueError, match="trainable position table has 4 rows"):
        table(torch.randn(3, 10))


@pytest.mark.parametrize(
    "shape, match",
    [
        ((2, 30), "divisible by samples_per_patch=4"),
        ((2, 32, 2), r"\[batch, samples\]"),
        ((32,), r"\[batch, samples\]"),
    ],
)
def test_audio_adapter_rejects_bad_shapes(shape, match):
    with pytest.raises(ValueError, match=match):
        AudioAdapter(4, position_encoding_kwargs=FOURIER_1D)(torch.randn(*shape))


def test_audio_adapter_rejects_bad_settings():
    with pytest.raises(ValueError, match="concat_or_add_pos"):
        AudioAdapter(4, position_encoding_kwargs=FOURIER_1D, concat_or_add_pos="sum")
    with pytest.raises(ValueError, match="position channels"):
        AudioAdapter(4, position_encoding_kwargs=FOURIER_1D, concat_or_add_pos="add")


def test_one_hot_adapter():
    labels = torch.eye(5)[[1, 3]]
    out = OneHotAdapter(5)(labels)
    assert out.tokens.shape == (2, 1, 5) and OneHotAdapter(5).num_channels == 5
    torch.testing.assert_close(out.tokens[:, 0], labels)
    for bad in (torch.zeros(2, 4), torch.zeros(2, 1, 5)):
        with pytest.raises(ValueError, match=r"\[batch, 5\]"):
            OneHotAdapter(5)(bad)


def two_modalities(**kwargs) -> MultimodalAdapter:
    return MultimodalAdapter(
        {"label": OneHotAdapter(3), "audio": AudioAdapter(4, position_encoding_kwargs=FOURIER_1D)}, **kwargs
    )


def test_multimodal_adapter_pads_and_concatenates_in_sorted_order():
    adapter = two_modalities(min_padding_size=2)
    assert adapter.num_channels == 11 + 2
    audio, label = torch.randn(2, 32), torch.eye(3)[[0, 2]]
    out = adapter({"label": label, "audio": audio})
    assert out.tokens.shape == (2, 9, 13)
    assert list(out.modality_sizes.items()) == [("audio", 8), ("label", 1)]
    torch.testing.assert_close(out.tokens[:, :8, :11], adapter.modalities["audio"](audio).tokens)
    torch.testing.assert_close(out.tokens[:, :8, 11:], adapter.padding["audio"].expand(2, 8, 2))
    torch.testing.assert_close(out.tokens[:, 8, :3], label)
    torch.testing.assert_close(out.tokens[:, 8, 3:], adapter.padding["label"].expand(2, 10))
    assert set(out.without_pos) == {"audio", "label"} and out.without_pos["audio"].shape == (2, 8, 4)
    assert out.mask is None


def test_mask_probability_zero_keeps_tokens_and_one_replaces_all():
    torch.manual_seed(1)
    adapter = two_modalities(mask_probs={"audio": 0.0, "label": 1.0})
    plain = two_modalities()
    plain.load_state_dict(adapter.state_dict(), strict=False)
    inputs = {"audio": torch.randn(4, 32), "label": torch.eye(3)[[0, 1, 2, 0]]}
    out, ref = adapter(inputs), plain(inputs)
    torch.testing.assert_close(out.tokens[:, :8], ref.tokens[:, :8])
    torch.testing.assert_close(out.tokens[:, 8], adapter.mask_tokens["label"].expand(4, 13))
    # Masking happens in eval mode too (HF/DeepMind), so the label never reaches the encoder.
    adapter.eval()
    torch.testing.assert_close(adapter(inputs).tokens[:, 8], adapter.mask_tokens["label"].expand(4, 13))


def test_mask_probability_replaces_about_that_fraction():
    torch.manual_seed(2)
    adapter = MultimodalAdapter(
        {"audio": AudioAdapter(4, position_encoding_kwargs=FOURIER_1D)}, mask_probs={"audio": 0.25}
    )
    out = adapter({"audio": torch.randn(8, 32 * 64)}).tokens
    hit = (out == adapter.mask_tokens["audio"]).all(dim=-1).float().mean().item()
    assert 0.2 < hit < 0.3


def test_multimodal_adapter_errors():
    with pytest.raises(ValueError, match="not among"):
        two_modalities(mask_probs={"video": 0.5})
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        two_modalities(mask_probs={"label": 1.5})
    with pytest.raises(ValueError, match=r"keys \['audio', 'label'\]"):
        two_modalities()({"audio": torch.randn(2, 32)})
    with pytest.raises(ValueError, match="must be a dict"):
        two_modalities()(torch.randn(2, 32))


# ----------------------------------------------------------------------------------------------- decoders


def test_video_decoder_reshapes_full_output_and_keeps_subsampled_flat():
    pos = {"num_bands": 2, "max_resolution": (2, 4, 4)}
    decoder = VideoAutoencodingDecoder(
        16, 5, output_shape=(2, 4, 4), num_channels=15, position_encoding_kwargs=pos
    )
    assert decoder.query_encoding.num_channels == 15
    adapted = AdaptedInput(tokens=torch.randn(3, 7, 9))
    latents = torch.randn(3, 6, 16)
    assert decoder(decoder.build_queries(adapted), latents).shape == (3, 2, 4, 4, 5)
    every = decoder(decoder.build_queries(adapted, torch.arange(32)), latents)
    assert every.shape == (3, 2, 4, 4, 5)
    points = torch.tensor([0, 5, 31])
    part = decoder(decoder.build_queries(adapted, points), latents)
    assert part.shape == (3, 3, 5)
    torch.testing.assert_close(part, every.reshape(3, 32, 5)[:, points], atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="frames, height, width"):
        VideoAutoencodingDecoder(16, 5, output_shape=(4, 4))


def test_multimodal_decoder_output_sizes_follow_subsampling():
    config = MultimodalAutoencoderConfig.small()
    model = build_multimodal_autoencoder(config).eval()
    adapted = model.adapt(small_inputs(config))
    decoder = model.decoder
    full = decoder.output_modality_sizes(adapted)
    assert full == {
        "audio": config.audio_samples // config.samples_per_patch,
        "image": math.prod(config.video_shape),
        "label": 1,
    }
    sizes = decoder.output_modality_sizes(adapted, {"image": torch.arange(10), "label": None})
    assert sizes == {"audio": full["audio"], "image": 10, "label": 1}
    queries = decoder.build_queries(adapted, {"image": torch.arange(10), "label": None})
    assert queries.shape == (2, full["audio"] + 10 + 1, decoder.num_query_channels)
    with pytest.raises(ValueError, match="not among"):
        decoder.build_queries(adapted, {"video": torch.arange(3)})
    with pytest.raises(ValueError, match="must be a dict"):
        decoder.build_queries(adapted, torch.arange(3))


def test_multimodal_decoder_pads_queries_per_modality():
    audio = BasicDecoder(
        8,
        4,
        output_index_dims=(3,),
        position_encoding="fourier",
        position_encoding_kwargs={"num_bands": 2, "max_resolution": (3,)},
        queries_only=True,
    )
    label = BasicDecoder(
        8,
        4,
        output_index_dims=1,
        position_encoding_kwargs={"index_dims": 1, "num_channels": 7},
        queries_only=True,
    )
    decoder = MultimodalDecoder(
        8, {"label": label, "audio": audio}, output_num_channels=6, min_padding_size=2
    )
    assert decoder.num_query_channels == 9
    adapted = AdaptedInput(tokens=torch.randn(2, 4, 5), modality_sizes={"audio": 3, "label": 1})
    q = decoder.build_queries(adapted)
    assert q.shape == (2, 4, 9)
    torch.testing.assert_close(q[:, :3, 5:], decoder.padding["audio"].expand(2, 3, 4))
    torch.testing.assert_close(q[:, 3, :7], label.query_encoding.embeddings.expand(2, 7))
    assert decoder(q, torch.randn(2, 5, 8)).shape == (2, 4, 6)


def test_multimodal_postprocessor_splits_in_sorted_order():
    post = MultimodalPostprocessor(
        {"image": ProjectionPostprocessor(4, 3), "audio": AudioPostprocessor(4, 2)}
    )
    outputs = torch.randn(2, 5, 4)
    result = post(outputs, {"image": 2, "audio": 3})
    assert list(result) == ["audio", "image"]
    assert result["audio"].shape == (2, 6) and result["image"].shape == (2, 2, 3)
    torch.testing.assert_close(result["image"], post.modalities["image"](outputs[:, 3:]))
    with pytest.raises(ValueError, match="expected 6 positions"):
        split_by_modality(outputs, {"a": 3, "b": 3})
    with pytest.raises(ValueError, match="needs modality_sizes"):
        post(outputs)


# ----------------------------------------------------------------------------------------------- task model


def test_small_model_autoencodes_all_outputs_and_hides_the_label():
    config = MultimodalAutoencoderConfig.small()
    model = build_multimodal_autoencoder(config).eval()
    inputs = small_inputs(config)
    with torch.no_grad():
        out = model(inputs)
        other = model({**inputs, "label": torch.zeros_like(inputs["label"])})
    assert out["audio"].shape == (2, config.audio_samples)
    assert out["image"].shape == (2, math.prod(config.video_shape), 3)
    assert out["label"].shape == (2, config.num_classes)
    # mask_probs["label"] = 1: the label is always replaced by the mask token, so it cannot leak.
    torch.testing.assert_close(out["label"], other["label"])


def test_chunked_decoding_equals_one_shot_decoding():
    config = MultimodalAutoencoderConfig.small()
    model = build_multimodal_autoencoder(config).eval()
    inputs = small_inputs(config)
    with torch.no_grad():
        one_shot = model(inputs)
        every = {
            "audio": torch.arange(config.audio_samples // config.samples_per_patch),
            "image": torch.arange(math.prod(config.video_shape)),
        }
        torch.testing.assert_close(model(inputs, subsampled_output_points=every), one_shot)
        chunked = autoencode_in_chunks(model, inputs, num_chunks=4)
    assert chunked["image"].shape == (2, *config.video_shape, 3)
    torch.testing.assert_close(chunked["image"].reshape(2, -1, 3), one_shot["image"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(chunked["audio"], one_shot["audio"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(chunked["label"], one_shot["label"], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="do not divide evenly"):
        autoencode_in_chunks(model, inputs, num_chunks=3)


def test_gradients_reach_every_parameter():
    config = MultimodalAutoencoderConfig.small(mask_probs={"audio": 0.5, "image": 0.5, "label": 1.0})
    model = build_multimodal_autoencoder(config)
    out = model(small_inputs(config), subsampled_output_points={"image": torch.arange(0, 64, 2)})
    sum(v.square().mean() for v in out.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == []


# ----------------------------------------------------------------------------------------------- HF parity

transformers = pytest.importorskip("transformers")


def hf_small_config(**overrides):
    base = dict(
        num_latents=8,
        d_latents=32,
        num_blocks=1,
        num_self_attends_per_block=2,
        num_self_attention_heads=2,
        num_cross_attention_heads=1,
        num_labels=5,
        num_frames=2,
        image_size=4,
        audio_samples_per_frame=8,
        samples_per_patch=4,
        output_shape=[1, 2, 16, 16],
        output_num_channels=16,
    )
    return transformers.PerceiverConfig(**{**base, **overrides})


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {
            "num_cross_attention_heads": 2,
            "num_self_attention_heads": 4,
            "qk_channels": 16,
            "v_channels": 32,
            "num_blocks": 2,
            "use_query_residual": False,
        },
        {
            "cross_attention_shape_for_attention": "q",
            "self_attention_widening_factor": 2,
            "cross_attention_widening_factor": 2,
        },
    ],
    ids=["default", "heads-qk-blocks", "shape-q-widening"],
)
def test_hf_parity_subsampled_logits(overrides):
    from perceiver_io.hf.loading import from_huggingface

    hf = transformers.PerceiverForMultimodalAutoencoding(hf_small_config(**overrides)).eval()
    ours = from_huggingface(hf)
    inputs = {
        "image": torch.randn(2, 2, 3, 16, 16),
        "audio": torch.randn(2, 16, 1),
        "label": torch.zeros(2, 5),
    }
    for chunk in range(2):
        points = {
            "image": torch.arange(256 * chunk, 256 * (chunk + 1)),
            "audio": torch.arange(2 * chunk, 2 * chunk + 2),
            "label": None,
        }
        with torch.no_grad():
            want = hf(inputs=inputs, subsampled_output_points=points).logits
            got = ours(inputs, subsampled_output_points=points)
        assert set(got) == set(want)
        for name in want:
            assert got[name].shape == want[name].shape
            assert (got[name] - want[name]).abs().max().item() <= 1e-5, name


def test_hf_non_square_video_is_rejected():
    from perceiver_io.hf.loading import from_state_dict

    hf = transformers.PerceiverForMultimodalAutoencoding(hf_small_config(output_shape=[1, 2, 16, 8]))
    with pytest.raises(ValueError, match="square videos"):
        from_state_dict(hf.state_dict(), hf.config, "PerceiverForMultimodalAutoencoding")


def test_paper_parameter_count_equals_hf():
    hf_config = transformers.PerceiverConfig(
        num_latents=784,
        d_latents=512,
        d_model=704,
        num_blocks=1,
        num_self_attends_per_block=8,
        num_self_attention_heads=8,
        num_cross_attention_heads=1,
        num_labels=700,
    )
    with torch.device("meta"):
        hf = transformers.PerceiverForMultimodalAutoencoding(hf_config)
        ours = build_multimodal_autoencoder(MultimodalAutoencoderConfig.paper())
    n_hf = sum(p.numel() for p in hf.parameters())
    assert sum(p.numel() for p in ours.parameters()) == n_hf == 19_858_855
