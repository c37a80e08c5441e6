"""Typed config of an RL run: where the agent starts, the games actors play, the learner's losses, the run."""

from __future__ import annotations

from dataclasses import dataclass

from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP, MAX_ACTIONS_PER_STEP
from envs.contract.sizes import MAX_UNIT_ROWS
from envs.skirmish.bots import LEVELS
from training.agent_choice import AgentChoice
from training.config_io import DEVICES, CheckedConfig, ConfigError, described
from training.league import LeagueConfig
from training.rl.shaping import ShapingConfig

BACKENDS = ("ray", "inprocess")
VALUE_TARGETS = ("vtrace", "td_lambda")
PRECISIONS = ("fp32", "bf16")


@dataclass
class OpponentConfig(CheckedConfig):
    """Who the agent plays: bot ``levels`` (uniformly), and with probability ``league_fraction`` a frozen past
    snapshot of itself (a small league of the last ``league_size`` snapshots, one added every ``snapshot_every``
    updates)."""

    levels: list[str] = described(
        "bot levels played (uniformly)", choices=LEVELS,
        default_factory=lambda: ["easy", "medium", "medium_hard", "hard"],
    )  # fmt: skip
    league_fraction: float = described("chance a game is against a past snapshot", at_least=0, at_most=1, default=0.0)
    league_size: int = described("past snapshots kept in the league", at_least=1, default=4)
    snapshot_every: int = described("a snapshot joins the league every N updates", at_least=1, default=20)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.levels and self.league_fraction < 1.0:
            raise ConfigError("empty but league_fraction < 1: no opponent to play", "levels")


@dataclass
class LearnerConfig(CheckedConfig):
    """IMPALA/AlphaStar losses: V-trace policy gradient, value baseline, entropy, KL towards the initial (BC)
    policy, UPGO and TD(lambda) value targets as options."""

    learning_rate: float = described("Adam learning rate", above=0, default=3e-4)
    adam_eps: float = described("Adam epsilon", above=0, default=1e-6)
    max_grad_norm: float = described("gradient-norm clip", above=0, default=10.0)
    discount: float = described("per-step reward discount", above=0, at_most=1, default=0.99)
    clip_rho_threshold: float = described("V-trace clip of the value-target importance weights", above=0,
                                          default=1.0)  # fmt: skip
    clip_pg_rho_threshold: float = described("V-trace clip of the policy-gradient importance weights", above=0,
                                             default=1.0)  # fmt: skip
    clip_c_threshold: float = described("V-trace clip of the trace coefficients", above=0, default=1.0)
    baseline_cost: float = described("weight of the value loss", at_least=0, default=0.5)
    entropy_cost: float = described("weight of the entropy bonus", at_least=0, default=1e-3)
    kl_cost: float = described("weight of the KL towards the initial policy", at_least=0, default=0.02)
    upgo_cost: float = described("weight of the UPGO policy gradient (0: off)", at_least=0, default=0.0)
    value_target: str = described("the value loss's target", choices=VALUE_TARGETS, default="vtrace")
    td_lambda: float = described("lambda of the td_lambda target", at_least=0, at_most=1, default=0.9)
    precision: str = described("the entity encoders' precision: fp32, or bf16 autocast (heads and losses stay "
                               "fp32; on a CPU without fast bf16 attention it is slower)", choices=PRECISIONS,
                               default="fp32")  # fmt: skip


@dataclass
class RLConfig(CheckedConfig):
    """An RL run. ``init_checkpoint``: the BC checkpoint the agent starts from (also the KL reference); without
    one, a fresh ``agent`` is trained (and the KL term is off). ``agent`` null: the checkpoint's agent, or the
    small preset without one; given with a checkpoint, it must match it. A trajectory is ``unroll_length`` steps
    of each of an actor's ``envs_per_actor`` games (IMPALA: >= 1k frames per message; default 64 x 32 = 2,048:
    64 games make one batched policy call worth it, 32 steps keep a message, and an update, at 2k samples).
    ``temperature``: the actors' sampling temperature (null: the agent's own); the learner scores each action at
    the temperature it was sampled at. ``lenient``: drop and count the agent's illegal actions instead of stopping
    the run (its heads are legal by construction, so a strict game that raises is a bug worth seeing)."""

    init_checkpoint: str | None = described("BC checkpoint (or run's checkpoints folder) to start from",
                                            default=None)  # fmt: skip
    agent: AgentChoice | None = described(
        "null: init_checkpoint's agent (else small's); with a checkpoint it must match", default=None
    )
    scenarios: list[str] = described("scenarios played (mirrored armies)",
                                     default_factory=lambda: ["3m", "8m", "2s3z", "MMM"])  # fmt: skip
    full_game: str | None = described("a full-game map (economy, production, races drawn per game) played against "
                                      "the full-game bot levels instead of the scenarios (null: battles)",
                                      default=None)  # fmt: skip
    variants: int = described("seeded start-position variants drawn per game (0: as shipped)", at_least=0,
                              default=16)  # fmt: skip
    max_units: int = described("unit rows per observation", at_least=1, at_most=MAX_UNIT_ROWS, default=64)
    step_mul: int = described("game loops per agent step", at_least=1, default=8)
    actions_per_step: int = described("each player's action budget per step (bots included)", at_least=1,
                                      at_most=MAX_ACTIONS_PER_STEP, default=DEFAULT_ACTIONS_PER_STEP)  # fmt: skip
    opponents: OpponentConfig = described("who the agent plays", default_factory=OpponentConfig)
    league: LeagueConfig | None = described("AlphaStar's league instead (main agents, exploiters, PFSP; its bot "
                                            "members: opponents.levels); null: the agent against opponents",
                                            default=None)  # fmt: skip
    learner: LearnerConfig = described("the learner's losses and optimiser", default_factory=LearnerConfig)
    shaping: ShapingConfig = described("potential-based reward shaping from the agent's army and worker supply "
                                       "(full games; off by default)", default_factory=ShapingConfig)  # fmt: skip
    backend: str = described("where actors run", choices=BACKENDS, default="ray")
    address: str | None = described("an existing Ray cluster to join (null: start a local one)", default=None)
    num_actors: int = described("actor processes", at_least=1, default=2)
    envs_per_actor: int = described("games each actor steps together (one MatchBatch, one policy batch)", at_least=1,
                                    default=64)  # fmt: skip
    unroll_length: int = described("steps per trajectory of each game", at_least=1, default=32)
    temperature: float | None = described("actors' sampling temperature (null: the agent's)", above=0, default=None)
    lenient: bool = described("drop and count illegal actions instead of stopping", default=False)
    total_frames: int = described("agent steps to train on in total (a resumed run continues up to this)",
                                  at_least=1, default=200_000)  # fmt: skip
    actor_timeout_s: float = described("an actor silent this long is replaced (ray)", above=0, default=120.0)
    actor_resources: dict[str, float] = described(
        "custom Ray resources each actor asks for, to place actors on the nodes that offer them (ray start "
        "--resources='{\"actors\": 8}'); once no live node offers them, replacements go to any node", at_least=0,
        default_factory=dict)  # fmt: skip
    checkpoint_every: int = described("checkpoint every N updates (and at the end; 0: only at the end)",
                                      at_least=0, default=25)  # fmt: skip
    keep_last: int = described("checkpoints kept in the run directory (0: all)", at_least=0, default=3)
    log_every: int = described("scalars to TensorBoard every N updates", at_least=1, default=1)
    run_root: str = described("directory holding run directories", default="runs")
    name: str | None = described("run directory name under run_root (default: rl_<timestamp>; needed to resume)",
                                 default=None)  # fmt: skip
    seed: int = described("seed of the weights, the games and the sampling", at_least=0, default=0)
    device: str = described("the learner's device: auto (cuda when available), cpu or cuda", choices=DEVICES,
                            default="auto")  # fmt: skip
    learner_threads: int = described("torch threads of the learner (0: the cores the actors leave)", at_least=0,
                                     default=0)  # fmt: skip

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.scenarios and self.full_game is None:
            raise ConfigError("expected at least one scenario name", "scenarios")
        if self.league is not None and (self.opponents.league_fraction > 0 or not self.opponents.levels):
            raise ConfigError("a league run plays its own snapshots (opponents.league_fraction must be 0) and needs "
                              "at least one bot level in opponents.levels (its fixed members, and the actors' first "
                              "games)", "league")  # fmt: skip
        if self.league is not None and self.num_actors < self.league.learner_count:
            raise ConfigError(f"{self.num_actors} actors for {self.league.learner_count} learners: a league run needs "
                              "at least one actor per learner", "num_actors")  # fmt: skip
        if self.shaping.enabled and self.full_game is None:
            raise ConfigError("reward shaping reads a full game's army and worker supply; battles have none (set "
                              "full_game, or shaping.army and shaping.workers to 0)", "shaping")  # fmt: skip
        if self.full_game is not None:
            from envs.skirmish.economy.maps import load_map

            try:
                load_map(self.full_game)
            except ValueError as error:
                raise ConfigError(str(error), "full_game") from error

    @property
    def frames_per_trajectory(self) -> int:
        return self.envs_per_actor * self.unroll_length
