"""The bot ladder: bot levels play each other on mirrored armies over a list of scenarios, in worker processes.

Games are mirrored (``botgame.mirrored``: both sides get player 1's army of the scenario, reflected), so neither
side has more or better units. Every game variant (a symmetric random jitter of the start
positions, seeded) is played twice with the sides swapped and the same engine seed, so a side advantage (the
engine resolves simultaneous events in slot order) cancels out and two identical bots score exactly 50%.
The result is a win/draw/loss matrix; the ladder holds when each level beats the one below it in at least
``threshold`` of the decided (non-drawn) games. Both bots play under the match's action budget
(``actions_per_step``, the same for every level).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP, check_actions_per_step
from envs.skirmish.botgame import OUTCOMES, check_level, outcome, play_bot_game
from envs.skirmish.bots import LEVELS
from envs.skirmish.scenario import load_scenario

NON_CHEAT_LEVELS: tuple[str, ...] = LEVELS[:7]
DEFAULT_SCENARIOS: tuple[str, ...] = ("3m", "8m_vs_9m", "2s3z", "MMM", "3s5z_vs_3s6z")


@dataclass(frozen=True)
class LadderGame:
    """One game of a ladder run: ``first`` plays player 1 unless ``swapped``."""

    index: int
    scenario: str
    first: str
    second: str
    variant: int
    swapped: bool
    step_mul: int
    fog: bool
    actions_per_step: int = DEFAULT_ACTIONS_PER_STEP


@dataclass(frozen=True)
class GameOutcome:
    """How one ladder game ended, from ``first``'s point of view (one of ``OUTCOMES``)."""

    game: LadderGame
    result: str
    steps: int


@dataclass
class LadderResult:
    """Counts per (level, opponent): ``counts[a][b]`` = games of ``a`` against ``b`` per outcome (win, draw, loss)."""

    levels: tuple[str, ...]
    scenarios: tuple[str, ...]
    games_per_scenario: int
    seed: int
    threshold: float
    actions_per_step: int = DEFAULT_ACTIONS_PER_STEP
    counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    per_scenario: dict[str, dict[str, dict[str, dict[str, int]]]] = field(default_factory=dict)
    seconds: float = 0.0
    games: int = 0

    def add(self, outcome: GameOutcome) -> None:
        g = outcome.game
        mirror = {"win": "loss", "loss": "win", "draw": "draw"}
        for table in (self.counts, self.per_scenario.setdefault(g.scenario, {})):
            for a, b, result in ((g.first, g.second, outcome.result), (g.second, g.first, mirror[outcome.result])):
                cell = table.setdefault(a, {}).setdefault(b, dict.fromkeys(OUTCOMES, 0))
                cell[result] += 1
        self.games += 1

    def cell(self, a: str, b: str, scenario: str | None = None) -> dict[str, int] | None:
        table = self.counts if scenario is None else self.per_scenario.get(scenario, {})
        return table.get(a, {}).get(b)

    def win_rate(self, a: str, b: str, scenario: str | None = None) -> float | None:
        """Wins of ``a`` over ``b`` among decided games (None when no game between them was decided)."""
        cell = self.cell(a, b, scenario)
        if cell is None or cell["win"] + cell["loss"] == 0:
            return None
        return cell["win"] / (cell["win"] + cell["loss"])

    def adjacent(self) -> list[dict[str, Any]]:
        """Each level against the one listed before it: win rate over decided games and whether it holds."""
        rows = []
        for below, level in zip(self.levels, self.levels[1:], strict=False):
            rate = self.win_rate(level, below)
            cell = self.cell(level, below) or dict.fromkeys(OUTCOMES, 0)
            rows.append({"level": level, "below": below, **cell, "win_rate": rate,
                         "holds": rate is not None and rate >= self.threshold})  # fmt: skip
        return rows

    @property
    def holds(self) -> bool:
        rows = self.adjacent()
        return bool(rows) and all(r["holds"] for r in rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "levels": list(self.levels),
            "scenarios": list(self.scenarios),
            "games_per_pair_per_scenario": self.games_per_scenario,
            "seed": self.seed,
            "threshold": self.threshold,
            "actions_per_step": self.actions_per_step,
            "games": self.games,
            "seconds": round(self.seconds, 2),
            "counts": self.counts,
            "win_rate": {a: {b: self.win_rate(a, b) for b in self.counts.get(a, {})} for a in self.levels},
            "per_scenario": self.per_scenario,
            "adjacent": self.adjacent(),
            "holds": self.holds,
        }

    def to_markdown(self) -> str:
        """The win-rate matrix (row level vs column level, % of decided games, W-D-L) and the adjacent check."""
        head = "| level \\ vs | " + " | ".join(self.levels) + " |"
        lines = [head, "|" + " --- |" * (len(self.levels) + 1)]
        for a in self.levels:
            cells = []
            for b in self.levels:
                cell, rate = self.cell(a, b), self.win_rate(a, b)
                if a == b or cell is None:
                    cells.append("")
                else:
                    shown = "n/a" if rate is None else f"{100 * rate:.0f}%"
                    cells.append(f"{shown} ({cell['win']}-{cell['draw']}-{cell['loss']})")
            lines.append(f"| **{a}** | " + " | ".join(cells) + " |")
        lines += [
            "",
            "| level | vs level below | win rate (decided) | W-D-L | holds |",
            "| --- | --- | --- | --- | --- |",
        ]
        for r in self.adjacent():
            rate = "n/a" if r["win_rate"] is None else f"{100 * r['win_rate']:.0f}%"
            lines.append(f"| {r['level']} | {r['below']} | {rate} | {r['win']}-{r['draw']}-{r['loss']} | "
                         f"{'yes' if r['holds'] else 'NO'} |")  # fmt: skip
        return "\n".join(lines)


def plan_ladder(
    levels: Sequence[str],
    scenarios: Sequence[str],
    games: int,
    *,
    seed: int = 0,
    adjacent_only: bool = False,
    step_mul: int = 8,
    fog: bool = False,
    actions_per_step: int = DEFAULT_ACTIONS_PER_STEP,
) -> list[LadderGame]:
    """The games of a run: for every pair of levels (each level with the next one only, if ``adjacent_only``)
    and every scenario, ``games`` games; game g uses variant ``seed + g // 2`` and swaps sides when g is odd."""
    for level in levels:
        check_level(level)
    if len(set(levels)) != len(levels) or len(levels) < 2:
        raise ValueError(f"ladder: expected at least two distinct levels, got {list(levels)}")
    if games < 1:
        raise ValueError(f"ladder: games per pair and scenario must be >= 1, got {games}")
    check_actions_per_step(actions_per_step)
    for name in scenarios:
        load_scenario(name)  # a clear error for an unknown scenario before any worker starts
    if adjacent_only:
        pairs = list(zip(levels, levels[1:], strict=False))
    else:
        pairs = [(a, b) for i, a in enumerate(levels) for b in levels[i + 1 :]]
    plan = []
    for low, high in pairs:
        for name in scenarios:
            for g in range(games):
                plan.append(LadderGame(len(plan), name, high, low, seed + g // 2, bool(g % 2), step_mul, fog,
                                       actions_per_step))
    return plan


def play_ladder_game(game: LadderGame) -> GameOutcome:
    """Play one ladder game (runs in a worker process)."""
    levels = {1: game.second, 2: game.first} if game.swapped else {1: game.first, 2: game.second}
    match = play_bot_game(game.scenario, levels, game.variant, variant=game.variant, step_mul=game.step_mul,
                          fog=game.fog, record=False, actions_per_step=game.actions_per_step)  # fmt: skip
    return GameOutcome(game, outcome(match.winner, 2 if game.swapped else 1), match.steps)


def run_ladder(
    levels: Sequence[str] = NON_CHEAT_LEVELS,
    scenarios: Sequence[str] = DEFAULT_SCENARIOS,
    games: int = 10,
    *,
    processes: int | None = None,
    seed: int = 0,
    adjacent_only: bool = False,
    step_mul: int = 8,
    fog: bool = False,
    threshold: float = 0.6,
    on_game: Callable[[GameOutcome], None] | None = None,
    actions_per_step: int = DEFAULT_ACTIONS_PER_STEP,
) -> LadderResult:
    """Play the ladder (see ``plan_ladder``) on ``processes`` workers (default: all cores; 1 = in this process).

    The result does not depend on the number of processes.
    """
    plan = plan_ladder(levels, scenarios, games, seed=seed, adjacent_only=adjacent_only, step_mul=step_mul, fog=fog,
                       actions_per_step=actions_per_step)
    result = LadderResult(tuple(levels), tuple(scenarios), games, seed, threshold, actions_per_step)
    return play_games(plan, result, processes=processes, on_game=on_game)


def play_games(
    plan: Sequence[Any],
    result: LadderResult,
    *,
    processes: int | None = None,
    on_game: Callable[[GameOutcome], None] | None = None,
    play: Callable[[Any], GameOutcome] = play_ladder_game,
) -> LadderResult:
    """Play ``plan``'s games with ``play`` (a module-level function: it runs in the workers) on ``processes``
    workers (default: all cores; 1 = in this process), adding each outcome to ``result`` (and timing them); the
    result does not depend on the number of processes. A game needs the ``scenario``, ``first`` and ``second``
    that ``LadderResult.add`` files it under."""
    workers = max(1, min(processes or os.cpu_count() or 1, len(plan)))
    start = time.perf_counter()
    if workers == 1:
        outcomes = map(play, plan)
        for outcome in outcomes:
            result.add(outcome)
            if on_game is not None:
                on_game(outcome)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for outcome in pool.map(play, plan, chunksize=max(1, len(plan) // (8 * workers))):
                result.add(outcome)
                if on_game is not None:
                    on_game(outcome)
    result.seconds = time.perf_counter() - start
    return result
