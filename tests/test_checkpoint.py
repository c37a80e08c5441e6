"""Checkpoints: safetensors + JSON, atomic, keep-last-K, exact resume state, clear errors on mismatch/corruption."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from training.checkpoint import (
    CheckpointError,
    capture_rng,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_weights,
    restore_rng,
    save_checkpoint,
)


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_round_trip_weights_optimizer_and_meta(tmp_path):
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path, 7, model, {"counters": {"updates": 7}}, optimizer=opt)
    ckpt = load_checkpoint(path)
    assert ckpt.step == 7 and ckpt.meta["counters"] == {"updates": 7}
    assert "torch" in ckpt.meta["versions"]
    other = _model()
    load_weights(other, ckpt.weights, ckpt.path)
    for a, b in zip(model.parameters(), other.parameters(), strict=True):
        assert torch.equal(a, b)
    opt2 = torch.optim.Adam(other.parameters(), lr=1e-2)
    opt2.load_state_dict(ckpt.optimizer_state())
    for key, value in opt.state_dict()["state"][0].items():
        assert torch.equal(value, opt2.state_dict()["state"][0][key])


def test_keep_last_and_latest(tmp_path):
    model = _model()
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step, model, {}, keep_last=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt_000000003", "ckpt_000000004"]
    assert latest_checkpoint(tmp_path).name == "ckpt_000000004"
    assert load_checkpoint(tmp_path).step == 4  # a run directory resolves to its latest checkpoint
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary directories left


def test_rng_state_resumes_exactly():
    state = capture_rng()
    json.dumps(state)
    expected = (torch.rand(3), np.random.rand(3))  # noqa: NPY002
    restore_rng(state)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])  # noqa: NPY002


def test_mismatched_model_names_first_key_and_shapes(tmp_path):
    path = save_checkpoint(tmp_path, 1, _model(), {})
    wider = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    with pytest.raises(CheckpointError, match=r"key '0.weight' has shape \[4, 3\] in the checkpoint, the model "
                                              r"expects \[5, 3\]"):  # fmt: skip
        load_weights(wider, load_checkpoint(path).weights, path)
    with pytest.raises(CheckpointError, match="'2.bias'.* is missing"):
        load_weights(_model(), {k: v for k, v in _model().state_dict().items() if k != "2.bias"}, path)


def test_corrupt_checkpoints_give_one_clear_error(tmp_path):
    path = save_checkpoint(tmp_path, 1, _model(), {})
    (path / "model.safetensors").write_bytes((path / "model.safetensors").read_bytes()[:40])
    with pytest.raises(CheckpointError, match="model.safetensors is missing or corrupt"):
        load_checkpoint(path)
    (path / "meta.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="meta.json is not valid JSON"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nowhere")
