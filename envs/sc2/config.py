"""``SC2EnvConfig``: everything one StarCraft II env needs, as a typed dataclass (checked without the game).

Race, difficulty and build are pysc2's enum member names (``sc2_env.Race``, ``sc2_env.Difficulty``,
``sc2_env.BotBuild``), so a YAML config or a command line can name them; ``opponent_bot()`` turns them into
``sc2_env.Bot(race, difficulty, build)``. On a one-player map (pysc2's mini-games) there is no bot and the
opponent fields are unused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envs.contract.sizes import DEFAULT_MAX_UNITS, DEFAULT_RESOLUTION
from envs.sc2.extra import require
from envs.sc2.spec import DEFAULT_MAP_SIZE

RACES: tuple[str, ...] = ("random", "protoss", "terran", "zerg")
DIFFICULTIES: tuple[str, ...] = (
    "very_easy",
    "easy",
    "medium",
    "medium_hard",
    "hard",
    "harder",
    "very_hard",
    "cheat_vision",
    "cheat_money",
    "cheat_insane",
)
BUILDS: tuple[str, ...] = ("random", "rush", "timing", "power", "macro", "air")


@dataclass
class SC2EnvConfig:
    """One StarCraft II game against a built-in bot through pysc2's raw interface.

    ``map_size`` is the frame of the spec (positions are normalised over it and the ``resolution`` x
    ``resolution`` target grid covers it; 256 x 256 holds every SC2 map). ``game_steps_per_episode``: None takes
    the map's default (pysc2), 0 means no limit (pysc2 then stops at its cap of 524000 loops). ``lenient``: an
    illegal action is dropped and counted in ``info`` instead of raising. ``seed`` is the game's random seed.
    """

    map_name: str = "Simple64"
    race: str = "random"
    opponent_race: str = "random"
    difficulty: str = "very_easy"
    build: str = "random"
    step_mul: int = 8
    max_units: int = DEFAULT_MAX_UNITS
    resolution: int = DEFAULT_RESOLUTION
    map_size: tuple[float, float] = DEFAULT_MAP_SIZE
    game_steps_per_episode: int | None = None
    realtime: bool = False
    lenient: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.map_name, str) and self.map_name):
            raise ValueError(f"map_name must be a pysc2 map name such as 'Simple64', got {self.map_name!r}")
        _check_name("race", self.race, RACES)
        _check_name("opponent_race", self.opponent_race, RACES)
        _check_name("difficulty", self.difficulty, DIFFICULTIES)
        _check_name("build", self.build, BUILDS)
        for name in ("step_mul", "max_units", "resolution"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        steps = self.game_steps_per_episode
        if steps is not None and not (isinstance(steps, int) and steps >= 0):
            raise ValueError(f"game_steps_per_episode must be None (map default) or an int >= 0, got {steps!r}")
        if len(self.map_size) != 2 or not all(isinstance(v, int | float) and v > 0 for v in self.map_size):
            raise ValueError(f"map_size must be (width, height) > 0 in map units, got {self.map_size!r}")
        self.map_size = (float(self.map_size[0]), float(self.map_size[1]))
        if self.seed is not None and not isinstance(self.seed, int):
            raise ValueError(f"seed must be None or an int, got {self.seed!r}")

    def agent(self) -> Any:
        """pysc2's ``sc2_env.Agent`` for the learning player."""
        sc2_env = require("pysc2_evolved.env.sc2_env", "The StarCraft II env")
        return sc2_env.Agent(sc2_env.Race[self.race], "perceiver_star")

    def opponent_bot(self) -> Any:
        """pysc2's ``sc2_env.Bot(race, difficulty, build)`` for the opponent."""
        sc2_env = require("pysc2_evolved.env.sc2_env", "The StarCraft II env")
        return sc2_env.Bot(
            sc2_env.Race[self.opponent_race], sc2_env.Difficulty[self.difficulty], sc2_env.BotBuild[self.build]
        )


def _check_name(field: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{field} must be one of {', '.join(choices)}; got {value!r}")
