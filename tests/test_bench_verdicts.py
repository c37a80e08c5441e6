"""How every benchmark ends (benchmarks/verdicts.py): FAIL lines last, exit 1 on a missed target, JSON under the
working directory's runs/bench/ unless --out says otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks.verdicts import MISSED_TARGET, exit_status, finish, verdict_lines

CHECKS = [("a fast enough", False), ("b not measured", None), ("c small enough", True), ("d scales", False)]


def test_fail_lines_come_last_in_their_order_and_set_the_exit_status():
    assert verdict_lines(CHECKS) == ["SKIP: b not measured", "PASS: c small enough", "FAIL: a fast enough",
                                     "FAIL: d scales"]  # fmt: skip
    assert exit_status(CHECKS) == MISSED_TARGET == 1
    assert exit_status([("passed", True), ("not run", None)]) == 0
    assert exit_status([]) == 0


def test_finish_writes_a_new_run_directory_under_the_working_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert finish("demo", {"rate": 3.5}, CHECKS, None) == 1
    assert finish("demo", {"rate": 4.0}, [("c small enough", True)], None) == 0
    written = sorted(tmp_path.glob("runs/bench/demo_*/demo.json"))
    assert len(written) == 2  # a second run in the same second gets its own folder
    report = json.loads(written[0].read_text())
    assert report["rate"] == 3.5
    assert report["verdicts"] == [{"check": t, "pass": ok} for t, ok in CHECKS]
    lines = capsys.readouterr().out.splitlines()
    assert lines[:5] == [f"wrote {Path('runs/bench') / written[0].parent.name / 'demo.json'}", "SKIP: b not measured",
                         "PASS: c small enough", "FAIL: a fast enough", "FAIL: d scales"]  # fmt: skip


def test_finish_writes_where_out_says(tmp_path, capsys):
    out = tmp_path / "nested" / "r.json"
    assert finish("demo", {}, [("ok", True)], out) == 0
    assert json.loads(out.read_text())["verdicts"] == [{"check": "ok", "pass": True}]
    assert capsys.readouterr().out.splitlines() == [f"wrote {out}", "PASS: ok"]


def test_a_real_benchmark_missing_a_target_exits_1_with_its_fail_lines_last(tmp_path, monkeypatch, capsys):
    """One latent and one head at 2,048 inputs: no attention matrix worth saving, so the deterministic peak-memory
    target (<= 0.75x HF) is missed; the JSON lands in the working directory's runs/bench/."""
    pytest.importorskip("transformers")
    from training.cli import main as pstar

    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    try:
        code = pstar(["bench", "backbone", "--models", "encoder", "--lengths", "2048", "--batch", "1", "--threads", "1",
                      "--warmup", "0", "--repeats", "1", "--device", "cpu", "--num-latents", "1", "--d-latents", "8",
                      "--d-model", "8",
                      "--num-self-attends-per-block", "1", "--num-self-attention-heads", "1",
                      "--num-cross-attention-heads", "1"])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert code == 1
    lines = capsys.readouterr().out.splitlines()
    verdicts = [line for line in lines if line.split(":")[0] in ("PASS", "SKIP", "FAIL")]
    assert any(line.startswith("FAIL: encoder, 1 thread: fwd+bwd peak memory at 2048") for line in verdicts)
    first_fail = next(i for i, line in enumerate(verdicts) if line.startswith("FAIL"))
    assert all(line.startswith("FAIL") for line in verdicts[first_fail:]) and lines[-1] == verdicts[-1]
    (written,) = tmp_path.glob("runs/bench/backbone_*/backbone.json")
    recorded = [(v["check"], v["pass"]) for v in json.loads(written.read_text())["verdicts"]]
    assert verdict_lines(recorded) == verdicts


def test_env_benchmark_without_targets_exits_0_and_writes_under_the_working_directory(tmp_path, monkeypatch, capsys):
    from training.cli import main as pstar

    monkeypatch.chdir(tmp_path)
    assert pstar(["bench", "env", "--scenarios", "3m", "--min-seconds", "0", "--max-games", "1"]) == 0
    (written,) = tmp_path.glob("runs/bench/env_*/env.json")
    assert json.loads(written.read_text())["verdicts"] == []  # 3m has no target
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {Path('runs/bench') / written.parent.name / 'env.json'}"


def test_fullgame_benchmark_judges_cpu_seconds_per_ten_game_minutes(tmp_path, capsys):
    from training.cli import main as pstar

    out = tmp_path / "fg.json"
    short = ["bench", "fullgame", "--minutes", "0.1", "--pairs", "zerg-protoss", "--out", str(out)]
    assert pstar([*short, "--batch", "0", "--target-seconds", "100000"]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["races"] == "zerg-protoss" and row["steps"] == 17 and row["entities"] > 20 and row["winner"] is None
    assert row["minutes"] == pytest.approx(17 * 8 / 1344, abs=0.005)  # the loops played, in game minutes
    assert row["cpu_s_per_10_min"] == pytest.approx(row["cpu_s"] * 10 * 1344 / (17 * 8))
    assert pstar([*short, "--batch", "0", "--target-seconds", "0.0001"]) == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith("FAIL: zerg-protoss:")
    # Batched: the hashes are asserted; the speed-up of games this short on a busy machine is judged, not asserted.
    pstar([*short, "--batch", "2", "--target-seconds", "100000"])
    report = json.loads(out.read_text())
    assert len(report["batch"]["alone"]["hashes"]) == 2
    assert report["batch"]["alone"]["hashes"] == report["batch"]["together"]["hashes"]
    checks = {v["check"].split(":")[0]: v["pass"] for v in report["verdicts"]}
    assert checks["2 full games in one batched engine play exactly as alone (same final hashes)"] is True
    assert "batched" in checks
