"""``pstar task``: train or evaluate one of the Perceiver IO paper's other tasks on the shared backbone.

pstar task image|text|flow|multimodal [--config configs/task_X.yaml] [--eval-only] [--checkpoint DIR]
           [--from-hf DIR] [--resume] [--quiet | --no-progress] [--log-level LEVEL] [key=value ...]
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from perceiver_io.hf import CheckpointMismatchError
from training.checkpoint import CheckpointError
from training.cli import apply_common, common_flags, fail
from training.config_io import ConfigError, keys_help, load_config
from training.divergence import DivergedError
from training.tasks.data.errors import DataError
from training.tasks.trainer import run_task
from training.writable import UnwritableError

# task name -> (module, config class, task class)
TASKS = {
    "image": ("training.tasks.image", "ImageTaskConfig", "ImageTask"),
    "text": ("training.tasks.text", "TextTaskConfig", "TextTask"),
    "flow": ("training.tasks.flow", "FlowTaskConfig", "FlowTask"),
    "multimodal": ("training.tasks.multimodal", "MultimodalTaskConfig", "MultimodalTask"),
}


def _load(name: str) -> tuple[type, type]:
    module_name, config_name, task_name = TASKS[name]
    module = importlib.import_module(module_name)
    return getattr(module, config_name), getattr(module, task_name)


def build_parser(name: str, config_cls: type) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"pstar task {name}",
        description=f"Train and evaluate the {name} task on the Perceiver IO backbone.",
        epilog=keys_help(config_cls),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common_flags()],
    )
    parser.add_argument("--config", type=Path, default=None, help=f"YAML preset (e.g. configs/task_{name}.yaml)")
    parser.add_argument("--eval-only", action="store_true", help="evaluate without training (needs a model source)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="start from this task checkpoint (or run dir)")
    parser.add_argument("--from-hf", type=Path, default=None,
                        help="start from a Hugging Face Perceiver save_pretrained dir (config.json + weights)")
    parser.add_argument("--resume", action="store_true", help="continue train.name's run from its latest checkpoint")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in TASKS:
        given = repr(argv[0]) if argv and not argv[0].startswith("-") else "no task"
        print(f"usage: pstar task {{{'|'.join(TASKS)}}} [--config FILE] [options] [key=value ...]", file=sys.stderr)
        return fail("task", f"{given}; choose one of {', '.join(TASKS)}")
    name = argv.pop(0)
    config_cls, task_cls = _load(name)
    args = build_parser(name, config_cls).parse_intermixed_args(argv)
    progress = apply_common(args)
    try:
        config = load_config(config_cls, args.config, args.overrides)
        result = run_task(task_cls(config), eval_only=args.eval_only, checkpoint=args.checkpoint,
                          from_hf=args.from_hf, resume=args.resume, progress=progress)  # fmt: skip
    except (ConfigError, CheckpointError, CheckpointMismatchError, DataError, DivergedError, UnwritableError) as error:
        return fail(f"task {name}", error)
    print(f"task {name}: {result.steps} steps, {result.seconds:.1f} s; run {result.run_dir}")
    for key, value in result.metrics.items():
        print(f"  {key:<24} {value:.4f}")
    for key, value in result.baseline.items():
        print(f"  baseline {key:<15} {value:.4f}" if isinstance(value, float) else f"  baseline {key:<15} {value}")
    skipped = json.loads(result.result_path.read_text())["data"]["skipped"]
    if skipped:
        print("  skipped " + ", ".join(f"{count} {reason}" for reason, count in skipped.items()))
    print(f"  result {result.result_path}\n  picture {result.picture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
