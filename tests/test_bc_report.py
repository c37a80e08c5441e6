"""``pstar bc-report``: a BC run's held-out action-type accuracy against the commonest-type prior, per race and game
version, and the data-scaling table and picture of runs trained on nested subsets (``train_replays``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sc2reader")
pytest.importorskip("s2protocol")
pytest.importorskip("pysc2_evolved")

from training.bc.config import BCConfig  # noqa: E402
from training.bc.dataset import BCData, DatasetError  # noqa: E402
from training.bc.report import main, run_report  # noqa: E402
from training.bc.shards import HEAD_MASK  # noqa: E402
from training.bc.trainer import train_bc  # noqa: E402
from training.config_io import load_config  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "sc2_replays"
TRAIN = ["sc2reader_4.3.0.64469_PvT_vsAI_VeryEasy.SC2Replay", "sc2reader_4.4.0.65895_PvZ_vsAI_VeryEasy.SC2Replay",
         "sc2reader_4.7.0.70154_PvT_vsAI_VeryEasy.SC2Replay"]  # fmt: skip
HELD = ["sc2reader_4.0.1.59729_ZvP_OdysseyLE_ladder.SC2Replay"]
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared replays not found at {SHARED}")


def config(root: Path, **changes) -> BCConfig:
    base = load_config(BCConfig, Path(__file__).resolve().parents[1] / "configs" / "bc_sc2.yaml")
    small = {"replays": [str(SHARED / name) for name in TRAIN + HELD], "val_replays": HELD, "max_units": 64,
             "sequence_length": 8, "batch_size": 4, "steps": 20, "eval_every": 0, "checkpoint_every": 0,
             "cache_dir": str(root / "cache"), "run_root": str(root / "runs"), "device": "cpu",
             "threads": 1}  # fmt: skip
    return dataclasses.replace(base, **{**small, **changes})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs on the same held-out ladder game: all three training replays, and one of them."""
    root = tmp_path_factory.mktemp("bc_report")
    made = {}
    for n in (0, 1):
        cfg = config(root, train_replays=n, name=f"n{n}")
        train_bc(cfg, progress=False)
        made[n] = (cfg, Path(cfg.run_root) / cfg.name)
    return made


def test_the_report_splits_the_held_out_commands_into_races_and_versions(runs):
    cfg, run = runs[0]
    report = run_report(run)
    assert (report.train_replays, report.held_out_replays) == (3, 1)
    groups = {g.group: g for g in report.groups}
    assert set(groups) == {"all", "race Protoss", "race Zerg", "version 4.x"}
    total = groups["all"]
    assert total.games == 2  # the two humans of the held-out ladder game
    assert total.commands == groups["race Protoss"].commands + groups["race Zerg"].commands
    assert total.commands == groups["version 4.x"].commands
    low, high = total.accuracy_ci
    assert low <= total.accuracy <= high and total.prior_ci[0] <= total.prior <= total.prior_ci[1]
    assert total.margin_ci[0] <= total.accuracy - total.prior <= total.margin_ci[1]
    assert 0 <= total.selected_f1 <= 1 and total.selections > 0


def test_the_prior_is_the_commonest_training_label_counted_on_the_held_out_labels(runs):
    cfg, run = runs[0]
    report = run_report(run)
    data = BCData.open(next(Path(cfg.cache_dir).iterdir()))
    train, held = data.split(cfg.val_fraction, cfg.seed, cfg.val_replays)
    labels = {}
    for name, ids in (("train", train), ("held", held)):
        found = []
        for shard, positions in data.items(ids):
            arrays = data.load(shard)
            taught = arrays["valid"][positions].astype(bool) & arrays[HEAD_MASK][positions][..., 0].astype(bool)
            kinds = arrays["action_type"][positions][taught]
            found.append(kinds[kinds >= 0])
        labels[name] = np.concatenate(found)
    prior = np.bincount(labels["train"]).argmax()
    assert report.prior_type == data.spec["action_types"][prior]["name"] == "Smart_pt"
    total = report.groups[0]
    assert total.commands == len(labels["held"])
    assert total.prior == pytest.approx(np.mean(labels["held"] == prior))


def test_runs_on_nested_subsets_make_a_scaling_table_and_picture(runs, tmp_path, capsys):
    plot, out = tmp_path / "scaling.png", tmp_path / "reports.json"
    status = main(["-q", str(runs[1][1]), str(runs[0][1]), "--plot", str(plot), "--json", str(out)])
    text = capsys.readouterr().out
    assert status == 0
    assert "| training replays |" in text and "\n| 1 |" in text and "\n| 3 |" in text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 0
    one = run_report(runs[1][1])
    assert one.train_replays == 1 and one.held_out_replays == 1


def test_a_run_without_held_out_replays_or_too_few_training_ones_is_refused(runs, tmp_path, capsys):
    cfg = config(tmp_path, val_replays=[], val_fraction=0.0, cache_dir=runs[0][0].cache_dir, name="none")
    train_bc(cfg, progress=False)
    assert main(["-q", str(Path(cfg.run_root) / cfg.name)]) == 2
    assert "held no replay out" in capsys.readouterr().err
    with pytest.raises(DatasetError, match="train_replays=4"):
        train_bc(config(tmp_path, train_replays=4, cache_dir=runs[0][0].cache_dir, name="four"), progress=False)
