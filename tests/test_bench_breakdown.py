"""The per-part time breakdown of the throughput benchmarks (`pstar bench act`, `pstar bench rl --breakdown`):
module hooks and method timers, parts containing parts, the rest as "other", and everything undone on close."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.breakdown import Breakdown, breakdown_table  # noqa: E402


class Clock:
    """A clock that advances only when told: every timed call below takes a known time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Slow(nn.Module):
    def __init__(self, clock: Clock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.clock.now += self.seconds
        return x


class Worker:
    def __init__(self, clock: Clock, inner: Slow) -> None:
        self.clock, self.inner = clock, inner

    def step(self, x: torch.Tensor) -> torch.Tensor:
        self.clock.now += 0.5
        return self.inner(self.inner(x))  # the module twice, inside the method


def test_parts_sum_to_the_total_with_contained_parts_left_out_and_everything_undone():
    clock = Clock()
    inner = Slow(clock, 0.25)
    worker = Worker(clock, inner)
    with Breakdown(clock) as parts:
        parts.modules({"inner": inner}).method("step", worker, "step", contains=["inner"])
        parts.method("class step", Worker, "step")
        assert "step" in vars(worker) and Worker.step.__name__ == "timed"
        for _ in range(4):
            worker.step(torch.zeros(1))
        clock.now += 1.0  # time outside every part
        rows = {r["part"]: r for r in parts.rows(total_s=clock.now, frames=8)}
    assert rows["inner"]["seconds"] == 4 * 0.5 and rows["inner"]["calls"] == 8
    assert rows["step"]["seconds"] == 4 * 0.5  # its own time: the module's calls left out
    assert rows["class step"]["seconds"] == 0.0  # the instance's timer shadows the class's
    assert rows["other"]["seconds"] == 1.0 and rows["inner"]["us_per_frame"] == 1e6 * 2 / 8
    assert abs(sum(r["share"] for r in rows.values()) - 1) < 1e-12
    assert "step" not in vars(worker) and Worker.step.__name__ == "step"  # undone
    assert not inner._forward_hooks and not inner._forward_pre_hooks
    table = breakdown_table({"a": list(rows.values())}, "the rest")
    assert "| other (the rest) | 125000.0 | 20% |" in table and table.splitlines()[-1] == "| total | 625000.0 | 100% |"
