"""Skirmish engine benchmark: agent steps and game loops per second on one core.

For each scenario (default: the mirrored mixed armies 10v10_mixed, 64v64_mixed and mixed_256v256), whole games are
played through the Engine API: both players attack-move every living unit to the centre of the living enemy army,
again every ``--reorder-every`` agent steps, and each agent step is ``advance(step_mul)``. Games (seeds 0, 1, ...)
repeat until ``--min-seconds`` of stepping is measured. Two layers are timed: ``engine`` (only ``issue`` +
``advance`` of the numpy Engine) and ``env`` (a whole ``Match.step`` on the match's default, compiled engine: both
players' contract actions translated, the engine advanced, and both players' observations built, with ``max_units``
sized as the registered gym ids size it), which is what an actor pays per agent step. A third layer, ``batched``,
plays the same games in one BatchedEngine of ``--batch-games`` slots (finished slots restart with the next seed),
counting every running game's step, timed over whole games: at least ``--min-seconds`` and until every slot has
finished a game (the slots start in lockstep, so a shorter window would time only the games' opening loops); its
``vs engine`` column is its rate over the single engine's in the same run. The batched engine's compiled kernels are
warmed up (compiled, or loaded from numba's cache) before anything is timed.

Reported per scenario: agent steps/s and game loops/s over whole games, and over "combat" steps only (steps
in which some weapon fired or a unit was healed, the expensive part of a game), with the ratio to the target
(issue 3, step_mul 8: >= 2,000 agent steps/s at 10v10 and >= 100 at 256v256; issue 16, batched: >= 20,000 at
10v10 with >= 64 games and >= 1,000 at 256v256; batched rows have no combat split). The engine is single-threaded
(numpy thread pools are limited to one thread anyway). Rates divide by the process's CPU time
(``time.process_time``), so other processes on a shared machine do not count against it; wall-clock rates are
reported next to them. Flags: ``python benchmarks/env.py --help``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.verdicts import Check, add_out_flag, finish  # noqa: E402
from envs.contract.action import make_action  # noqa: E402
from envs.contract.catalogue import ACTION_TYPES  # noqa: E402
from envs.contract.columns import Alliance, UnitColumn  # noqa: E402
from envs.skirmish.batched import BatchedEngine, GameView  # noqa: E402
from envs.skirmish.commands import Command  # noqa: E402
from envs.skirmish.engine import Engine  # noqa: E402
from envs.skirmish.env import auto_max_units  # noqa: E402
from envs.skirmish.match import Match  # noqa: E402
from envs.skirmish.scenario import Scenario, load_scenario  # noqa: E402

DEFAULT_SCENARIOS = ("10v10_mixed", "64v64_mixed", "mixed_256v256")
TARGETS = {"10v10_mixed": 2000.0, "mixed_256v256": 100.0}  # agent steps/s at step_mul 8
BATCHED_TARGETS = {"10v10_mixed": 20000.0, "mixed_256v256": 1000.0}  # all games' agent steps/s, step_mul 8
LAYERS = ("engine", "env", "batched")
LARGE = 128  # scenarios with more units than this run --batch-games-large games per batch
ATTACK_MOVE = next(a.index for a in ACTION_TYPES if a.name == "attack_move")
MAX_SELECTED = 64


@dataclass
class Result:
    """Measurements of one scenario."""

    scenario: str
    layer: str
    units: int
    games: int
    decided: int
    steps: int
    loops: int
    seconds: float
    steps_per_s: float
    loops_per_s: float
    combat_steps: int
    combat_steps_per_s: float
    wall_seconds: float
    wall_steps_per_s: float
    target_steps_per_s: float | None
    ratio: float | None
    combat_ratio: float | None
    batch_games: int | None = None  # batched layer: games per BatchedEngine
    vs_engine: float | None = None  # batched layer: steps/s over the engine layer's in this run


def attack_move_all(engine: Engine | GameView) -> None:
    """Both players attack-move all their living units to the centre of the living enemy army."""
    st = engine.state
    for player in (1, 2):
        mine = np.flatnonzero(st.alive & (st.owner == player))
        enemy = st.alive & (st.owner != player)
        if mine.size and enemy.any():
            centre = st.pos[enemy].mean(axis=0)
            engine.issue(player, Command("attack_move", tuple(mine.tolist()), target_pos=(centre[0], centre[1])))


def play_engine(
    scenario: Scenario, seed: int, step_mul: int, reorder_every: int
) -> tuple[list[float], list[bool], int, int | None, float]:
    """One timed game through the Engine API: per-step CPU seconds and combat flags, loops, winner, wall seconds."""
    engine = Engine(scenario, seed=seed)
    seconds: list[float] = []
    combat: list[bool] = []
    clock = time.process_time
    wall = 0.0
    while not engine.done:
        start, start_wall = clock(), time.perf_counter()
        if len(seconds) % reorder_every == 0:
            attack_move_all(engine)
        engine.advance(step_mul)
        seconds.append(clock() - start)
        wall += time.perf_counter() - start_wall
        combat.append(any(kind in ("attack", "heal") for kind, _, _ in engine.events))
    return seconds, combat, engine.loop, engine.winner, wall


def play_batched(scenario: Scenario, games: int, step_mul: int, reorder_every: int, min_seconds: float,
                 first_seed: int = 0, whole: bool = True) -> tuple[int, int, int, int, float, float]:  # fmt: skip
    """Games through one BatchedEngine of ``games`` slots for ``min_seconds`` CPU seconds (at least one advance)
    and, if ``whole``, until every slot has finished a game; each slot ordered as ``play_engine`` orders and
    restarted with the next seed when its game ends: (agent steps of running games, game loops, finished games,
    decided games, CPU seconds, wall seconds)."""
    engine = BatchedEngine([scenario] * games, range(first_seed, first_seed + games))
    views = [engine.game(g) for g in range(games)]
    age = np.zeros(games, dtype=np.int64)
    seed = first_seed + games
    finished_once = np.zeros(games, dtype=bool)
    steps = loops = ended = decided = 0
    seconds = wall = 0.0
    while seconds == 0.0 or seconds < min_seconds or (whole and not finished_once.all()):
        start, start_wall = time.process_time(), time.perf_counter()
        for g in np.flatnonzero(engine.done).tolist():
            engine.reset_game(g, scenario, seed)
            views[g], age[g], seed = engine.game(g), 0, seed + 1
        for g in np.flatnonzero(age % reorder_every == 0).tolist():
            attack_move_all(views[g])
        before = engine.loop.copy()
        running = int(np.count_nonzero(~engine.done))
        engine.advance(step_mul)
        seconds += time.process_time() - start
        wall += time.perf_counter() - start_wall
        steps += running
        loops += int((engine.loop - before).sum())
        age += 1
        finished = engine.done & (engine.loop > before)
        ended += int(np.count_nonzero(finished))
        finished_once |= finished
        decided += int(np.count_nonzero(finished & (engine.winner > 0)))
    return steps, loops, ended, decided, seconds, wall


def warm_kernels() -> None:
    """Play two small games to their end through a BatchedEngine, so every compiled kernel is built (or loaded from
    numba's on-disk cache) before timing: about 30 s the first time on a fresh checkout, under a second after."""
    scenario = load_scenario("10v10_mixed")
    batch = BatchedEngine([scenario] * 2, [0, 1])
    for g in range(2):
        attack_move_all(batch.game(g))
    while not batch.done.all():
        batch.advance(8)


def measure_batched(name: str, step_mul: int, min_seconds: float, games: int, reorder_every: int,
                    engine_rate: float | None) -> Result:  # fmt: skip
    scenario = load_scenario(name)
    warm_kernels()
    play_batched(scenario, games, step_mul, reorder_every, 0.0, first_seed=10_000, whole=False)  # not counted
    steps, loops, ended, decided, seconds, wall = play_batched(scenario, games, step_mul, reorder_every, min_seconds)
    rate = steps / seconds
    target = BATCHED_TARGETS.get(name) if step_mul == 8 else None
    return Result(
        scenario=name, layer="batched", units=len(scenario.placements), games=ended, decided=decided, steps=steps,
        loops=loops, seconds=seconds, steps_per_s=rate, loops_per_s=loops / seconds, combat_steps=0,
        combat_steps_per_s=float("nan"), wall_seconds=wall, wall_steps_per_s=steps / wall,
        target_steps_per_s=target, ratio=rate / target if target else None, combat_ratio=None,
        batch_games=games, vs_engine=rate / engine_rate if engine_rate else None,
    )  # fmt: skip


def attack_move_actions(obs: dict, match: Match) -> list[dict]:
    """Contract actions attack-moving all own units (64 per action) to the cell of the visible enemy centre."""
    units, real = obs["units"], obs["unit_mask"]
    alliance = units[:, UnitColumn.alliance]
    own = np.flatnonzero(real & (alliance == Alliance.self))
    enemy = real & (alliance == Alliance.enemy)
    if own.size == 0 or not enemy.any():
        return []
    res = match.spec.location_resolution
    x = units[enemy, UnitColumn.x].mean() / match.scenario.map_width
    y = units[enemy, UnitColumn.y].mean() / match.scenario.map_height
    cell = (min(int(x * res), res - 1), min(int(y * res), res - 1))
    return [make_action(ATTACK_MOVE, own[i : i + MAX_SELECTED], target_location=cell)
            for i in range(0, own.size, MAX_SELECTED)]  # fmt: skip


def play_match(
    scenario: Scenario, seed: int, step_mul: int, reorder_every: int
) -> tuple[list[float], list[bool], int, int | None, float]:
    """One timed game through Match.step (actions in, both observations out); same returns as ``play``.

    An order needing more actions than the match's budget per step (512 units: 4 of 64 against a budget of 2) is
    spread over the next steps, each part built from that step's observation (rows change as units die)."""
    match = Match(scenario, seed, step_mul=step_mul, max_units=auto_max_units(scenario))
    obs = match.reset()
    budget = match.actions_per_step
    seconds: list[float] = []
    combat: list[bool] = []
    clock = time.process_time
    wall = 0.0
    over = False
    sent = None  # actions of the current order already sent (None: none being sent)
    while not over:
        start, start_wall = clock(), time.perf_counter()
        if len(seconds) % reorder_every == 0:
            sent = 0
        actions = {}
        if sent is not None:
            parts = {p: attack_move_actions(obs[p], match) for p in (1, 2)}
            actions = {p: part[sent : sent + budget] for p, part in parts.items()}
            sent += budget
            if sent >= max(len(part) for part in parts.values()):
                sent = None
        obs, _, terminated, truncated, _ = match.step(actions)
        seconds.append(clock() - start)
        wall += time.perf_counter() - start_wall
        combat.append(any(kind in ("attack", "heal") for kind, _, _ in match.engine.events))
        over = terminated or truncated
    return seconds, combat, match.engine.loop, match.winner, wall


def measure(
    name: str, layer: str, step_mul: int, min_seconds: float, max_games: int, reorder_every: int
) -> Result:
    scenario = load_scenario(name)
    play = play_engine if layer == "engine" else play_match
    play(scenario, 10_000, step_mul, reorder_every)  # warm-up game (imports, caches), not counted
    seconds: list[float] = []
    combat: list[bool] = []
    loops = games = decided = 0
    wall = 0.0
    while games < max_games and (games == 0 or sum(seconds) < min_seconds):
        s, c, n_loops, winner, w = play(scenario, games, step_mul, reorder_every)
        seconds += s
        combat += c
        loops += n_loops
        wall += w
        games += 1
        decided += winner in (1, 2)
    total = float(sum(seconds))
    combat_time = float(sum(t for t, c in zip(seconds, combat, strict=True) if c))
    n_combat = int(sum(combat))
    steps_per_s = len(seconds) / total
    combat_rate = n_combat / combat_time if combat_time > 0 else float("nan")
    target = TARGETS.get(name) if step_mul == 8 else None
    return Result(
        scenario=name,
        layer=layer,
        units=len(scenario.placements),
        games=games,
        decided=decided,
        steps=len(seconds),
        loops=loops,
        seconds=total,
        steps_per_s=steps_per_s,
        loops_per_s=loops / total,
        combat_steps=n_combat,
        combat_steps_per_s=combat_rate,
        wall_seconds=wall,
        wall_steps_per_s=len(seconds) / wall,
        target_steps_per_s=target,
        ratio=steps_per_s / target if target else None,
        combat_ratio=combat_rate / target if target else None,
    )


def table(results: Sequence[Result], step_mul: int) -> str:
    header = (f"{'scenario':<16}{'layer':>7}{'units':>6}{'games':>6}{'steps':>7}{'steps/s':>10}{'loops/s':>10}"
              f"{'combat st/s':>12}{'target':>8}{'ratio':>7}{'combat ratio':>13}{'wall st/s':>11}"
              f"{'vs engine':>10}")  # fmt: skip
    lines = [f"Skirmish engine and env step, step_mul {step_mul}, one thread "
             "(rates per CPU second; wall-clock in the last column)",
             header, "-" * len(header)]  # fmt: skip
    for r in results:
        target = f"{r.target_steps_per_s:.0f}" if r.target_steps_per_s else "-"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        combat_ratio = f"{r.combat_ratio:.2f}" if r.combat_ratio is not None else "-"
        lines.append(f"{r.scenario:<16}{r.layer:>7}{r.units:>6}{r.games:>6}{r.steps:>7}{r.steps_per_s:>10.0f}{r.loops_per_s:>10.0f}"
                     f"{r.combat_steps_per_s:>12.0f}{target:>8}{ratio:>7}{combat_ratio:>13}"
                     f"{r.wall_steps_per_s:>11.0f}"
                     f"{f'{r.vs_engine:.2f}' if r.vs_engine is not None else '-':>10}")  # fmt: skip
    return "\n".join(lines)


def verdicts(results: Sequence[Result]) -> list[Check]:
    """PASS/FAIL lines for the scenarios that have a target (whole games and combat steps)."""
    out = []
    for r in results:
        if r.target_steps_per_s is None:
            continue
        checks = [("whole games", r.steps_per_s)]
        if r.layer != "batched":
            checks.append(("combat steps", r.combat_steps_per_s))
        for label, rate in checks:
            ok = rate >= r.target_steps_per_s
            layer = f"batched ({r.batch_games} games)" if r.layer == "batched" else r.layer
            text = f"{r.scenario} {layer} {label}: {rate:.0f} agent steps/s vs target {r.target_steps_per_s:.0f}"
            out.append((text, ok))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pstar bench env", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", nargs="+", default=list(DEFAULT_SCENARIOS), help="scenario names or paths")
    parser.add_argument("--step-mul", type=int, default=8, help="game loops per agent step (default 8)")
    parser.add_argument("--min-seconds", type=float, default=5.0, help="timed seconds per scenario (default 5)")
    parser.add_argument("--max-games", type=int, default=200, help="most games per scenario (default 200)")
    parser.add_argument("--reorder-every", type=int, default=8, help="agent steps between attack-move orders")
    parser.add_argument("--batch-games", type=int, default=64, help="games per BatchedEngine (default 64)")
    parser.add_argument("--batch-games-large", type=int, default=16,
                        help=f"games per BatchedEngine for scenarios over {LARGE} units (default 16)")
    add_out_flag(parser, "env")
    args = parser.parse_args(argv)
    if min(args.step_mul, args.max_games, args.reorder_every, args.batch_games, args.batch_games_large) < 1:
        parser.error("--step-mul, --max-games, --reorder-every, --batch-games and --batch-games-large must be >= 1")
    results = []
    for name in args.scenarios:
        for layer in LAYERS[:2]:
            results.append(measure(name, layer, args.step_mul, args.min_seconds, args.max_games, args.reorder_every))
        units = results[-1].units
        games = args.batch_games_large if units > LARGE else args.batch_games
        results.append(measure_batched(name, args.step_mul, args.min_seconds, games, args.reorder_every,
                                       results[-2].steps_per_s))  # fmt: skip
    print(table(results, args.step_mul))
    report = {
        "benchmark": "env",
        "step_mul": args.step_mul,
        "threads": 1,
        "clock": "process_time (CPU seconds of this process); wall_* fields use perf_counter",
        "reorder_every": args.reorder_every,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.processor() or platform.machine(),
        "results": [asdict(r) for r in results],
    }
    return finish("env", report, verdicts(results), args.out)


if __name__ == "__main__":
    sys.exit(main())
