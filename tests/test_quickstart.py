"""The main job end to end at a tiny size: replays -> BC -> RL -> evaluation of both, with every output written."""

import json

import pytest

from training.config_io import load_config
from training.quickstart import QuickstartConfig, run

TINY = ["record.games=8", "record.workers=1", "record.scenarios=[3m]", "bc.steps=6", "bc.eval_every=0",
        "bc.checkpoint_every=0", "bc.batch_size=4", "rl.backend=inprocess", "rl.num_actors=1",
        "rl.envs_per_actor=2", "rl.unroll_length=16", "rl.total_frames=64", "rl.scenarios=[3m]",
        "eval.backend=inprocess", "eval.games=2", "eval.levels=[very_easy, easy]", "eval.scenarios=[3m]"]  # fmt: skip


@pytest.mark.slow
def test_quickstart_pipeline_writes_every_artefact(tmp_path):
    cfg = load_config(QuickstartConfig, None, [*TINY, f"run_root={tmp_path}", "name=qs"])
    summary = run(cfg, progress=False)
    run_dir = tmp_path / "qs"
    assert summary["replays"]["games"] == 8
    assert (run_dir / "bc" / "checkpoints").is_dir() and (run_dir / "rl" / "checkpoints").is_dir()
    for label in ("bc", "rl"):
        for name in ("eval.json", "eval.md", "eval.png"):
            assert (run_dir / f"eval_{label}" / name).is_file()
    saved = json.loads((run_dir / "quickstart.json").read_text())
    assert set(saved["win_rate"]) == {"BC", "RL"} and set(saved["win_rate"]["BC"]) == {"very_easy", "easy"}
    assert "| very_easy |" in (run_dir / "quickstart.md").read_text()
    assert set(saved["rl_vs_bc_test"]) == {"z", "p_one_sided"} and saved["games"]["RL"] == 4
    assert set(saved["checks"]) == {"bc_beats_very_easy_80", "rl_beats_bc_p_0.05"}
