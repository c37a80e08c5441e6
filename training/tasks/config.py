"""The optimisation and run settings every supervised task shares (the ``train.*`` keys of a task config)."""

from __future__ import annotations

from dataclasses import dataclass

from training.config_io import ConfigError
from training.config_io import described as _help

SCHEDULES = ("constant", "cosine", "constant_cosine")
DEVICES = ("auto", "cpu", "cuda")



def check_generated_or_folder(source: str, train_dir: str | None, val_dir: str | None) -> None:
    """Check a ``data`` section that reads either built-in generated data or a train and a held-out folder."""
    if source not in ("generated", "folder"):
        raise ConfigError(f"data.source must be generated or folder, got {source!r}")
    if source == "folder" and (not train_dir or not val_dir):
        raise ConfigError("data.source=folder needs data.train_dir and data.val_dir")


@dataclass
class TrainConfig:
    """Optimiser (AdamW), schedule, evaluation, checkpoint and logging settings of one supervised run."""

    steps: int = _help("optimizer steps in total (a resumed run continues up to this)", default=1000)
    batch_size: int = _help("examples per optimizer step", default=32)
    learning_rate: float = _help("peak AdamW learning rate", default=1e-3)
    weight_decay: float = _help("AdamW decoupled weight decay", default=0.01)
    warmup_steps: int = _help("linear warm-up steps", default=50)
    schedule: str = _help(
        "after warm-up: constant, cosine, or constant_cosine (constant for half, then cosine: the paper's ImageNet)",
        default="cosine",
    )
    max_grad_norm: float = _help("gradient-norm clip (0: none)", default=1.0)
    eval_every: int = _help("evaluate on the held-out set every N steps (0: only at the end)", default=0)
    eval_batch_size: int = _help("examples per evaluation batch", default=64)
    checkpoint_every: int = _help("checkpoint every N steps (and at the end; 0: only at the end)", default=0)
    keep_last: int = _help("checkpoints kept in the run directory (0: all)", default=2)
    log_every: int = _help("training loss to TensorBoard every N steps", default=25)
    num_workers: int = _help("DataLoader worker processes (0: load in the training process)", default=0)
    threads: int = _help("torch CPU threads (0: torch's default)", default=0)
    seed: int = _help("seed of the weights, the generated data and the data order", default=0)
    device: str = _help("auto (cuda when available), cpu or cuda", default="auto")
    run_root: str = _help("directory holding run directories", default="runs")
    name: str | None = _help("run directory name under run_root (default: task_<task>_<timestamp>)", default=None)

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"train.schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.device not in DEVICES:
            raise ConfigError(f"train.device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        for name in ("steps", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "eval_every", "checkpoint_every", "keep_last", "log_every", "num_workers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ConfigError(f"train.learning_rate must be > 0, got {self.learning_rate}")
