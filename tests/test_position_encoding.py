"""Fourier and trainable position encodings: hand-computed values, sizes, resizing, projection."""

import math

import pytest
import torch

from perceiver_io.position_encoding import (
    FourierPositionEncoding,
    TrainablePositionEncoding,
    build_position_encoding,
    fourier_features,
    linear_positions,
)


def test_linear_positions_span_minus_one_to_one_in_ij_order():
    pos = linear_positions((3, 2))
    assert pos.shape == (3, 2, 2)
    torch.testing.assert_close(pos[:, 0, 0], torch.tensor([-1.0, 0.0, 1.0]))
    torch.testing.assert_close(pos[0, :, 1], torch.tensor([-1.0, 1.0]))


def test_fourier_features_hand_computed_1d():
    # Positions -1, 0, 1; max_resolution 4 -> frequencies linspace(1, 2, 2) = [1, 2].
    enc = FourierPositionEncoding(num_bands=2, max_resolution=(4,), concat_pos=True)
    out = enc((3,), batch_size=1)[0]
    expected = []
    for p in (-1.0, 0.0, 1.0):
        expected.append([p, math.sin(math.pi * p), math.sin(2 * math.pi * p),
                         math.cos(math.pi * p), math.cos(2 * math.pi * p)])
    torch.testing.assert_close(out, torch.tensor(expected), atol=1e-6, rtol=0)


def test_fourier_features_order_is_dimension_major_sines_then_cosines():
    pos = torch.tensor([[[0.5, -0.25]]])  # one point in 2-D
    out = fourier_features(pos, num_bands=3, max_resolution=(6, 10), concat_pos=False)[0, 0]
    f0, f1 = torch.linspace(1, 3, 3), torch.linspace(1, 5, 3)
    angles = math.pi * torch.cat([0.5 * f0, -0.25 * f1])
    torch.testing.assert_close(out, torch.cat([angles.sin(), angles.cos()]))


@pytest.mark.parametrize("sine_only,concat_pos,size", [(False, True, 258), (True, True, 130), (False, False, 256)])
def test_fourier_sizes_match_formula(sine_only, concat_pos, size):
    enc = FourierPositionEncoding(64, (224, 224), concat_pos=concat_pos, sine_only=sine_only)
    assert enc.num_channels == size
    assert enc((4, 5), batch_size=2).shape == (2, 20, size)


def test_fourier_accepts_per_sample_positions():
    enc = FourierPositionEncoding(4, (8,))
    pos = torch.tensor([[[0.0], [0.5]], [[1.0], [-1.0]]])
    out = enc((2,), batch_size=2, pos=pos)
    torch.testing.assert_close(out[1, 0], fourier_features(pos[1:, :1], 4, (8,))[0, 0])
    with pytest.raises(ValueError, match="coordinates"):
        enc((2,), batch_size=2, pos=torch.zeros(2, 2, 3))


def test_trainable_encoding_resizes_bicubically_and_keeps_identity_at_same_size():
    enc = TrainablePositionEncoding((4, 4), num_channels=3)
    assert enc(2).shape == (2, 16, 3)
    assert enc.resized(4, 4) is enc.embeddings
    bigger = enc(1, resize_to=(8, 6))
    assert bigger.shape == (1, 48, 3)
    # A constant table stays constant under bicubic resampling.
    with torch.no_grad():
        enc.embeddings.fill_(0.7)
    torch.testing.assert_close(enc.resized(7, 7), torch.full((49, 3), 0.7))


def test_build_position_encoding_with_projection():
    enc, proj = build_position_encoding("fourier", num_bands=8, max_resolution=(16,), project_pos_dim=5)
    assert isinstance(proj, torch.nn.Linear) and proj.in_features == enc.num_channels and proj.out_features == 5
    enc, proj = build_position_encoding("trainable", index_dims=10, num_channels=4)
    assert isinstance(proj, torch.nn.Identity)
    with pytest.raises(ValueError, match="unknown position encoding"):
        build_position_encoding("sinusoid")
