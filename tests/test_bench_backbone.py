"""Smoke test of the backbone benchmark harness (`pstar bench backbone`) at tiny sizes."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from training.cli import main as pstar  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "backbone.py"
TINY = ["--num-latents", "8", "--d-latents", "16", "--input-dim", "8", "--num-self-attends-per-block", "1",
        "--num-self-attention-heads", "2", "--num-cross-attention-heads", "2"]


@pytest.fixture(scope="module")
def bench() -> dict:
    return runpy.run_path(str(SCRIPT))


def test_peak_from_events_replays_allocations_in_time_order(bench):
    events = [(0, 1, 100), (1, 2, 50), (2, 1, -100), (3, 3, 80), (4, 9, -999), (5, 3, -80), (6, 2, -50)]
    assert bench["peak_from_events"](events) == 150  # the free of block 9 (allocated earlier) is ignored


def test_cpu_peak_counts_only_tensors_allocated_in_the_step(bench):
    before = torch.ones(1 << 20)  # alive before the step: not counted, and its free is ignored

    def step() -> None:
        nonlocal before
        a = torch.ones(1 << 18, dtype=torch.float64)  # 2 MiB
        b = torch.ones(1 << 19, dtype=torch.float32)  # 2 MiB -> 4 MiB live
        del a, b
        before = None
        c = torch.ones(3 << 18, dtype=torch.float32)  # 3 MiB
        del c

    assert bench["cpu_peak_bytes"](step) == 4 << 20


def test_bench_backbone_runs_and_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "backbone.json"
    argv = ["bench", "backbone", "--lengths", "32", "64", "--batch", "1", "--threads", "1",
            "--warmup", "0", "--repeats", "1", "--device", "cpu", "--out", str(out), *TINY]
    threads = torch.get_num_threads()
    try:
        assert pstar(argv) == 0
    finally:
        torch.set_num_threads(threads)
    text = capsys.readouterr().out
    assert "fwd+bwd ms" in text and "peak MiB" in text and "max|diff|" in text
    assert text.count(" ours ") == 2 and text.count(" hf ") == 2
    assert "SKIP: speed and memory at 2048" in text and "SKIP: scaling" in text

    report = json.loads(out.read_text())
    assert report["config"]["num_latents"] == 8 and report["batch"] == 1 and report["threads"] == 1
    assert [r["length"] for r in report["results"]] == [32, 64]
    for r in report["results"]:
        assert r["max_abs_diff"] < 1e-5
        for impl in ("ours", "hf"):
            m = r["impls"][impl]
            assert m["fwd_ms"] > 0 and m["fwd+bwd_ms"] > 0
            assert 0 < m["fwd_peak_mib"] < m["fwd+bwd_peak_mib"]
        ours, hf = r["impls"]["ours"], r["impls"]["hf"]
        assert r["speedup_fwd+bwd"] == pytest.approx(hf["fwd+bwd_ms"] / ours["fwd+bwd_ms"])
        assert r["memory_ratio_fwd+bwd"] > 0


def test_verdicts_cover_speed_memory_and_scaling(bench):
    def result(length: int, ours_ms: float, hf_ms: float, ours_mib: float, hf_mib: float) -> dict:
        impl = lambda ms, mib: {"fwd_ms": ms, "fwd+bwd_ms": ms, "fwd_peak_mib": mib, "fwd+bwd_peak_mib": mib}
        return {"length": length, "impls": {"ours": impl(ours_ms, ours_mib), "hf": impl(hf_ms, hf_mib)},
                "speedup_fwd+bwd": hf_ms / ours_ms, "memory_ratio_fwd+bwd": ours_mib / hf_mib}

    good = [result(1024, 10, 12, 1, 2), result(2048, 20, 30, 1, 2), result(8192, 80, 200, 4, 8)]
    lines = bench["verdicts"](good)
    assert [ok for _, ok in lines] == [True, True, True, True]
    bad = [result(1024, 10, 11, 1, 1), result(2048, 20, 21, 2, 2), result(8192, 150, 160, 4, 4)]
    lines = bench["verdicts"](bad)
    assert [ok for _, ok in lines] == [False, False, False, False]
