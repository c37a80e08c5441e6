"""Full-game benchmark: CPU seconds per 10 game minutes of a Skirmish full game on one core (issue 18).

Until the full-game bots exist, two scripted macro players (``envs.skirmish.economy.macro``: openings, workers,
supply, gas, upgrades, army, no fighting) stand in for them, each acting every agent step (step_mul 8). Reported per
race pair: CPU seconds for the game, scaled to 10 game minutes, agent steps per second, and the entities alive at
the end. The issue's target is <= 10 s per 10-minute game between two very_hard bots (with combat), so a PASS here
is necessary, not sufficient. Rates divide by ``time.process_time``. Flags: ``python benchmarks/fullgame.py --help``.
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
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.verdicts import add_out_flag, finish  # noqa: E402
from envs.skirmish.economy.game import FullGame  # noqa: E402
from envs.skirmish.economy.macro import MacroPlayer  # noqa: E402

STEP_MUL = 8
LOOPS_PER_MINUTE = 1344
TARGET_SECONDS = 10.0  # per 10 game minutes, one core (issue 18)
DEFAULT_PAIRS = ("terran-protoss", "zerg-terran", "protoss-zerg")


def play(races: tuple[str, str], minutes: float, game_map: str, seed: int) -> dict:
    """One game between two macro players; its CPU time and size."""
    game = FullGame(game_map, races, seed=seed)
    players = [MacroPlayer(game, 1), MacroPlayer(game, 2)]
    steps = round(minutes * LOOPS_PER_MINUTE / STEP_MUL)
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    for _ in range(steps):
        for player in players:
            player.act()
        game.step(STEP_MUL)
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    return {"races": "-".join(races), "minutes": minutes, "steps": steps, "cpu_s": cpu, "wall_s": wall,
            "cpu_s_per_10_min": cpu * 10.0 / minutes, "steps_per_s": steps / cpu,
            "entities": int(game.engine.state.alive.sum())}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pstar bench fullgame", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", nargs="+", default=list(DEFAULT_PAIRS), help="race pairs, e.g. terran-zerg")
    parser.add_argument("--minutes", type=float, default=10.0, help="game minutes per game (default 10)")
    parser.add_argument("--map", default="duel")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target-seconds", type=float, default=TARGET_SECONDS,
                        help="CPU seconds allowed per 10 game minutes (default: the issue's 10)")  # fmt: skip
    add_out_flag(parser, "fullgame")
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error(f"--minutes must be > 0, got {args.minutes}")
    rows = []
    for pair in args.pairs:
        races = tuple(pair.split("-"))
        if len(races) != 2:
            parser.error(f"--pairs: expected RACE-RACE, got {pair!r}")
        rows.append(play(races, args.minutes, args.map, args.seed))
    print(f"Full games, macro players (no combat), {args.map}, step_mul {STEP_MUL}, one core "
          f"({platform.processor() or platform.machine()})")  # fmt: skip
    print("| races | game minutes | CPU s | CPU s per 10 min | agent steps/s | entities at the end | vs target |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    checks = []
    for r in rows:
        ratio = args.target_seconds / r["cpu_s_per_10_min"]
        print(f"| {r['races']} | {r['minutes']:g} | {r['cpu_s']:.1f} | {r['cpu_s_per_10_min']:.1f} | "
              f"{r['steps_per_s']:.0f} | {r['entities']} | {ratio:.2f}x |")  # fmt: skip
        per_10 = r["cpu_s_per_10_min"]
        text = f"{r['races']}: {per_10:.1f} CPU s per 10 game minutes (target <= {args.target_seconds:g})"
        checks.append((text, r["cpu_s_per_10_min"] <= args.target_seconds))
    report = {"benchmark": "fullgame", "map": args.map, "seed": args.seed, "step_mul": STEP_MUL,
              "target_seconds": args.target_seconds, "rows": rows}  # fmt: skip
    return finish("fullgame", report, checks, args.out)


if __name__ == "__main__":
    sys.exit(main())
