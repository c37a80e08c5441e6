"""Behaviour cloning under torchrun: two processes train through DistributedDataParallel, rank 0 checkpoints; a
second run in the same folder is refused on every rank."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from envs.skirmish.botgame import mirrored, play_bot_game
from envs.skirmish.replay import save_replay
from envs.skirmish.scenario import load_scenario
from training.checkpoint import latest_checkpoint, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def test_two_processes_train_and_rank_0_checkpoints(tmp_path):
    replays = tmp_path / "replays"
    for seed in range(3):
        match = play_bot_game(mirrored(load_scenario("3m"), seed), {1: "hard", 2: "easy"}, seed=seed, max_units=64)
        save_replay(replays / f"g{seed}.skreplay", match, {1: "bot:hard", 2: "bot:easy"})
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "training.bc.cli",
        f"replays=[{replays}]",
        "steps=3",
        "batch_size=2",
        "sequence_length=8",
        "eval_every=2",
        "checkpoint_every=2",
        f"cache_dir={tmp_path / 'cache'}",
        f"run_root={tmp_path / 'runs'}",
        "name=ddp",
        "device=cpu",
        "--no-progress",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "bc rank 0/2: 3 steps" in output and "bc rank 1/2: 3 steps" in output
    checkpoint = load_checkpoint(latest_checkpoint(tmp_path / "runs" / "ddp" / "checkpoints"))
    assert checkpoint.meta["counters"]["step"] == 3 and checkpoint.meta["counters"]["sequences"] == 3 * 2 * 2
    assert "action_type/accuracy" in checkpoint.meta["metrics"]
    assert not any(k.startswith("module.") for k in checkpoint.weights)  # the agent's own names, not DDP's
    # the same run again: rank 0 refuses the used folder and every rank stops with that error (none hangs)
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    output = again.stdout + again.stderr
    assert again.returncode != 0
    assert output.count("already holds checkpoints (latest ckpt_000000003); pass --resume") == 2, output[-3000:]
    assert load_checkpoint(latest_checkpoint(tmp_path / "runs" / "ddp" / "checkpoints")).step == 3
