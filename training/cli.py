"""The ``pstar`` command line: one entry point for every PerceiverStar job."""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _bench(args: argparse.Namespace, rest: list[str]) -> int:
    """Run ``benchmarks/<name>.py`` from a source checkout with the remaining arguments."""
    script = BENCHMARKS / f"{args.name}.py"
    if not script.is_file():
        available = sorted(p.stem for p in BENCHMARKS.glob("*.py")) if BENCHMARKS.is_dir() else []
        print(f"pstar bench: no benchmark {args.name!r} in {BENCHMARKS}; available: {available}", file=sys.stderr)
        return 2
    return int(runpy.run_path(str(script))["main"](rest) or 0)


def _quickstart(args: argparse.Namespace, rest: list[str]) -> int:
    from training.quickstart import main as quickstart_main

    return int(quickstart_main(rest) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pstar", description="PerceiverStar: Perceiver IO agents and backbone.")
    sub = parser.add_subparsers(dest="command", required=True)
    quick = sub.add_parser("quickstart", help="the main job at a small scale", add_help=False)
    quick.set_defaults(func=_quickstart)
    bench = sub.add_parser("bench", help="run a benchmark from benchmarks/ (e.g. backbone)")
    bench.add_argument("name", help="benchmark name, e.g. backbone")
    bench.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args, rest = build_parser().parse_known_args(argv)
    return args.func(args, rest)


if __name__ == "__main__":
    sys.exit(main())
