"""``pstar replays``: record Skirmish replays in parallel, or inspect replay files (Skirmish or SC2).

    pstar replays record --games 32 --scenarios 3m 2s3z random --p1 medium hard --p2 medium --workers 4 --out replays
    pstar replays record --p1 pretrained:pio --p2 very_hard --label-with expert --beta 0.3 --mirror --out dagger
    pstar replays record-full --games 40 --p1 very_hard --races random --out replays_full   # full games
    pstar replays info replays/00000_3m_medium_vs_medium_s0.skreplay [--no-verify]
    pstar replays info game.SC2Replay        # StarCraft II replay, read without the game (needs the sc2 extra)
    pstar replays stats runs/evals/games replays_full --json stats.json   # how often each player acts and what it sends
    pstar replays stats runs/evals/games replays_full --milestones   # + when each build/train order first came

Game ``i`` plays scenario ``scenarios[i % S]`` with the ``(i // S) % P``-th (p1, p2) level pair and seed
``seed + i``, so a run is reproducible whatever the number of workers. ``random`` as a scenario name is a
SMACv2-style generated battle (seeded by the game seed). ``--workers`` is capped at the CPUs; games are handed
out in batches of ``--batch-games`` (played together in one ``MatchBatch``, each replay written as its game ends)
as workers free up, so any ``--games`` costs the same memory; Ctrl-C lets the batches being played finish, keeps
the finished files, prints how many were written where and exits 130.

A player is a bot level, ``expert``, or an agent (a checkpoint or run directory, or ``pretrained:<name>``; it plays
on one thread per worker, sampling its actions). ``--label-with NAME`` has that demonstrator label every step of
``--label-side`` (DAgger's data, ``training.bc.labels``): the replays store its actions as that side's labels, and
it plays them instead of the side's own with probability ``--beta``.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sized
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from training.cli import apply_common, common_flags, fail
from training.config_io import flag_type
from training.pretrained import is_agent_name  # (light: bot-only recordings never import torch)
from training.writable import UnwritableError, writable_directory

DEFAULT_LEVELS = ("medium", "hard")
BATCH_GAMES = 16  # games per pool task, played together (MatchBatch: batched engine from 2 games)
SMALL_SCENARIO_UNITS = 64  # default scenario list: the shipped ones with at most this many units
MAX_FAILURES_KEPT = 20  # failed games listed in the summary (all are counted)
POLL_S = 0.2  # seconds between checks for a stop request while waiting for games


@dataclass(frozen=True)
class GameJob:
    """One game to record."""

    index: int
    scenario: str
    p1: str
    p2: str
    seed: int
    step_mul: int
    max_units: int
    resolution: int
    fog: bool
    actions_per_step: int  # each bot's action budget per agent step
    out: str
    mirror: bool = False  # both sides get player 1's army (a seeded start-position variant), as in the ladder
    label_with: str | None = None  # the demonstrator labelling ``label_side``'s steps (None: no labels)
    label_side: int = 1
    beta: float = 0.0  # probability that a labelled step plays the label


AGENT_THREADS = 1  # torch threads of an agent in a recording worker (one worker per core)


@dataclass(frozen=True)
class GameRecord:
    """What a recorded game produced."""

    job: GameJob
    path: str
    winner: int | None
    steps: int
    game_loops: int
    size: int
    seconds: float


def default_scenarios() -> list[str]:
    from envs.skirmish.scenario import load_scenario, scenario_names

    return [n for n in scenario_names() if len(load_scenario(n).placements) <= SMALL_SCENARIO_UNITS]


def replay_path(job: GameJob) -> Path:
    """Where ``job``'s replay is written."""
    from envs.skirmish.replay import SUFFIX

    names = "_vs_".join(_file_token(name) for name in (job.p1, job.p2))
    return Path(job.out) / f"{job.index:05d}_{job.scenario}_{names}_s{job.seed}{SUFFIX}"


def _file_token(player: str) -> str:
    """A player's name as a file-name part: a bot level as it is, an agent's path by its last part."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", player.rstrip("/").rsplit("/", 1)[-1])


@functools.lru_cache(maxsize=4)
def _agent_source(name: str):
    """An agent player's source and built agent, loaded once per worker process."""
    import torch

    from training.eval.players import load_player

    torch.set_num_threads(AGENT_THREADS)
    source = load_player(name)
    return source, source.build_agent()


def _build_game(job: GameJob):
    """``job``'s match (recording) and both players: bots, agents (batch 1), and the labelled side wrapped."""
    from envs.skirmish.botgame import bot_match, bot_seed, make_player
    from envs.skirmish.generator import random_scenario

    scenario = random_scenario(job.seed) if job.scenario == "random" else job.scenario
    names = {1: job.p1, 2: job.p2}
    agents = {p for p, name in names.items() if is_agent_name(name)}
    match, players = bot_match(scenario, {p: None if p in agents else n for p, n in names.items()}, job.seed,
                               variant=1 + job.seed % 16 if job.mirror else None, step_mul=job.step_mul,
                               max_units=job.max_units, resolution=job.resolution, fog=job.fog, record=True,
                               actions_per_step=job.actions_per_step)  # fmt: skip
    for p in agents:
        from training.eval.players import OneGameAgent  # (torch: only where an agent plays)

        source, agent = _agent_source(names[p])
        players[p] = OneGameAgent(source.player(1, agent=agent, seed=job.seed * 2 + p), p, job.seed)
    if job.label_with is not None:
        from training.bc.labels import LabelledPlayer

        side = job.label_side
        labeller = make_player(job.label_with, side, bot_seed(job.seed, side))
        if getattr(labeller, "needs_state", False):  # an agent opponent is modelled, not copied: None
            labeller.bind(match, None if 3 - side in agents else players[3 - side])
        players[side] = LabelledPlayer(players[side], labeller, job.beta, job.seed)
    return match, players


def _player_name(job: GameJob, player: int) -> str:
    """How a replay's header names a player of ``job``."""
    name = (job.p1, job.p2)[player - 1]
    name = name if is_agent_name(name) else f"bot:{name}"
    if job.label_with is not None and player == job.label_side and job.beta > 0:
        name += f" mixed with {job.label_with} (beta {job.beta:g})"
    return name


def record_batch(jobs: list[GameJob]) -> list[GameRecord | str]:
    """Play ``jobs``' games together and write each replay as its game ends (runs in a worker process); per job its
    record, or why its game failed (one failing game never loses the others)."""
    from envs.skirmish.botgame import play_bot_games
    from envs.skirmish.replay import Labels, save_replay

    start = time.perf_counter()
    results: list[GameRecord | str] = [""] * len(jobs)
    built: dict[int, dict] = {}

    def build(i: int):
        match, players = _build_game(jobs[i])
        built[i] = players
        return match, players

    def save(i: int, match) -> None:
        job = jobs[i]
        if isinstance(match, Exception):
            results[i] = _reason(match)
            return
        try:
            labels = {}
            if job.label_with is not None:
                labels[job.label_side] = Labels(job.label_with, built[i][job.label_side].labels)
            names = {p: _player_name(job, p) for p in (1, 2)}
            path = save_replay(replay_path(job), match, names, labels)
            results[i] = GameRecord(job, str(path), match.winner, match.steps, match.engine.loop,
                                    path.stat().st_size, time.perf_counter() - start)  # fmt: skip
        except Exception as err:
            results[i] = _reason(err)

    play_bot_games([functools.partial(build, i) for i in range(len(jobs))], save)
    return results


def plan_games(args: argparse.Namespace) -> Iterator[GameJob]:
    """The jobs of a ``record`` run, made one at a time as they are asked for (see the module docstring)."""
    pairs = list(itertools.product(args.p1, args.p2 or args.p1))
    for i in range(args.games):
        yield GameJob(i, args.scenarios[i % len(args.scenarios)], *pairs[(i // len(args.scenarios)) % len(pairs)],
                      seed=args.seed + i, step_mul=args.step_mul, max_units=args.max_units, resolution=args.resolution,
                      fog=args.fog, actions_per_step=args.actions_per_step, out=str(args.out), mirror=args.mirror,
                      label_with=args.label_with, label_side=args.label_side, beta=args.beta)  # fmt: skip


def _check_names(args: argparse.Namespace) -> str | None:
    from envs.skirmish.botgame import check_player
    from envs.skirmish.scenario import scenario_names

    known = set(scenario_names()) | {"random"}
    for name in args.scenarios:
        if name not in known:
            return f"unknown scenario {name!r}; expected one of {', '.join(sorted(known))}"
    for level in [*args.p1, *(args.p2 or []), *([args.label_with] if args.label_with else [])]:
        if level == args.label_with or not is_agent_name(level):
            try:
                check_player(level)
            except ValueError as err:
                agent = "" if level == args.label_with else ", or an agent (a checkpoint or pretrained:<name>)"
                return f"{err}{agent}"
            continue
        problem = _agent_problem(level, args)
        if problem:
            return problem
    if not 0.0 <= args.beta <= 1.0:
        return f"--beta is {args.beta}, expected a probability in [0, 1]"
    return None


def _agent_problem(name: str, args: argparse.Namespace) -> str | None:
    """Why agent ``name`` cannot play these games (it does not load, or observes other rows or grid); None: it can.
    The checkpoint is read, not run (the workers, forked later, build the agent)."""
    from training.agent_io import read_agent_checkpoint
    from training.checkpoint import CheckpointError

    try:
        spec = read_agent_checkpoint(name).meta["agent"]["spec"]
    except (CheckpointError, KeyError, TypeError) as err:
        return f"agent {name!r}: {err}"
    for flag, key, value in (("--max-units", "max_units", args.max_units),
                             ("--resolution", "location_resolution", args.resolution)):  # fmt: skip
        if spec.get(key) != value:
            return f"agent {name!r} observes with {key} {spec.get(key)}; pass {flag} {spec.get(key)}"
    return None


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the platform tells, else the CPU count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _warn_if_rows_short(args: argparse.Namespace) -> None:
    """Warn once when --max-units is below a named scenario's units (``random`` ones are small). The file holds
    actions, not observations, and re-simulates every unit exactly; but the bots played on, and readers regenerate,
    observations whose rows are shared between the sides, the other units left out (each step's ``units_dropped``)."""
    from envs.skirmish.scenario import load_scenario
    from training.scenario_fit import warn_if_rows_short

    named = [load_scenario(name) for name in dict.fromkeys(args.scenarios) if name != "random"]
    warn_if_rows_short(named, args.max_units, "replays record")


@dataclass
class RecordingTally:
    """What a recording run has produced so far, as counts: a run of any length holds the same small memory."""

    games: int = 0
    steps: int = 0
    size: int = 0
    results: dict[tuple[str, str], Counter] = field(default_factory=dict)  # (p1, p2) -> p1/p2/draw/unfinished
    failures: list[tuple[GameJob, str]] = field(default_factory=list)  # the first MAX_FAILURES_KEPT
    failed: int = 0
    interrupted: bool = False

    def add(self, record: GameRecord) -> None:
        self.games += 1
        self.steps += record.steps
        self.size += record.size
        result = {1: "p1", 2: "p2", 0: "draw", None: "unfinished"}[record.winner]
        self.results.setdefault((record.job.p1, record.job.p2), Counter())[result] += 1

    def fail(self, job: GameJob, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_FAILURES_KEPT:
            self.failures.append((job, reason))

    def add_batch(self, jobs: list[GameJob], results: list[GameRecord | str]) -> None:
        for job, result in zip(jobs, results, strict=True):
            if isinstance(result, GameRecord):
                self.add(result)
            else:
                self.fail(job, result)

    def add_written(self, jobs: Iterable[GameJob], since: float) -> None:
        """Count the replays of ``jobs`` (a batch stopped by a second Ctrl-C) already written since ``since``
        (time.time()): the games of a batch that ended before it was stopped."""
        from envs.skirmish.replay import load_header

        for job in jobs:
            path = replay_path(job)
            try:
                if path.stat().st_mtime >= since:
                    header = load_header(path)
                    self.add(GameRecord(job, str(path), header.winner, header.steps, header.game_loops,
                                        path.stat().st_size, 0.0))  # fmt: skip
            except (OSError, ValueError):  # not written (or not readable): the game is dropped
                continue


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _ignore_interrupts() -> None:
    """Worker processes leave Ctrl-C to the parent, which stops the run (see ``record_games``), and die of SIGTERM
    rather than run the parent's stop handler they were forked with."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def record_games(jobs: Iterable[GameJob], workers: int, *, total: int | None = None, progress: bool = True,
                 batch_games: int = BATCH_GAMES) -> RecordingTally:  # fmt: skip
    """Play and save every job on ``workers`` processes (at most the usable CPUs; more is said and capped), in
    batches of ``batch_games`` games played together (fewer when ``total`` would leave a worker idle).

    A failing game is reported, never fatal to the others. Batches are taken from ``jobs`` only as workers free up
    (at most two per worker queued), so any number of games costs the same memory. Ctrl-C (or SIGTERM) stops the
    run: queued batches are dropped, batches being played finish and are kept (a second one stops them too,
    keeping the replays their games already wrote), and the tally says ``interrupted``; every file written is whole
    (``save_replay`` writes atomically).
    """
    cpus = usable_cpus()
    if workers > cpus:
        print(f"replays record: {workers} workers capped at {cpus}, the CPUs available", file=sys.stderr)
        workers = cpus
    tally = RecordingTally()
    total = len(jobs) if total is None and isinstance(jobs, Sized) else total
    if total is not None:
        batch_games = max(1, min(batch_games, -(-total // workers)))
    stop = _StopRequest()
    main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)} if main_thread else {}
    try:
        with tqdm(total=total, desc="recording", unit="game", disable=not progress) as bar:
            batches = _batches(stop.watch(jobs), batch_games)
            if workers == 1:
                _record_here(stop, batches, tally, bar)
            else:
                _record_in_pool(stop, batches, workers, tally, bar)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    tally.interrupted = stop.requested
    return tally


class _StopRequest:
    """Ctrl-C or SIGTERM (``kill``) as a flag the run polls between games; only a second one raises
    (KeyboardInterrupt), since an exception raised at an arbitrary point can be swallowed (in a ``__del__``) or
    leave a lock of the process pool held."""

    def __init__(self) -> None:
        self.requested = False
        self.since = time.time()  # the run's start: replays written from here on are this run's

    def __call__(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def watch(self, jobs: Iterable[GameJob]) -> Iterator[GameJob]:
        """The jobs, until a stop is requested."""
        for job in jobs:
            if self.requested:
                return
            yield job


def _batches(jobs: Iterator[GameJob], size: int) -> Iterator[list[GameJob]]:
    """The jobs in lists of ``size`` (the last may be shorter), each made only when asked for."""
    while batch := list(itertools.islice(jobs, size)):
        yield batch


def _record_here(stop: _StopRequest, batches: Iterator[list[GameJob]], tally: RecordingTally, bar: tqdm) -> None:
    """Play the batches one after the other in this process (``--workers 1``)."""
    batch: list[GameJob] = []
    try:
        for batch in batches:
            if stop.requested:  # (a batch cut short by the stop)
                break
            try:
                tally.add_batch(batch, record_batch(batch))
            except Exception as err:  # one broken batch must not lose the others
                for job in batch:
                    tally.fail(job, _reason(err))
            bar.update(len(batch))
    except KeyboardInterrupt:  # a second Ctrl-C: the batch being played stops; the files written are whole
        _remove_partial_files({Path(job.out) for job in batch}, os.getpid())
        tally.add_written(batch, stop.since)


def _record_in_pool(stop: _StopRequest, batches: Iterator[list[GameJob]], workers: int, tally: RecordingTally,
                    bar: tqdm) -> None:  # fmt: skip
    """Play the batches on ``workers`` processes, with at most two batches per worker submitted at a time."""
    pending: dict[Future, list[GameJob]] = {}

    def collect() -> None:
        for future in [f for f in pending if f.cancelled()]:  # (wait never returns one the pool's shutdown cancelled)
            pending.pop(future)
        for future in wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED).done:
            batch = pending.pop(future)
            if future.cancelled():
                continue
            try:
                tally.add_batch(batch, future.result())
            except Exception as err:  # one broken batch (or worker) must not lose the others
                for job in batch:
                    tally.fail(job, _reason(err))
            bar.update(len(batch))

    pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_interrupts)
    try:
        for batch in batches:
            while len(pending) >= 2 * workers and not stop.requested:
                collect()
            if stop.requested:
                break
            pending[pool.submit(record_batch, batch)] = batch
        if stop.requested:
            print("replays record: interrupted; finishing the games being played (Ctrl-C again stops them)",
                  file=sys.stderr)  # fmt: skip
            # queued batches never start; this waits for the ones being played (wait=False would let go of the
            # pool's manager thread, whose closing can then race the interpreter's exit and print a traceback)
            pool.shutdown(wait=True, cancel_futures=True)
        while pending:
            collect()
    except KeyboardInterrupt:  # a second Ctrl-C: the batches being played stop; the replays they wrote are kept
        stopped = [job for batch in pending.values() for job in batch]
        _stop_workers({Path(job.out) for job in stopped})
        tally.add_written(stopped, stop.since)
        return  # no waiting on the pool: its workers are gone, and the interrupt may have left one of its locks held
    pool.shutdown(wait=True)


def _stop_workers(outs: set[Path]) -> None:
    """Terminate this process's worker processes and remove the temporary files of replays they were writing."""
    while children := multiprocessing.active_children():
        for child in children:
            child.kill()  # not SIGTERM: a worker forked just now may still hold this process's handler for it
        for child in children:
            child.join()
            _remove_partial_files(outs, child.pid)


def _remove_partial_files(outs: set[Path], pid: int) -> None:
    """Remove the temporary files of replays process ``pid`` was writing into ``outs`` (see ``save_replay``)."""
    for out in outs:
        for partial in out.glob(f".*.{pid}.*.tmp"):
            partial.unlink(missing_ok=True)


def _record(args: argparse.Namespace) -> int:
    args.scenarios = args.scenarios or default_scenarios()
    problem = _check_names(args)
    if problem:
        return fail("replays record", problem)
    try:
        writable_directory(args.out, "--out")  # before the games, not after each
    except UnwritableError as error:
        return fail("replays record", error)
    _warn_if_rows_short(args)
    start = time.perf_counter()
    tally = record_games(plan_games(args), args.workers, total=args.games, progress=args.progress,
                         batch_games=args.batch_games)  # fmt: skip
    if tally.interrupted:
        print(f"replays record: interrupted after {time.perf_counter() - start:.1f} s: {tally.games} of {args.games} "
              f"games recorded into {args.out}" + (f", {tally.failed} failed" if tally.failed else ""))  # fmt: skip
        return 130
    _summary(tally, time.perf_counter() - start, Path(args.out))
    return 1 if tally.failed else 0


def _summary(tally: RecordingTally, seconds: float, out: Path) -> None:
    print(f"recorded {tally.games} games in {seconds:.1f} s into {out} ({tally.steps} agent steps, "
          f"{tally.size / 1024:.1f} KiB, {tally.size / max(1, tally.games):.0f} bytes/game)")  # fmt: skip
    print(f"{'p1':>14} {'p2':>14} {'games':>6} {'p1 wins':>8} {'p2 wins':>8} {'draws':>6}")
    for (p1, p2), c in sorted(tally.results.items()):
        print(f"{p1:>14} {p2:>14} {sum(c.values()):>6} {c['p1']:>8} {c['p2']:>8} {c['draw']:>6}")
    for job, reason in tally.failures:
        print(f"FAILED game {job.index} ({job.scenario}, {job.p1} vs {job.p2}, seed {job.seed}): {reason}")
    if tally.failed > len(tally.failures):
        print(f"... and {tally.failed - len(tally.failures)} more failed games")


def _sc2_info(path: Path) -> str | None:
    """Print a .SC2Replay's summary; the reason it cannot be read otherwise."""
    from envs.sc2replay import ReplayReadError, describe, read_replay

    try:
        replay = read_replay(path)
    except ReplayReadError as err:
        return err.problem
    print(describe(replay))
    return None


def _info(args: argparse.Namespace) -> int:
    from envs.contract.scalars import LOOPS_PER_SECOND
    from envs.sc2.extra import MissingExtraError
    from envs.skirmish.replay import ReplayError, load_replay

    status = 0
    unreadable: Counter = Counter()
    for path in args.files:
        if path.suffix.lower() == ".sc2replay":
            try:
                problem = _sc2_info(path)
            except MissingExtraError as err:
                return fail("replays info", err)
            if problem is not None:
                print(f"{path}: INVALID: {problem}")
                unreadable[problem.split(":")[0]] += 1
                status = 1
            continue
        try:
            replay = load_replay(path)
        except ReplayError as err:
            print(f"{path}: INVALID: {err.problem}")
            unreadable[err.problem.split(":")[0]] += 1
            status = 1
            continue
        h = replay.header
        winner = {None: "unfinished", 0: "draw"}.get(h.winner, f"player {h.winner}")
        print(f"{path}")
        print(f"  format v{h.format_version}, engine {h.engine_version}")
        if h.full_game is not None:
            game = h.full_game
            print(f"  full game on {game['map']}: {game['races'][0]} vs {game['races'][1]}, income {game['income']}")
        else:
            stored = "stored in the file" if h.scenario is not None else "shipped"
            print(f"  scenario {h.scenario_name} ({stored}, {len(replay.scenario.placements)} units, "
                  f"{replay.scenario.map_width:g} x {replay.scenario.map_height:g})")  # fmt: skip
        print(f"  players  1: {h.players.get(1)}   2: {h.players.get(2)}")
        if h.labels:
            print("  labels   " + "   ".join(f"{p}: by {by}, one per step" for p, by in sorted(h.labels.items())))
        print(f"  seed {h.seed}, step_mul {h.step_mul}, actions_per_step {h.actions_per_step}, "
              f"max_units {h.max_units}, resolution {h.resolution}, fog {h.fog}, see_all {h.see_all}, "
              f"lenient {h.lenient}")  # fmt: skip
        print(f"  result   winner {winner}; {h.steps} agent steps, {h.game_loops} game loops "
              f"({h.game_loops / LOOPS_PER_SECOND:.1f} game s)")  # fmt: skip
        print(f"  hash     {h.final_hash}")
        if args.no_verify:
            continue
        start = time.perf_counter()
        try:
            replay.verify()
        except ReplayError as err:
            print(f"  verify   FAILED: {err.problem}")
            status = 1
        else:
            took = time.perf_counter() - start
            print(f"  verify   ok: re-simulated {h.steps} steps in {took:.2f} s, final hash matches")
    if len(args.files) > 1:
        reasons = ", ".join(f"{n} {kind}" for kind, n in unreadable.items())
        print(
            f"{len(args.files) - unreadable.total()} of {len(args.files)} files read"
            + (f"; skipped: {reasons}" if reasons else "")
        )
    return status


def build_parser() -> argparse.ArgumentParser:
    from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP, MAX_ACTIONS_PER_STEP
    from envs.contract.sizes import MAX_RESOLUTION, MAX_UNIT_ROWS

    parser = argparse.ArgumentParser(
        prog="pstar replays", description="Replays: record Skirmish bot games; inspect Skirmish or .SC2Replay files."
    )
    sub = parser.add_subparsers(dest="action", required=True)
    count, seed = flag_type(int, at_least=1), flag_type(int, at_least=0)
    rec = sub.add_parser("record", help="record bot-vs-bot games (several processes)", parents=[common_flags()])
    rec.add_argument("--games", type=count, default=8, help="number of games (default 8)")
    rec.add_argument(
        "--scenarios",
        nargs="+",
        default=None,
        help=f"scenario names, or 'random' (default: shipped ones with <= {SMALL_SCENARIO_UNITS} units)",
    )
    rec.add_argument("--p1", nargs="+", default=list(DEFAULT_LEVELS),
                     help="player-1 bot levels, expert or agents (checkpoints, pretrained:<name>; default medium hard)")
    rec.add_argument("--p2", nargs="+", default=None, help="player-2 players (default: as --p1)")
    rec.add_argument("--label-with", default=None,
                     help="a demonstrator (bot level or expert) labelling every step of --label-side (DAgger)")
    rec.add_argument("--label-side", type=int, choices=(1, 2), default=1, help="the labelled side (default 1)")
    rec.add_argument("--beta", type=float, default=0.0,
                     help="probability that a labelled step plays the demonstrator's actions (default 0)")
    rec.add_argument("--workers", type=count, default=max(1, min(4, os.cpu_count() or 1)), help="processes")
    rec.add_argument("--batch-games", type=count, default=BATCH_GAMES,
                     help="games a worker plays together (default %(default)s; fewer when --games is small)")
    rec.add_argument("--out", type=Path, default=Path("replays"), help="output directory (default replays/)")
    rec.add_argument("--seed", type=seed, default=0, help="seed of game 0; game i uses seed + i")
    rec.add_argument("--step-mul", type=count, default=8)
    rec.add_argument("--max-units", type=flag_type(int, at_least=1, at_most=MAX_UNIT_ROWS), default=512)
    rec.add_argument("--resolution", type=flag_type(int, at_least=1, at_most=MAX_RESOLUTION), default=64)
    rec.add_argument("--fog", action="store_true", help="fog of war (cheat_vision bots still see everything)")
    rec.add_argument("--actions-per-step", type=flag_type(int, at_least=1, at_most=MAX_ACTIONS_PER_STEP),
                     default=DEFAULT_ACTIONS_PER_STEP,
                     help="each bot's action budget per agent step, no_ops free (default %(default)s)")
    rec.add_argument("--mirror", action="store_true", help="both sides get player 1's army (seeded variants)")
    rec.set_defaults(func=_record)
    from training.full_replays import add_parser as add_full

    add_full(sub, [common_flags()])
    info = sub.add_parser(
        "info",
        help="print a replay's header and verify it by re-simulation (.SC2Replay: summary, game not needed)",
        parents=[common_flags()],
    )
    info.add_argument("files", nargs="+", type=Path)
    info.add_argument("--no-verify", action="store_true", help="only read the header, do not re-simulate")
    info.set_defaults(func=_info)
    stats = sub.add_parser(
        "stats",
        help="how often each player acts and what it sends per game, over Skirmish replays (no re-simulation)",
        parents=[common_flags()],
    )
    stats.add_argument("paths", nargs="+", type=Path, help="replay files or directories of them")
    stats.add_argument("--top", type=count, default=12, help="action types listed per player (default 12)")
    stats.add_argument("--json", type=Path, default=None, help="also write every player's statistics here")
    stats.add_argument("--milestones", action="store_true",
                       help="also print, per player and race of full games, in how many games each build, train, "
                            "research and morph order was sent and the median step it was first sent")  # fmt: skip
    stats.set_defaults(func=_stats)
    return parser


def _stats(args: argparse.Namespace) -> int:
    import json

    from training.replay_stats import replay_stats

    stats = replay_stats(args.paths)
    skipped = ", ".join(f"{n} {kind}" for kind, n in stats.skipped.items())
    if not stats.read:
        return fail("replays stats", f"no readable replay in {', '.join(map(str, args.paths))}"
                    + (f" (skipped: {skipped})" if skipped else ""))  # fmt: skip
    print(stats.table(args.top))
    if args.milestones:
        print("\n" + stats.milestone_table())
    print(f"{stats.read} replays read" + (f"; skipped: {skipped}" if skipped else ""))
    if args.json is not None:
        args.json.write_text(json.dumps(stats.to_json(), indent=2))
    return 1 if stats.skipped else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.progress = apply_common(args)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:  # outside a recording's own handling (which keeps and counts what was written)
        print(f"pstar replays {args.action}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
