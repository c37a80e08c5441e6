"""``pstar bc``: behaviour cloning from Skirmish replays.

pstar bc [--config configs/bc.yaml] [--resume] [key=value ...]
torchrun --nproc_per_node 2 -m training.bc.cli --config configs/bc.yaml name=bc_ddp   # DistributedDataParallel
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training.bc.config import BCConfig
from training.bc.dataset import DatasetError, skipped_summary
from training.bc.trainer import train_bc
from training.checkpoint import CheckpointError
from training.cli import apply_common, common_flags, fail
from training.config_io import ConfigError, keys_help, load_config
from training.divergence import DivergedError
from training.writable import UnwritableError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pstar bc",
        description="Behaviour cloning: train an agent to imitate the players of Skirmish replays.",
        epilog=keys_help(BCConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common_flags()],
    )
    parser.add_argument("--config", type=Path, default=None, help="YAML preset (e.g. configs/bc.yaml)")
    parser.add_argument("--resume", action="store_true", help="continue run_root/name from its latest checkpoint")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)
    progress = apply_common(args)
    try:
        cfg = load_config(BCConfig, args.config, args.overrides)
        result = train_bc(cfg, resume=args.resume, progress=progress)
    except (ConfigError, CheckpointError, DatasetError, DivergedError, UnwritableError) as error:
        return fail("bc", error)
    if result.checkpoint is None:  # a torchrun rank other than 0
        return 0
    data = result.data
    skipped = skipped_summary(data) or "none"
    print(f"bc: {result.steps} steps in {result.seconds:.1f} s; run {result.run_dir}; checkpoint {result.checkpoint}")
    print(
        f"bc: data {data['replays']} replays ({data['train_replays']} train, {data['val_replays']} held out), "
        f"{data['samples']} samples, {data['sequences']} sequences; skipped: {skipped}"
    )
    for name, value in sorted(result.metrics.items()):
        print(f"  {name:<28} {value:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
