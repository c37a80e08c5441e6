"""The evaluation run's typed config (``configs/eval.yaml``) and the error a run that cannot be played raises.

Which games: ``games`` per bot level in ``levels``, spread over ``scenarios`` (mirrored armies, sides swapped
every other game). How they are played: ``workers`` Ray actors (or this process, ``backend: inprocess``), each
stepping ``batch_size`` games together so the agent's network runs batched; the plan is cut into tasks of
``task_games`` games, each played the same way wherever it runs, so results do not depend on the backend or the
number of workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP
from envs.skirmish.bots import LEVELS
from training.config_io import ConfigError

BACKENDS = ("ray", "inprocess")
DEFAULT_SCENARIOS: tuple[str, ...] = ("3m", "8m", "2s3z", "MMM")


class EvalError(ValueError):
    """An evaluation that cannot be played: unknown player or level, or scenarios that do not fit the agent."""


@dataclass
class EvalConfig:
    """What ``pstar eval`` plays and where it writes.

    levels: bot levels to play against (weakest first). scenarios: scenario names, each played mirrored.
    games: games per level (round-robin over scenarios in pairs with the sides swapped; keep it even).
    workers: Ray actors. backend: "ray" or "inprocess" (no Ray; same games, for tests and debugging).
    address: an existing Ray cluster to join (None: start a local one).
    batch_size: games a worker steps together (one batched network call per step).
    task_games: games per unit of work handed to a worker (results depend on it, not on ``workers``).
    greedy: pick the most likely action instead of sampling. temperature: sampling temperature
    (None: the agent config's). seed: first start-position variant and the sampling seed.
    step_mul: game loops per agent step. fog: play with fog of war (the cheat_vision level then sees through it).
    lenient: drop and count the evaluated player's illegal actions (reported per level) instead of stopping.
    actions_per_step: each player's action budget per agent step, the bots' included (no_ops free).
    torch_threads: intra-op threads of the network in each worker.
    out_dir: where reports go (None: ``<checkpoint run dir>/eval``, or ``<run_root>/eval_<timestamp>`` for a bot).
    """

    levels: list[str] = field(default_factory=lambda: list(LEVELS))
    scenarios: list[str] = field(default_factory=lambda: list(DEFAULT_SCENARIOS))
    games: int = 20
    workers: int = 2
    backend: str = "ray"
    address: str | None = None
    batch_size: int = 8
    task_games: int = 16
    greedy: bool = False
    temperature: float | None = None
    seed: int = 0
    step_mul: int = 8
    fog: bool = False
    lenient: bool = False
    actions_per_step: int = DEFAULT_ACTIONS_PER_STEP
    torch_threads: int = 1
    out_dir: str | None = None
    run_root: str = "runs"

    def __post_init__(self) -> None:
        unknown = [level for level in self.levels if level not in LEVELS]
        if unknown:
            raise ConfigError(f"levels: unknown bot level {unknown[0]!r}; expected some of {', '.join(LEVELS)}")
        if not self.levels or len(set(self.levels)) != len(self.levels):
            raise ConfigError(f"levels: expected at least one level, each once, got {self.levels}")
        if not self.scenarios:
            raise ConfigError("scenarios: expected at least one scenario name")
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend: expected one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.seed < 0:
            raise ConfigError(f"seed: expected an integer >= 0, got {self.seed}")
        for name in ("games", "workers", "batch_size", "task_games", "step_mul", "actions_per_step", "torch_threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: expected an integer >= 1, got {getattr(self, name)}")
        if self.temperature is not None and not self.temperature > 0:
            raise ConfigError(f"temperature: expected a number > 0 (or null for the agent's), got {self.temperature}")
