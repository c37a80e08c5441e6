"""Agents shipped with the library, loadable by name wherever a checkpoint is: ``pretrained:pio`` and the rest.

Each name is an agent checkpoint directory under ``training/pretrained/<name>/`` (weights and meta.json only: no
optimizer or RNG state), installed with the package. ``pstar pretrained export RUN NAME`` writes one from a run's
checkpoint; ``pstar pretrained list`` says what is shipped, from which run and step, with the evaluation its
exporter recorded.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

PREFIX = "pretrained:"
DIRECTORY = Path(__file__).resolve().parent / "pretrained"
NAMES = {
    "pio": "the Perceiver IO entity-encoder agent (32 latents, one query per unit)",
    "transformer": "the Transformer entity-encoder baseline, trained the same way",
    "full_pio": "the Perceiver IO agent for full games on the duel map (512 rows: units, structures, resources), "
                "cloned from very_hard's games",
}
CARD = "card.json"  # what the exporter recorded: source checkpoint, training, evaluation


def is_pretrained(reference: str | Path) -> bool:
    return isinstance(reference, str) and reference.startswith(PREFIX)


def is_agent_name(name: str) -> bool:
    """Whether a player name is an agent's: a ``pretrained:`` name or an existing path (a bot level is neither)."""
    return is_pretrained(name) or Path(name).exists()


def resolve(reference: str | Path) -> Path:
    """The checkpoint directory ``reference`` names: ``pretrained:<name>`` -> the shipped one, else as given.

    An unknown name, or a known one whose files are missing from this install, raises ``FileNotFoundError``."""
    if not is_pretrained(reference):
        return Path(reference)
    name = str(reference)[len(PREFIX) :]
    if name not in NAMES:
        raise FileNotFoundError(f"{reference!r}: unknown pretrained agent {name!r}; expected one of "
                                f"{', '.join(PREFIX + n for n in NAMES)}")  # fmt: skip
    path = DIRECTORY / name
    if not path.is_dir():
        raise FileNotFoundError(f"{reference!r}: {path} is missing from this install (expected the shipped checkpoint "
                                "directory; reinstall the package)")  # fmt: skip
    return path


def card(name: str) -> dict[str, Any]:
    """The shipped agent's card (empty when it has none)."""
    path = DIRECTORY / name / CARD
    return json.loads(path.read_text()) if path.is_file() else {}


def export(checkpoint: str | Path, name: str, notes: dict[str, Any] | None = None) -> Path:
    """Write the agent of ``checkpoint`` (a checkpoint or run directory) as ``DIRECTORY/<name>``: its weights and
    meta (config, counters) without optimizer or RNG state, plus a card naming the source; returns the folder."""
    from training.agent_io import load_agent, save_agent

    if name not in NAMES:
        raise ValueError(f"pretrained name {name!r}: expected one of {', '.join(NAMES)}")
    agent, source = load_agent(checkpoint)
    target = DIRECTORY / name
    scratch = DIRECTORY / f".{name}.export"
    shutil.rmtree(scratch, ignore_errors=True)
    save_agent(scratch, source.step, agent, kind=source.kind, config=source.meta.get("config", {}),
               counters=source.meta.get("counters", {}), rng=False)  # fmt: skip
    record = {"name": name, "description": NAMES[name], "source": str(source.path), "step": source.step,
              "kind": source.kind, "parameters": sum(p.numel() for p in agent.parameters()), **(notes or {})}
    (scratch / CARD).write_text(json.dumps(record, indent=1) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    scratch.rename(target)
    return target


def eval_summary(report: dict[str, Any]) -> dict[str, Any]:
    """What a card keeps of a ``pstar eval`` or ``pstar eval-full`` report (the latter has a ``map`` and counts
    ``win``/``draw``/``loss``): its settings and per level W-D-L, win rate and 95% interval."""
    if "map" in report:
        keep = ("map", "seed", "greedy", "temperature", "core_window", "greedy_arguments")
        counts = {"wins": "win", "draws": "draw", "losses": "loss", "games": "games"}
    else:
        keep = ("scenarios", "games_per_level", "greedy", "temperature", "seed", "step")
        counts = {"wins": "wins", "draws": "draws", "losses": "losses", "games": "games"}
    levels = {level: {**{k: r[source] for k, source in counts.items()}, "win_rate": r["win_rate"], "ci95": r["ci95"]}
              for level, r in report["levels"].items()}  # fmt: skip
    return {**{k: report.get(k) for k in keep}, "levels": levels}


def main(argv: list[str] | None = None) -> int:
    from training.checkpoint import CheckpointError
    from training.cli import apply_common, common_flags, fail

    parser = argparse.ArgumentParser(prog="pstar pretrained", description="The agents shipped with the library.",
                                     parents=[common_flags()])  # fmt: skip
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="the shipped agents, with their cards", parents=[common_flags()])
    exp = sub.add_parser("export", help="write a run's checkpoint as a shipped agent", parents=[common_flags()])
    exp.add_argument("checkpoint", help="checkpoint or run directory")
    exp.add_argument("name", choices=list(NAMES))
    exp.add_argument("--eval", type=Path, action="append", default=[],
                     help="an eval.json of this checkpoint to record in the card (repeatable)")
    exp.add_argument("--lineage", default=None,
                     help="how the agent was trained, in a line (e.g. BC, DAgger and RL stages); goes in the card")
    args = parser.parse_args(argv)
    apply_common(args)
    if args.action == "list":
        for name, description in NAMES.items():
            shipped = (DIRECTORY / name).is_dir()
            info = card(name) if shipped else {}
            where = f"step {info.get('step')} of {info.get('source')}" if info else "not shipped in this install"
            print(f"{PREFIX}{name}: {description}; {where}")
        return 0
    try:
        evals = [eval_summary(json.loads(path.read_text())) for path in args.eval]
        notes = {"lineage": args.lineage} if args.lineage else {}
        if evals:
            notes["eval"] = evals
        target = export(args.checkpoint, args.name, notes)
    except (CheckpointError, OSError, ValueError, KeyError) as error:
        return fail("pretrained", error, status=1)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"wrote {target} ({size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
