"""The evaluation run's typed config (``configs/eval.yaml``) and the error a run that cannot be played raises.

Which games: ``games`` per bot level in ``levels`` and per agent in ``opponents``, spread over ``scenarios``
(mirrored armies, sides swapped every other game). How they are played: ``workers`` Ray actors (or this process,
``backend: inprocess``), each stepping ``batch_size`` games together so the agent's network runs batched; the plan
is cut into tasks of ``task_games`` games, each played the same way wherever it runs, so results do not depend on
the backend or the number of workers.
"""

from __future__ import annotations

from dataclasses import dataclass

from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP, MAX_ACTIONS_PER_STEP
from envs.skirmish.bots import LEVELS
from training.config_io import CheckedConfig, ConfigError, described

BACKENDS = ("ray", "inprocess")
DEFAULT_SCENARIOS: tuple[str, ...] = ("3m", "8m", "2s3z", "MMM")


class EvalError(ValueError):
    """An evaluation that cannot be played: unknown player or level, or scenarios that do not fit the agent."""


@dataclass
class EvalConfig(CheckedConfig):
    """What ``pstar eval`` plays and where it writes. Games are played round-robin over ``scenarios`` in pairs with
    the sides swapped (keep ``games`` even); results depend on ``task_games``, not on ``workers`` or the backend."""

    levels: list[str] = described("bot levels to play against (weakest first), each once", choices=LEVELS,
                                  default_factory=lambda: list(LEVELS))  # fmt: skip
    opponents: list[str] = described("agents played like levels (checkpoint or run directories, pretrained:<name>): "
                                     "held-out opponents, e.g. a league's exploiter snapshots",
                                     default_factory=list)  # fmt: skip
    scenarios: list[str] = described("scenario names, each played mirrored; random: a random battle per pair",
                                     default_factory=lambda: list(DEFAULT_SCENARIOS))  # fmt: skip
    games: int = described("games per level (and per opponent)", at_least=1, default=20)
    workers: int = described("Ray actors", at_least=1, default=2)
    backend: str = described("ray, or inprocess (no Ray; same games, for tests and debugging)", choices=BACKENDS,
                             default="ray")  # fmt: skip
    address: str | None = described("an existing Ray cluster to join (null: start a local one)", default=None)
    batch_size: int = described("games a worker steps together (one batched network call per step)", at_least=1,
                                default=8)  # fmt: skip
    task_games: int = described("games per unit of work handed to a worker", at_least=1, default=16)
    greedy: bool = described("pick the most likely action instead of sampling", default=False)
    temperature: float | None = described("sampling temperature (null: the agent config's)", above=0, default=None)
    seed: int = described("first start-position variant and the sampling seed", at_least=0, default=0)
    step_mul: int = described("game loops per agent step", at_least=1, default=8)
    fog: bool = described("play with fog of war (the cheat_vision level then sees through it)", default=False)
    lenient: bool = described("drop and count the evaluated player's illegal actions instead of stopping",
                              default=False)  # fmt: skip
    actions_per_step: int = described("each player's action budget per agent step, the bots' included", at_least=1,
                                      at_most=MAX_ACTIONS_PER_STEP, default=DEFAULT_ACTIONS_PER_STEP)  # fmt: skip
    torch_threads: int = described("intra-op threads of the network in each worker", at_least=1, default=1)
    out_dir: str | None = described(
        "where reports go (null: <checkpoint run dir>/eval, or <run_root>/eval_<timestamp> for a bot)", default=None
    )
    run_root: str = described("directory holding run directories", default="runs")

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(set(self.levels)) != len(self.levels) or not self.levels and not self.opponents:
            raise ConfigError(f"expected at least one level or opponent, each once, got {self.levels}", "levels")
        if len(set(self.opponents)) != len(self.opponents) or set(self.opponents) & set(self.levels):
            raise ConfigError(f"expected each opponent once, and none named as a level, got {self.opponents}",
                              "opponents")  # fmt: skip
        if not self.scenarios:
            raise ConfigError("expected at least one scenario name", "scenarios")
