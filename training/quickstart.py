"""``pstar quickstart``: the main job at a small scale, end to end on a CPU in minutes.

Record bot-vs-bot replays (mirrored armies, strong levels against weaker ones, both sides) -> behaviour cloning
of the winners -> RL from the BC agent with Ray actors (V-trace, KL towards the BC policy) -> evaluate the BC and
the RL agent against every bot level -> print the comparison table, the checks (BC beats very_easy in >= 80% of
games; RL wins more often than BC over all evaluated games, by a one-sided two-proportion z-test at p < 0.05) and
where logs, plots and checkpoints are.
Every stage is the same code as ``pstar replays record``, ``pstar bc``, ``pstar rl`` and ``pstar eval``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from envs.contract.sizes import MAX_UNIT_ROWS
from envs.skirmish.bots import LEVELS
from training.bc.config import BCConfig
from training.checkpoint import CheckpointError
from training.cli import apply_common, common_flags, fail
from training.config_io import CheckedConfig, ConfigError, described, load_config
from training.divergence import DivergedError
from training.eval.config import EvalConfig
from training.rl.config import RLConfig

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"
SIGNIFICANCE = 0.05  # the RL-over-BC check's one-sided p-value threshold


@dataclass
class RecordConfig(CheckedConfig):
    """The replays BC learns from: ``games`` games of a ``strong`` level against a ``weak`` one (sides alternate)."""

    games: int = described("games recorded", at_least=1, default=2400)
    scenarios: list[str] = described("scenarios played (mirrored armies)",
                                     default_factory=lambda: ["3m", "8m", "2s3z", "MMM"])  # fmt: skip
    strong: list[str] = described("bot levels of the stronger side", choices=LEVELS,
                                  default_factory=lambda: ["hard", "very_hard"])  # fmt: skip
    weak: list[str] = described("bot levels of the weaker side", choices=LEVELS,
                                default_factory=lambda: ["easy", "medium", "hard"])  # fmt: skip
    workers: int = described("recording processes", at_least=1, default=2)
    max_units: int = described("unit rows per observation", at_least=1, at_most=MAX_UNIT_ROWS, default=64)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.scenarios:
            raise ConfigError("expected at least one scenario name", "scenarios")
        if not any(s != w for s in self.strong for w in self.weak):
            raise ConfigError(f"no strong level differs from a weak one ({self.strong} vs {self.weak})", "strong")


@dataclass
class QuickstartConfig(CheckedConfig):
    """The whole pipeline; ``bc``, ``rl`` and ``eval`` are the full configs of those jobs (paths are filled in)."""

    run_root: str = described("directory holding run directories", default="runs")
    name: str = described("run directory name under run_root", default="quickstart")
    seed: int = described("seed of every stage", at_least=0, default=0)
    record: RecordConfig = field(default_factory=RecordConfig)
    bc: BCConfig = field(default_factory=BCConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rl.agent is not None:
            raise ConfigError("RL starts from the BC agent; set its sizes under bc.agent", "rl.agent")


def record_replays(cfg: RecordConfig, out: Path, seed: int, progress: bool) -> dict[str, int]:
    """Play and save the BC games; returns counts (games recorded, failed)."""
    from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP
    from training.replays_cli import GameJob, record_games

    pairs = [(s, w) for s in cfg.strong for w in cfg.weak if s != w]
    jobs = []
    for i in range(cfg.games):
        strong, weak = pairs[(i // (2 * len(cfg.scenarios))) % len(pairs)]
        p1, p2 = (strong, weak) if i % 2 == 0 else (weak, strong)
        jobs.append(GameJob(i, cfg.scenarios[(i // 2) % len(cfg.scenarios)], p1, p2, seed=seed + i, step_mul=8,
                            max_units=cfg.max_units, resolution=64, fog=False,
                            actions_per_step=DEFAULT_ACTIONS_PER_STEP, out=str(out), mirror=True))
    tally = record_games(jobs, cfg.workers, progress=progress)
    return {"games": tally.games, "failed": tally.failed, "steps": tally.steps}


def run(cfg: QuickstartConfig, progress: bool = True) -> dict:
    """Run every stage; returns the summary that is also written to ``<run>/quickstart.json``."""
    from training.bc.trainer import train_bc
    from training.eval.report import compare_markdown, one_sided_two_proportion_test, write_reports
    from training.eval.runner import evaluate
    from training.rl.train import train_rl
    from training.run_folder import open_run

    start = time.perf_counter()
    folder = open_run(cfg.run_root, cfg.name, "quickstart", resumable=False)  # a new folder, so new sub-runs
    folder.write_config(cfg)
    run_dir = folder.path
    times: dict[str, float] = {}

    def stage(name: str) -> None:
        times[name] = time.perf_counter()
        print(f"\n== {name} ({times[name] - start:.0f} s) ==", flush=True)

    stage("record")
    replays = run_dir / "replays"
    recorded = record_replays(cfg.record, replays, cfg.seed, progress)
    print(f"recorded {recorded['games']} games ({recorded['steps']} agent steps) into {replays}")

    stage("bc")
    bc_cfg = dataclasses.replace(cfg.bc, replays=[str(replays)], run_root=str(run_dir), name="bc",
                                 cache_dir=str(run_dir / "cache"), seed=cfg.seed, max_units=cfg.record.max_units)
    bc = train_bc(bc_cfg, progress=progress)
    print(f"bc: {bc.steps} steps in {bc.seconds:.0f} s; held-out " + ", ".join(
        f"{k} {v:.3f}" for k, v in bc.metrics.items() if k.endswith(("accuracy", "f1"))))

    stage("rl")
    rl_cfg = dataclasses.replace(cfg.rl, init_checkpoint=str(bc.checkpoint), run_root=str(run_dir), name="rl",
                                 seed=cfg.seed, max_units=cfg.record.max_units)
    rl = train_rl(rl_cfg, progress=progress)
    print(f"rl: {rl.counters['frames']} frames, {rl.counters['updates']} updates, {rl.counters['episodes']} games "
          f"in {rl.seconds:.0f} s")

    results = {}
    for label, checkpoint in (("BC", bc.checkpoint), ("RL", rl.checkpoint)):
        stage(f"eval {label}")
        eval_cfg = dataclasses.replace(cfg.eval, out_dir=str(run_dir / f"eval_{label.lower()}"), seed=cfg.seed)
        results[label] = evaluate(eval_cfg, str(checkpoint), progress=progress)
        write_reports(results[label], eval_cfg.out_dir)
    times["end"] = time.perf_counter()

    bc_rate = {k: r.win_rate for k, r in results["BC"].levels.items()}
    rl_rate = {k: r.win_rate for k, r in results["RL"].levels.items()}
    bc_mean, rl_mean = sum(bc_rate.values()) / len(bc_rate), sum(rl_rate.values()) / len(rl_rate)
    wins = {label: sum(r.wins for r in result.levels.values()) for label, result in results.items()}
    games = {label: sum(r.games for r in result.levels.values()) for label, result in results.items()}
    z, p_value = one_sided_two_proportion_test(wins["RL"], games["RL"], wins["BC"], games["BC"])
    checks = {
        "bc_beats_very_easy_80": bc_rate.get("very_easy", 0.0) >= 0.8 if "very_easy" in bc_rate else None,
        "rl_beats_bc_p_0.05": p_value < SIGNIFICANCE,
    }
    names = list(times)
    summary = {
        "run_dir": str(run_dir),
        "seconds": times["end"] - start,
        "stage_seconds": {n: times[b] - times[n] for n, b in zip(names, names[1:], strict=False)},
        "replays": recorded,
        "bc": {"checkpoint": str(bc.checkpoint), "metrics": bc.metrics, "data": bc.data, "steps": bc.steps},
        "rl": {"checkpoint": str(rl.checkpoint), "counters": rl.counters, "training_win_rate": rl.win_rate},
        "win_rate": {"BC": bc_rate, "RL": rl_rate},
        "mean_win_rate": {"BC": bc_mean, "RL": rl_mean},
        "wins": wins,
        "games": games,
        "rl_vs_bc_test": {"z": z, "p_one_sided": p_value},
        "checks": checks,
    }
    (run_dir / "quickstart.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    table = compare_markdown(results)
    (run_dir / "quickstart.md").write_text(table + "\n")
    print("\n" + table)
    print(f"\nmean win rate over the {len(bc_rate)} levels: BC {bc_mean:.1%}, RL {rl_mean:.1%}")
    print(f"all evaluated games: BC {wins['BC']}/{games['BC']} ({wins['BC'] / games['BC']:.1%}) won, RL "
          f"{wins['RL']}/{games['RL']} ({wins['RL'] / games['RL']:.1%}); one-sided two-proportion z-test of RL > BC: "
          f"z = {z:.2f}, p = {p_value:.4f}")
    for name, ok in checks.items():
        print(f"check {name}: {'PASS' if ok else 'n/a' if ok is None else 'FAIL'}")
    print(f"\ntotal {summary['seconds'] / 60:.1f} min. Run directory: {run_dir}\n"
          f"  checkpoints: {run_dir / 'bc' / 'checkpoints'}, {run_dir / 'rl' / 'checkpoints'}\n"
          f"  evaluation: {run_dir / 'eval_bc'}/eval.(json|md|png), {run_dir / 'eval_rl'}/eval.(json|md|png)\n"
          f"  TensorBoard: tensorboard --logdir {run_dir}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pstar quickstart", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, parents=[common_flags()])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="YAML preset (default configs/quickstart.yaml)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides, e.g. rl.total_frames=50000 bc.steps=300 eval.games=10")
    args = parser.parse_intermixed_args(argv)
    progress = apply_common(args)
    try:
        cfg = load_config(QuickstartConfig, args.config, args.overrides)
        summary = run(cfg, progress=progress)
    except (ConfigError, CheckpointError, DivergedError, ValueError) as error:
        return fail("quickstart", error)
    return 0 if all(v is not False for v in summary["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
