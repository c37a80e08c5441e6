"""Checkpoints: safetensors + JSON, atomic, keep-last-K, exact resume state, clear errors on mismatch/corruption,
torn checkpoints skipped."""

import hashlib
import json
import logging
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

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
    set_aside,
)

ROOT = Path(__file__).resolve().parents[1]


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_round_trip_weights_optimizer_and_meta(tmp_path):
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path, 7, model, {"counters": {"updates": 7}}, optimizer=opt, kind="test")
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


def test_a_resume_keeps_the_moments_and_trains_with_the_configured_settings(tmp_path):
    # `pstar bc --resume learning_rate=...` warned that the rate changed, then trained at the saved one
    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path, 1, model, {}, optimizer=opt, kind="test")
    resumed = _model()
    opt2 = torch.optim.AdamW(resumed.parameters(), lr=1e-4, weight_decay=0.0)
    load_checkpoint(path, optimizer=True).restore(resumed, opt2)
    assert [(g["lr"], g["weight_decay"]) for g in opt2.param_groups] == [(1e-4, 0.0)]
    for key, value in opt.state_dict()["state"][0].items():
        assert torch.equal(value, opt2.state_dict()["state"][0][key])


def test_keep_last_and_latest(tmp_path):
    model = _model()
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step, model, {}, keep_last=2, kind="test")
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
    path = save_checkpoint(tmp_path, 1, _model(), {}, kind="test")
    wider = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    with pytest.raises(CheckpointError, match=r"key '0.weight' has shape \[4, 3\] in the checkpoint, the model "
                                              r"expects \[5, 3\]"):  # fmt: skip
        load_weights(wider, load_checkpoint(path).weights, path)
    with pytest.raises(CheckpointError, match="'2.bias'.* is missing"):
        load_weights(_model(), {k: v for k, v in _model().state_dict().items() if k != "2.bias"}, path)


def test_corrupt_checkpoints_give_one_clear_error(tmp_path):
    path = save_checkpoint(tmp_path, 1, _model(), {}, kind="test")
    model_file = path / "model.safetensors"
    data = model_file.read_bytes()
    model_file.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, one bit flipped in the last tensor
    with pytest.raises(CheckpointError, match="model.safetensors does not match the sha256 recorded in meta.json"):
        load_checkpoint(path)
    model_file.write_bytes(data[:40])
    with pytest.raises(CheckpointError, match=r"model.safetensors has 40 bytes, meta.json records \d+ \(truncated"):
        load_checkpoint(path)
    (path / "meta.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="meta.json is not valid JSON"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nowhere")


def resign(meta: dict) -> dict:
    """``meta`` with its own checksum recomputed as the format defines it: sha256 of the canonical JSON (sorted
    keys, no spaces) of everything else."""
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    return {**body, "meta_sha256": hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
            .hexdigest()}  # fmt: skip


def _edit_meta(path, resign_it=False, **changes):
    meta = {**json.loads((path / "meta.json").read_text()), **changes}
    (path / "meta.json").write_text(json.dumps(resign(meta) if resign_it else meta))


def _zero_header(path):
    data = bytearray(path.read_bytes())
    data[:16] = bytes(16)
    path.write_bytes(bytes(data))


TEARS = {
    "meta.json is missing": lambda p: (p / "meta.json").unlink(),
    "meta.json is not valid JSON": lambda p: (p / "meta.json").write_text((p / "meta.json").read_text()[:100]),
    "meta.json does not match the sha256 it records (corrupt)": lambda p: _edit_meta(p, step=3),
    "meta.json: 'files' must list model.safetensors": lambda p: _edit_meta(p, resign_it=True, files={}),
    "model.safetensors is missing": lambda p: (p / "model.safetensors").unlink(),
    "model.safetensors has 0 bytes": lambda p: (p / "model.safetensors").write_bytes(b""),
    "optimizer.safetensors has 10 bytes": lambda p: (p / "optimizer.safetensors").write_bytes(b"0" * 10),
    "model.safetensors has no readable safetensors header": lambda p: _zero_header(p / "model.safetensors"),
}


@pytest.mark.parametrize("problem", list(TEARS))
def test_a_torn_newest_checkpoint_is_skipped_with_a_warning(tmp_path, caplog, problem):
    model = _model()
    opt = torch.optim.Adam(model.parameters())
    save_checkpoint(tmp_path, 1, model, {"counters": {"n": 1}}, optimizer=opt, kind="test")
    torn = save_checkpoint(tmp_path, 2, model, {"counters": {"n": 2}}, optimizer=opt, kind="test")
    TEARS[problem](torn)
    with caplog.at_level(logging.WARNING, logger="pstar.checkpoint"):
        assert latest_checkpoint(tmp_path).name == "ckpt_000000001"
    assert f"skipping checkpoint {torn}: {problem}" in caplog.text
    assert load_checkpoint(tmp_path).counters == {"n": 1}  # a run directory resolves to the complete one
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt_000000001"]


def test_pruning_keeps_the_newest_complete_checkpoints(tmp_path):
    model = _model()
    save_checkpoint(tmp_path, 2, model, {}, kind="test")
    torn = save_checkpoint(tmp_path, 4, model, {}, kind="test")
    (torn / "model.safetensors").unlink()  # torn, newer than what follows
    save_checkpoint(tmp_path, 3, model, {}, keep_last=1, kind="test")  # e.g. resumed from 2 after the torn 4
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt_000000003"]
    assert latest_checkpoint(tmp_path).name == "ckpt_000000003"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_000000003", "ckpt_000000004"]


def _first_weight(path):
    return load_checkpoint(path).weights["0.weight"]


def test_resaving_a_step_leaves_a_complete_checkpoint_at_every_moment(tmp_path, monkeypatch):
    old, new = _model(), _model()
    save_checkpoint(tmp_path, 1, old, {}, kind="test")  # the run's only checkpoint
    replace, seen = os.replace, []

    def watched(src, dst):  # what a reader finds just before and just after each rename
        seen.append(_first_weight(tmp_path))
        replace(src, dst)
        seen.append(_first_weight(tmp_path))

    monkeypatch.setattr(os, "replace", watched)
    save_checkpoint(tmp_path, 1, new, {}, keep_last=1, kind="test")
    monkeypatch.setattr(os, "replace", replace)
    assert [torch.equal(w, old[0].weight) for w in seen] == [True, True, True, False]  # old until new is in
    assert torch.equal(seen[-1], new[0].weight)
    assert torch.equal(_first_weight(tmp_path), new[0].weight)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt_000000001"]


def test_a_resave_interrupted_between_the_renames_falls_back_to_the_old_copy(tmp_path, monkeypatch):
    old, new = _model(), _model()
    save_checkpoint(tmp_path, 1, old, {}, kind="test")
    replace, calls = os.replace, []

    def crash_on_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("power cut")
        replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_second)
    with pytest.raises(OSError, match="power cut"):
        save_checkpoint(tmp_path, 1, new, {}, kind="test")
    monkeypatch.setattr(os, "replace", replace)
    assert latest_checkpoint(tmp_path).name == "ckpt_000000001.replaced"
    assert torch.equal(_first_weight(tmp_path), old[0].weight)
    save_checkpoint(tmp_path, 1, new, {}, kind="test")  # the next save of the step completes and cleans up
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt_000000001"]
    assert torch.equal(_first_weight(tmp_path), new[0].weight)


def test_the_kind_is_recorded_and_reserved_keys_are_refused(tmp_path):
    path = save_checkpoint(tmp_path, 1, _model(), {"config": {"lr": 1}}, kind="bc")
    assert load_checkpoint(path).kind == "bc" and json.loads((path / "meta.json").read_text())["kind"] == "bc"
    with pytest.raises(ValueError, match="meta key 'step' is reserved"):
        save_checkpoint(tmp_path, 2, _model(), {"step": 3}, kind="bc")


def test_a_bit_flipped_meta_json_reads_as_corrupt(tmp_path):
    """Not as a config or agent that differs: meta.json carries its own sha256."""
    path = save_checkpoint(tmp_path, 1, _model(), {"agent": {"core": {"hidden": 64}}}, kind="rl")
    text = (path / "meta.json").read_text()
    (path / "meta.json").write_text(text.replace('"hidden": 64', '"hidden": 65'))  # one bit: 4 -> 5
    with pytest.raises(CheckpointError, match=r"meta.json does not match the sha256 it records \(corrupt\)"):
        load_checkpoint(path)


def test_other_format_versions_and_crafted_meta_give_one_clear_error(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path, 1, _model(), {}, kind="rl")
    meta = json.loads((path / "meta.json").read_text())
    (path / "meta.json").write_text(json.dumps({**meta, "format_version": 2}))
    with pytest.raises(CheckpointError, match=r"checkpoint format version 2, this version of perceiver-star reads "
                                              r"3 only \(retrain, or load it with the version that wrote it\)"):
        load_checkpoint(path)
    (path / "meta.json").write_text("[" * 100_000 + "]" * 100_000)  # RecursionError in json.loads
    with pytest.raises(CheckpointError, match="meta.json is nested too deeply"):
        load_checkpoint(path)
    (path / "meta.json").write_text(json.dumps(resign({**meta, "rng": {"python": [3, [1, 2], None]}})))
    with pytest.raises(CheckpointError, match="meta.json: its rng state cannot be restored"):
        load_checkpoint(path)
    (path / "meta.json").write_text(json.dumps(resign({**meta, "files": {"../../etc/passwd": {"bytes": 1}}})))
    with pytest.raises(CheckpointError, match="'files' must list model.safetensors"):
        load_checkpoint(path)
    monkeypatch.setattr("training.checkpoint.MAX_META_BYTES", 100)
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="meta.json is larger than 0 MiB"):
        load_checkpoint(path)


def test_pstar_eval_of_a_deeply_nested_meta_json_is_one_error(tmp_path, capsys):
    from training.cli import main as pstar

    path = save_checkpoint(tmp_path, 1, _model(), {}, kind="rl")
    (path / "meta.json").write_text("[" * 100_000)
    assert pstar(["eval", str(path)]) == 2
    assert capsys.readouterr().err.strip() == f"pstar eval: error: checkpoint {path}: meta.json is nested too deeply " \
                                              "to be a checkpoint's"  # fmt: skip


def test_weights_that_are_not_finite_do_not_load(tmp_path):
    model = _model()
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    path = save_checkpoint(tmp_path, 1, model, {}, kind="bc")
    with pytest.raises(CheckpointError, match=r"holds non-finite values in 1 of 4 tensors \(first: '0.weight'\); it "
                                              r"was saved from a diverged run"):  # fmt: skip
        load_checkpoint(path)


@pytest.mark.parametrize(("umask", "folder", "file"), [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_checkpoints_are_as_readable_as_the_umask_allows(tmp_path, umask, folder, file):
    previous = os.umask(umask)
    try:
        path = save_checkpoint(tmp_path / "run", 1, _model(), {}, kind="bc", optimizer=torch.optim.Adam(
            _model().parameters()))  # fmt: skip
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == folder
    assert {stat.S_IMODE(p.stat().st_mode) for p in path.iterdir()} == {file}


def test_a_save_killed_midway_leaves_a_temporary_folder_the_next_save_removes(tmp_path):
    """``kill -9`` during a save; other writers' temporary folders (a live process, another host) are kept."""
    script = (
        "import os, signal, sys, torch\n"
        "from training.checkpoint import save_checkpoint\n"
        "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"save_checkpoint({str(tmp_path)!r}, 1, torch.nn.Linear(2, 2), {{}}, kind='bc')\n"
    )
    killed = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert killed.returncode == -signal.SIGKILL
    [left] = [p.name for p in tmp_path.iterdir()]
    assert left.startswith(".ckpt_000000001.")
    host = left.split(".")[2]
    alive = tmp_path / f".ckpt_000000002.{host}.{os.getppid()}.00ff"  # a live writer (pytest's parent)
    remote = tmp_path / ".ckpt_000000003.another-host.1.00ff"
    alive.mkdir()
    remote.mkdir()
    save_checkpoint(tmp_path, 1, _model(), {}, kind="bc")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ckpt_000000001", alive.name, remote.name])


def test_set_aside_keeps_what_was_set_aside_before(tmp_path):
    for _ in range(2):
        save_checkpoint(tmp_path, 1, _model(), {}, kind="bc")
        save_checkpoint(tmp_path, 2, _model(), {}, kind="bc")
        set_aside(tmp_path, 2, ".corrupt", "test")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_000000001", "ckpt_000000002.corrupt",
                                                          "ckpt_000000002.corrupt.2"]  # fmt: skip
    assert latest_checkpoint(tmp_path).name == "ckpt_000000001"
