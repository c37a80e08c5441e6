"""The behaviour-cloning run config: data, optimisation, evaluation, checkpoints and the agent, as one dataclass.

Every field has a default (the ``configs/bc.yaml`` preset repeats them); ``pstar bc key=value`` overrides any of them.
Each field's ``help`` metadata is what ``pstar bc --help`` lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.heads.action_heads import HEADS
from training.agent_choice import AgentChoice
from training.config_io import ConfigError
from training.config_io import described as _help

PLAYERS = ("both", "winner", "1", "2")
DEVICES = ("auto", "cpu", "cuda")



@dataclass
class BCConfig:
    """Behaviour cloning from Skirmish or StarCraft II replays (see ``training.bc.trainer.train_bc``)."""

    replays: list[str] = _help(
        "replay files or directories (searched for *.skreplay and *.SC2Replay)", default_factory=lambda: ["replays"]
    )
    players: str | int = _help("whose actions to clone: both, winner, 1 or 2", default="both")
    sequence_length: int = _help("time steps per training sequence (truncated BPTT window)", default=16)
    max_units: int = _help("unit rows per observation; replays recorded with another value are skipped", default=64)
    val_fraction: float = _help("share of replay files held out for metrics (0: none)", default=0.1)
    val_replays: list[str] = _help(
        "file names of the replays held out for metrics (instead of a val_fraction draw)", default_factory=list
    )
    cache_dir: str = _help("where the re-simulated sequences are cached as .npz shards", default="runs/cache/bc")
    batch_size: int = _help("sequences per optimizer step (per process under torchrun)", default=16)
    learning_rate: float = _help("Adam learning rate", default=1e-3)
    max_grad_norm: float = _help("gradient-norm clip (0: no clipping)", default=1.0)
    weight_decay: float = _help("decoupled weight decay (AdamW; 0: plain Adam)", default=0.0)
    steps: int = _help("optimizer steps in total (a resumed run continues up to this)", default=2000)
    head_weights: dict[str, float] = _help(
        "loss weight per head (missing heads: 1.0)", default_factory=lambda: dict.fromkeys(HEADS, 1.0)
    )
    location_radius: int = _help(
        "a predicted location counts as right within this Chebyshev distance (cells)", default=2
    )
    eval_every: int = _help("held-out metrics every N steps (and at the end; 0: only at the end)", default=250)
    checkpoint_every: int = _help("checkpoint every N steps (and at the end; 0: only at the end)", default=500)
    keep_last: int = _help("checkpoints kept in the run directory (0: all)", default=3)
    log_every: int = _help("training losses to TensorBoard every N steps", default=25)
    num_workers: int = _help("DataLoader worker processes (0: read shards in the training process)", default=0)
    shuffle_buffer: int = _help("sequences in the streaming shuffle buffer", default=256)
    threads: int = _help("torch CPU threads (0: torch's default)", default=0)
    run_root: str = _help("directory holding run directories", default="runs")
    name: str | None = _help(
        "run directory name under run_root (default: bc_<timestamp>; needed to resume)", default=None
    )
    seed: int = _help("seed of the initial weights, the replay split and the data order", default=0)
    agent: AgentChoice = field(default_factory=AgentChoice)  # its keys carry their own help
    device: str = _help("auto (cuda when available), cpu or cuda", default="auto")

    def __post_init__(self) -> None:
        self.players = str(self.players)
        if self.players not in PLAYERS:
            raise ConfigError(f"players must be one of {', '.join(PLAYERS)}, got {self.players!r}")
        if isinstance(self.replays, str):
            self.replays = [self.replays]
        if isinstance(self.val_replays, str):
            self.val_replays = [self.val_replays]
        unknown = [h for h in self.head_weights if h not in HEADS]
        if unknown:
            raise ConfigError(f"head_weights: unknown head {unknown[0]!r}; heads are {', '.join(HEADS)}")
        self.head_weights = {h: float(self.head_weights.get(h, 1.0)) for h in HEADS}
        if any(w < 0 for w in self.head_weights.values()) or not any(self.head_weights.values()):
            raise ConfigError(f"head_weights must be >= 0 and not all 0, got {self.head_weights}")
        positive = {
            "sequence_length": self.sequence_length,
            "max_units": self.max_units,
            "batch_size": self.batch_size,
            "steps": self.steps,
            "learning_rate": self.learning_rate,
        }
        for key, value in positive.items():
            if not value > 0:
                raise ConfigError(f"{key} must be > 0, got {value}")
        counts = {
            "eval_every": self.eval_every,
            "checkpoint_every": self.checkpoint_every,
            "keep_last": self.keep_last,
            "log_every": self.log_every,
            "num_workers": self.num_workers,
            "threads": self.threads,
            "shuffle_buffer": self.shuffle_buffer,
            "location_radius": self.location_radius,
            "max_grad_norm": self.max_grad_norm,
            "weight_decay": self.weight_decay,
        }
        for key, value in counts.items():
            if value < 0:
                raise ConfigError(f"{key} must be >= 0, got {value}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
