"""The optimisation and run settings every supervised task shares (the ``train.*`` keys of a task config)."""

from __future__ import annotations

from dataclasses import dataclass

from training.config_io import DEVICES, CheckedConfig, ConfigError
from training.config_io import described as _help
from training.schedule import SCHEDULES


def check_generated_or_folder(source: str, train_dir: str | None, val_dir: str | None) -> None:
    """Check a ``data`` section that reads either built-in generated data (``source`` generated) or a train and a
    held-out folder (``source`` folder; the choice itself is declared on the field)."""
    if source == "folder" and (not train_dir or not val_dir):
        raise ConfigError("folder needs train_dir and val_dir", "source")


@dataclass
class TrainConfig(CheckedConfig):
    """Optimiser (AdamW), schedule, evaluation, checkpoint and logging settings of one supervised run."""

    steps: int = _help("optimizer steps in total (a resumed run continues up to this)", at_least=1, default=1000)
    batch_size: int = _help("examples per optimizer step", at_least=1, default=32)
    learning_rate: float = _help("peak AdamW learning rate", above=0, default=1e-3)
    weight_decay: float = _help("AdamW decoupled weight decay", at_least=0, default=0.01)
    warmup_steps: int = _help("linear warm-up steps", at_least=0, default=50)
    schedule: str = _help(
        "after warm-up: constant, cosine, or constant_cosine (constant for half, then cosine: the paper's ImageNet)",
        choices=SCHEDULES,
        default="cosine",
    )
    max_grad_norm: float = _help("gradient-norm clip (0: none)", at_least=0, default=1.0)
    eval_every: int = _help("evaluate on the held-out set every N steps (0: only at the end)", at_least=0, default=0)
    eval_batch_size: int = _help("examples per evaluation batch", at_least=1, default=64)
    checkpoint_every: int = _help("checkpoint every N steps (and at the end; 0: only at the end)", at_least=0,
                                  default=0)  # fmt: skip
    keep_last: int = _help("checkpoints kept in the run directory (0: all)", at_least=0, default=2)
    log_every: int = _help("training loss to TensorBoard every N steps", at_least=1, default=25)
    num_workers: int = _help("DataLoader worker processes (0: load in the training process)", at_least=0, default=0)
    threads: int = _help("torch CPU threads (0: torch's default)", at_least=0, default=0)
    seed: int = _help("seed of the weights, the generated data and the data order", at_least=0, default=0)
    device: str = _help("auto (cuda when available), cpu or cuda", choices=DEVICES, default="auto")
    run_root: str = _help("directory holding run directories", default="runs")
    name: str | None = _help("run directory name under run_root (default: task_<task>_<timestamp>)", default=None)
