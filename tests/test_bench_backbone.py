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
TINY = ["--num-latents", "8", "--d-latents", "16", "--d-model", "8", "--num-self-attends-per-block", "1",
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


def test_bench_backbone_runs_every_model_and_thread_count_and_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "backbone.json"
    argv = ["bench", "backbone", "--lengths", "32", "64", "--mlm-lengths", "48", "--batch", "1", "--threads", "1", "2",
            "--warmup", "0", "--repeats", "1", "--device", "cpu", "--keep-freed-memory", "--out", str(out), *TINY]
    threads = torch.get_num_threads()
    try:
        assert pstar(argv) == 0
    finally:
        torch.set_num_threads(threads)
    text = capsys.readouterr().out
    assert "fwd+bwd ms" in text and "peak MiB" in text and "max|diff|" in text
    assert text.count(" ours ") == 12 and text.count(" hf ") == 12  # 2 encoders x 2 lengths + 2 MLMs, x 2 threads
    assert "SKIP: mlm, 2 threads: speed and memory at 2048" in text and "SKIP: encoder, 1 thread: scaling" in text
    assert "mlm, 1 thread: scaling" not in text  # an MLM has no scaling target

    report = json.loads(out.read_text())
    assert report["models"]["encoder"]["num_latents"] == 8 and report["batch"] == 1 and report["threads"] == [1, 2]
    assert report["malloc"] == "keep-freed" or report["malloc"].startswith("default (not glibc")
    assert report["models"]["encoder-qk-lt-v"]["head_sizes"] == "cross qk 128 > v 8, self qk 128 > v 8"
    assert report["models"]["mlm"]["head_sizes"].endswith("decoder qk 32 > v 1")
    runs = [(r["model"], r["threads"], r["length"]) for r in report["results"]]
    assert runs == [(m, t, n) for m in ("encoder", "encoder-qk-lt-v") for n in (32, 64) for t in (1, 2)] + [
        (m, t, 48) for m in ("mlm", "mlm-qk-gt-v") for t in (1, 2)]  # fmt: skip
    for r in report["results"]:
        assert r["max_abs_diff"] < 1e-5
        for impl in ("ours", "hf"):
            m = r["impls"][impl]
            assert m["fwd_ms"] > 0 and m["fwd+bwd_ms"] > 0
            assert 0 < m["fwd_peak_mib"] < m["fwd+bwd_peak_mib"]
        ours, hf = r["impls"]["ours"], r["impls"]["hf"]
        assert r["speedup_fwd+bwd"] == pytest.approx(hf["fwd+bwd_ms"] / ours["fwd+bwd_ms"])
        assert r["memory_ratio_fwd+bwd"] > 0


def test_verdicts_cover_speed_memory_and_scaling_per_model_and_thread_count(bench):
    def result(length: int, ours_ms: float, hf_ms: float, ours_mib: float, hf_mib: float, model="encoder",
               threads=1) -> dict:  # fmt: skip
        impl = lambda ms, mib: {"fwd_ms": ms, "fwd+bwd_ms": ms, "fwd_peak_mib": mib, "fwd+bwd_peak_mib": mib}
        return {"model": model, "task": "mlm" if model == "mlm" else "encoder", "threads": threads,
                "length": length, "impls": {"ours": impl(ours_ms, ours_mib), "hf": impl(hf_ms, hf_mib)},
                "speedup_fwd+bwd": hf_ms / ours_ms, "memory_ratio_fwd+bwd": ours_mib / hf_mib}

    good = [result(1024, 10, 12, 1, 2), result(2048, 20, 30, 1, 2), result(8192, 80, 200, 4, 8)]
    lines = bench["verdicts"](good)
    assert [ok for _, ok in lines] == [True, True, True, True]
    bad = [result(1024, 10, 11, 1, 1), result(2048, 20, 21, 2, 2), result(8192, 150, 160, 4, 4)]
    lines = bench["verdicts"](bad)
    assert [ok for _, ok in lines] == [False, False, False, False]
    # Each (model, threads) is judged on its own: a slow MLM at 2 threads fails beside a passing encoder.
    mixed = [*good, result(2048, 20, 30, 1, 2, "mlm", 1), result(2048, 20, 22, 1, 2, "mlm", 2)]
    lines = bench["verdicts"](mixed)
    assert [ok for _, ok in lines] == [True] * 4 + [True, True] + [False, True]
    assert lines[-2][0].startswith("mlm, 2 threads: fwd+bwd speed at 2048: ours 1.10x HF")
