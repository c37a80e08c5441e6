"""Behaviour cloning on real .SC2Replay files: two heads taught, the rest masked; `pstar replays info` on them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("sc2reader")
pytest.importorskip("s2protocol")
pytest.importorskip("pysc2_evolved")

from agents.heads.action_heads import HEADS  # noqa: E402
from envs.sc2replay import read_replay  # noqa: E402
from training.agent_io import load_agent  # noqa: E402
from training.bc.config import BCConfig  # noqa: E402
from training.bc.dataset import BCData, DatasetError  # noqa: E402
from training.bc.shards import batches  # noqa: E402
from training.bc.trainer import BCObjective, train_bc  # noqa: E402
from training.config_io import load_config  # noqa: E402
from training.replays_cli import main as replays_main  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "sc2_replays"
SMALL = ("sc2reader_4.3.0.64469_PvT_vsAI_VeryEasy.SC2Replay", "sc2reader_4.7.0.70154_PvT_vsAI_VeryEasy.SC2Replay")
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared replays not found at {SHARED}")


def config(root: Path, **changes) -> BCConfig:
    base = load_config(BCConfig, Path(__file__).resolve().parents[1] / "configs" / "bc_sc2.yaml")
    small = {
        "replays": [str(SHARED / name) for name in SMALL],
        "val_replays": [SMALL[0]],
        "max_units": 200,
        "sequence_length": 8,
        "batch_size": 4,
        "learning_rate": 2e-3,
        "steps": 30,
        "eval_every": 0,
        "checkpoint_every": 0,
        "cache_dir": str(root / "cache"),
        "run_root": str(root / "runs"),
        "name": "sc2",
        "device": "cpu",
        "threads": 1,
    }
    return dataclasses.replace(base, **{**small, **changes})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cfg = config(tmp_path_factory.mktemp("bc_sc2"))
    return cfg, train_bc(cfg, progress=False)


def all_batches(data: BCData):
    return batches(data.load, data.items(set(range(len(data.manifest["replays"])))), 64)


def test_cache_teaches_only_action_type_and_selection(trained):
    cfg, result = trained
    data = BCData.open(Path(cfg.cache_dir) / result.data["cache_key"])
    assert data.spec["env"] == "sc2" and data.spec["max_units"] == 200
    expected = 0
    for name in SMALL:
        replay = read_replay(SHARED / name, max_units=200)
        expected += sum(s.action_type is not None and s.action["selected_units"][0] >= 0 for s in replay.samples[1])
    counts = data.manifest["counts"]
    assert (
        counts["samples"]
        == expected
        == 35 + 126 - counts["actions_dropped"].get("no selected unit can carry the action type", 0)
    )
    assert counts["actions_dropped"]["unmapped ability"] == 3  # the 4.3 replay's chrono boosts
    for batch in all_batches(data):
        mask = batch["head_mask"][batch["valid"]]
        assert mask.shape[-1] == len(HEADS)
        assert mask[:, :2].all() and not mask[:, 2:].any()


def test_masked_heads_add_nothing_to_the_loss(trained):
    cfg, result = trained
    data = BCData.open(Path(cfg.cache_dir) / result.data["cache_key"])
    agent = load_agent(result.run_dir)[0]
    batch = next(iter(all_batches(data)))
    _, nll = BCObjective(agent, {})(batch)
    assert all(float(nll[head]) == 0.0 for head in HEADS[2:])
    assert float(nll["action_type"]) > 0 and float(nll["selected_units"]) > 0
    batch["head_mask"][...] = True  # taught, location and queued add their (finite) terms; no target was invented
    _, taught = BCObjective(agent, {})(batch)
    assert float(taught["target_unit"]) == 0.0
    assert torch.isfinite(taught["target_location"]) and float(taught["target_location"]) > 0


def test_no_invented_target_reaches_the_next_steps_input(trained):
    cfg, result = trained
    data = BCData.open(Path(cfg.cache_dir) / result.data["cache_key"])
    agent = load_agent(result.run_dir)[0]
    batch = next(iter(all_batches(data)))
    assert (batch["target_unit"] == -1).all()
    obs = {k: batch[k].transpose(0, 1) for k in ("units", "unit_mask", "scalars", "available_actions")}
    action = {k: batch[k].transpose(0, 1) for k in ("action_type", "selected_units", "target_unit",
                                                     "target_location", "queued")}  # fmt: skip
    with torch.no_grad():
        out = agent.evaluate_sequence(obs, action, agent.initial_state(batch["first"].shape[0]),
                                      batch["first"].transpose(0, 1))  # fmt: skip
    assert (out.state["previous_target_tag"] == -1).all()


def test_training_lowers_the_taught_heads_loss(trained):
    cfg, result = trained
    data = BCData.open(Path(cfg.cache_dir) / result.data["cache_key"])
    torch.manual_seed(cfg.seed)
    objective = {
        "before": BCObjective(cfg.agent.build(data.spec), {}),
        "after": BCObjective(load_agent(result.run_dir)[0], {}),
    }
    losses = {}
    with torch.no_grad():
        for when, obj in objective.items():
            losses[when] = np.mean([float(obj(b)[1]["action_type"]) for b in all_batches(data)])
    assert losses["after"] < 0.7 * losses["before"], losses
    metrics = result.metrics
    assert metrics["action_type/samples"] == 35 and "target_unit/accuracy" not in metrics
    assert 0.0 <= metrics["action_type/accuracy"] <= 1.0 and 0.0 <= metrics["selected_units/f1"] <= 1.0


def test_unknown_held_out_replay_is_named(tmp_path):
    cfg = config(tmp_path, val_replays=["nope.SC2Replay"], steps=1)
    with pytest.raises(DatasetError, match="nope.SC2Replay"):
        train_bc(cfg, progress=False)


def test_a_corrupt_replay_is_skipped_and_counted_by_reason(tmp_path):
    """Skipped files are counted by the reader's own kind of problem (truncated, corrupt, unsupported build)."""
    bad = tmp_path / "broken.SC2Replay"
    bad.write_bytes((SHARED / SMALL[1]).read_bytes()[:5000])
    cfg = config(tmp_path, replays=[str(SHARED / SMALL[0]), str(bad)], val_replays=[], val_fraction=0.0, steps=1)
    result = train_bc(cfg, progress=False)
    assert result.data["replays"] == 1 and result.data["skipped"] == {"truncated": 1}
    assert result.data["skip_reasons"]["truncated"].startswith("truncated: ")


def test_replays_info_prints_the_summary_and_counts_unreadable_files(tmp_path, capsys):
    bad = tmp_path / "broken.SC2Replay"
    bad.write_bytes(b"not a replay at all")
    status = replays_main(["info", str(SHARED / "sc2reader_4.0.1.59729_ZvP_OdysseyLE_ladder.SC2Replay"), str(bad)])
    out = capsys.readouterr().out
    assert status == 1
    assert "build fallback" in out and "59587" in out and "Odyssey LE" in out and "Zerg" in out
    assert f"{bad}: INVALID" in out
    assert "1 of 2 files read; skipped: 1 " in out


def test_the_agent_trained_on_replays_reads_nothing_they_cannot_tell(trained):
    """The cache's spec lists what a replay does not record; the agent built from it leaves those entries out."""
    from envs.sc2replay.sample import MISSING_COLUMNS
    from training.agent_io import load_agent

    cfg, result = trained
    data = BCData.open(Path(cfg.cache_dir) / result.data["cache_key"])
    assert data.spec["unknown"] == [*MISSING_COLUMNS, "available_actions"]
    agent, _ = load_agent(Path(cfg.run_root) / cfg.name)
    assert {"health", "shield", "energy", "order_id_0"} <= agent.spec.unknown_columns
    assert "health" not in {c for c, *_ in agent.featurizer.sqrt_one_hots}
    assert not agent.spec.available_actions_known


def test_the_own_side_frame_is_refused_for_starcraft_replays(trained, tmp_path):
    """Reflecting player 2 across the 256-wide frame would put a 168-wide map's units off it: one clear error."""
    from training.config_io import ConfigError

    cfg, _ = trained
    mirrored = dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, frame="own_side"),
                                   run_root=str(tmp_path), name="own_side")  # fmt: skip
    with pytest.raises(ConfigError, match="agent.frame=map"):
        train_bc(mirrored, progress=False)
