"""The behaviour-cloning run config: data, optimisation, evaluation, checkpoints and the agent, as one dataclass.

Every field has a default (the ``configs/bc.yaml`` preset repeats them); ``pstar bc key=value`` overrides any of them.
Each field's ``help`` metadata is what ``pstar bc --help`` lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.heads.action_heads import HEADS
from envs.contract.sizes import DEFAULT_RESOLUTION, MAX_RESOLUTION, MAX_UNIT_ROWS
from training.agent_choice import AgentChoice
from training.config_io import DEVICES, CheckedConfig, ConfigError
from training.config_io import described as _help
from training.schedule import SCHEDULES

PLAYERS = ("both", "winner", "1", "2")
RECURRENT_STATES = ("reset", "carry")


@dataclass
class BCConfig(CheckedConfig):
    """Behaviour cloning from Skirmish or StarCraft II replays (see ``training.bc.trainer.train_bc``)."""

    replays: list[str] = _help(
        "replay files or directories (searched for *.skreplay and *.SC2Replay)", default_factory=lambda: ["replays"]
    )
    players: str | int = _help("whose actions to clone", choices=PLAYERS, default="both")
    sequence_length: int = _help("time steps per training sequence (truncated BPTT window)", at_least=1, default=16)
    recurrent_state: str = _help(
        "reset: every sequence starts from the initial state (truncated BPTT); carry: each batch row reads whole "
        "games in order and the state flows from one sequence to the next (detached), as the agent acts",
        choices=RECURRENT_STATES, default="reset")
    label_repeat_window: int = _help(
        "DAgger labels: an economy label (train, build, research, gather, rally) whose type was kept within this "
        "many earlier steps of the same game is left unscored, so a demonstrator repeating an order the learner "
        "did not follow counts about once per window, as in its own games (0: every label)", at_least=0, default=0)
    production_weight: float = _help(
        "loss weight of the steps whose labels send a production order (Build_, Train_, Research_, Morph_), the "
        "others weighing 1: the few steps where a macro player acts, up-weighted as keyframes (Wen et al., 2021) so "
        "their timing is learnt in fewer steps, at the price of probabilities of those orders that overshoot "
        "where the state does not tell the step (1: plain cloning)", at_least=1, default=1.0)
    max_units: int = _help("unit rows per observation; replays recorded with another value are skipped", at_least=1,
                          at_most=MAX_UNIT_ROWS, default=64)  # fmt: skip
    resolution: int = _help("location grid side (cells per map side); replays recorded with another are skipped",
                            at_least=1, at_most=MAX_RESOLUTION, default=DEFAULT_RESOLUTION)  # fmt: skip
    val_fraction: float = _help("share of replay files held out for metrics (0: none)", at_least=0, below=1,
                                default=0.1)  # fmt: skip
    val_replays: list[str] = _help(
        "file names of the replays held out for metrics (instead of a val_fraction draw)", default_factory=list
    )
    train_replays: int = _help(
        "train on this many replays of the training split, a seeded draw nested across sizes (0: all): data-scaling "
        "curves at a fixed held-out split", at_least=0, default=0)
    cache_dir: str = _help("where the re-simulated sequences are cached as .npz shards", default="runs/cache/bc")
    batch_size: int = _help("sequences per optimizer step (per process under torchrun)", at_least=1, default=16)
    learning_rate: float = _help("peak Adam learning rate", above=0, default=1e-3)
    warmup_steps: int = _help("linear warm-up steps", at_least=0, default=0)
    schedule: str = _help("learning rate after warm-up: constant, cosine (to 0 at the last step) or constant_cosine "
                          "(constant for half, then cosine)", choices=SCHEDULES, default="constant")  # fmt: skip
    max_grad_norm: float = _help("gradient-norm clip (0: no clipping)", at_least=0, default=1.0)
    weight_decay: float = _help("decoupled weight decay (AdamW; 0: plain Adam)", at_least=0, default=0.0)
    steps: int = _help("optimizer steps in total (a resumed run continues up to this)", at_least=1, default=2000)
    head_weights: dict[str, float] = _help(
        "loss weight per head (missing heads: 1.0; not all 0)",
        at_least=0,
        default_factory=lambda: dict.fromkeys(HEADS, 1.0),
    )
    location_radius: int = _help(
        "a predicted location counts as right within this Chebyshev distance (cells)", at_least=0, default=2
    )
    eval_every: int = _help("held-out metrics every N steps (and at the end; 0: only at the end)", at_least=0,
                            default=250)  # fmt: skip
    checkpoint_every: int = _help("checkpoint every N steps (and at the end; 0: only at the end)", at_least=0,
                                  default=500)  # fmt: skip
    keep_last: int = _help("checkpoints kept in the run directory (0: all)", at_least=0, default=3)
    log_every: int = _help("training losses to TensorBoard every N steps", at_least=1, default=25)
    num_workers: int = _help("DataLoader worker processes (0: read shards in the training process)", at_least=0,
                             default=0)  # fmt: skip
    shuffle_buffer: int = _help("sequences in the streaming shuffle buffer", at_least=0, default=256)
    threads: int = _help("torch CPU threads (0: torch's default)", at_least=0, default=0)
    run_root: str = _help("directory holding run directories", default="runs")
    name: str | None = _help(
        "run directory name under run_root (default: bc_<timestamp>; needed to resume)", default=None
    )
    seed: int = _help("seed of the initial weights, the replay split and the data order", at_least=0, default=0)
    init_checkpoint: str | None = _help(
        "agent checkpoint (or run directory, or pretrained:<name>) whose weights a new run starts from, with a fresh "
        "optimizer and counters (fine-tuning, DAgger's iterations); its agent must be agent.*'s",
        default=None,
    )
    agent: AgentChoice = field(default_factory=AgentChoice)  # its keys carry their own help
    device: str = _help("auto (cuda when available), cpu or cuda", choices=DEVICES, default="auto")

    def __post_init__(self) -> None:
        self.players = str(self.players)
        if isinstance(self.replays, str):
            self.replays = [self.replays]
        if isinstance(self.val_replays, str):
            self.val_replays = [self.val_replays]
        super().__post_init__()
        unknown = [h for h in self.head_weights if h not in HEADS]
        if unknown:
            raise ConfigError(f"unknown head {unknown[0]!r}; heads are {', '.join(HEADS)}", "head_weights")
        self.head_weights = {h: float(self.head_weights.get(h, 1.0)) for h in HEADS}
        if not any(self.head_weights.values()):
            raise ConfigError(f"expected some weight > 0, got {self.head_weights}", "head_weights")
