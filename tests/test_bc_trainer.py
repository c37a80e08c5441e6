"""Behaviour-cloning trainer: the loss falls, metrics and checkpoints are written, resume is exact, the CLI."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections import Counter
from pathlib import Path

import pytest
import torch

from envs.skirmish.replay import load_replay
from training.agent_choice import AgentChoice
from training.agent_io import load_agent
from training.bc import dataset as bc_dataset
from training.bc.cli import main
from training.bc.config import BCConfig
from training.bc.dataset import ActionRules, BCData, to_sequences
from training.bc.metrics import evaluate_bc
from training.bc.shards import batches, collate
from training.bc.trainer import BCObjective, train_bc
from training.checkpoint import CheckpointError, list_checkpoints, load_checkpoint
from training.config_io import ConfigError, to_dict


def config(replay_dir: Path, root: Path, **changes) -> BCConfig:
    base = BCConfig(
        replays=[str(replay_dir)],
        sequence_length=8,
        batch_size=4,
        learning_rate=2e-3,
        steps=60,
        eval_every=0,
        checkpoint_every=0,
        log_every=10,
        shuffle_buffer=8,
        cache_dir=str(root / "cache"),
        run_root=str(root / "runs"),
        name="run",
        device="cpu",
        threads=1,  # small ops: one thread is as fast, and robust on a busy machine
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def trained(replay_dir, tmp_path_factory):
    cfg = config(replay_dir, tmp_path_factory.mktemp("bc"))
    return cfg, train_bc(cfg, progress=False)


def mean_loss(agent, data: BCData) -> float:
    """The unweighted loss over every cached sequence (train and held out)."""
    objective, total, count = BCObjective(agent, {}), 0.0, 0
    with torch.no_grad():
        for batch in batches(data.load, data.items(set(range(len(data.manifest["replays"])))), 64):
            loss, _ = objective(batch)
            total, count = total + float(loss) * int(batch["valid"].sum()), count + int(batch["valid"].sum())
    return total / count


def test_loss_falls_on_a_small_fixed_dataset(trained):
    cfg, result = trained
    data = BCData.open(Path(cfg.cache_dir) / result.data["cache_key"])
    torch.manual_seed(cfg.seed)
    before = mean_loss(cfg.agent.build(data.spec), data)
    after = mean_loss(load_agent(result.run_dir)[0], data)
    assert after < 0.75 * before, (before, after)  # whole steps: with a budget of 2, the end decision too
    assert result.steps == 60 and result.data["train_replays"] == 2 and result.data["val_replays"] == 1


def test_held_out_metrics_are_computed(trained):
    _, result = trained
    metrics = result.metrics
    for name in (
        "action_type/accuracy",
        "action_type/no_op_share",
        "actions_per_step/accuracy",
        "selected_units/f1",
        "selected_units/exact",
        "queued/accuracy",
        "target_location/accuracy",
    ):
        assert 0.0 <= metrics[name] <= 1.0, name
    assert all(metrics[f"{head}/nll"] >= 0.0 for head in ("action_type", "selected_units", "queued"))
    assert metrics["action_type/samples"] > 0 and metrics["selected_units/samples"] > 0
    assert metrics["loss"] == metrics["loss"]  # logged, not NaN


def test_bc_learns_steps_of_several_actions(replay_dir, one_thread):
    """The hard bot's recorded steps under a budget of 2: the loss of whole steps falls, and the metrics count
    every sub-action the true steps reach."""
    replay = load_replay(sorted(replay_dir.glob("*.skreplay"))[0])
    spec = {**replay.new_match().spec.to_dict(), "actions_per_step": 2}
    steps = [({k: v.copy() for k, v in s.observations[1].items()}, list(s.actions[1])) for s in replay.steps()]
    arrays = to_sequences(bc_dataset._player_samples(steps, ActionRules(spec), Counter()), 8)
    batch = collate([{key: value[i] for key, value in arrays.items()} for i in range(2)])  # 16 steps
    assert batch["action_type"].shape[-1] == 2 and (batch["valid"] & (batch["action_type"][..., 1] != 0)).any()
    torch.manual_seed(0)
    agent = AgentChoice().build(spec)
    objective = BCObjective(agent, {})
    optimizer = torch.optim.Adam(agent.parameters(), lr=3e-3)
    before = float(objective(batch)[0].detach())
    for _ in range(12):
        optimizer.zero_grad()
        objective(batch)[0].backward()
        optimizer.step()
    assert float(objective(batch)[0].detach()) < 0.7 * before
    metrics = evaluate_bc(agent, [batch])
    valid = int(batch["valid"].sum())
    reached = valid + int((batch["valid"] & (batch["action_type"][..., 0] != 0)).sum())  # second sub-actions too
    assert metrics["action_type/samples"] == reached and 0.0 <= metrics["actions_per_step/accuracy"] <= 1.0


def test_checkpoint_rebuilds_the_agent(trained):
    cfg, result = trained
    agent, checkpoint = load_agent(result.checkpoint)
    assert checkpoint.meta["kind"] == "bc" and checkpoint.meta["counters"]["step"] == 60
    assert checkpoint.meta["config"] == to_dict(cfg) and checkpoint.meta["data"]["replays"] == 3
    assert agent.spec.max_units == 64 and not agent.training
    assert (result.run_dir / "config.yaml").is_file() and list(result.run_dir.glob("events.out.tfevents.*"))


def test_resume_skips_a_torn_checkpoint_and_continues_exactly(replay_dir, tmp_path, caplog):
    settings = {"val_fraction": 0.0, "num_workers": 2}  # two DataLoader workers: each skips its share on resume
    straight = train_bc(config(replay_dir, tmp_path, steps=6, name="straight", **settings), progress=False)
    cut = config(replay_dir, tmp_path, steps=3, name="cut", **settings)
    complete = train_bc(cut, progress=False).checkpoint
    torn = complete.with_name("ckpt_000000005")  # a later save cut short while meta.json was being written
    shutil.copytree(complete, torn)
    (torn / "meta.json").write_text((torn / "meta.json").read_text()[:-200])
    with caplog.at_level(logging.WARNING, logger="pstar.checkpoint"):
        resumed = train_bc(dataclasses.replace(cut, steps=6), resume=True, progress=False)
    assert f"skipping checkpoint {torn}: meta.json is not valid JSON" in caplog.text
    assert [p.name for p in list_checkpoints(resumed.run_dir / "checkpoints")][-1] == "ckpt_000000006"
    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
    assert a.meta["counters"] == b.meta["counters"]
    assert a.weights.keys() == b.weights.keys()
    assert all(torch.equal(a.weights[k], b.weights[k]) for k in a.weights)


def test_resume_and_restart_are_checked(replay_dir, tmp_path, trained):
    cfg, _ = trained
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        train_bc(cfg, progress=False)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train_bc(config(replay_dir, tmp_path, name="fresh"), resume=True, progress=False)
    with pytest.raises(ConfigError, match=rf"is at step {cfg.steps} already; steps={cfg.steps} leaves nothing"):
        train_bc(cfg, resume=True, progress=False)  # it reported 'loss nan' and rewrote config.yaml


def test_cli_help_lists_the_keys(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "head_weights" in out and "agent.encoder" in out and "--resume" in out


def test_cli_errors_are_one_line(capsys, tmp_path):
    assert main(["bogus=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown key 'bogus'" in err and len(err.splitlines()) == 1
    where = [f"run_root={tmp_path}", f"cache_dir={tmp_path}/cache", "--no-progress"]
    assert main([f"replays=[{tmp_path}/missing]", *where]) == 2
    assert "missing does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([f"replays=[{tmp_path}/empty]", *where]) == 2
    assert "no replay files found" in capsys.readouterr().err
    assert main(["head_weights={policy: 1.0}"]) == 2
    assert "unknown head 'policy'" in capsys.readouterr().err


def test_a_new_run_starts_from_an_init_checkpoint_and_refuses_another_agent(replay_dir, tmp_path, trained):
    """``init_checkpoint``: step 0 of the new run holds the checkpoint's weights (its loss is the trained one, not a
    fresh agent's), the counters start at 0; a checkpoint of another encoder is one clear error naming it."""
    _, result = trained
    tuned = train_bc(config(replay_dir, tmp_path, steps=1, learning_rate=1e-9, name="tuned",
                            init_checkpoint=str(result.checkpoint)), progress=False)  # fmt: skip
    fresh = train_bc(config(replay_dir, tmp_path, steps=1, learning_rate=1e-9, name="fresh"), progress=False)
    data = BCData.open(next(p for p in (tmp_path / "cache").iterdir() if p.is_dir()))
    start, tuned_agent, fresh_agent = (load_agent(r.checkpoint)[0] for r in (result, tuned, fresh))
    assert load_checkpoint(tuned.checkpoint).meta["counters"]["step"] == 1
    assert mean_loss(tuned_agent, data) == pytest.approx(mean_loss(start, data), rel=1e-4)
    assert mean_loss(fresh_agent, data) > mean_loss(start, data) * 1.2
    other = {"agent": AgentChoice.of("small", "transformer")}
    with pytest.raises(CheckpointError, match=r"its agent differs from this run's"):
        train_bc(config(replay_dir, tmp_path, steps=1, name="other", init_checkpoint=str(result.checkpoint), **other),
                 progress=False)  # fmt: skip
    other_frame = dataclasses.replace(load_agent(result.checkpoint)[0].config, frame="map")
    turned = train_bc(config(replay_dir, tmp_path, steps=1, learning_rate=1e-9, name="turned",
                             init_checkpoint=str(result.checkpoint), agent=AgentChoice.from_config(other_frame)),
                      progress=False)  # fmt: skip  # the weights carry over to another frame
    turned_agent = load_agent(turned.checkpoint)[0]
    assert turned_agent.config.frame == "map"
    for name, weight in start.state_dict().items():
        torch.testing.assert_close(turned_agent.state_dict()[name], weight, rtol=1e-5, atol=1e-6)


def test_a_cosine_schedule_warms_up_then_decays_to_zero(replay_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = config(replay_dir, tmp_path, steps=20, log_every=1, warmup_steps=4, schedule="cosine", val_fraction=0.0)
    result = train_bc(cfg, progress=False)
    events = EventAccumulator(str(result.run_dir))
    events.Reload()
    lr = {e.step: e.value for e in events.Scalars("charts/learning_rate")}  # the rate step k's update used
    peak = cfg.learning_rate
    assert lr[1] == pytest.approx(peak / 4) and lr[4] == pytest.approx(peak)  # linear warm-up
    assert all(lr[k + 1] < lr[k] for k in range(5, 20))  # then falls every step
    assert lr[20] < 0.01 * peak
    with pytest.raises(ConfigError, match="schedule"):
        BCConfig(schedule="linear")
