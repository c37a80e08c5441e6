"""``pstar dagger``: rounds of DAgger on full games (Ross et al., 2011), resumable, from one config.

    pstar dagger --config configs/dagger_full.yaml start=runs/bc_full name=dagger rounds=3

Round ``k`` (0-based) lives in ``run_root/name/round_k/``:

1. ``games/``: the round's learner (``start`` in round 0, else round k-1's agent) plays ``games`` full games against
   each of ``levels`` (variants from ``seed + k * games``: fresh every round) while ``label_with``, a full-game bot in
   its seat, labels its every step; each step plays the label with probability ``beta * beta_decay ** k`` (DAgger's
   mixture, decaying), else the learner's own actions (``pstar eval-full --record --label-with``).
2. ``bc/``: behaviour cloning (``bc``: a ``pstar bc`` config, e.g. the bots' own replays in ``bc.replays``) on those
   replays plus the games of every round so far (DAgger's aggregated data set), from the learner's weights with a
   fresh optimizer; ``bc.label_repeat_window`` thins a labeller's repeated economy orders.
3. ``eval.json``: the new agent against ``levels``, ``eval_games`` games each on the same variants every round
   (``eval_seed``), so rounds compare on equal games (0: skipped).

Each stage is its own ``pstar`` command in a fresh process (``bc``'s config written as ``round_k/bc.yaml``). A stage
whose output is complete is skipped (games: ``games/done.json``, written after the last game; bc: its final
checkpoint; eval: ``eval.json``), so running the same command again continues an interrupted run: unfinished games
are played again from scratch, an unfinished BC run resumes from its latest checkpoint. ``run_root/name/dagger.json``
and the printed table hold every round: beta, the mixed games' win rates, BC's held-out action-type NLL, the
evaluation's win rates with 95% intervals.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envs.skirmish.economy.bot import FULL_GAME_LEVELS
from training.bc.config import BCConfig
from training.checkpoint import CHECKPOINTS, latest_checkpoint, read_meta
from training.config_io import CheckedConfig, ConfigError, described, save_config
from training.eval.full_games import check_labeller

DONE = "done.json"  # written in a round's games/ once its last game is


@dataclass
class DAggerConfig(CheckedConfig):
    """DAgger rounds on full games (see the module docstring)."""

    start: str | None = described("the agent round 0 starts from: a checkpoint or run directory, or pretrained:<name>",
                                  default=None)  # fmt: skip
    rounds: int = described("DAgger rounds (raise it and run again to add rounds)", at_least=1, default=3)
    levels: list[str] = described("full-game bot levels played and evaluated against",
                                  default_factory=lambda: ["very_easy", "easy"])  # fmt: skip
    games: int = described("labelled games per level per round", at_least=1, default=48)
    label_with: str = described("the full-game level labelling the learner's steps (one that does not cheat)",
                                default="very_hard")  # fmt: skip
    beta: float = described("round 0's chance that a step plays the label instead of the learner's actions",
                            at_least=0, at_most=1, default=0.3)  # fmt: skip
    beta_decay: float = described("beta's factor per round", at_least=0, at_most=1, default=0.5)
    seed: int = described("round 0's first variant; round k plays from seed + k * games", at_least=0, default=20000)
    eval_games: int = described("evaluation games per level after each round (0: none)", at_least=0, default=60)
    eval_seed: int = described("the evaluation's first variant (the same every round)", at_least=0, default=51000)
    map: str = described("full-game map", default="duel")
    processes: int = described("worker processes for the games", at_least=1, default=2)
    run_root: str = described("directory holding the run directory", default="runs")
    name: str = described("run directory name under run_root (needed to continue it)", default="dagger")
    bc: BCConfig = described("each round's behaviour cloning (its replays: the data every round adds to)",
                             default_factory=BCConfig)  # fmt: skip

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [level for level in self.levels if level not in FULL_GAME_LEVELS]
        if unknown or not self.levels:
            raise ConfigError(f"expected full-game levels, some of {', '.join(FULL_GAME_LEVELS)}; got {self.levels}",
                              "levels")  # fmt: skip
        try:
            check_labeller(self.label_with, "label_with")
        except ValueError as error:
            raise ConfigError(str(error), "label_with") from error

    def beta_of(self, k: int) -> float:
        """Round ``k``'s mixture."""
        return self.beta * self.beta_decay**k


@dataclass
class Round:
    """Where round ``k`` keeps its outputs and what it found."""

    k: int
    path: Path
    beta: float
    played: dict[str, Any] = field(default_factory=dict)  # the mixed games' table (per level)
    bc: dict[str, float] = field(default_factory=dict)  # BC's final held-out metrics
    evaluated: dict[str, Any] = field(default_factory=dict)  # the new agent's table (per level)

    @property
    def games(self) -> Path:
        return self.path / "games"

    @property
    def run(self) -> Path:
        return self.path / "bc"

    def row(self) -> dict[str, Any]:
        return {"round": self.k, "beta": self.beta, "games": str(self.games), "run": str(self.run),
                "played": self.played, "bc": self.bc, "evaluated": self.evaluated}  # fmt: skip


class StageError(RuntimeError):
    """A round's stage (a ``pstar`` command) failed; its own error is above on stderr."""


def _trained(run: Path) -> dict[str, Any] | None:
    """The meta of a BC run's latest complete checkpoint (None: none yet)."""
    latest = latest_checkpoint(run / CHECKPOINTS)
    return None if latest is None else read_meta(latest)


def _pstar(stage: str, argv: list[str], flags: list[str]) -> None:
    """Run ``pstar <argv>`` in a fresh process (each stage's torch threads and worker pools start clean: a pool
    forked from a process that has trained hangs in its first parallel torch call)."""
    result = subprocess.run([sys.executable, "-m", "training.cli", *argv, *flags], check=False)
    if result.returncode != 0:
        raise StageError(f"{stage}: `pstar {' '.join(argv)}` exited with status {result.returncode}")


def run_dagger(cfg: DAggerConfig, flags: list[str] | None = None) -> list[Round]:
    """Play, label, clone and evaluate ``cfg.rounds`` rounds, skipping what is already done; every round's record.
    ``flags``: the common flags each stage's ``pstar`` command gets (``--quiet``, ...)."""
    from training.eval.players import load_player

    flags = flags or []
    if cfg.start is None:
        raise ConfigError("expected the agent round 0 starts from (start=runs/<bc run> or pretrained:<name>)", "start")
    load_player(cfg.start)  # (a missing or bad checkpoint: one error before anything is played)
    root = Path(cfg.run_root) / cfg.name
    rounds, learner = [], cfg.start
    for k in range(cfg.rounds):
        rnd = Round(k, root / f"round_{k}", cfg.beta_of(k))
        done = rnd.games / DONE
        if not done.is_file():
            shutil.rmtree(rnd.games, ignore_errors=True)  # (an interrupted recording is played again)
            _pstar(f"round {k} games", ["eval-full", str(learner), "--levels", *cfg.levels, "--games",
                                        str(cfg.games), "--seed", str(cfg.seed + k * cfg.games), "--map", cfg.map,
                                        "--processes", str(cfg.processes), "--record", str(rnd.games),
                                        "--label-with", cfg.label_with, "--beta", repr(rnd.beta), "--json",
                                        str(done)], flags)  # fmt: skip
        rnd.played = json.loads(done.read_text())["levels"]
        data = [*cfg.bc.replays, *(str(r.games) for r in rounds), str(rnd.games)]
        bc = dataclasses.replace(cfg.bc, replays=data, init_checkpoint=str(learner), run_root=str(rnd.path),
                                 name="bc")  # fmt: skip
        trained = _trained(rnd.run)
        if trained is None or trained["step"] < bc.steps:
            save_config(bc, rnd.path / "bc.yaml")
            resume = ["--resume"] if trained is not None else []
            _pstar(f"round {k} bc", ["bc", "--config", str(rnd.path / "bc.yaml"), *resume], flags)
            trained = _trained(rnd.run)
        rnd.bc = trained.get("metrics", {}) if trained is not None else {}
        evaluated = rnd.path / "eval.json"
        if cfg.eval_games and not evaluated.is_file():
            _pstar(f"round {k} eval", ["eval-full", str(rnd.run), "--levels", *cfg.levels, "--games",
                                       str(cfg.eval_games), "--seed", str(cfg.eval_seed), "--map", cfg.map,
                                       "--processes", str(cfg.processes), "--json", str(evaluated)], flags)  # fmt: skip
        rnd.evaluated = json.loads(evaluated.read_text())["levels"] if evaluated.is_file() else {}
        rounds.append(rnd)
        (root / "dagger.json").write_text(json.dumps([r.row() for r in rounds], indent=1))
        learner = rnd.run
    return rounds


def table(rounds: list[Round], levels: list[str]) -> str:
    """The rounds as Markdown: beta, the mixed games' and the evaluation's win rates per level, BC's NLL."""
    head = ["round", "beta", *(f"mixed vs {level}" for level in levels), "action-type NLL",
            *(f"eval vs {level}" for level in levels)]  # fmt: skip

    def cell(row: dict[str, Any] | None) -> str:
        if not row:
            return "-"
        low, high = row["ci95"]
        return f"{row['win']}-{row['draw']}-{row['loss']}, {row['win_rate']:.0%} [{low:.0%}, {high:.0%}]"

    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rounds:
        nll = r.bc.get("action_type/nll")
        lines.append("| " + " | ".join([str(r.k), f"{r.beta:g}", *(cell(r.played.get(level)) for level in levels),
                                        "-" if nll is None else f"{nll:.3f}",
                                        *(cell(r.evaluated.get(level)) for level in levels)]) + " |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from training.checkpoint import CheckpointError
    from training.cli import apply_common, common_flags, fail
    from training.config_io import keys_help, load_config

    parser = argparse.ArgumentParser(prog="pstar dagger", description=__doc__.split("\n\n")[0], epilog=keys_help(
        DAggerConfig), formatter_class=argparse.RawDescriptionHelpFormatter, parents=[common_flags()])  # fmt: skip
    parser.add_argument("--config", type=Path, default=None, help="YAML preset (e.g. configs/dagger_full.yaml)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides (bc.steps=2000, ...)")
    args = parser.parse_intermixed_args(argv)
    apply_common(args)
    flags = [f for f, on in (("--quiet", args.quiet), ("--no-progress", args.no_progress)) if on]
    if args.log_level:
        flags += ["--log-level", args.log_level]
    try:
        cfg = load_config(DAggerConfig, args.config, args.overrides)
        rounds = run_dagger(cfg, flags)
    except (ConfigError, CheckpointError, StageError, ValueError) as error:
        return fail("dagger", error)
    print(table(rounds, cfg.levels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
