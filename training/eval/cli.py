"""``pstar eval``: play a checkpoint (or a bot level) against the built-in bot levels and report the win rates.

    pstar eval runs/rl                                  # latest checkpoint of a run, all ten levels, 20 games each
    pstar eval runs/rl/checkpoints/ckpt_000100000 --config configs/eval.yaml levels=[easy,hard] games=40
    pstar eval bot:hard levels=[medium,very_hard] backend=inprocess
    pstar eval runs/rl --address ray://head:10001 workers=16

Prints the Markdown table and writes eval.json, eval.md, eval.png and TensorBoard scalars
(``charts/win_rate/<level>``) to ``out_dir``. Exit status 2 on a bad checkpoint, config, level or scenario.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training.checkpoint import CheckpointError
from training.cli import apply_common, common_flags, fail
from training.config_io import ConfigError, keys_help, load_config
from training.eval.config import EvalConfig, EvalError
from training.eval.report import default_out_dir, write_reports
from training.eval.runner import evaluate
from training.writable import UnwritableError, writable_directory


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pstar eval",
        description="Play a checkpoint or a bot level against the built-in bot levels (win rate, 95% interval).",
        epilog="example: pstar eval runs/rl --config configs/eval.yaml levels=[easy,hard] games=40\n\n"
        + keys_help(EvalConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common_flags()],
    )
    parser.add_argument("player", help="checkpoint directory (a run directory: its latest checkpoint), or bot:<level>")
    parser.add_argument("--config", type=Path, default=None, help="YAML preset (e.g. configs/eval.yaml)")
    parser.add_argument("--address", default=None, help="join this Ray cluster instead of starting a local one")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. games=40 greedy=true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)
    progress = apply_common(args)
    try:
        config = load_config(EvalConfig, args.config, args.overrides)
        if args.address:
            config.address = args.address
        if config.out_dir:  # before the games, not after
            writable_directory(config.out_dir, "eval out_dir")
        result = evaluate(config, args.player, progress=progress)
    except (CheckpointError, ConfigError, EvalError, UnwritableError) as error:
        return fail("eval", error)
    print(result.to_markdown())  # first: the results are seen even if the reports cannot be written
    print()
    try:
        out_dir = Path(config.out_dir) if config.out_dir else default_out_dir(result, config.run_root)
        paths = write_reports(result, out_dir)
    except OSError as error:
        return fail("eval", f"the reports cannot be written ({error}); the results are printed above", status=1)
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
