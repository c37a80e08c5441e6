"""The run-folder rule (``training.run_folder``) for every command: a second run never replaces or prunes the
first's checkpoints, ``--resume`` continues only a run of the same kind and touches nothing when refused, and it
falls back past a corrupt newest checkpoint (set aside so pruning cannot count it)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
import torch
from torch import nn

from training.agent_io import save_agent
from training.checkpoint import CheckpointError, list_checkpoints, load_checkpoint, save_checkpoint
from training.cli import main as pstar
from training.config_io import ConfigError, load_config
from training.quickstart import QuickstartConfig
from training.quickstart import run as quickstart
from training.rl.config import RLConfig
from training.rl.train import initial_agents, train_rl
from training.run_folder import open_run
from training.writable import UnwritableError, writable_directory

RL = ["backend=inprocess", "num_actors=1", "envs_per_actor=2", "unroll_length=8", "checkpoint_every=1", "keep_last=2",
      "name=rlx", "scenarios=[3m]", "learner_threads=1"]  # fmt: skip
TASK = ["model.encoder.num_latents=8", "model.encoder.d_latents=32", "model.encoder.num_self_attends_per_block=1",
        "model.num_bands=4", "data.num_train=8", "data.num_val=8", "train.batch_size=8", "train.eval_batch_size=8",
        "train.checkpoint_every=1", "train.keep_last=2", "train.name=tx"]  # fmt: skip


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: its content hash and modification time (what 'touch nothing' means)."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def test_a_second_rl_run_is_refused_and_the_first_keeps_its_checkpoints(tmp_path, capsys):
    """The issue's reproduction: ``pstar rl $R total_frames=96; pstar rl $R total_frames=32``."""
    run = ["--no-progress", *RL, f"run_root={tmp_path}"]
    assert pstar(["rl", *run, "total_frames=96"]) == 0
    folder = tmp_path / "rlx"
    before = snapshot(folder)
    assert [p.name for p in list_checkpoints(folder / "checkpoints")] == ["ckpt_000000005", "ckpt_000000006"]
    capsys.readouterr()
    assert pstar(["rl", *run, "total_frames=32"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"pstar rl: error: run folder {folder} already holds checkpoints (latest ckpt_000000006); pass "
                   "--resume to continue it, or choose another name= for a new run")  # fmt: skip
    assert snapshot(folder) == before  # config.yaml, checkpoints, events: untouched
    assert load_checkpoint(folder).step == 6


def test_a_second_task_run_is_refused_and_the_first_keeps_its_checkpoints(tmp_path, capsys):
    run = ["task", "image", "--no-progress", *TASK, f"train.run_root={tmp_path}"]
    assert pstar([*run, "train.steps=3"]) == 0
    folder = tmp_path / "tx"
    before = snapshot(folder)
    assert [p.name for p in list_checkpoints(folder / "checkpoints")] == ["ckpt_000000002", "ckpt_000000003"]
    capsys.readouterr()
    assert pstar([*run, "train.steps=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "already holds checkpoints (latest ckpt_000000003); pass --resume" in err and "train.name=" in err
    assert len(err.splitlines()) == 1
    assert snapshot(folder) == before  # result.json still names a checkpoint that exists
    evaluate = [*run[:3], "--eval-only", "--checkpoint", str(folder), *run[3:]]
    assert pstar(evaluate) == 2  # an eval-only run may not write its config.yaml and result.json there either
    assert snapshot(folder) == before


def test_rl_resume_of_a_bc_run_is_refused_and_touches_nothing(tmp_path, capsys):
    cfg = load_config(RLConfig, None, [f"run_root={tmp_path}", "scenarios=[3m]", "backend=inprocess"])
    agent, _ = initial_agents(cfg)
    bc = tmp_path / "bc_run"
    for step in (1, 2):
        save_agent(bc / "checkpoints", step, agent, kind="bc", config={}, counters={"step": step},
                   optimizer=torch.optim.Adam(agent.parameters()))  # fmt: skip
    (bc / "config.yaml").write_text("steps: 2\n")
    before = snapshot(bc)
    assert pstar(["rl", "--resume", "--no-progress", f"run_root={tmp_path}", "name=bc_run", "backend=inprocess"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"pstar rl: error: checkpoint {bc / 'checkpoints' / 'ckpt_000000002'}: is a 'bc' checkpoint; "
                   "--resume continues a run of the same kind ('rl'), so choose another name= for a new rl run")
    assert snapshot(bc) == before
    # the intended BC -> RL path: the BC checkpoint starts a new RL run
    started, _ = initial_agents(load_config(RLConfig, None, [f"init_checkpoint={bc}", "scenarios=[3m]"]))
    assert started.config == agent.config


def test_resume_needs_a_checkpoint_and_a_name(tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume: it holds no checkpoint; start a new run"):
        open_run(tmp_path, "missing", "rl", resume=True)
    with pytest.raises(ConfigError, match=r"--resume needs train.name=<"):
        open_run(tmp_path, None, "task", resume=True, name_key="train.name")
    (tmp_path / "crashed").mkdir()
    (tmp_path / "crashed" / "config.yaml").write_text("steps: 9\n")  # a run that stopped before its first checkpoint
    with pytest.raises(ConfigError, match=r"already holds a run \(its config.yaml, no checkpoint\); choose another"):
        open_run(tmp_path, "crashed", "bc")
    assert (tmp_path / "crashed" / "config.yaml").read_text() == "steps: 9\n"


def test_timestamped_names_never_collide(tmp_path, monkeypatch):
    monkeypatch.setattr("training.run_folder.time.strftime", lambda _: "20250101_120000")  # two runs, one second
    first = open_run(tmp_path, None, "rl")
    first.write_config(load_config(RLConfig))
    second = open_run(tmp_path, None, "rl")
    assert [first.path.name, second.path.name] == ["rl_20250101_120000", "rl_20250101_120000_2"]


def test_quickstart_refuses_a_used_folder_before_recording(tmp_path):
    cfg = load_config(QuickstartConfig, None, [f"run_root={tmp_path}", "name=qs"])
    (tmp_path / "qs").mkdir()
    (tmp_path / "qs" / "config.yaml").write_text("seed: 0\n")
    with pytest.raises(ConfigError, match=r"run folder .*qs already holds a run \(its config.yaml\); choose another"):
        quickstart(cfg, progress=False)
    assert [p.name for p in (tmp_path / "qs").iterdir()] == ["config.yaml"]


def test_resume_reports_the_settings_that_changed(tmp_path, caplog):
    cfg = load_config(RLConfig, None, [*RL, f"run_root={tmp_path}", "total_frames=32"])
    train_rl(cfg, progress=False)
    longer = load_config(RLConfig, None, [*RL, f"run_root={tmp_path}", "total_frames=48"])
    with caplog.at_level(logging.WARNING, logger="pstar.run"):
        result = train_rl(longer, resume=True, progress=False)
    assert "settings that differ from its checkpoint: total_frames: 32 -> 48" in caplog.text
    assert result.counters["frames"] == 48


def test_a_resume_that_would_train_nothing_is_refused_and_keeps_the_config(tmp_path, capsys):
    run = ["--no-progress", *RL, f"run_root={tmp_path}"]
    assert pstar(["rl", *run, "total_frames=32"]) == 0
    before = snapshot(tmp_path / "rlx")
    capsys.readouterr()
    assert pstar(["rl", "--resume", *run, "total_frames=16"]) == 2
    assert "has played 32 frames already; total_frames=16 leaves nothing to train" in capsys.readouterr().err
    assert snapshot(tmp_path / "rlx") == before


def _tiny() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def _flip_last_bit(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))


@pytest.mark.parametrize("damaged", ["model.safetensors", "optimizer.safetensors"])
def test_resume_falls_back_past_a_corrupt_checkpoint_and_sets_it_aside(tmp_path, caplog, damaged):
    model = _tiny()
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 3)).sum().backward()
    optimizer.step()  # the optimizer has tensors to damage
    checkpoints = tmp_path / "run" / "checkpoints"
    for step in (1, 2):
        save_checkpoint(checkpoints, step, model, {}, kind="test", optimizer=optimizer)
    _flip_last_bit(checkpoints / "ckpt_000000002" / damaged)  # same size: complete-looking, but corrupt
    with caplog.at_level(logging.WARNING, logger="pstar.checkpoint"):
        folder = open_run(tmp_path, "run", "test", resume=True)
    assert folder.resumed.step == 1
    assert f"skipping checkpoint {checkpoints / 'ckpt_000000002'}: {damaged} does not match the sha256" in caplog.text
    assert sorted(p.name for p in checkpoints.iterdir()) == ["ckpt_000000001", "ckpt_000000002.corrupt"]
    # the resumed run saves its next checkpoints; pruning keeps them, not the corrupt one's higher step
    save_checkpoint(checkpoints, 2, model, {}, kind="test", keep_last=1)
    assert [p.name for p in list_checkpoints(checkpoints)] == ["ckpt_000000002"]
    assert load_checkpoint(checkpoints).step == 2


def test_rl_resume_falls_back_past_a_bit_flipped_checkpoint(tmp_path, caplog):
    cfg = load_config(RLConfig, None, [*RL, f"run_root={tmp_path}", "total_frames=48"])
    full = train_rl(cfg, progress=False)
    _flip_last_bit(full.checkpoint / "model.safetensors")
    seen = {}
    with caplog.at_level(logging.WARNING, logger="pstar.checkpoint"):
        resumed = train_rl(cfg, resume=True, progress=False, on_update=lambda i: seen.setdefault("c", i["counters"]))
    assert f"skipping checkpoint {full.checkpoint}: model.safetensors does not match the sha256" in caplog.text
    assert seen["c"]["updates"] == 3  # continued from ckpt_2, redid update 3
    assert resumed.counters["updates"] == 3 and load_checkpoint(resumed.checkpoint).step == 3
    assert (full.checkpoint.parent / "ckpt_000000003.corrupt").is_dir()


def test_task_resume_with_another_model_is_refused_naming_the_difference(tmp_path):
    from training.tasks.cli import _load
    from training.tasks.trainer import run_task

    config_cls, task_cls = _load("image")

    def task(*extra: str):
        return task_cls(load_config(config_cls, None, [*TASK, f"train.run_root={tmp_path}", "train.steps=2", *extra]))

    run_task(task(), progress=False)
    refused = r"its model differs from this run's \(checkpoint -> run: encoder.num_latents: 8 -> 16\); resume with"
    with pytest.raises(CheckpointError, match=refused):
        run_task(task("model.encoder.num_latents=16", "train.steps=3"), resume=True, progress=False)
    assert run_task(task("train.steps=3"), resume=True, progress=False).steps == 3


def test_an_unwritable_run_root_or_cache_dir_is_one_error(tmp_path):
    blocker = tmp_path / "a_file"  # a file where a directory should be: refused even for root, unlike chmod
    blocker.write_text("")
    with pytest.raises(UnwritableError, match=rf"run folder {blocker / 'run'}: cannot be written"):
        open_run(blocker, "run", "bc")
    with pytest.raises(UnwritableError, match=rf"--out {blocker}: cannot be written"):
        writable_directory(blocker, "--out")
    assert writable_directory(tmp_path / "new" / "dir", "--out").is_dir()
    assert [p.name for p in (tmp_path / "new" / "dir").iterdir()] == []  # the check leaves nothing behind
    assert pstar(["replays", "record", "--games", "1", "--out", str(blocker), "--quiet"]) == 2


def test_a_new_run_never_writes_into_a_folder_of_other_files(tmp_path):
    # `pstar quickstart run_root=. name=replays` wrote its config, runs and games into the replay folder
    replays = tmp_path / "replays"
    replays.mkdir()
    (replays / "game.skreplay").write_bytes(b"x")
    with pytest.raises(ConfigError, match=rf"run folder {replays} is not empty \(and holds no run\)"):
        open_run(tmp_path, "replays", "quickstart", resumable=False)
    assert [p.name for p in replays.iterdir()] == ["game.skreplay"]
    (tmp_path / "empty").mkdir()
    assert open_run(tmp_path, "empty", "bc").path == tmp_path / "empty"
