"""Optical flow: 3x3 patch extraction, adapter/decoder shapes and errors, HF parity, paper size, tiling."""

import pytest
import torch
import torch.nn.functional as F

from perceiver_io.adapters.base import AdaptedInput
from perceiver_io.adapters.flow import FlowAdapter, extract_patches
from perceiver_io.decoders.flow import FLOW_SCALE_FACTOR, FlowDecoder, flow_to_pixels
from perceiver_io.tasks.flow import OpticalFlowConfig, build_optical_flow, tile_origins, tiled_flow


def test_extract_patches_by_hand():
    image = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # one channel: rows [1 2 3] [4 5 6] [7 8 9]
    patches = extract_patches(image)
    assert patches.shape == (1, 9, 3, 3)
    assert patches[0, :, 1, 1].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9]  # centre sees the whole image
    assert patches[0, :, 0, 0].tolist() == [0, 0, 0, 0, 1, 2, 0, 4, 5]  # zero "SAME" padding at the corner
    assert patches[0, :, 2, 1].tolist() == [4, 5, 6, 7, 8, 9, 0, 0, 0]


def test_extract_patches_orders_offsets_before_channels():
    frames = torch.randn(2, 2, 3, 5, 7)
    patches = extract_patches(frames)
    assert patches.shape == (2, 2, 27, 5, 7)
    # F.unfold orders (channel, dy, dx); ours (as DeepMind and HF) is (dy, dx, channel).
    unfolded = F.unfold(frames.reshape(4, 3, 5, 7), kernel_size=3, padding=1).reshape(4, 3, 9, 5, 7)
    expected = unfolded.transpose(1, 2).reshape(2, 2, 27, 5, 7)
    torch.testing.assert_close(patches, expected, rtol=0, atol=0)
    assert patches[0, 0, 4 * 3 + 1].equal(frames[0, 0, 1])  # the centre offset holds the pixel itself


def test_adapter_accepts_raw_or_patched_frames_and_rejects_bad_shapes():
    adapter = FlowAdapter(train_size=(6, 8))
    assert adapter.num_channels == 64 + 2 + 4 * 64 == 322
    raw = torch.randn(2, 2, 3, 6, 8)
    adapted = adapter(raw)
    assert adapted.tokens.shape == (2, 48, 322)
    assert adapted.index_dims == (6, 8)
    torch.testing.assert_close(adapter(extract_patches(raw)).tokens, adapted.tokens)
    for bad in (torch.randn(2, 3, 6, 8), torch.randn(2, 3, 3, 6, 8), torch.randn(2, 2, 5, 6, 8)):
        with pytest.raises(ValueError, match=r"\[batch, 2, 3 or 27, height, width\]"):
            adapter(bad)


def test_decoder_shapes_and_errors():
    decoder = FlowDecoder(latent_dim=16, query_channels=10, output_image_shape=(3, 4))
    latents = torch.randn(2, 5, 16)
    queries = torch.randn(2, 12, 10)
    assert decoder.build_queries(AdaptedInput(tokens=queries)) is queries
    flow = decoder(queries, latents)
    assert flow.shape == (2, 3, 4, 2)
    raw = decoder.final_layer(decoder.cross_attention(queries, latents)).reshape(2, 3, 4, 2)
    torch.testing.assert_close(flow, raw / 100.0)
    with pytest.raises(ValueError, match="does not support subsampled_output_points"):
        decoder.build_queries(AdaptedInput(tokens=queries), torch.arange(4))
    with pytest.raises(ValueError, match=r"\[batch, 3\*4, 10\]"):
        decoder(torch.randn(2, 11, 10), latents)
    with pytest.raises(ValueError, match=r"\[batch, tokens, 10\]"):
        decoder(torch.randn(2, 12, 9), latents)
    assert FLOW_SCALE_FACTOR == 20.0
    torch.testing.assert_close(flow_to_pixels(flow), flow * 20.0)


def test_small_model_runs_on_raw_frames():
    config = OpticalFlowConfig.small()
    model = build_optical_flow(config).eval()
    with torch.no_grad():
        flow = model(torch.randn(1, 2, 3, *config.train_size))
    assert flow.shape == (1, 32, 48, 2)
    with pytest.raises(ValueError, match="does not support subsampled_output_points"):
        model(torch.randn(1, 2, 3, 32, 48), subsampled_output_points=torch.arange(5))


def test_patch_size_sets_the_neighbourhood_each_pixel_sees():
    config = OpticalFlowConfig.small(patch_size=5)
    model = build_optical_flow(config).eval()
    frames = torch.rand(1, 2, 3, *config.train_size)
    with torch.no_grad():
        flow = model(frames)
        torch.testing.assert_close(model(extract_patches(frames, 5)), flow)
    assert flow.shape == (1, 32, 48, 2)
    assert model.input_adapter.image.patch_projection.in_features == 2 * 5 * 5 * 3
    with pytest.raises(ValueError, match="75, height, width"):
        model(extract_patches(frames, 3))


transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"num_cross_attention_heads": 2, "num_self_attention_heads": 4, "qk_channels": 16, "v_channels": 32},
        {"num_blocks": 3, "use_query_residual": False},
        {"cross_attention_shape_for_attention": "q", "cross_attention_widening_factor": 2,
         "self_attention_widening_factor": 3},
    ],
)
def test_matches_hf_optical_flow(overrides):
    from perceiver_io.hf import from_huggingface

    base = dict(num_latents=8, d_latents=32, num_blocks=1, num_self_attends_per_block=2,
                num_self_attention_heads=2, num_cross_attention_heads=1, train_size=[6, 10])
    hf = transformers.PerceiverForOpticalFlow(transformers.PerceiverConfig(**{**base, **overrides})).eval()
    with torch.no_grad():  # larger random weights than HF's init, so the flow before /100 is O(1)
        for p in hf.parameters():
            p.normal_(0.0, 0.1)
    ours = from_huggingface(hf)
    frames = torch.randn(2, 2, 3, 6, 10)
    patches = extract_patches(frames)
    with torch.no_grad():
        expected = hf(inputs=patches).logits
        assert expected.shape == (2, 6, 10, 2)
        assert expected.abs().max() * 100 > 0.1
        # Compared before the /100 rescale: 100x stricter than comparing the flow itself.
        assert ((ours(patches) - expected) * 100).abs().max() <= 1e-5
        assert ((ours(frames) - expected) * 100).abs().max() <= 1e-5


def test_paper_size_parameter_count_equals_hf():
    config = OpticalFlowConfig.paper()
    enc = config.encoder
    hf_config = transformers.PerceiverConfig(
        num_latents=enc.num_latents, d_latents=enc.d_latents,
        num_self_attends_per_block=enc.num_self_attends_per_block,
        num_self_attention_heads=enc.num_self_attention_heads,
        num_cross_attention_heads=enc.num_cross_attention_heads,
        train_size=list(config.train_size),
    )
    with torch.device("meta"):
        hf = transformers.PerceiverForOpticalFlow(hf_config)
        ours = build_optical_flow(config)
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in hf.parameters()) == 41_057_134
    assert (enc.num_latents, enc.d_latents, enc.num_self_attends_per_block) == (2048, 512, 24)


def test_tile_origins_cover_with_overlap():
    assert tile_origins(368, 368) == [0]
    for size, tile in ((436, 368), (1024, 496), (500, 100), (121, 100)):
        starts = tile_origins(size, tile, min_overlap=20)
        assert starts[0] == 0 and starts[-1] == size - tile
        assert all(0 < b - a <= tile - 20 for a, b in zip(starts, starts[1:], strict=False))
    with pytest.raises(ValueError, match="smaller than the tile"):
        tile_origins(300, 368)
    with pytest.raises(ValueError, match="min_overlap"):
        tile_origins(500, 100, min_overlap=100)


def test_tiled_flow_places_and_blends_tiles():
    # A per-pixel "model" (flow = the first frame's first two channels) is reproduced exactly by tiling.
    def pixelwise(frames):
        return frames[:, 0, :2].permute(0, 2, 3, 1)

    frames = torch.randn(2, 2, 3, 45, 70)
    stitched = tiled_flow(pixelwise, frames, tile_size=(20, 32), min_overlap=5)
    torch.testing.assert_close(stitched, pixelwise(frames))


def test_tiled_flow_with_model():
    config = OpticalFlowConfig.small(train_size=(12, 16))
    model = build_optical_flow(config).eval()
    with torch.no_grad():
        same = torch.randn(1, 2, 3, 12, 16)
        direct = tiled_flow(model, same, tile_size=config.train_size, min_overlap=4)
        torch.testing.assert_close(direct, model(same))
        large = torch.randn(1, 2, 3, 30, 41)
        flow = tiled_flow(model, large, tile_size=config.train_size, min_overlap=4)
    assert flow.shape == (1, 30, 41, 2)
    assert torch.isfinite(flow).all()
