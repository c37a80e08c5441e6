"""Typed config of an RL run: where the agent starts, the games actors play, the learner's losses, the run."""

from __future__ import annotations

from dataclasses import dataclass, field

from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP, check_actions_per_step
from training.agent_choice import AgentChoice
from training.config_io import described

BACKENDS = ("ray", "inprocess")
VALUE_TARGETS = ("vtrace", "td_lambda")


@dataclass
class OpponentConfig:
    """Who the agent plays: bot ``levels`` (uniformly), and with probability ``league_fraction`` a frozen past
    snapshot of itself (a small league of the last ``league_size`` snapshots, one added every ``snapshot_every``
    updates)."""

    levels: list[str] = field(default_factory=lambda: ["easy", "medium", "medium_hard", "hard"])
    league_fraction: float = 0.0
    league_size: int = 4
    snapshot_every: int = 20

    def __post_init__(self) -> None:
        if not self.levels and self.league_fraction < 1.0:
            raise ValueError("opponents.levels is empty but league_fraction < 1: no opponent to play")
        if not 0.0 <= self.league_fraction <= 1.0:
            raise ValueError(f"opponents.league_fraction must be in [0, 1], got {self.league_fraction}")


@dataclass
class LearnerConfig:
    """IMPALA/AlphaStar losses: V-trace policy gradient, value baseline, entropy, KL towards the initial (BC)
    policy, UPGO and TD(lambda) value targets as options."""

    learning_rate: float = 3e-4
    adam_eps: float = 1e-6
    max_grad_norm: float = 10.0
    discount: float = 0.99
    clip_rho_threshold: float = 1.0
    clip_pg_rho_threshold: float = 1.0
    clip_c_threshold: float = 1.0
    baseline_cost: float = 0.5
    entropy_cost: float = 1e-3
    kl_cost: float = 0.02
    upgo_cost: float = 0.0
    value_target: str = "vtrace"
    td_lambda: float = 0.9

    def __post_init__(self) -> None:
        if self.value_target not in VALUE_TARGETS:
            raise ValueError(f"learner.value_target must be one of {VALUE_TARGETS}, got {self.value_target!r}")
        if not 0.0 < self.discount <= 1.0:
            raise ValueError(f"learner.discount must be in (0, 1], got {self.discount}")


@dataclass
class RLConfig:
    """An RL run. ``init_checkpoint``: the BC checkpoint the agent starts from (also the KL reference); without
    one, a fresh ``agent`` is trained (and the KL term is off). ``agent`` null: the checkpoint's agent, or the
    small preset without one; given with a checkpoint, it must match it. A trajectory is ``unroll_length`` steps
    of each of an actor's ``envs_per_actor`` games (IMPALA: >= 1k frames per message). ``temperature``: the
    actors' sampling temperature (null: the agent's own); the learner scores each action at the temperature it was
    sampled at. ``lenient``: drop and count the agent's illegal actions instead of stopping the run (its heads are
    legal by construction, so a strict game that raises is a bug worth seeing)."""

    init_checkpoint: str | None = None
    agent: AgentChoice | None = described(
        "null: init_checkpoint's agent (else small's); with a checkpoint it must match", default=None
    )
    scenarios: list[str] = field(default_factory=lambda: ["3m", "8m", "2s3z", "MMM"])
    variants: int = 16
    max_units: int = 64
    step_mul: int = 8
    actions_per_step: int = DEFAULT_ACTIONS_PER_STEP  # each player's action budget per step (bots included)
    opponents: OpponentConfig = field(default_factory=OpponentConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    backend: str = "ray"
    address: str | None = None
    num_actors: int = 2
    envs_per_actor: int = 8
    unroll_length: int = 128
    temperature: float | None = None
    lenient: bool = False
    total_frames: int = 200_000
    actor_timeout_s: float = 120.0
    checkpoint_every: int = 25
    keep_last: int = 3
    log_every: int = 1
    run_root: str = "runs"
    name: str | None = None
    seed: int = 0
    device: str = "auto"
    learner_threads: int = 0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if min(self.num_actors, self.envs_per_actor, self.unroll_length, self.total_frames) < 1:
            raise ValueError("num_actors, envs_per_actor, unroll_length and total_frames must be >= 1")
        if not self.scenarios:
            raise ValueError("scenarios must name at least one scenario")
        check_actions_per_step(self.actions_per_step)

    @property
    def frames_per_trajectory(self) -> int:
        return self.envs_per_actor * self.unroll_length
