"""``pstar bc-report``: what a BC run learnt, on its own held-out replays: action-type accuracy against the prior of
always answering the commonest type of its training data, selected-units F1, overall, per race and per game version.

Each held-out (replay, player) is scored on its own (``metrics.evaluate_bc``), so the groups add up exactly. Two
95% intervals: Wilson's over commands (what the issue of a replay corpus asks for), which treats a game's commands as
independent, and a bootstrap over the held-out players' games of the margin (accuracy - prior), which does not: the
margin is called real when that interval is above 0. With several runs (``pstar bc ... train_replays=N``, one run per
N), a data-scaling table and picture: held-out accuracy and F1 against the number of training replays.

pstar bc-report RUN [RUN ...] [--json FILE] [--plot FILE.png]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.agent_io import load_agent
from training.bc.config import BCConfig
from training.bc.dataset import BCData, DatasetError
from training.bc.metrics import evaluate_bc
from training.bc.shards import batches
from training.checkpoint import CheckpointError
from training.cli import apply_common, common_flags, fail
from training.config_io import ConfigError, from_dict
from training.eval.report import wilson_interval

EVAL_BATCH = 64
BOOTSTRAP = 2000  # resamples of the held-out games for the margin's interval
_RACE = re.compile(r"\((\w+),")


@dataclass(frozen=True)
class GameScore:
    """One held-out player's commands in one replay: counts the groups are summed from."""

    replay: str
    player: int
    race: str
    version: str  # the release's major version: "3.x", "4.x", "5.x"
    commands: int  # action-type labels scored
    hits: int  # of them predicted right (greedy, given the true sub-actions before)
    prior_hits: int  # of them equal to the prior type
    selections: int  # labels whose type selects units
    f1_sum: float


@dataclass(frozen=True)
class GroupScore:
    """A group of held-out games: accuracy and prior with Wilson intervals, the margin's bootstrap interval."""

    group: str
    games: int
    commands: int
    accuracy: float
    accuracy_ci: tuple[float, float]
    prior: float
    prior_ci: tuple[float, float]
    margin_ci: tuple[float, float]  # bootstrap over games of accuracy - prior
    selected_f1: float
    selections: int

    @property
    def beats_prior(self) -> bool:
        return self.margin_ci[0] > 0 and self.accuracy_ci[0] > self.prior_ci[1]


@dataclass(frozen=True)
class RunReport:
    run: str
    train_replays: int
    held_out_replays: int
    prior_type: str
    groups: list[GroupScore]


def score_games(run: str | Path, progress: bool = False) -> tuple[list[GameScore], dict[str, Any]]:
    """Every held-out (replay, player) of BC run ``run`` scored alone; and what the run trained on."""
    agent, checkpoint = load_agent(run)
    meta = checkpoint.meta
    if meta.get("kind") != "bc":
        raise ConfigError(f"{run}: a {meta.get('kind')!r} checkpoint; bc-report reads BC runs")
    cfg = from_dict(BCConfig, meta["config"])
    key = (meta.get("data") or {}).get("cache_key")
    if key is None:
        raise ConfigError(f"{run}: its checkpoint does not name its BC cache (cache_key)")
    data = BCData.open(Path(cfg.cache_dir) / key)
    train, held = data.split(cfg.val_fraction, cfg.seed, cfg.val_replays, cfg.train_replays)
    if not held:
        raise ConfigError(f"{run}: it held no replay out (val_fraction=0 and no val_replays)")
    prior = data.commonest_type(train)
    scores = []
    for shard, positions in data.games(held):  # one replay's sequences, each chosen player's in turn
        arrays = data.load(shard)
        rid = int(arrays["replay"][positions[0]])
        info = data.manifest["replays"][rid]
        players = arrays["player"][positions]
        for player in sorted(set(players.tolist())):
            metrics = evaluate_bc(agent, batches(data.load, [(shard, positions[players == player])], EVAL_BATCH),
                                  prior=prior, progress=progress)  # fmt: skip
            commands = int(metrics["action_type/samples"])
            selections = int(metrics["selected_units/samples"])
            race = _RACE.search(info["players"][str(player)])
            scores.append(GameScore(
                replay=Path(info["path"]).name,
                player=int(player),
                race=race.group(1) if race else "unknown",
                version=f"{str(info.get('release', '?')).split('.')[0]}.x",
                commands=commands,
                hits=round(metrics.get("action_type/accuracy", 0.0) * commands),
                prior_hits=round(metrics.get("action_type/prior_accuracy", 0.0) * commands),
                selections=selections,
                f1_sum=metrics.get("selected_units/f1", 0.0) * selections,
            ))  # fmt: skip
    prior_name = data.spec["action_types"][prior]["name"]
    trained = {"train_replays": len(train), "held_out_replays": len(held), "prior_type": prior_name}
    return scores, trained


def group_score(name: str, games: list[GameScore], seed: int = 0) -> GroupScore:
    """The summed counts of ``games``, with Wilson intervals and the games' bootstrap interval of the margin."""
    commands = sum(g.commands for g in games)
    hits, prior_hits = sum(g.hits for g in games), sum(g.prior_hits for g in games)
    selections = sum(g.selections for g in games)
    per_game = np.array([[g.commands, g.hits, g.prior_hits] for g in games], dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(games), size=(BOOTSTRAP, len(games)))
    sums = per_game[draws].sum(axis=1)  # [B, 3]
    margins = (sums[:, 1] - sums[:, 2]) / np.maximum(sums[:, 0], 1)
    return GroupScore(
        group=name,
        games=len(games),
        commands=commands,
        accuracy=hits / max(commands, 1),
        accuracy_ci=wilson_interval(hits, commands),
        prior=prior_hits / max(commands, 1),
        prior_ci=wilson_interval(prior_hits, commands),
        margin_ci=(float(np.quantile(margins, 0.025)), float(np.quantile(margins, 0.975))),
        selected_f1=sum(g.f1_sum for g in games) / max(selections, 1),
        selections=selections,
    )


def run_report(run: str | Path, progress: bool = False) -> RunReport:
    """The held-out report of one BC run: all games, then per race and per version."""
    games, trained = score_games(run, progress)
    groups = [group_score("all", games)]
    for field, label in (("race", "race"), ("version", "version")):
        for value in sorted({getattr(g, field) for g in games}):
            groups.append(group_score(f"{label} {value}", [g for g in games if getattr(g, field) == value]))
    return RunReport(str(run), trained["train_replays"], trained["held_out_replays"], trained["prior_type"], groups)


def markdown(report: RunReport) -> str:
    lines = [
        f"{report.run}: {report.train_replays} training replays, {report.held_out_replays} held out; prior: always "
        f"{report.prior_type}",
        "",
        "| group | games | commands | action-type accuracy [95%] | prior [95%] | margin, games' bootstrap [95%] "
        "| beats prior | selected-units F1 (n) |",
        "| --- | ---: | ---: | --- | --- | --- | --- | --- |",
    ]
    for g in report.groups:
        lines.append(
            f"| {g.group} | {g.games} | {g.commands} | {_pct(g.accuracy)} [{_pct(g.accuracy_ci[0])}, "
            f"{_pct(g.accuracy_ci[1])}] | {_pct(g.prior)} [{_pct(g.prior_ci[0])}, {_pct(g.prior_ci[1])}] | "
            f"[{_pct(g.margin_ci[0])}, {_pct(g.margin_ci[1])}] | {'yes' if g.beats_prior else 'no'} | "
            f"{g.selected_f1:.3f} ({g.selections}) |"
        )
    return "\n".join(lines)


def scaling_markdown(reports: list[RunReport]) -> str:
    lines = ["| training replays | accuracy [95%] | prior | margin [95%, games] | selected-units F1 |",
             "| ---: | --- | --- | --- | --- |"]  # fmt: skip
    for r in sorted(reports, key=lambda r: r.train_replays):
        g = r.groups[0]
        lines.append(f"| {r.train_replays} | {_pct(g.accuracy)} [{_pct(g.accuracy_ci[0])}, {_pct(g.accuracy_ci[1])}] "
                     f"| {_pct(g.prior)} | [{_pct(g.margin_ci[0])}, {_pct(g.margin_ci[1])}] | "
                     f"{g.selected_f1:.3f} |")  # fmt: skip
    return "\n".join(lines)


def scaling_plot(reports: list[RunReport], path: Path) -> None:
    """Held-out accuracy (with its interval), the prior and selected-units F1 against training replays."""
    from training.tasks.pictures import plt

    ordered = sorted(reports, key=lambda r: r.train_replays)
    x = [r.train_replays for r in ordered]
    overall = [r.groups[0] for r in ordered]
    fig, ax = plt.subplots(figsize=(6, 4))
    acc = np.array([g.accuracy for g in overall])
    low = acc - np.array([g.accuracy_ci[0] for g in overall])
    high = np.array([g.accuracy_ci[1] for g in overall]) - acc
    ax.errorbar(x, acc, yerr=[low, high], marker="o", capsize=3, label="action-type accuracy (95% Wilson)")
    ax.plot(x, [g.prior for g in overall], "k--", label=f"prior (always {ordered[-1].prior_type})")
    ax.plot(x, [g.selected_f1 for g in overall], marker="s", label="selected-units F1")
    ax.set_xscale("log")
    ax.set_xlabel("training replays")
    ax.set_ylabel("held out")
    ax.set_title("BC on real replays: held-out scores against data size")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pstar bc-report", description=__doc__.split("\n\n")[0],
                                     parents=[common_flags()])  # fmt: skip
    parser.add_argument("runs", nargs="+", help="BC run directories (or checkpoints); several: a scaling table")
    parser.add_argument("--json", type=Path, default=None, help="write the reports as JSON here")
    parser.add_argument("--plot", type=Path, default=None, help="write the scaling picture (PNG) here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    progress = apply_common(args)
    try:
        reports = [run_report(run, progress) for run in args.runs]
    except (CheckpointError, ConfigError, DatasetError) as error:
        return fail("bc-report", str(error))
    for report in reports:
        print(markdown(report), end="\n\n")
    if len(reports) > 1:
        print(scaling_markdown(reports))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in reports], indent=1))
    if args.plot is not None:
        scaling_plot(reports, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
