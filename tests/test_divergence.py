"""The finite-loss guard (``training.divergence``) in every trainer: a non-finite loss or gradient stops BC, RL (in
process and on Ray) and the task trainer with one error naming the step and the terms, before the step is applied
or saved; the good checkpoints stay, finite and loadable."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import pytest
import torch

from training.bc.trainer import BCObjective, train_bc
from training.checkpoint import list_checkpoints, load_checkpoint
from training.cli import main as pstar
from training.config_io import load_config
from training.divergence import DivergedError, check_finite
from training.rl.config import RLConfig
from training.rl.learner import Learner
from training.rl.train import train_rl
from training.tasks.cli import _load
from training.tasks.trainer import RESULT_FILE, run_task

BC = ["sequence_length=8", "batch_size=4", "eval_every=0", "checkpoint_every=1", "keep_last=2", "log_every=1",
      "shuffle_buffer=8", "device=cpu", "threads=1", "name=bc"]  # fmt: skip
RL = ["envs_per_actor=2", "unroll_length=8", "scenarios=[3m]", "learner_threads=1", "num_actors=1",
      "checkpoint_every=1", "keep_last=2", "total_frames=160", "name=rl"]  # fmt: skip


def poison_from(call: int):
    """A wrapper making the wrapped loss function's result NaN from its ``call``-th training call on (calls without
    gradients, the guard's probes, are not counted)."""

    def wrap(function):
        calls = []

        def poisoned(*args, **kwargs):
            calls.extend([1] if torch.is_grad_enabled() else [])
            loss, terms = function(*args, **kwargs)
            if len(calls) >= call:
                loss = loss * math.nan
            return loss, terms

        return poisoned

    return wrap


def assert_kept_are_good(checkpoints: Path, steps: list[int]) -> None:
    kept = list_checkpoints(checkpoints)
    assert [load_checkpoint(p).step for p in kept] == steps  # each loads: sha256 checked, weights finite
    assert all(torch.isfinite(w).all() for p in kept for w in load_checkpoint(p).weights.values())


def test_check_finite_names_the_step_and_the_bad_terms():
    check_finite(3, {"total": 1.0, "grad_norm": torch.tensor(2.0)})
    with pytest.raises(DivergedError, match=r"diverged at step 7: non-finite value=nan, grad_norm=inf before the "
                                             r"step; nothing from this step on was saved") as error:  # fmt: skip
        check_finite(7, {"policy": 0.5, "value": math.nan, "grad_norm": torch.tensor(math.inf)})
    assert error.value.step == 7 and set(error.value.bad) == {"value", "grad_norm"}
    again = pickle.loads(pickle.dumps(error.value))  # as it crosses from a Ray actor
    assert str(again) == str(error.value) and again.step == 7


def test_a_diverging_bc_run_stops_with_one_error_and_saves_nothing_diverged(replay_dir, tmp_path, capsys):
    where = [f"replays=[{replay_dir}]", f"cache_dir={tmp_path / 'cache'}", f"run_root={tmp_path / 'runs'}"]
    assert pstar(["bc", "--no-progress", *BC, *where, "steps=20", "learning_rate=1e30", "val_fraction=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pstar bc: error: training diverged at step 1: non-finite total=nan")
    assert "after the step" in err[0]  # finite gradients, but the step blew the weights up: probed before saving
    assert not list_checkpoints(tmp_path / "runs" / "bc" / "checkpoints")


def test_bc_stops_before_the_poisoned_step_and_prunes_nothing_good(replay_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(BCObjective, "forward", poison_from(4)(BCObjective.forward))
    overrides = [*BC, f"replays=[{replay_dir}]", f"cache_dir={tmp_path / 'cache'}", f"run_root={tmp_path / 'runs'}",
                 "steps=10", "val_fraction=0"]  # fmt: skip
    from training.bc.config import BCConfig

    with pytest.raises(DivergedError, match="diverged at step 4: non-finite total=nan") as error:
        train_bc(load_config(BCConfig, None, overrides), progress=False)
    assert "grad_norm" in error.value.bad
    assert_kept_are_good(tmp_path / "runs" / "bc" / "checkpoints", [2, 3])


def test_rl_stops_in_the_learner_before_the_weights_change(tmp_path, monkeypatch):
    monkeypatch.setattr(Learner, "loss", poison_from(3)(Learner.loss))
    cfg = load_config(RLConfig, None, [*RL, "backend=inprocess", f"run_root={tmp_path}"])
    with pytest.raises(DivergedError, match="diverged at step 3: non-finite total=nan"):
        train_rl(cfg, progress=False)
    assert_kept_are_good(tmp_path / "rl" / "checkpoints", [1, 2])


def test_rl_weights_blown_up_by_a_huge_learning_rate_are_never_saved_or_sent(tmp_path, capsys):
    """Finite gradients, but the step leaves weights whose logits overflow: the learner's probe stops the run."""
    run = ["rl", "--no-progress", *RL, "backend=inprocess", f"run_root={tmp_path}", "learner.learning_rate=1e5"]
    assert pstar(run) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "training diverged at step 1: non-finite" in err[0] and "log-probs=nan" in err[0]
    assert not list_checkpoints(tmp_path / "rl" / "checkpoints")


@pytest.mark.parametrize("backend", ["inprocess", "ray"])
def test_an_actor_that_meets_diverged_weights_ends_the_run_with_one_error(tmp_path, monkeypatch, backend, request):
    """The backstop should the learner's guard miss: the actor's failed policy step is recognised as divergence
    (across Ray too), no worker is replaced, and the checkpoints holding those weights are set aside."""
    if backend == "ray":
        request.getfixturevalue("ray_session")
    monkeypatch.setattr("training.rl.learner.probe", lambda step, terms: None)  # as if the learner saw nothing
    monkeypatch.setattr("training.rl.learner.check_finite", lambda step, terms: None)
    cfg = load_config(RLConfig, None, [*RL, f"backend={backend}", f"run_root={tmp_path}", "learner.learning_rate=1e5"])
    restarts = []
    with pytest.raises(DivergedError, match=r"diverged at step \d+: non-finite .*=nan in an actor's games") as error:
        train_rl(cfg, progress=False, on_update=lambda info: restarts.append(info["backend"].restarts))
    assert set(restarts) <= {0}  # no worker was replaced
    checkpoints = tmp_path / "rl" / "checkpoints"
    assert (checkpoints / f"ckpt_{error.value.step:09d}.diverged").is_dir()
    assert all(load_checkpoint(p).step < error.value.step for p in list_checkpoints(checkpoints))


def test_the_task_trainer_stops_before_the_poisoned_step(tmp_path, monkeypatch):
    config_cls, task_cls = _load("image")
    task = task_cls(load_config(config_cls, None, [
        "model.encoder.num_latents=8", "model.encoder.d_latents=32", "model.encoder.num_self_attends_per_block=1",
        "model.num_bands=4", "data.num_train=8", "data.num_val=8", "train.batch_size=8", "train.steps=6",
        "train.checkpoint_every=1", "train.keep_last=2", "train.name=t", f"train.run_root={tmp_path}"]))  # fmt: skip
    monkeypatch.setattr(task, "loss", poison_from(4)(task.loss))
    with pytest.raises(DivergedError, match="diverged at step 4: non-finite loss=nan"):
        run_task(task, progress=False)
    assert not (tmp_path / "t" / RESULT_FILE).exists()
    assert_kept_are_good(tmp_path / "t" / "checkpoints", [2, 3])
