"""``FullGameEnv``: one full Skirmish game as a gymnasium env, the agent as player 1 against a full-game bot level.

The spaces are the contract's (``envs.contract.spaces``) at the full game's sizes: ``max_units`` rows (512 by
default: units, structures and resources), the full catalogue's action types and the base scalars plus the
economy's. Reward: +1 / -1 when the game is won or lost, else 0 (``FullMatch``); a draw at the map's time limit is
``truncated``. ``info`` holds ``illegal_actions`` (and ``illegal_reasons`` when lenient), ``over_budget``,
``game_loop``, ``units_dropped``, the opponent's ``opponent_illegal_actions`` and, once the game is over,
``winner``. ``races``: the agent's and the bot's (``"random"``: a race per side drawn per reset).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP
from envs.contract.observation import OBS_KEYS
from envs.contract.sizes import DEFAULT_MAX_UNITS, DEFAULT_RESOLUTION
from envs.contract.spaces import contract_spaces
from envs.skirmish.economy.bot import FULL_GAME_LEVELS, FullGameBot, apply_full_game_cheats
from envs.skirmish.economy.catalogue import full_catalogue
from envs.skirmish.economy.maps import load_map
from envs.skirmish.economy.match import FullMatch
from envs.skirmish.economy.rules import default_rules
from envs.skirmish.economy.spec import FULL_SCALAR_NAMES, full_game_spec
from envs.skirmish.economy.start import RACES


class FullGameEnv(gym.Env):
    """A full game for one agent (player 1) against the full-game bot ``opponent`` on ``game_map``."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(self, game_map: str = "duel", races: tuple[str, str] | str = ("terran", "random"),
                 opponent: str = "very_easy", *, step_mul: int = 8, max_units: int = DEFAULT_MAX_UNITS,
                 resolution: int = DEFAULT_RESOLUTION, fog: bool = True, lenient: bool = False,
                 actions_per_step: int = DEFAULT_ACTIONS_PER_STEP, render_mode: str | None = None,
                 seed: int | None = None) -> None:  # fmt: skip
        if opponent not in FULL_GAME_LEVELS:
            raise ValueError(f"opponent must be a full-game bot level ({', '.join(FULL_GAME_LEVELS)}), "
                             f"got {opponent!r}")  # fmt: skip
        races = (races, races) if isinstance(races, str) else tuple(races)
        if len(races) != 2 or not set(races) <= {*RACES, "random"}:
            raise ValueError(f"races must be two of {', '.join(RACES)} or 'random', got {races!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.game_map, self.races, self.opponent = game_map, races, opponent
        self.step_mul, self.max_units, self.resolution, self.fog = int(step_mul), int(max_units), int(resolution), fog
        self.lenient, self.actions_per_step, self.render_mode = bool(lenient), int(actions_per_step), render_mode
        self._first_seed = seed
        size = load_map(game_map)
        self.skirmish_spec = full_game_spec((size.width, size.height), max_units=self.max_units,
                                   resolution=self.resolution, actions_per_step=self.actions_per_step)  # fmt: skip
        self.match: FullMatch | None = None
        self.observation_space, self.action_space = contract_spaces(
            self.max_units, len(full_catalogue(default_rules()).action_types), self.resolution,
            len(FULL_SCALAR_NAMES))  # fmt: skip

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        if seed is None and self.match is None:
            seed = self._first_seed
        super().reset(seed=seed)
        game_seed = int(self.np_random.integers(2**31 - 1))
        races = tuple(RACES[int(self.np_random.integers(3))] if r == "random" else r for r in self.races)
        self.match = FullMatch(self.game_map, races, seed=game_seed, step_mul=self.step_mul, max_units=self.max_units,
                               resolution=self.resolution, fog=self.fog, lenient=self.lenient,
                               actions_per_step=self.actions_per_step)  # fmt: skip
        apply_full_game_cheats(self.match, {2: self.opponent})
        self._bot = FullGameBot(self.opponent, self.match.game, 2, seed=game_seed)
        info = {"illegal_actions": 0, "over_budget": 0, "game_loop": 0, "races": races,
                "units_dropped": self.match.units_dropped[1]}  # fmt: skip
        return self._obs(), info

    def step(self, action: Mapping[str, Any] | list[Mapping[str, Any]]) -> tuple[dict, float, bool, bool, dict]:
        if self.match is None:
            raise RuntimeError("FullGameEnv.step called before reset()")
        if self.match.game.done:
            raise RuntimeError("FullGameEnv.step called after the game ended; call reset()")
        reply = self._bot.act(self.match.observed[2], self.match.spec)
        _, rewards, terminated, truncated, infos = self.match.step({1: action, 2: reply})
        info = dict(infos[1])
        if info.get("winner") is None:
            info.pop("winner", None)
        info["opponent_illegal_actions"] = infos[2]["illegal_actions"]
        return self._obs(), float(rewards[1]), bool(terminated), bool(truncated), info

    def _obs(self) -> dict[str, np.ndarray]:
        return {key: self.match.observations[1][key] for key in OBS_KEYS}

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("FullGameEnv.render() needs render_mode='rgb_array'; nothing was drawn")
            return None
        if self.match is None:
            raise RuntimeError("FullGameEnv.render called before reset()")
        from envs.skirmish.render import render_rgb

        return render_rgb(self.match.engine, None, self.match.resource_marks())
