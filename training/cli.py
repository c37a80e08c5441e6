"""The ``pstar`` command line: one entry point for every PerceiverStar job, and what every subcommand shares.

Every subcommand accepts the common flags (``common_flags``: ``--quiet``, ``--no-progress``, ``--log-level``)
with one meaning, and reports a bad input as one line ``pstar <command>: error: <what>`` (``fail``), as argparse
does for a bad flag.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import runpy
import sys
from pathlib import Path

LOG_LEVELS = ("debug", "info", "warning", "error")

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

# Sub-commands implemented by a module's ``main(argv) -> int``; the rest of the command line is passed on.
DELEGATED = {
    "quickstart": ("training.quickstart", "the main job: record replays -> BC -> RL on Ray -> evaluate vs bots"),
    "replays": ("training.replays_cli", "record bot-vs-bot Skirmish replays, or inspect a replay (record|info)"),
    "play": ("training.play_cli", "play or replay a Skirmish game and write a GIF or PNG strip"),
    "bots": ("training.bots_cli", "the built-in bot ladder (ladder: measure the win-rate matrix)"),
    "bc": ("training.bc.cli", "behaviour cloning from Skirmish replays (per-head losses and metrics, torchrun DDP)"),
    "bc-report": ("training.bc.report", "what a BC run learnt on its held-out replays: accuracy against the "
                  "commonest-type prior (95%% CIs), selection F1, per race and version; several runs: data scaling"),
    "rl": ("training.rl.cli", "RL with actors on Ray: V-trace, KL towards the BC policy, league opponents"),
    "pretrained": ("training.pretrained", "the shipped agents (pretrained:pio, :transformer, :full_pio): list|export"),
    "dagger": ("training.dagger", "DAgger rounds on full games: the agent plays, a bot labels its steps, BC, eval"),
    "eval": ("training.eval.cli", "play a checkpoint or bot:<level> against the bot levels (win rates, 95%% CIs)"),
    "eval-full": ("training.eval.full_games", "play a checkpoint or bot:<level> full games against the full-game "
                  "bots"),
    "task": ("training.tasks.cli", "the paper's other tasks on the same backbone: image|text|flow|multimodal"),
}


def common_flags() -> argparse.ArgumentParser:
    """The flags every subcommand accepts, as an argparse parent parser (``parents=[common_flags()]``)."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("common options")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress bars; log warnings and errors only")
    group.add_argument("--no-progress", action="store_true", help="no progress bars (e.g. for log files)")
    group.add_argument("--log-level", choices=LOG_LEVELS, default=None,
                       help="level of pstar's log messages (default: info; warning with --quiet)")  # fmt: skip
    return parser


def apply_common(args: argparse.Namespace) -> bool:
    """Set up logging as the common flags say (messages to stderr); returns whether to show progress bars."""
    level = args.log_level or ("warning" if args.quiet else "info")
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")  # a stderr handler, unless one exists
    logging.getLogger("pstar").setLevel(level.upper())
    return not (args.quiet or args.no_progress)


def fail(command: str, problem: object, status: int = 2) -> int:
    """Report a bad input as ``pstar <command>: error: <problem>`` on stderr; returns the exit status."""
    print(f"pstar {command}: error: {problem}", file=sys.stderr)
    return status


def _bench(args: argparse.Namespace, rest: list[str]) -> int:
    """Run ``benchmarks/<name>.py`` from a source checkout with the remaining arguments."""
    apply_common(args)
    script = BENCHMARKS / f"{args.name}.py"
    if args.name is None or not script.is_file():
        available = sorted(p.stem for p in BENCHMARKS.glob("*.py")) if BENCHMARKS.is_dir() else []
        return fail("bench", f"expected NAME, one of {available} (in {BENCHMARKS}), got {args.name!r}")
    return int(runpy.run_path(str(script))["main"](rest) or 0)


def _delegate(module: str):
    def run(args: argparse.Namespace, rest: list[str]) -> int:
        return int(importlib.import_module(module).main(rest) or 0)

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pstar", description="PerceiverStar: Perceiver IO agents and backbone.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in DELEGATED.items():
        sub.add_parser(name, help=help_text, add_help=False).set_defaults(func=_delegate(module))
    bench = sub.add_parser("bench", help="run benchmarks/NAME.py (backbone, env, encoder, rl, fullgame, ...)",
                           add_help=False, parents=[common_flags()])  # fmt: skip
    bench.add_argument("name", nargs="?", help="benchmark name, e.g. backbone")
    bench.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args, rest = build_parser().parse_known_args(argv)
    return args.func(args, rest)


if __name__ == "__main__":
    sys.exit(main())
