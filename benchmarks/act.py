"""Acting benchmark: frames/s of ``Agent.act`` alone at batch 1, 8, 64 and 256, with a per-part breakdown
(``pstar bench act``).

The small agent (``AgentChoice()``, fresh weights, seeded) acts on observations of real Skirmish games: ``--games``
games of the RL benchmark's scenarios (3m, 8m, 2s3z, MMM against easy and medium bots, 64 unit rows) played by a
``RolloutWorker`` for ``--steps`` steps; batch b at step t is the first b games' observations of that step, as
tensors already stacked (what an actor's policy hands the agent), so only ``act`` is timed. Acting runs as actors
run it: torch on one thread, glibc malloc keeping freed memory (``training.allocator``), inference mode,
sampling at the agent's temperature from a seeded generator. Times are the thread's CPU time (frames/s = frames per
CPU second of one core), which other load on a shared machine does not inflate as it does wall time.

Two paths per batch, timed alternately call by call (medians): ``act``, which skips work whose result is unused
(heads only for the rows whose action uses them, selection steps only for the rows still selecting), and ``act``
under ``recording()``, which builds every head's distribution for every row (what the divergence guard and the
exact-KL terms need; the work ``act`` did for every step before it skipped anything) as the baseline of the ratio
column. The breakdown is a separate pass of ``act`` with timing hooks on the agent's parts (``breakdown.py``).

Target (one core): ``act`` at batch 64 >= 3,000 frames/s. The in-process rollout target is 1,500 frames/s (667 us
a frame for agent, environment and bots); the batched environment's target (20,000 agent steps/s) leaves it 50 us,
the bots took about 260 us a frame when measured (``pstar bench rl --breakdown``), so ``act`` may take about 330.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.agent import Agent  # noqa: E402
from agents.heads.distributions import recording  # noqa: E402
from benchmarks.breakdown import Breakdown, agent_parts, breakdown_table  # noqa: E402
from benchmarks.verdicts import add_out_flag, finish  # noqa: E402
from envs.contract.observation import OBS_KEYS  # noqa: E402
from training.allocator import keep_freed_memory  # noqa: E402
from training.config_io import load_config, to_dict  # noqa: E402
from training.rl.actor import RolloutWorker  # noqa: E402
from training.rl.config import RLConfig  # noqa: E402
from training.rl.train import initial_agents  # noqa: E402

SCENARIOS = ("3m", "8m", "2s3z", "MMM")
LEVELS = ("easy", "medium")
TARGET_BATCH = 64
TARGET_FRAMES_PER_S = 3000.0  # act alone at batch 64, one core
QUICK = {"duration": 1.0, "steps": 3}
DEFAULTS = {"duration": 4.0, "steps": 8}


def collect(cfg: RLConfig, agent: Agent, games: int, steps: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """Observations of ``games`` real games at ``steps`` consecutive steps (each a batch of ``games`` rows)."""
    worker = RolloutWorker(0, agent.checkpoint_config(), to_dict(cfg), seed)
    worker.agent.load_state_dict(agent.state_dict())
    trajectory = worker.rollout(None, 0)["trajectory"]
    return [{key: torch.from_numpy(trajectory[f"obs/{key}"][t]) for key in OBS_KEYS} for t in range(steps + 1)]


def timed_act(agent: Agent, obs: dict[str, torch.Tensor], state: dict[str, torch.Tensor],
              generator: torch.Generator, every_row: bool) -> float:  # fmt: skip
    """CPU seconds of one ``act`` on this thread (under ``recording()`` when ``every_row``)."""
    with torch.inference_mode():
        begin = time.thread_time()
        if every_row:
            with recording():
                agent.act(obs, state, generator=generator)
        else:
            agent.act(obs, state, generator=generator)
        return time.thread_time() - begin


def measure(agent: Agent, frames: list[dict[str, torch.Tensor]], batch: int, duration: float,
            seed: int) -> dict[str, Any]:  # fmt: skip
    """Median seconds per ``act`` call of both paths at ``batch`` rows, alternating calls for ``duration`` s each."""
    batches = [{key: value[:batch] for key, value in obs.items()} for obs in frames]
    state = agent.initial_state(batch)
    generator = torch.Generator().manual_seed(seed)
    for obs in batches[:2]:  # warm-up
        timed_act(agent, obs, state, generator, False)
        timed_act(agent, obs, state, generator, True)
    samples: dict[bool, list[float]] = {False: [], True: []}
    i = 0
    while sum(samples[False]) + sum(samples[True]) < 2 * duration or len(samples[True]) < 3:
        obs = batches[i % len(batches)]
        order = (False, True) if i % 2 == 0 else (True, False)
        for every_row in order:
            samples[every_row].append(timed_act(agent, obs, state, generator, every_row))
        i += 1
    fast, full = statistics.median(samples[False]), statistics.median(samples[True])
    return {"batch": batch, "calls": len(samples[False]), "act_cpu_ms": 1000 * fast, "act_frames_per_s": batch / fast,
            "every_row_cpu_ms": 1000 * full, "every_row_frames_per_s": batch / full, "ratio": full / fast,
            "act_cpu_ms_samples": [round(1000 * s, 3) for s in samples[False]],
            "every_row_cpu_ms_samples": [round(1000 * s, 3) for s in samples[True]]}  # fmt: skip


def breakdown(agent: Agent, frames: list[dict[str, torch.Tensor]], batch: int, duration: float,
              seed: int) -> list[dict[str, Any]]:  # fmt: skip
    """Per-part time of ``act`` at ``batch`` rows over ``duration`` seconds of calls (after one untimed call)."""
    batches = [{key: value[:batch] for key, value in obs.items()} for obs in frames]
    state = agent.initial_state(batch)
    generator = torch.Generator().manual_seed(seed)
    with Breakdown().modules(agent_parts(agent)) as parts:
        timed_act(agent, batches[0], state, generator, False)
        parts.reset()
        total, calls = 0.0, 0
        while total < duration or calls < 3:
            total += timed_act(agent, batches[calls % len(batches)], state, generator, False)
            calls += 1
        return parts.rows(total, calls * batch)


def table(results: Sequence[dict[str, Any]]) -> str:
    base = results[0]
    rows = [f"| batch | act CPU ms | act frames/s | vs batch {base['batch']} | every-row CPU ms | "
            "every-row frames/s | act vs every-row | calls |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in results:
        rows.append(f"| {r['batch']} | {r['act_cpu_ms']:.2f} | {r['act_frames_per_s']:.0f} | "
                    f"{r['act_frames_per_s'] / base['act_frames_per_s']:.1f}x | {r['every_row_cpu_ms']:.2f} | "
                    f"{r['every_row_frames_per_s']:.0f} | {r['ratio']:.2f}x | {r['calls']} |")  # fmt: skip
    return "\n".join(rows)


def verdicts(results: Sequence[dict[str, Any]]) -> list[tuple[str, bool | None]]:
    """The batch-64 target's check (None, a SKIP, when batch 64 was not measured)."""
    at = next((r for r in results if r["batch"] == TARGET_BATCH), None)
    if at is None:
        return [(f"act at batch {TARGET_BATCH}: not measured (--batches without {TARGET_BATCH})", None)]
    rate = at["act_frames_per_s"]
    return [(f"act at batch {TARGET_BATCH} = {rate:.0f} frames/s (target >= {TARGET_FRAMES_PER_S:.0f})",
             rate >= TARGET_FRAMES_PER_S)]  # fmt: skip


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pstar bench act", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64, 256], help="batch sizes")
    parser.add_argument("--duration", type=float, default=None, help="seconds per path and batch (default 4)")
    parser.add_argument("--steps", type=int, default=None, help="game steps of observations cycled (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s per path and batch, 3 steps")
    add_out_flag(parser, "act")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if min(args.batches) < 1 or args.steps < 1 or args.duration <= 0:
        parser.error("--batches and --steps must be >= 1 and --duration > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    torch.set_num_threads(1)
    keep_freed_memory()
    torch.manual_seed(args.seed)
    games = max(args.batches)
    overrides = [f"scenarios=[{','.join(SCENARIOS)}]", f"opponents.levels=[{','.join(LEVELS)}]",
                 f"envs_per_actor={games}", f"unroll_length={args.steps}", f"seed={args.seed}"]  # fmt: skip
    cfg = load_config(RLConfig, None, overrides)
    agent, _ = initial_agents(cfg)
    agent.eval()
    frames = collect(cfg, agent, games, args.steps, args.seed)
    units = torch.cat([obs["unit_mask"].sum(-1) for obs in frames]).float()
    print(f"[{time.perf_counter() - began:4.0f} s] observations: {games} games x {len(frames)} steps, "
          f"{units.mean():.1f} real unit rows of {frames[0]['unit_mask'].shape[1]} on average", file=sys.stderr)
    results = []
    for batch in args.batches:
        results.append(measure(agent, frames, batch, args.duration, args.seed))
        print(f"[{time.perf_counter() - began:4.0f} s] batch {batch}: {results[-1]['act_frames_per_s']:.0f} "
              f"frames/s", file=sys.stderr)  # fmt: skip
    parts = {f"batch {b}": breakdown(agent, frames, b, args.duration / 2, args.seed) for b in args.batches}

    print(f"\nAct: small agent ({sum(p.numel() for p in agent.parameters())} parameters), one thread, inference mode, "
          f"{args.duration:g} CPU s per path and batch, medians of CPU time per call; observations of {games} games "
          f"({' '.join(SCENARIOS)} vs {' '.join(LEVELS)})\n")  # fmt: skip
    print(table(results))
    print("\nWhere act's time goes (CPU microseconds per frame; a separate pass with timing hooks):\n")
    print(breakdown_table(parts, "input check, legality masks, bookkeeping"))
    report = {
        "benchmark": "act",
        "scenarios": list(SCENARIOS),
        "opponents": list(LEVELS),
        "duration_s": args.duration,
        "agent_parameters": sum(p.numel() for p in agent.parameters()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "results": results,
        "breakdown": parts,
        "seconds": time.perf_counter() - began,
    }
    print()
    return finish("act", report, verdicts(results), args.out)


if __name__ == "__main__":
    sys.exit(main())
