"""Acting benchmark: frames/s of ``Agent.act`` alone at batch 1, 8, 64 and 256, with a per-part breakdown, for
each entity encoder asked for (``pstar bench act``).

The small agent (``AgentChoice.of("small", kind)`` for each ``--encoders`` kind, fresh weights, each seeded alike)
acts on observations of real Skirmish games: as many games as the largest batch, of ``--scenarios`` (default the RL
benchmark's 3m, 8m, 2s3z, MMM) against easy and medium bots with ``--max-units`` unit rows (default 64), played by a
``RolloutWorker`` with the first encoder's agent for ``--steps`` steps; every encoder acts on these same
observations. Batch b at step t is the first b games' observations of that step, as tensors already stacked (what
an actor's policy hands the agent), so only ``act`` is timed. Acting runs as actors
run it: torch on one thread, glibc malloc keeping freed memory (``training.allocator``), inference mode,
sampling at the agent's temperature from a seeded generator. Times are the thread's CPU time (frames/s = frames per
CPU second of one core), which other load on a shared machine does not inflate as it does wall time.

Two paths per batch, timed alternately call by call (medians): ``act``, which skips work whose result is unused
(heads only for the rows whose action uses them, selection steps only for the rows still selecting), and ``act``
under ``recording()``, which builds every head's distribution for every row (what the divergence guard and the
exact-KL terms need; the work ``act`` did for every step before it skipped anything) as the baseline of the ratio
column. The breakdown is a separate pass of ``act`` with timing hooks on the agent's parts (``breakdown.py``).
Per encoder also its parameters and forward FLOPs of one full-size step (every unit row a unit, every head on
every row: ``agents.report``, what a run's ``agent.md`` records), whole agent and entity encoder alone, and a
comparison table of the encoders (ratios against the perceiver's).

Target (one core): ``act`` at batch 64 >= 3,000 frames/s. The in-process rollout target is 1,500 frames/s (667 us
a frame for agent, environment and bots); the batched environment's target (20,000 agent steps/s) leaves it 50 us,
the bots took about 260 us a frame when measured (``pstar bench rl --breakdown``), so ``act`` may take about 330.
It was defined on the perceiver agent at 64 unit rows and is judged there only. With both encoders at 512 units,
the paper's FLOPs claim (``bench encoder``'s target) is judged on the entity encoder part alone: the perceiver's
FLOPs per step <= the transformer's / 3.5 (the whole agent's ratio, with the heads both agents share, is
reported beside it).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
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
from agents.config import ENTITY_ENCODER_CONFIGS  # noqa: E402
from agents.heads.distributions import recording  # noqa: E402
from agents.report import full_observation, model_report  # noqa: E402
from benchmarks.breakdown import Breakdown, agent_parts, breakdown_table  # noqa: E402
from benchmarks.encoder import BASE_UNITS, TARGET_FLOP_RATIO  # noqa: E402
from benchmarks.verdicts import Check, add_out_flag, finish  # noqa: E402
from envs.contract.observation import OBS_KEYS  # noqa: E402
from training.agent_choice import AgentChoice  # noqa: E402
from training.allocator import keep_freed_memory  # noqa: E402
from training.config_io import load_config, to_dict  # noqa: E402
from training.rl.actor import RolloutWorker  # noqa: E402
from training.rl.config import RLConfig  # noqa: E402
from training.rl.train import initial_agents  # noqa: E402

SCENARIOS = ("3m", "8m", "2s3z", "MMM")
LEVELS = ("easy", "medium")
TARGET_BATCH = 64
TARGET_FRAMES_PER_S = 3000.0  # act alone at batch 64, one core
TARGET_UNITS = 64  # the unit rows (and perceiver agent) the batch-64 target was defined on
BASE_ENCODER = "perceiver"  # what the comparison's ratios divide by
QUICK = {"duration": 1.0, "steps": 3}
DEFAULTS = {"duration": 4.0, "steps": 8}


def fresh_agents(cfg: RLConfig, kinds: Sequence[str], seed: int) -> dict[str, Agent]:
    """The small agent of each entity encoder ``kind`` for ``cfg``'s games, fresh weights each seeded alike."""
    agents = {}
    for kind in kinds:
        torch.manual_seed(seed)
        agents[kind] = initial_agents(dataclasses.replace(cfg, agent=AgentChoice.of("small", kind)))[0]
    return agents


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


def flops(agent: Agent) -> dict[str, Any]:
    """Parameters and forward FLOPs of one full-size step (``agents.report``, as in a run's ``agent.md``): the
    whole agent's and the entity encoder's, and every part's row."""
    rows = model_report(agent, full_observation(agent.spec))
    encoder = next(r for r in rows if r.module == "entity_encoder")
    return {"parameters": rows[-1].parameters, "mflops_per_step": rows[-1].flops / 1e6,
            "encoder_parameters": encoder.parameters, "encoder_mflops_per_step": encoder.flops / 1e6,
            "rows": [r._asdict() for r in rows]}  # fmt: skip


def comparison(encoders: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per encoder: size, FLOPs, act time at the smallest and rate at the largest batch, and the ratios of
    FLOPs (whole agent, entity encoder) and time (at the largest batch) to the perceiver's (None without it)."""
    base = encoders.get(BASE_ENCODER)
    rows = []
    for kind, e in encoders.items():
        first, last = e["results"][0], e["results"][-1]
        row = {"encoder": kind, "parameters": e["parameters"], "mflops_per_step": e["mflops_per_step"],
               "encoder_mflops_per_step": e["encoder_mflops_per_step"], "first_batch": first["batch"],
               "act_cpu_ms_first_batch": first["act_cpu_ms"], "last_batch": last["batch"],
               "act_frames_per_s_last_batch": last["act_frames_per_s"], "flops_ratio": None,
               "encoder_flops_ratio": None, "time_ratio": None}  # fmt: skip
        if base is not None:
            row["flops_ratio"] = e["mflops_per_step"] / base["mflops_per_step"]
            row["encoder_flops_ratio"] = e["encoder_mflops_per_step"] / base["encoder_mflops_per_step"]
            row["time_ratio"] = last["act_cpu_ms"] / base["results"][-1]["act_cpu_ms"]
        rows.append(row)
    return rows


def comparison_table(rows: Sequence[dict[str, Any]], units: int) -> str:
    first, last = rows[0]["first_batch"], rows[0]["last_batch"]

    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}x"

    lines = [f"| encoder | parameters | MFLOPs/step at {units} units | entity encoder MFLOPs | act CPU ms at batch "
             f"{first} | act frames/s at batch {last} | FLOPs vs {BASE_ENCODER} | encoder FLOPs vs {BASE_ENCODER} | "
             f"time vs {BASE_ENCODER} (batch {last}) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['encoder']} | {r['parameters']:,} | {r['mflops_per_step']:,.2f} | "
                     f"{r['encoder_mflops_per_step']:,.2f} | {r['act_cpu_ms_first_batch']:.2f} | "
                     f"{r['act_frames_per_s_last_batch']:.0f} | {ratio(r['flops_ratio'])} | "
                     f"{ratio(r['encoder_flops_ratio'])} | {ratio(r['time_ratio'])} |")  # fmt: skip
    return "\n".join(lines)


def verdicts(encoders: dict[str, dict[str, Any]], units: int) -> list[Check]:
    """The batch-64 target's check on the perceiver agent at 64 units (None, a SKIP, when not measured there), and
    with both encoders the entity encoders' FLOPs ratio at 512 units."""
    checks: list[Check] = []
    perceiver = encoders.get(BASE_ENCODER)
    if perceiver is not None and units == TARGET_UNITS:
        at = next((r for r in perceiver["results"] if r["batch"] == TARGET_BATCH), None)
        if at is None:
            checks.append((f"act at batch {TARGET_BATCH}: not measured (--batches without {TARGET_BATCH})", None))
        else:
            rate = at["act_frames_per_s"]
            checks.append((f"act at batch {TARGET_BATCH} = {rate:.0f} frames/s (target >= {TARGET_FRAMES_PER_S:.0f})",
                           rate >= TARGET_FRAMES_PER_S))  # fmt: skip
    else:
        checks.append((f"act at batch {TARGET_BATCH}: defined on the {BASE_ENCODER} agent at {TARGET_UNITS} units, "
                       f"not measured here", None))  # fmt: skip
    transformer = encoders.get("transformer")
    if perceiver is not None and transformer is not None:
        if units != BASE_UNITS:
            checks.append((f"entity encoder FLOPs ratio: judged at {BASE_UNITS} units, not measured here", None))
        else:
            ratio = transformer["encoder_mflops_per_step"] / perceiver["encoder_mflops_per_step"]
            whole = transformer["mflops_per_step"] / perceiver["mflops_per_step"]
            checks.append((f"entity encoder FLOPs per step at {units} units: transformer / perceiver = {ratio:.2f}x "
                           f"(target >= {TARGET_FLOP_RATIO}x; whole agent {whole:.2f}x, not judged)",
                           ratio >= TARGET_FLOP_RATIO))  # fmt: skip
    return checks


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pstar bench act", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64, 256], help="batch sizes")
    parser.add_argument("--duration", type=float, default=None, help="seconds per path and batch (default 4)")
    parser.add_argument("--steps", type=int, default=None, help="game steps of observations cycled (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--encoders", nargs="+", choices=list(ENTITY_ENCODER_CONFIGS), default=[BASE_ENCODER],
                        help=f"entity encoders of the agents compared (default {BASE_ENCODER})")  # fmt: skip
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS),
                        help=f"scenarios of the observations (default {' '.join(SCENARIOS)})")  # fmt: skip
    parser.add_argument("--max-units", type=int, default=TARGET_UNITS,
                        help=f"unit rows per observation (default {TARGET_UNITS})")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s per path and batch, 3 steps")
    add_out_flag(parser, "act")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if min(args.batches) < 1 or args.steps < 1 or args.duration <= 0:
        parser.error("--batches and --steps must be >= 1 and --duration > 0")
    args.encoders = list(dict.fromkeys(args.encoders))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    torch.set_num_threads(1)
    keep_freed_memory()
    games = max(args.batches)
    overrides = [f"scenarios=[{','.join(args.scenarios)}]", f"opponents.levels=[{','.join(LEVELS)}]",
                 f"max_units={args.max_units}", f"envs_per_actor={games}", f"unroll_length={args.steps}",
                 f"seed={args.seed}"]  # fmt: skip
    cfg = load_config(RLConfig, None, overrides)
    agents = {kind: agent.eval() for kind, agent in fresh_agents(cfg, args.encoders, args.seed).items()}
    frames = collect(cfg, agents[args.encoders[0]], games, args.steps, args.seed)
    units = torch.cat([obs["unit_mask"].sum(-1) for obs in frames]).float()
    print(f"[{time.perf_counter() - began:4.0f} s] observations: {games} games x {len(frames)} steps, "
          f"{units.mean():.1f} real unit rows of {frames[0]['unit_mask'].shape[1]} on average", file=sys.stderr)
    encoders: dict[str, dict[str, Any]] = {}
    for kind, agent in agents.items():
        results = []
        for batch in args.batches:
            results.append(measure(agent, frames, batch, args.duration, args.seed))
            print(f"[{time.perf_counter() - began:4.0f} s] {kind} batch {batch}: "
                  f"{results[-1]['act_frames_per_s']:.0f} frames/s", file=sys.stderr)  # fmt: skip
        parts = {f"batch {b}": breakdown(agent, frames, b, args.duration / 2, args.seed) for b in args.batches}
        encoders[kind] = {**flops(agent), "results": results, "breakdown": parts}

    for kind, e in encoders.items():
        print(f"\nAct: small agent, {kind} encoder ({e['parameters']} parameters, {e['mflops_per_step']:,.1f} MFLOPs "
              f"per step at {args.max_units} units), one thread, inference mode, {args.duration:g} CPU s per path "
              f"and batch, medians of CPU time per call; observations of {games} games "
              f"({' '.join(args.scenarios)} vs {' '.join(LEVELS)})\n")  # fmt: skip
        print(table(e["results"]))
        print("\nWhere act's time goes (CPU microseconds per frame; a separate pass with timing hooks):\n")
        print(breakdown_table(e["breakdown"], "input check, legality masks, bookkeeping"))
    rows = comparison(encoders)
    print(f"\nEncoders compared (FLOPs: one step with all {args.max_units} unit rows units and every head on; "
          f"ratios: each / {BASE_ENCODER}'s):\n")  # fmt: skip
    print(comparison_table(rows, args.max_units))
    report = {
        "benchmark": "act",
        "scenarios": list(args.scenarios),
        "opponents": list(LEVELS),
        "max_units": args.max_units,
        "mean_real_units": units.mean().item(),
        "duration_s": args.duration,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "encoders": encoders,
        "comparison": rows,
        "seconds": time.perf_counter() - began,
    }
    print()
    return finish("act", report, verdicts(encoders, args.max_units), args.out)


if __name__ == "__main__":
    sys.exit(main())
