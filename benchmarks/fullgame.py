"""Full-game benchmark: CPU seconds per 10 game minutes of a Skirmish full game on one core (issue 18).

Two very_hard full-game bots (``envs.skirmish.economy.bot``: economy, production, attacks, battle micro) play
through the contract (``FullMatch``: both observations and both players' actions every agent step, step_mul 8)
for up to ``--minutes`` game minutes or until one wins. Reported per race pair: CPU seconds, scaled to 10 game
minutes by the loops played, agent steps per second, the most entities alive at once and how the game ended. The
issue's target: <= 10 s per 10-minute game between two very_hard bots on one core. Then ``--batch`` games (the race
pairs in turn, seeds ``--seed`` on) played twice: one after another, each on its own engine, and all at once in one
batched ``FullMatchBatch`` (one BatchedEngine): CPU seconds per game per 10 game minutes each way, the speed-up,
and whether every game's final hash is the same both ways (the batch must play each game exactly as alone). Rates
divide by ``time.process_time``. Flags: ``python benchmarks/fullgame.py --help``.
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
from envs.skirmish.economy.bot import FullGameBot  # noqa: E402
from envs.skirmish.economy.match import FullMatch, FullMatchBatch  # noqa: E402

STEP_MUL = 8
LOOPS_PER_MINUTE = 1344
TARGET_SECONDS = 10.0  # per 10 game minutes, one core (issue 18)
DEFAULT_PAIRS = ("terran-protoss", "zerg-terran", "protoss-zerg")


def play(races: tuple[str, str], minutes: float, game_map: str, seed: int, level: str) -> dict:
    """One game between two full-game bots of ``level``; its CPU time and size."""
    match = FullMatch(game_map, races, seed=seed, step_mul=STEP_MUL)
    bots = {p: FullGameBot(level, match.game, p, seed=seed * 2 + p) for p in (1, 2)}
    steps, most = round(minutes * LOOPS_PER_MINUTE / STEP_MUL), 0
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    for step in range(steps):
        _, _, terminated, truncated, _ = match.step({p: bots[p].act(match.observed[p], match.spec) for p in (1, 2)})
        if step % 16 == 0:
            most = max(most, int(match.game.engine.state.alive.sum()))
        if terminated or truncated:
            break
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    played = match.game.loop / LOOPS_PER_MINUTE
    return {"races": "-".join(races), "minutes": round(played, 2), "steps": match.steps, "cpu_s": cpu, "wall_s": wall,
            "cpu_s_per_10_min": cpu * 10.0 / played, "steps_per_s": match.steps / cpu, "entities": most,
            "winner": match.winner}  # fmt: skip


def play_many(pairs: list[tuple[str, str]], minutes: float, game_map: str, seed: int, level: str,
              batched: bool) -> dict:  # fmt: skip
    """``len(pairs)`` games between two bots of ``level`` (game i: ``pairs[i]``, seed ``seed + i``), stepped together
    in one batched ``FullMatchBatch`` or each on its own engine; their CPU time and final hashes."""
    batch = FullMatchBatch(len(pairs), batched=batched)
    matches, bots = [], []
    for i, races in enumerate(pairs):
        match = FullMatch(game_map, races, seed=seed + i, step_mul=STEP_MUL, batch=batch.engine_slot(i))
        batch.start(i, match)
        matches.append(match)
        bots.append({p: FullGameBot(level, match.game, p, seed=(seed + i) * 2 + p) for p in (1, 2)})
    steps = round(minutes * LOOPS_PER_MINUTE / STEP_MUL)
    start_cpu = time.process_time()
    if batched:
        for _ in range(steps):
            live = [i for i, m in enumerate(matches) if not m.game.done]
            if not live:
                break
            batch.step({i: {p: bots[i][p].act(matches[i].observed[p], matches[i].spec) for p in (1, 2)} for i in live})
    else:
        for i, match in enumerate(matches):
            for _ in range(steps):
                if match.game.done:
                    break
                batch.step({i: {p: bots[i][p].act(match.observed[p], match.spec) for p in (1, 2)}})
    cpu = time.process_time() - start_cpu
    played = sum(m.game.loop for m in matches) / LOOPS_PER_MINUTE
    return {"games": len(pairs), "batched": batched, "cpu_s": cpu, "game_minutes": round(played, 2),
            "cpu_s_per_game_per_10_min": cpu * 10.0 / played, "hashes": [m.state_hash() for m in matches]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pstar bench fullgame", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", nargs="+", default=list(DEFAULT_PAIRS), help="race pairs, e.g. terran-zerg")
    parser.add_argument("--minutes", type=float, default=10.0, help="game minutes per game (default 10)")
    parser.add_argument("--map", default="duel")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--level", default="very_hard", help="both bots' full-game level (default very_hard)")
    parser.add_argument("--target-seconds", type=float, default=TARGET_SECONDS,
                        help="CPU seconds allowed per 10 game minutes (default: the issue's 10)")  # fmt: skip
    parser.add_argument("--batch", type=int, default=8,
                        help="games played at once in one batched engine, against the same games one by one "
                             "(default 8; 0 skips)")  # fmt: skip
    add_out_flag(parser, "fullgame")
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error(f"--minutes must be > 0, got {args.minutes}")
    if args.batch < 0:
        parser.error(f"--batch must be >= 0, got {args.batch}")
    rows = []
    for pair in args.pairs:
        races = tuple(pair.split("-"))
        if len(races) != 2:
            parser.error(f"--pairs: expected RACE-RACE, got {pair!r}")
        rows.append(play(races, args.minutes, args.map, args.seed, args.level))
    print(f"Full games, two {args.level} bots through the contract, {args.map}, step_mul {STEP_MUL}, one core "
          f"({platform.processor() or platform.machine()})")  # fmt: skip
    print("| races | game minutes played | CPU s | CPU s per 10 min | agent steps/s | most entities | winner | "
          "vs target |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    checks = []
    for r in rows:
        ratio = args.target_seconds / r["cpu_s_per_10_min"]
        ended = "none yet" if r["winner"] is None else ("draw" if r["winner"] == 0 else f"player {r['winner']}")
        print(f"| {r['races']} | {r['minutes']:g} | {r['cpu_s']:.1f} | {r['cpu_s_per_10_min']:.1f} | "
              f"{r['steps_per_s']:.0f} | {r['entities']} | {ended} | {ratio:.2f}x |")  # fmt: skip
        per_10 = r["cpu_s_per_10_min"]
        text = f"{r['races']}: {per_10:.1f} CPU s per 10 game minutes (target <= {args.target_seconds:g})"
        checks.append((text, r["cpu_s_per_10_min"] <= args.target_seconds))
    report = {"benchmark": "fullgame", "map": args.map, "seed": args.seed, "step_mul": STEP_MUL, "level": args.level,
              "target_seconds": args.target_seconds, "rows": rows}  # fmt: skip
    if args.batch:
        pairs = [tuple(args.pairs[i % len(args.pairs)].split("-")) for i in range(args.batch)]
        alone, together = (play_many(pairs, args.minutes, args.map, args.seed, args.level, batched)
                           for batched in (False, True))  # fmt: skip
        speedup = alone["cpu_s_per_game_per_10_min"] / together["cpu_s_per_game_per_10_min"]
        same = alone["hashes"] == together["hashes"]
        print(f"\n{args.batch} games ({', '.join(args.pairs)} in turn), {alone['game_minutes']:g} game minutes in all")
        print("| engine | CPU s | CPU s per game per 10 game minutes | speed-up | final hashes |")
        print("| --- | --- | --- | --- | --- |")
        print(f"| own engine each, one after another | {alone['cpu_s']:.1f} | "
              f"{alone['cpu_s_per_game_per_10_min']:.1f} | 1.00x (baseline) | |")  # fmt: skip
        print(f"| one BatchedEngine, all at once | {together['cpu_s']:.1f} | "
              f"{together['cpu_s_per_game_per_10_min']:.1f} | {speedup:.2f}x | {'same' if same else 'DIFFERENT'} |")
        checks.append((f"{args.batch} full games in one batched engine play exactly as alone (same final hashes)",
                       same))  # fmt: skip
        checks.append((f"batched: {speedup:.2f}x the games' speed one by one (target >= 1)", speedup >= 1.0))
        report["batch"] = {"alone": alone, "together": together, "speedup": speedup}
    return finish("fullgame", report, checks, args.out)


if __name__ == "__main__":
    sys.exit(main())
