"""How every benchmark ends: its PASS/SKIP/FAIL lines (FAIL last), its exit status and where its JSON goes.

``pstar bench NAME`` exits 1 when any target is missed, so a script or CI job can gate on it, and prints the FAIL
lines last, where a reader of the log looks. Results go to ``--out`` or to a new run directory
``runs/bench/<name>_<timestamp>/<name>.json`` under the working directory, never into the source tree.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Check = tuple[str, bool | None]  # (what was judged, with the numbers; True pass, False fail, None not measured)
RUN_ROOT = Path("runs") / "bench"
MISSED_TARGET = 1  # exit status when any target failed (2 stays argparse's bad-usage status)


def add_out_flag(parser: argparse.ArgumentParser, name: str) -> None:
    """The ``--out PATH`` flag every benchmark takes (default None: a new run directory, see ``default_out``)."""
    parser.add_argument("--out", type=Path, default=None,
                        help=f"JSON output (default: {RUN_ROOT}/{name}_<timestamp>/{name}.json "
                             "under the working directory)")  # fmt: skip


def default_out(name: str) -> Path:
    """``runs/bench/<name>_<timestamp>/<name>.json`` relative to the working directory, in a folder not yet taken."""
    from training.run_folder import run_path  # late: it imports torch, which the env benchmark has no other use for

    return run_path(RUN_ROOT, None, name) / f"{name}.json"


def verdict_lines(checks: Sequence[Check]) -> list[str]:
    """``PASS:``/``SKIP:`` lines in the given order, then every ``FAIL:`` line."""
    label = {True: "PASS", None: "SKIP", False: "FAIL"}
    ordered = [c for c in checks if c[1] is not False] + [c for c in checks if c[1] is False]
    return [f"{label[ok]}: {text}" for text, ok in ordered]


def exit_status(checks: Sequence[Check]) -> int:
    """0 when no target failed (passes and unmeasured ones), else ``MISSED_TARGET``."""
    return MISSED_TARGET if any(ok is False for _, ok in checks) else 0


def finish(name: str, report: dict[str, Any], checks: Sequence[Check], out: Path | None) -> int:
    """Write ``report`` plus its verdicts as JSON, print where, then the verdict lines; returns the exit status."""
    path = out if out is not None else default_out(name)
    record = {**report, "verdicts": [{"check": text, "pass": ok} for text, ok in checks]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")
    for line in verdict_lines(checks):
        print(line)
    return exit_status(checks)
