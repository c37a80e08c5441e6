"""``pstar replays record-full``: record full games between full-game bots, in parallel, as replay files.

    pstar replays record-full --games 40 --p1 very_hard --p2 very_hard hard --races random --workers 2 --out full

Game ``i`` plays the ``i % P``-th (p1, p2) level pair, seed ``seed + i`` and, with ``--races random``, a race per
side drawn from that seed (else the two given races); replays are written as their games end, one file each
(``envs.skirmish.replay``, format version 4), so an interrupted run keeps what it finished. A worker plays
``--batch`` games at once in one batched engine (``play_full_bot_games``), each exactly as alone. Behaviour
cloning reads them like battle replays (``pstar bc`` with ``max_units`` 512, the full game's row count).
"""

from __future__ import annotations

import argparse
import itertools
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm


@dataclass(frozen=True)
class FullGameJob:
    """One full game to record."""

    index: int
    game_map: str
    races: tuple[str, str]
    levels: tuple[str, str]
    seed: int
    step_mul: int
    out: Path

    @property
    def path(self) -> Path:
        name = (f"{self.index:05d}_{self.game_map}_{self.races[0]}-{self.races[1]}_{self.levels[0]}_vs_"
                f"{self.levels[1]}_s{self.seed}.skreplay")  # fmt: skip
        return self.out / name


def full_game_jobs(games: int, p1: list[str], p2: list[str], races: list[str], game_map: str, seed: int,
                   step_mul: int, out: Path) -> list[FullGameJob]:  # fmt: skip
    """The run's games (see the module docstring); a clear error for an unknown level, race or map."""
    from envs.skirmish.economy.bot import FULL_GAME_LEVELS
    from envs.skirmish.economy.maps import load_map
    from envs.skirmish.economy.start import RACES, draw_races

    load_map(game_map)
    for level in [*p1, *p2]:
        if level not in FULL_GAME_LEVELS:
            raise ValueError(f"unknown full-game bot level {level!r}; expected one of {', '.join(FULL_GAME_LEVELS)}")
    if races != ["random"] and (len(races) != 2 or not set(races) <= set(RACES)):
        raise ValueError(f"--races: expected 'random' or two of {', '.join(RACES)}, got {' '.join(races)}")
    pairs = list(itertools.product(p1, p2))
    jobs = []
    for i in range(games):
        game_seed = seed + i
        pair = draw_races(game_seed) if races == ["random"] else (races[0], races[1])
        jobs.append(FullGameJob(i, game_map, pair, pairs[i % len(pairs)], game_seed, step_mul, out))
    return jobs


def record_full_games(jobs: list[FullGameJob]) -> list[tuple[Path, int | None, int]]:
    """Play ``jobs`` together in one batched engine (runs in a worker) and write each game as it ends; returns
    (path, winner, steps) per game."""
    from envs.skirmish.economy.ladder import play_full_bot_games
    from envs.skirmish.replay import save_replay

    first = jobs[0]
    written: dict[int, tuple[Path, int | None, int]] = {}

    def write(i: int, match) -> None:
        levels = jobs[i].levels
        path = save_replay(jobs[i].path, match, {1: f"bot:{levels[0]}", 2: f"bot:{levels[1]}"})
        written[i] = (path, match.winner, match.steps)

    play_full_bot_games([({1: job.levels[0], 2: job.levels[1]}, job.races, job.seed) for job in jobs],
                        first.game_map, first.step_mul, record=True, on_end=write)  # fmt: skip
    return [written[i] for i in range(len(jobs))]


def add_parser(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    from envs.skirmish.economy.bot import FULL_GAME_BOT_LEVELS
    from training.config_io import flag_type

    count, seed = flag_type(int, at_least=1), flag_type(int, at_least=0)
    rec = sub.add_parser("record-full", help="record full games between full-game bots (several processes)",
                         description=__doc__.split("\n\n")[0], parents=parents)  # fmt: skip
    rec.add_argument("--games", type=count, default=8, help="number of games (default 8)")
    rec.add_argument("--p1", nargs="+", default=["very_hard"],
                     help=f"player-1 full-game levels, of {', '.join(FULL_GAME_BOT_LEVELS)} (default very_hard)")
    rec.add_argument("--p2", nargs="+", default=None, help="player-2 levels (default: as --p1)")
    rec.add_argument("--races", nargs="+", default=["random"], help="'random' (per game) or two races")
    rec.add_argument("--map", default="duel", help="full-game map (default duel)")
    rec.add_argument("--workers", type=count, default=2, help="processes (default 2)")
    rec.add_argument("--batch", type=count, default=8,
                     help="games a worker plays at once in one batched engine (default 8; each as if alone)")
    rec.add_argument("--out", type=Path, default=Path("replays_full"), help="output directory")
    rec.add_argument("--seed", type=seed, default=0, help="seed of game 0; game i uses seed + i")
    rec.add_argument("--step-mul", type=count, default=8)
    rec.set_defaults(func=record_full)


def record_full(args: argparse.Namespace) -> int:
    from training.cli import fail

    try:
        jobs = full_game_jobs(args.games, args.p1, args.p2 or args.p1, args.races, args.map, args.seed,
                              args.step_mul, args.out)  # fmt: skip
    except ValueError as err:
        return fail("replays record-full", err)
    args.out.mkdir(parents=True, exist_ok=True)
    wins = {0: 0, 1: 0, 2: 0}
    bar = tqdm(total=len(jobs), desc="full games", unit="game", disable=not args.progress)
    chunks = [jobs[i : i + args.batch] for i in range(0, len(jobs), args.batch)]
    with ProcessPoolExecutor(max_workers=max(1, min(args.workers, len(chunks)))) as pool:
        for chunk in pool.map(record_full_games, chunks):
            for _, winner, _ in chunk:
                wins[winner or 0] += 1
            bar.update(len(chunk))
    bar.close()
    print(f"wrote {len(jobs)} full-game replays to {args.out}: player 1 won {wins[1]}, player 2 {wins[2]}, "
          f"{wins[0]} draws")  # fmt: skip
    return 0
