"""RL throughput benchmark: rollout frames/s in-process and on Ray actors, and learner samples/s (``pstar bench rl``).

Rollouts: the small agent (``AgentChoice()``, fresh weights) plays ``--envs`` Skirmish games per worker (scenarios
3m, 8m, 2s3z, MMM unless ``--scenarios``; opponents easy and medium) for ``--unroll`` steps per trajectory, as
``training.rl`` does. Three setups run in this order: ``in-process`` (one ``RolloutWorker`` driven through
``InProcessBackend`` in this process, torch on one thread), then Ray (started once, ``start_ray(num_cpus=2)``) with
``RayBackend`` and 1, then 2 actors.
The driver only collects trajectories and resubmits at once with the same weights ref (no learner), so every
worker is busy all the time. Each worker's first trajectory is a warm-up; its window then runs from that warm-up's
arrival to the arrival of the trajectory that ends ``--duration`` seconds (or ``--trajectories`` trajectories)
later, and workers keep playing until every window has closed, so the last window is not measured on a half-idle
machine. frames/s is the sum over workers of frames / window. Worker 0 plays the same seeded games in every setup.

Targets on 2 cores: in-process >= 1,500 frames/s (one core: agent, env and bots; an absolute figure, so it holds
on a machine like the 2-core reference one, not on any); 1 Ray actor >= 0.85x in-process; 2 Ray actors >= 1.8x 1
Ray actor. Next to frames/s the table
shows frames per worker CPU-second (robust to other load on a shared machine), the fraction of a core each worker
got, the per-trajectory time spent outside ``rollout`` (submission, weights argument, return serialisation and
transfer; driver-observed interval minus the worker's own timing) and how many cores were busy outside the workers
(the driver, Ray's daemons and anything else on the machine, from ``/proc/stat``): above 0.3 a warning is printed.

``--encoders perceiver transformer`` times the learner of each entity encoder's small agent (fresh weights, seeded
alike) on the first one's trajectory, ratios against the first encoder's row with the same device, precision, threads
and KL setting; ``--scenarios`` and ``--max-units`` set the games and unit rows (``64v64_mixed`` at 128 rows is where
the Transformer's quadratic cost shows). The rollouts and the learner target are judged on the first encoder.

Learner: ``Learner.update`` on one trajectory collected in-process (``--envs x --unroll`` frames), torch on
``--learner-threads`` threads (default 2, and 1 as the baseline of the ratio column), without and with the KL
reference (a copy of the agent); median over ``--updates`` updates after ``--learner-warmup`` untimed ones, with
the median time of each phase of the update (forward, reference forward, backward, the rest). Two threads on a
2-core machine that something else keeps busy can be many times slower than one (OpenMP threads wait for each
other), which the 1-thread row makes visible. Target: with the KL term on 2 CPU threads (fp32) >= 2,000
samples/s (defined on the perceiver agent at the default scenarios and 64 unit rows, judged there only).
``--learner-only`` skips the rollout setups (one untimed in-process trajectory feeds the learner);
``--learner-devices cpu cuda`` adds a GPU learner (its rows use the largest thread count) and ``--precisions fp32
bf16`` the entity encoders' bf16 autocast. ``--quick`` is a tiny smoke run (2 games x 16 steps, 2 s windows, 1
update, no warm-up update).

``--breakdown`` adds a pass of ``--breakdown-trajectories`` in-process rollouts (after one untimed) that shows where
a worker's time goes, in CPU time of its thread per frame: each part of the agent (timing hooks, see
``breakdown.py``) and the rest of ``act``, turning actions into contract dicts, the environment's
step (``MatchBatch.step``), the bots (``Bot.act``) and the rest of the rollout (stacking observations into the
trajectory, which the policy reads without a copy; trajectory building, new games).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as a Ray actor with num_cpus=1 gets; the learner sets torch's own count
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import argparse  # noqa: E402
import copy  # noqa: E402
import dataclasses  # noqa: E402
import pickle  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import training.policy as policy_module  # noqa: E402
from agents.config import ENTITY_ENCODER_CONFIGS  # noqa: E402
from benchmarks.act import BASE_ENCODER, fresh_agents  # noqa: E402
from benchmarks.act import TARGET_UNITS as UNITS  # noqa: E402  (the default setup's unit rows, as for act)
from benchmarks.breakdown import Breakdown, agent_parts, breakdown_table  # noqa: E402
from benchmarks.verdicts import add_out_flag, finish  # noqa: E402
from envs.skirmish.bots import Bot  # noqa: E402
from envs.skirmish.match_batch import MatchBatch  # noqa: E402
from training.agent_choice import AgentChoice  # noqa: E402
from training.config_io import load_config, to_dict  # noqa: E402
from training.ray_runtime import start_ray  # noqa: E402
from training.rl.actor import RolloutWorker  # noqa: E402
from training.rl.backends import InProcessBackend, RayBackend  # noqa: E402
from training.rl.config import PRECISIONS, RLConfig  # noqa: E402
from training.rl.learner import Learner  # noqa: E402

SCENARIOS = ("3m", "8m", "2s3z", "MMM")
LEVELS = ("easy", "medium")
RAY_CPUS = 2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
TARGET_ONE_ACTOR = 0.85  # 1 Ray actor / in-process
TARGET_TWO_ACTORS = 1.8  # 2 Ray actors / 1 Ray actor
TARGET_IN_PROCESS = 1500.0  # frames/s of the in-process rollout (one core, small agent)
TARGET_LEARNER = 2000.0  # samples/s of the learner with the KL term, 2 CPU threads, fp32
TARGET_LEARNER_THREADS = 2
SHOWN_PHASES = ("forward", "reference", "backward")  # the rest is summed as "other"
OTHER_LOAD_WARNING = 0.3  # cores busy outside the workers above which a setup's frames/s is flagged
QUICK = {"envs": 2, "unroll": 16, "duration": 2.0, "updates": 1, "learner_warmup": 0}
DEFAULTS = {"envs": 64, "unroll": 32, "duration": 20.0, "updates": 3, "learner_warmup": 1}
Backend = InProcessBackend | RayBackend


@dataclass
class Rollouts:
    """Rollout throughput of one setup, measured by the driver over every worker's window."""

    setup: str
    workers: int
    trajectories: int
    frames: int
    window_s: float  # the longest worker window
    frames_per_s: float  # sum over workers of frames / window
    frames_per_cpu_s: float  # frames / CPU seconds of the worker processes in their windows
    worker_cpu_use: float  # mean fraction of one core a worker got in its window
    rollout_s: float  # mean seconds inside ``rollout`` per trajectory (the worker's own timing)
    overhead_ms: float  # mean per-trajectory driver-observed interval minus ``rollout`` time
    machine_busy_cores: float  # busy cores of the whole machine (everyone) over the setup's windows
    other_busy_cores: float  # of those, the cores not used by the workers (driver, Ray daemons, other processes)
    restarts: int


@dataclass
class LearnerResult:
    """Timing of ``Learner.update`` of one encoder's agent with or without the KL reference."""

    encoder: str
    kl_reference: bool
    device: str
    precision: str
    threads: int
    samples: int
    updates: int
    ms_per_update: float  # median wall milliseconds
    samples_per_s: float
    cpu_ms_per_update: float  # median process CPU milliseconds (all threads)
    other_busy_cores: float  # cores busy outside this process during the timed updates
    ms_samples: list[float]
    phase_ms: dict[str, float]  # median wall milliseconds of each phase (``Learner.phase_seconds``)


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot, every process counted (Linux ``/proc/stat``; else NaN)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return float("nan")
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICKS  # all but idle and iowait (guest is in user)


def drive(backend: Backend, cpu_clocks: Sequence[Callable[[], float]], duration: float, max_trajectories: int,
          setup: str) -> tuple[Rollouts, dict[str, Any]]:  # fmt: skip
    """Keep every worker busy until each has a closed window; returns the measurement and the last result.

    Every worker has one rollout in flight at any time; when the last window closes, the other workers' rollouts
    are collected (not counted) so that no actor is killed mid-call.
    """
    n = len(cpu_clocks)
    for worker in range(n):
        backend.submit(worker)
    start: dict[int, tuple[float, float]] = {}
    end: dict[int, tuple[float, float]] = {}
    frames, counts, inside = [0] * n, [0] * n, [0.0] * n
    busy = [0.0, 0.0]
    last: dict[str, Any] = {}
    while len(end) < n:
        worker, last = backend.next()
        now, cpu = time.perf_counter(), cpu_clocks[worker]()
        if worker not in start:  # the warm-up trajectory: the window starts now
            start[worker] = (now, cpu)
            if len(start) == 1:
                busy[0] = machine_busy_seconds()
        elif worker not in end:
            frames[worker] += last["frames"]
            counts[worker] += 1
            inside[worker] += last["seconds"]
            if now - start[worker][0] >= duration or counts[worker] >= max_trajectories:
                end[worker] = (now, cpu)
                if len(end) == n:
                    busy[1] = machine_busy_seconds()
        if len(end) < n:
            backend.submit(worker)
    for _ in range(n - 1):
        backend.next()
    walls = [end[w][0] - start[w][0] for w in range(n)]
    cpus = [end[w][1] - start[w][1] for w in range(n)]
    span = max(end[w][0] for w in range(n)) - min(start[w][0] for w in range(n))
    trajectories = sum(counts)
    machine = (busy[1] - busy[0]) / span
    worker_cores = sum(cpus) / span
    result = Rollouts(
        setup=setup,
        workers=n,
        trajectories=trajectories,
        frames=sum(frames),
        window_s=max(walls),
        frames_per_s=sum(f / w for f, w in zip(frames, walls, strict=True)),
        frames_per_cpu_s=sum(frames) / sum(cpus),
        worker_cpu_use=float(np.mean([c / w for c, w in zip(cpus, walls, strict=True)])),
        rollout_s=sum(inside) / trajectories,
        overhead_ms=1000.0 * (sum(walls) - sum(inside)) / trajectories,
        machine_busy_cores=machine,
        other_busy_cores=max(0.0, machine - worker_cores),
        restarts=backend.restarts,
    )
    return result, last


def actor_pid(worker: Any) -> int:
    """The process id of a Ray actor (runs inside the actor)."""
    return os.getpid()


def process_cpu_clock(pid: int) -> Callable[[], float]:
    """CPU seconds (user + system) another process has used so far (Linux ``/proc/<pid>/stat``; else NaN)."""
    stat = Path(f"/proc/{pid}/stat")

    def clock() -> float:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15 of stat)

    return clock


def serialization_cost(ray: Any, result: dict[str, Any], repeats: int = 3) -> dict[str, float]:
    """Size of one rollout result and the median time to pickle it, ``ray.put`` it and ``ray.get`` it back."""
    pickle_s, put_s, get_s, size = [], [], [], 0
    for _ in range(repeats):
        t = time.perf_counter()
        size = len(pickle.dumps(result, protocol=5))
        pickle_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        ref = ray.put(result)
        put_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        ray.get(ref)
        get_s.append(time.perf_counter() - t)
        del ref
    array_bytes = sum(v.nbytes for v in result["trajectory"].values())
    return {"array_mb": array_bytes / 1e6, "pickle_mb": size / 1e6, "pickle_ms": 1000 * statistics.median(pickle_s),
            "ray_put_ms": 1000 * statistics.median(put_s), "ray_get_ms": 1000 * statistics.median(get_s)}  # fmt: skip


def measure_learner(agent: torch.nn.Module, cfg: RLConfig, trajectory: dict[str, np.ndarray], kl: bool,
                    threads: int, warmup: int, updates: int, device: str = "cpu", precision: str = "fp32",
                    encoder: str = BASE_ENCODER) -> LearnerResult:  # fmt: skip
    """Median wall and CPU time of ``Learner.update`` on one trajectory (fresh copies of the agent), and of each of
    its phases."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = dataclasses.replace(cfg.learner, precision=precision)
    learner = Learner(copy.deepcopy(agent), copy.deepcopy(agent) if kl else None, config, device)
    walls, cpus, phases, samples = [], [], [], 0
    for step in range(1, warmup + 1):
        learner.update([trajectory], step=step)
    busy, began = machine_busy_seconds(), time.perf_counter()
    for step in range(warmup + 1, warmup + updates + 1):
        cpu = time.process_time()
        terms = learner.update([trajectory], step=step)
        walls.append(terms["seconds"])
        cpus.append(time.process_time() - cpu)
        phases.append(learner.phase_seconds)
        samples = int(terms["samples"])
    other = max(0.0, (machine_busy_seconds() - busy - sum(cpus)) / (time.perf_counter() - began))
    wall = statistics.median(walls)
    phase_ms = {name: 1000 * statistics.median(p[name] for p in phases) for name in phases[0]}
    return LearnerResult(encoder=encoder, kl_reference=kl, device=device, precision=precision,
                         threads=torch.get_num_threads(),
                         samples=samples, updates=updates, ms_per_update=1000 * wall, samples_per_s=samples / wall,
                         cpu_ms_per_update=1000 * statistics.median(cpus), other_busy_cores=other,
                         ms_samples=[round(1000 * w, 1) for w in walls], phase_ms=phase_ms)  # fmt: skip


def learner_verdicts(results: Sequence[LearnerResult],
                     default_setup: bool = True) -> list[tuple[str, float, float, bool]]:  # fmt: skip
    """(what, samples/s, target, pass) for the perceiver agent's learner with the KL term on 2 CPU threads in fp32,
    if measured in the default setup (scenarios and unit rows) where the target is defined."""
    out = []
    for r in results if default_setup else ():
        if (r.encoder == BASE_ENCODER and r.kl_reference and r.device == "cpu" and r.precision == "fp32"
                and r.threads == TARGET_LEARNER_THREADS):  # fmt: skip
            what = f"learner with KL, {r.threads} CPU threads, samples/s"
            out.append((what, r.samples_per_s, TARGET_LEARNER, r.samples_per_s >= TARGET_LEARNER))
    return out


def verdicts(rollouts: Sequence[Rollouts]) -> list[tuple[str, float, float, bool]]:
    """(setup, ratio, target, pass) for the Ray setups: 1 actor vs in-process, 2 actors vs 1 actor."""
    rate = {r.workers if r.setup.startswith("ray") else 0: r.frames_per_s for r in rollouts}
    out = []
    if 0 in rate:
        out.append(("in-process rollout, frames/s", rate[0], TARGET_IN_PROCESS, rate[0] >= TARGET_IN_PROCESS))
    if 0 in rate and 1 in rate:
        ratio = rate[1] / rate[0]
        out.append(("1 Ray actor vs in-process", ratio, TARGET_ONE_ACTOR, ratio >= TARGET_ONE_ACTOR))
    if 1 in rate and 2 in rate:
        ratio = rate[2] / rate[1]
        out.append(("2 Ray actors vs 1 Ray actor", ratio, TARGET_TWO_ACTORS, ratio >= TARGET_TWO_ACTORS))
    return out


def rollout_table(rollouts: Sequence[Rollouts]) -> str:
    """Markdown table: one row per setup, ratios against in-process (and 2 actors against 1 actor)."""
    base = rollouts[0].frames_per_s
    one = next((r.frames_per_s for r in rollouts if r.setup == "ray x1"), None)
    rows = ["| setup | trajectories | frames/s | ratio vs in-process | target | pass | frames per worker CPU-s | "
            "worker CPU use | rollout s/traj | overhead ms/traj | other busy cores |",
            "|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rollouts:
        ratio = f"{r.frames_per_s / base:.2f}x"
        if r.setup == "in-process":
            target, verdict = "baseline", "-"
        elif r.workers == 1:
            ok = r.frames_per_s / base >= TARGET_ONE_ACTOR
            target, verdict = f">= {TARGET_ONE_ACTOR}x in-process", "PASS" if ok else "FAIL"
        elif r.workers == 2 and one:
            scale = r.frames_per_s / one
            ratio += f" ({scale:.2f}x 1 actor)"
            target, verdict = f">= {TARGET_TWO_ACTORS}x 1 actor", "PASS" if scale >= TARGET_TWO_ACTORS else "FAIL"
        else:
            target, verdict = "-", "-"
        rows.append(f"| {r.setup} | {r.trajectories} | {r.frames_per_s:.0f} | {ratio} | {target} | {verdict} | "
                    f"{r.frames_per_cpu_s:.0f} | {100 * r.worker_cpu_use:.0f}% | {r.rollout_s:.2f} | "
                    f"{r.overhead_ms:.0f} | {r.other_busy_cores:.2f} |")  # fmt: skip
    return "\n".join(rows)


def learner_baseline(r: LearnerResult, encoders: int) -> tuple[Any, ...]:
    """The rows a learner row is compared with: with one encoder, the same KL setting (the first such row is the
    baseline); with several, the same KL setting, device, precision and threads (the first encoder's row)."""
    return (r.kl_reference,) if encoders == 1 else (r.kl_reference, r.device, r.precision, r.threads)


def learner_table(results: Sequence[LearnerResult]) -> str:
    """Markdown table: one row per (encoder, device, precision, threads, KL); speed against the baseline row of
    ``learner_baseline``; median milliseconds of the update's phases."""
    encoders = len({r.encoder for r in results})
    base: dict[tuple[Any, ...], LearnerResult] = {}
    for r in results:
        base.setdefault(learner_baseline(r, encoders), r)
    phases = " | ".join(f"{p} ms" for p in SHOWN_PHASES)
    rows = [f"| encoder | learner | device | precision | threads | samples/update | updates | ms/update (median) | "
            f"samples/s | ratio | {phases} | other ms | CPU ms/update | other busy cores |",
            "|---|---|---|---|" + "---:|" * (9 + len(SHOWN_PHASES))]  # fmt: skip
    for r in results:
        name = "with KL reference" if r.kl_reference else "no KL reference"
        first = base[learner_baseline(r, encoders)]
        against = first.encoder if encoders > 1 else f"{first.device} {first.precision} {first.threads}t"
        ratio = f"{r.samples_per_s / first.samples_per_s:.2f}x vs {against}"
        shown = " | ".join(f"{r.phase_ms[p]:.0f}" if p in r.phase_ms else "-" for p in SHOWN_PHASES)
        other = sum(v for p, v in r.phase_ms.items() if p not in SHOWN_PHASES)
        rows.append(f"| {r.encoder} | {name} | {r.device} | {r.precision} | {r.threads} | {r.samples} | {r.updates} | "
                    f"{r.ms_per_update:.0f} | {r.samples_per_s:.0f} | {ratio} | {shown} | {other:.0f} | "
                    f"{r.cpu_ms_per_update:.0f} | {r.other_busy_cores:.2f} |")  # fmt: skip
    return "\n".join(rows)


def rollout_breakdown(agent_dict: dict[str, Any], config_dict: dict[str, Any], weights: dict[str, np.ndarray],
                      seed: int, trajectories: int) -> tuple[list[dict[str, Any]], int]:  # fmt: skip
    """Per-part CPU time of in-process rollouts (one untimed first): the rows of ``Breakdown`` and the frames."""
    torch.set_num_threads(1)
    with Breakdown() as parts:
        parts.method("bots (Bot.act)", Bot, "act")  # before the games bind their bots' act
        worker = RolloutWorker(0, agent_dict, config_dict, seed)
        agent = worker.agent
        parts.modules(agent_parts(agent))
        parts.method("act: input check, legality, bookkeeping", agent, "act", contains=list(agent_parts(agent)))
        parts.method("actions to contract dicts", policy_module, "unstack_actions")
        parts.method("environment step (MatchBatch.step)", MatchBatch, "step")
        worker.rollout(weights, 0)
        parts.reset()
        total, frames = 0.0, 0
        for version in range(1, trajectories + 1):
            begin = time.thread_time()
            frames += worker.rollout(weights, version)["frames"]
            total += time.thread_time() - begin
        return parts.rows(total, frames), frames


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pstar bench rl", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=None, help="seconds per worker window (default 20)")
    parser.add_argument("--trajectories", type=int, default=0,
                        help="at most this many measured trajectories per worker (default 0: no limit)")  # fmt: skip
    parser.add_argument("--envs", type=int, default=None, help="games per worker (default 64, as RL)")
    parser.add_argument("--unroll", type=int, default=None, help="steps per trajectory (default 32, as RL)")
    parser.add_argument("--updates", type=int, default=None, help="timed learner updates per variant (default 3)")
    parser.add_argument("--learner-warmup", type=int, default=None, help="untimed learner updates first (default 1)")
    parser.add_argument("--learner-threads", type=int, nargs="+", default=[1, 2],
                        help="torch thread counts to time the learner with (default 1 2)")  # fmt: skip
    parser.add_argument("--learner-only", action="store_true",
                        help="time only the learner (on one untimed in-process trajectory)")  # fmt: skip
    parser.add_argument("--learner-devices", nargs="+", default=["cpu"], choices=["cpu", "cuda"],
                        help="devices to time the learner on (default cpu)")  # fmt: skip
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=list(PRECISIONS),
                        help="learner.precision values to time (default fp32)")  # fmt: skip
    parser.add_argument("--encoders", nargs="+", choices=list(ENTITY_ENCODER_CONFIGS), default=[BASE_ENCODER],
                        help=f"entity encoders whose learners are timed (default {BASE_ENCODER}; the first plays)")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS),
                        help=f"scenarios of the games (default {' '.join(SCENARIOS)})")  # fmt: skip
    parser.add_argument("--max-units", type=int, default=UNITS, help=f"unit rows per observation (default {UNITS})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 games x 16 steps, 2 s, 1 update")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time each part of in-process rollouts (agent parts, env step, bots)")  # fmt: skip
    parser.add_argument("--breakdown-trajectories", type=int, default=2,
                        help="timed rollouts of the breakdown pass (default 2)")  # fmt: skip
    add_out_flag(parser, "rl")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if min(args.envs, args.unroll, args.updates, *args.learner_threads) < 1 or args.duration <= 0:
        parser.error("--envs, --unroll, --updates and --learner-threads must be >= 1 and --duration > 0")
    if args.trajectories < 0 or args.learner_warmup < 0 or args.breakdown_trajectories < 1:
        parser.error("--trajectories and --learner-warmup must be >= 0, --breakdown-trajectories >= 1")
    if "cuda" in args.learner_devices and not torch.cuda.is_available():
        parser.error("--learner-devices cuda: CUDA is not available on this machine")
    args.encoders = list(dict.fromkeys(args.encoders))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    overrides = [f"scenarios=[{','.join(args.scenarios)}]", f"opponents.levels=[{','.join(LEVELS)}]",
                 f"max_units={args.max_units}", f"envs_per_actor={args.envs}", f"unroll_length={args.unroll}",
                 f"seed={args.seed}"]  # fmt: skip
    cfg = load_config(RLConfig, None, overrides)
    agents = fresh_agents(cfg, args.encoders, args.seed)
    agent = agents[args.encoders[0]]
    cfg = dataclasses.replace(cfg, agent=AgentChoice.of("small", args.encoders[0]))
    default_setup = tuple(args.scenarios) == SCENARIOS and args.max_units == UNITS
    agent_dict, config_dict = agent.checkpoint_config(), to_dict(cfg)
    weights = {k: v.detach().numpy() for k, v in agent.state_dict().items()}
    cap = args.trajectories or sys.maxsize

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - began:5.0f} s] {text}", file=sys.stderr, flush=True)

    rollouts: list[Rollouts] = []
    serialization: dict[str, float] = {}
    local = InProcessBackend(1, agent_dict, config_dict, args.seed)  # sets torch to one thread
    local.broadcast(weights, 0)
    if args.learner_only:
        local.submit(0)
        _, last = local.next()
        log("one trajectory for the learner (rollouts not timed: --learner-only)")
    else:
        measured, last = drive(local, [time.process_time], args.duration, cap, "in-process")
        rollouts.append(measured)
        log(f"in-process: {measured.frames_per_s:.0f} frames/s")
    trajectory = last["trajectory"]
    local.shutdown()
    breakdown: list[dict[str, Any]] = []
    if args.breakdown:
        breakdown, breakdown_frames = rollout_breakdown(agent_dict, config_dict, weights, args.seed,
                                                        args.breakdown_trajectories)  # fmt: skip
        log(f"breakdown: {breakdown_frames} frames")

    ray_version = None
    if not args.learner_only:
        import ray

        ray_version = ray.__version__
        started_here = not ray.is_initialized()
        ray = start_ray(num_cpus=RAY_CPUS)
        serialization = serialization_cost(ray, last)
        for workers in (1, 2):
            backend = RayBackend(workers, agent_dict, config_dict, args.seed)
            pids = [ray.get(handle.__ray_call__.remote(actor_pid)) for handle in backend.workers]
            backend.broadcast(weights, 0)
            measured, _ = drive(backend, [process_cpu_clock(p) for p in pids], args.duration, cap,
                                f"ray x{workers}")  # fmt: skip
            rollouts.append(measured)
            backend.shutdown()
            log(f"ray x{workers}: {measured.frames_per_s:.0f} frames/s")
        if started_here:
            ray.shutdown()

    learners = []
    for device in args.learner_devices:
        for precision in args.precisions:
            for threads in args.learner_threads if device == "cpu" else [max(args.learner_threads)]:
                for kl in (False, True):
                    for kind, timed in agents.items():
                        learners.append(measure_learner(timed, cfg, trajectory, kl, threads, args.learner_warmup,
                                                        args.updates, device, precision, kind))  # fmt: skip
                        log(f"learner ({kind}, {device}, {precision}, {threads} threads, KL {kl}): "
                            f"{learners[-1].samples_per_s:.0f} samples/s")  # fmt: skip

    frames = args.envs * args.unroll
    if rollouts:
        print(f"\nRollouts: small {args.encoders[0]} agent, {args.envs} games x {args.unroll} steps = {frames} frames "
              f"per trajectory, scenarios {' '.join(args.scenarios)}, {args.max_units} unit rows, opponents "
              f"{' '.join(LEVELS)}, {args.duration:g} s windows, {os.cpu_count()} cores, "
              f"Ray num_cpus={RAY_CPUS}\n")  # fmt: skip
        print(rollout_table(rollouts))
    for r in rollouts:
        if r.other_busy_cores > OTHER_LOAD_WARNING:
            print(
                f"\nWARNING: {r.other_busy_cores:.2f} cores were busy outside the workers during {r.setup} (other "
                "processes on a shared machine?): frames/s ratios are unreliable; frames per worker CPU-s is not."
            )
    if serialization:
        print(f"\nOne {frames}-frame result: {serialization['array_mb']:.1f} MB of arrays, pickle "
              f"{serialization['pickle_ms']:.0f} ms, ray.put {serialization['ray_put_ms']:.0f} ms, "
              f"ray.get {serialization['ray_get_ms']:.1f} ms\n")  # fmt: skip
    if breakdown:
        print(f"Where an in-process rollout's time goes: {args.breakdown_trajectories} trajectories of {frames} "
              "frames, CPU time of the worker's thread (timing hooks add a little)\n")  # fmt: skip
        print(breakdown_table({"in-process": breakdown},
                              "stacking observations, trajectory building, new games, policy bookkeeping"))
        print()
    print(f"\nLearner: Learner.update on one {frames}-frame trajectory (small agents, scenarios "
          f"{' '.join(args.scenarios)}, {args.max_units} unit rows), median of {args.updates} after "
          f"{args.learner_warmup} warm-up, {os.cpu_count()} cores\n")  # fmt: skip
    print(learner_table(learners))
    for r in learners:
        if r.other_busy_cores > OTHER_LOAD_WARNING:
            print(f"\nWARNING: {r.other_busy_cores:.2f} cores were busy outside this process during the "
                  f"{r.threads}-thread {r.encoder} learner (KL {r.kl_reference}): its time is unreliable.")  # fmt: skip
    print()
    checks = verdicts(rollouts) + learner_verdicts(learners, default_setup)
    report = {
        "benchmark": "rl",
        "envs_per_actor": args.envs,
        "unroll_length": args.unroll,
        "frames_per_trajectory": frames,
        "scenarios": list(args.scenarios),
        "max_units": args.max_units,
        "encoders": args.encoders,
        "opponents": list(LEVELS),
        "duration_s": args.duration,
        "max_trajectories_per_worker": args.trajectories or None,
        "learner_only": args.learner_only,
        "ray_num_cpus": RAY_CPUS,
        "cores": os.cpu_count(),
        "agent_parameters": {kind: sum(p.numel() for p in a.parameters()) for kind, a in agents.items()},
        "python": platform.python_version(),
        "torch": torch.__version__,
        "ray": ray_version,
        "rollouts": [asdict(r) for r in rollouts],
        "serialization": serialization,
        "learner": [asdict(r) for r in learners],
        "breakdown": breakdown,
        "targets": [{"check": t, "ratio": r, "target": g, "pass": ok} for t, r, g, ok in checks],
        "seconds": time.perf_counter() - began,
    }
    lines = [(f"{text} = {value:.0f} (target >= {target:.0f})" if "/s" in text else
              f"{text} = {value:.2f}x (target >= {target}x)", ok) for text, value, target, ok in checks]  # fmt: skip
    return finish("rl", report, lines, args.out)


if __name__ == "__main__":
    sys.exit(main())
