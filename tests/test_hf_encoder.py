"""Loading HF checkpoints: bare-encoder parity, offline state dict + config.json, named key errors."""

import json

import pytest
import torch

from perceiver_io.hf import CheckpointMismatchError, from_huggingface, from_state_dict, load_state_dict_file
from perceiver_io.position_encoding import fourier_features

transformers = pytest.importorskip("transformers")


def hf_encoder(**overrides):
    base = dict(num_latents=8, d_latents=32, d_model=16, num_blocks=1, num_self_attends_per_block=2,
                num_self_attention_heads=2, num_cross_attention_heads=1)
    return transformers.PerceiverModel(transformers.PerceiverConfig(**{**base, **overrides})).eval()


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"num_cross_attention_heads": 2, "num_self_attention_heads": 4, "qk_channels": 16, "v_channels": 32},
        {"num_cross_attention_heads": 2, "num_self_attention_heads": 4, "qk_channels": 64, "v_channels": 32},
        {"num_blocks": 3, "use_query_residual": False},
        {"cross_attention_shape_for_attention": "q", "cross_attention_widening_factor": 2,
         "self_attention_widening_factor": 3},
    ],
)
def test_bare_encoder_matches_hf(overrides):
    hf = hf_encoder(**overrides)
    ours = from_huggingface(hf)
    x = torch.randn(3, 20, 16)
    mask = torch.ones(3, 20, dtype=torch.long)
    mask[1, 11:] = 0
    with torch.no_grad():
        for m in (None, mask):
            expected = hf(inputs=x, attention_mask=m).last_hidden_state
            assert (ours(x, attention_mask=m) - expected).abs().max() <= 1e-5


@pytest.mark.parametrize("qk", [16, 64])  # qk < v and qk > v (HF's self-attention needs v = d_latents = 32)
def test_training_gradients_match_hf_when_qk_and_v_widths_differ(qk):
    """Forward+backward in train mode (attention dropout 0): our padded fused attention gives HF's input gradients."""
    hf = hf_encoder(num_cross_attention_heads=2, num_self_attention_heads=4, qk_channels=qk, v_channels=32,
                    attention_probs_dropout_prob=0.0).train()
    ours = from_huggingface(hf).train()
    mask = torch.ones(3, 20, dtype=torch.long)
    mask[1, 11:] = 0
    grads = []
    for run in (lambda x: hf(inputs=x, attention_mask=mask).last_hidden_state, lambda x: ours(x, attention_mask=mask)):
        x = torch.randn(3, 20, 16, generator=torch.Generator().manual_seed(0), requires_grad=True)
        (run(x) * torch.linspace(-1, 1, 32)).sum().backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-4)


def test_fourier_features_equal_hf_formula():
    from transformers.models.perceiver import modeling_perceiver as hf_mod

    pos = hf_mod.build_linear_positions((5, 7)).reshape(1, 35, 2)
    expected = hf_mod.generate_fourier_features(pos, num_bands=6, max_resolution=(5, 7), concat_pos=True)
    torch.testing.assert_close(fourier_features(pos, 6, (5, 7), concat_pos=True), expected)


def test_state_dict_and_config_json_load_offline(tmp_path):
    hf = hf_encoder(num_blocks=2)
    (tmp_path / "config.json").write_text(json.dumps({**hf.config.to_dict(), "architectures": ["PerceiverModel"]}))
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in hf.state_dict().items()}, tmp_path / "model.safetensors")
    ours = from_state_dict(load_state_dict_file(tmp_path / "model.safetensors"), tmp_path / "config.json")
    x = torch.randn(2, 6, 16)
    with torch.no_grad():
        assert (ours(x) - hf(inputs=x).last_hidden_state).abs().max() <= 1e-5


def test_missing_unexpected_and_misshaped_keys_are_named():
    hf = hf_encoder()
    state = dict(hf.state_dict())
    state.pop("encoder.self_attends.1.mlp.dense2.bias")
    state["encoder.extra.weight"] = torch.zeros(3)
    state["encoder.cross_attention.attention.self.query.weight"] = torch.zeros(4, 4)
    with pytest.raises(CheckpointMismatchError) as info:
        from_state_dict(state, hf.config, "PerceiverModel")
    message = str(info.value)
    assert "missing key 'encoder.self_attends.1.mlp.dense2.bias' (model expects shape (32,)" in message
    assert "unexpected key 'encoder.extra.weight' with shape (3,)" in message
    assert "'encoder.cross_attention.attention.self.query.weight' has shape (4, 4)" in message
    assert "model expects (16, 32)" in message


def test_unknown_architecture_and_bad_files(tmp_path):
    with pytest.raises(ValueError, match="unsupported HF architecture 'PerceiverForSpeech'"):
        from_state_dict({}, {}, "PerceiverForSpeech")
    with pytest.raises(ValueError, match="names no architecture"):
        from_state_dict({}, {})
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read checkpoint .*broken.safetensors"):
        load_state_dict_file(bad)
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(ValueError, match="cannot read HF config"):
        from_state_dict({}, tmp_path / "config.json")
