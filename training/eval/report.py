"""Evaluation results and their reports: JSON, a Markdown table, a PNG bar chart and TensorBoard scalars.

Win rate is wins / games (a draw counts as not won), with a 95% Wilson score interval; the win rate over decided
(non-drawn) games is reported next to it, as the bot ladder reports it.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.eval.games import GameOutcome
from training.logger import RunLogger
from training.run_folder import run_path

FILES = {"json": "eval.json", "markdown": "eval.md", "plot": "eval.png"}


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (``(0, 1)`` when ``n`` is 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def one_sided_two_proportion_test(wins_a: int, n_a: int, wins_b: int, n_b: int) -> tuple[float, float]:
    """(z, p) of the pooled two-proportion z-test of H1: rate a > rate b (p = 1 - Phi(z); z 0 and p 0.5 when
    the pooled rate is 0 or 1, and the samples cannot tell)."""
    if n_a <= 0 or n_b <= 0:
        raise ValueError(f"one_sided_two_proportion_test: expected games on both sides, got n_a={n_a}, n_b={n_b}")
    pooled = (wins_a + wins_b) / (n_a + n_b)
    variance = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
    if variance <= 0.0:
        return 0.0, 0.5
    z = (wins_a / n_a - wins_b / n_b) / math.sqrt(variance)
    return z, 0.5 * math.erfc(z / math.sqrt(2.0))


@dataclass(frozen=True)
class LevelResult:
    """Games against one level (or one level on one scenario): how many ended in each outcome (win, draw, loss),
    win rate and its 95% interval, length."""

    wins: int
    draws: int
    losses: int
    games: int
    win_rate: float
    ci_low: float
    ci_high: float
    mean_steps: float
    illegal_actions: int
    units_dropped: int

    @classmethod
    def from_outcomes(cls, outcomes: Sequence[GameOutcome]) -> LevelResult:
        counts = Counter(o.result for o in outcomes)
        games = len(outcomes)
        low, high = wilson_interval(counts["win"], games)
        mean_steps = sum(o.steps for o in outcomes) / games if games else 0.0
        illegal = sum(o.illegal_actions for o in outcomes)
        dropped = sum(o.units_dropped for o in outcomes)
        return cls(
            wins=counts["win"],
            draws=counts["draw"],
            losses=counts["loss"],
            games=games,
            win_rate=counts["win"] / games if games else 0.0,
            ci_low=low,
            ci_high=high,
            mean_steps=mean_steps,
            illegal_actions=illegal,
            units_dropped=dropped,
        )

    @property
    def illegal_actions_per_step(self) -> float:
        """Illegal actions a lenient game dropped, per agent step (0 in strict games, which raise instead)."""
        steps = self.mean_steps * self.games
        return self.illegal_actions / steps if steps else 0.0

    @property
    def units_dropped_per_step(self) -> float:
        """Units in view left out of an observation (more units than ``max_units`` rows), per agent step."""
        steps = self.mean_steps * self.games
        return self.units_dropped / steps if steps else 0.0

    @property
    def decided_win_rate(self) -> float | None:
        """Wins among decided (non-drawn) games; None when every game was drawn."""
        decided = self.wins + self.losses
        return self.wins / decided if decided else None

    def to_json(self) -> dict[str, Any]:
        return {
            "wins": self.wins,
            "draws": self.draws,
            "losses": self.losses,
            "games": self.games,
            "win_rate": self.win_rate,
            "ci95": [self.ci_low, self.ci_high],
            "decided_win_rate": self.decided_win_rate,
            "mean_steps": self.mean_steps,
            "illegal_actions": self.illegal_actions,
            "illegal_actions_per_step": self.illegal_actions_per_step,
            "units_dropped": self.units_dropped,
            "units_dropped_per_step": self.units_dropped_per_step,
        }


@dataclass
class EvalResult:
    """An evaluation of ``player`` (a checkpoint path or ``bot:<level>``) against bot levels.

    levels: per level, in the order played. per_scenario: per level, per scenario. outcomes: every game.
    checkpoint/step: the resolved checkpoint and its step counter (None for a bot). seconds: wall time.
    """

    player: str
    levels: dict[str, LevelResult]
    per_scenario: dict[str, dict[str, LevelResult]]
    outcomes: list[GameOutcome]
    scenarios: list[str]
    games_per_level: int
    seed: int
    greedy: bool
    temperature: float | None
    backend: str
    workers: int
    seconds: float = 0.0
    checkpoint: str | None = None
    step: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_outcomes(cls, outcomes: Sequence[GameOutcome], **fields: Any) -> EvalResult:
        """Group the games by level (in order of first appearance) and by scenario; ``fields`` fill the rest."""
        by_level: dict[str, list[GameOutcome]] = {}
        for outcome in outcomes:
            by_level.setdefault(outcome.game.level, []).append(outcome)
        levels = {level: LevelResult.from_outcomes(games) for level, games in by_level.items()}
        per_scenario = {}
        for level, games in by_level.items():
            names = list(dict.fromkeys(o.game.scenario for o in games))
            per_scenario[level] = {
                s: LevelResult.from_outcomes([o for o in games if o.game.scenario == s]) for s in names
            }
        return cls(levels=levels, per_scenario=per_scenario, outcomes=list(outcomes), **fields)

    @property
    def total(self) -> LevelResult:
        """All games against all levels together."""
        return LevelResult.from_outcomes(self.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {
            "player": self.player,
            "checkpoint": self.checkpoint,
            "step": self.step,
            "scenarios": self.scenarios,
            "games_per_level": self.games_per_level,
            "games": len(self.outcomes),
            "seed": self.seed,
            "greedy": self.greedy,
            "temperature": self.temperature,
            "backend": self.backend,
            "workers": self.workers,
            "seconds": round(self.seconds, 2),
            "settings": self.settings,
            "levels": {level: r.to_json() for level, r in self.levels.items()},
            "total": self.total.to_json(),
            "per_scenario": {
                level: {s: r.to_json() for s, r in rows.items()} for level, rows in self.per_scenario.items()
            },
            "outcomes": [
                {
                    "index": o.game.index,
                    "level": o.game.level,
                    "scenario": o.game.scenario,
                    "variant": o.game.variant,
                    "side": o.game.side,
                    "result": o.result,
                    "steps": o.steps,
                    "illegal_actions": o.illegal_actions,
                    "units_dropped": o.units_dropped,
                }
                for o in self.outcomes
            ],
        }

    def to_markdown(self) -> str:
        """A table with one row per level (and all levels together), then the games, wall time and settings."""
        step = f" (step {self.step})" if self.step is not None else ""
        lines = [
            f"Evaluation of `{self.player}`{step}",
            "",
            "| level | games | wins | draws | losses | win rate | 95% CI | win rate (decided) | mean steps "
            "| illegal actions per step | units dropped per step |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        rows = [*self.levels.items(), ("**all**", self.total)]
        for level, r in rows:
            lines.append(
                f"| {level} | {r.games} | {r.wins} | {r.draws} | {r.losses} | {_percent(r.win_rate)} | "
                f"{_percent(r.ci_low)}–{_percent(r.ci_high)} | {_percent(r.decided_win_rate)} | "
                f"{r.mean_steps:.1f} | {r.illegal_actions_per_step:.4f} | {r.units_dropped_per_step:.2f} |"
            )
        play = "greedy; " if self.greedy else "" if self.temperature is None else f"temperature {self.temperature:g}; "
        lines += [
            "",
            f"Total: {len(self.outcomes)} games in {self.seconds:.1f} s ({self.backend}, {self.workers} worker(s)); "
            f"scenarios (mirrored, sides swapped in pairs): {', '.join(self.scenarios)}; {play}seed {self.seed}.",
        ]
        return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def compare_markdown(results: Mapping[str, EvalResult]) -> str:
    """Several results side by side: one row per level, one column per name, "win rate [95% CI] (W-D-L)"."""
    names = list(results)
    levels = list(dict.fromkeys(level for r in results.values() for level in r.levels))
    lines = ["| level | " + " | ".join(names) + " |", "|" + " --- |" * (len(names) + 1)]

    def cell(r: LevelResult | None) -> str:
        if r is None:
            return ""
        return f"{_percent(r.win_rate)} [{_percent(r.ci_low)}, {_percent(r.ci_high)}] ({r.wins}-{r.draws}-{r.losses})"

    for level in levels:
        lines.append(f"| {level} | " + " | ".join(cell(results[n].levels.get(level)) for n in names) + " |")
    lines.append("| **all** | " + " | ".join(cell(results[n].total) for n in names) + " |")
    return "\n".join(lines)


def plot_win_rates(result: EvalResult, path: str | Path) -> Path:
    """A bar chart of the win rate per level with Wilson 95% error bars, as a PNG (matplotlib, Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    levels = list(result.levels)
    rates = [result.levels[level].win_rate for level in levels]
    errors = [
        [r - result.levels[level].ci_low for level, r in zip(levels, rates, strict=True)],
        [result.levels[level].ci_high - r for level, r in zip(levels, rates, strict=True)],
    ]
    figure = Figure(figsize=(max(4.0, 0.8 * len(levels) + 2.0), 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = range(len(levels))
    axes.bar(positions, rates, yerr=errors, capsize=4, color="tab:blue", ecolor="black")
    axes.set_xticks(list(positions), levels, rotation=30, ha="right")
    axes.set_ylim(0.0, 1.0)
    axes.set_ylabel("win rate (95% Wilson interval)")
    step = f", step {result.step}" if result.step is not None else ""
    axes.set_title(f"{Path(result.player).name or result.player}{step}: {result.games_per_level} games per level")
    axes.grid(axis="y", alpha=0.3)
    path = Path(path)
    figure.savefig(path, dpi=100)
    return path


def default_out_dir(result: EvalResult, run_root: str | Path = "runs") -> Path:
    """``<run dir>/eval`` of the evaluated checkpoint (its parent, or the parent of ``checkpoints/``), or a new
    ``<run_root>/eval_<timestamp>`` for a bot level."""
    if result.checkpoint is None:
        path = run_path(run_root, None, "eval")
        path.mkdir(parents=True)
        return path
    parent = Path(result.checkpoint).parent
    run_dir = parent.parent if parent.name == "checkpoints" else parent
    return run_dir / "eval"


def write_reports(
    result: EvalResult, out_dir: str | Path, logger: RunLogger | None = None, step: int | None = None
) -> dict[str, Path]:
    """Write eval.json, eval.md, eval.png and the ``charts/win_rate/<level>``, ``charts/illegal_actions_per_step``
    and ``charts/units_dropped_per_step`` scalars into ``out_dir``.

    The scalars go to ``logger`` when given (e.g. the training run's), else to an event file in ``out_dir``;
    ``step`` defaults to the checkpoint's step (0 for a bot). Returns the paths by kind.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / name for kind, name in FILES.items()}
    paths["json"].write_text(json.dumps(result.to_json(), indent=2) + "\n")
    paths["markdown"].write_text(result.to_markdown() + "\n")
    plot_win_rates(result, paths["plot"])
    step = step if step is not None else result.step or 0
    own = logger is None
    logger = RunLogger(out_dir) if own else logger
    try:
        logger.scalars({f"charts/win_rate/{level}": r.win_rate for level, r in result.levels.items()}, step)
        logger.scalars({"charts/illegal_actions_per_step": result.total.illegal_actions_per_step,
                        "charts/units_dropped_per_step": result.total.units_dropped_per_step}, step)  # fmt: skip
        logger.flush()
    finally:
        if own:
            logger.close()
    paths["tensorboard"] = logger.run_dir
    return paths
