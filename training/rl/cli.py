"""``pstar rl``: reinforcement learning with actors on Ray (or in-process), from a BC checkpoint or from scratch.

pstar rl --config configs/rl.yaml init_checkpoint=runs/bc/checkpoints total_frames=500000
pstar rl --config configs/rl.yaml --address ray://head:10001 num_actors=16
pstar rl --config configs/rl.yaml name=my_run --resume
"""

from __future__ import annotations

import argparse
import sys

from training.checkpoint import CheckpointError
from training.cli import apply_common, common_flags, fail
from training.config_io import ConfigError, keys_help, load_config
from training.divergence import DivergedError
from training.rl.config import RLConfig


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pstar rl",
        description="RL (V-trace actor-learner) against the built-in bots and a league.",
        epilog=keys_help(RLConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common_flags()],
    )
    parser.add_argument("--config", help="YAML preset (e.g. configs/rl.yaml)")
    parser.add_argument("--address", help="join an existing Ray cluster at this address (default: a local Ray)")
    parser.add_argument("--resume", action="store_true", help="continue run `name` from its last checkpoint")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. num_actors=4")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)
    progress = apply_common(args)
    overrides = list(args.overrides) + ([f"address={args.address}"] if args.address else [])
    try:
        cfg = load_config(RLConfig, args.config, overrides)
        if args.resume and not cfg.name:
            raise ConfigError("--resume needs the run's name (name=...) to find its checkpoints")
        from training.rl.train import train_rl

        result = train_rl(cfg, resume=args.resume, progress=progress)
    except (ConfigError, CheckpointError, DivergedError, FileNotFoundError, ValueError) as error:
        return fail("rl", error)
    rates = ", ".join(f"{k} {v:.0%}" for k, v in sorted(result.win_rate.items()))
    print(
        f"rl: {result.counters['frames']} frames, {result.counters['updates']} updates, "
        f"{result.counters['episodes']} games in {result.seconds:.0f} s; recent win rate: {rates}"
    )
    print(f"checkpoint: {result.checkpoint}\nTensorBoard: tensorboard --logdir {result.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
