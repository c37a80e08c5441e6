"""``SC2Env``: one StarCraft II game through pysc2's raw interface as a gymnasium env, the agent against a built-in bot.

Same contract and spaces as ``SkirmishEnv`` (see its docstring: ``max_units`` rows, ``A`` = 326 action types of
``envs.sc2.catalogue``, ``S`` scalars, grid ``res``), so the agent built from ``envs.sc2.spec.sc2_spec`` plays it
unchanged.

Conversions: ``observation`` (rows, positions, scalars, available actions) and ``action`` (the raw
``FunctionCall``, validation); the game: ``game`` (the install check runs when the env is created, the game is
launched by the first ``reset``). ``step`` takes one action dict or a list of them (several commands in one agent
step). Reward is pysc2's (the map's: win/loss +1/-1/0 on melee maps, score changes on mini-games); an episode
terminates when the game reports a result and is truncated at pysc2's episode length. ``info``: ``game_loop``,
``illegal_actions`` (actions dropped this step, lenient mode; strict mode raises ``IllegalActionError``) with
``illegal_reasons``, ``action_errors`` (commands the game rejected, e.g. no selected unit could carry them out),
``units_dropped`` (units the game reported that got no row: more than ``max_units``, rows then shared fairly, see
``envs.contract.rows``) and once the game is over ``winner`` (1 the agent, 2 the opponent, 0 a tie or the time
limit). ``rows`` holds the last observation's exact unit tags. The config's ``seed`` seeds the game (pysc2's
``random_seed``, every game of the env); ``reset(seed=...)`` seeds only gymnasium's ``np_random``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from envs.contract.action import action_list
from envs.contract.spaces import contract_spaces
from envs.contract.spec import Spec
from envs.sc2.action import to_function_call, to_function_call_lenient
from envs.sc2.catalogue import catalogue
from envs.sc2.config import SC2EnvConfig
from envs.sc2.extra import require
from envs.sc2.game import Game, check_game_installed, map_paths
from envs.sc2.observation import UnitRows, convert_observation, own_tags
from envs.sc2.spec import sc2_spec

ENV_ID = "PerceiverStar/SC2-v0"
ENTRY_POINT = "envs.sc2.env:SC2Env"
REGISTERED_DEFAULTS = {"lenient": True}  # so that action_space.sample() (mostly illegal) always steps
_VICTORY, _DEFEAT = 1, 2  # sc2api_pb2.Result (Tie = 3, Undecided = 4)


def register_envs() -> list[str]:
    """Register (once) ``PerceiverStar/SC2-v0`` (kwargs: SC2EnvConfig fields); imports no pysc2."""
    if ENV_ID not in gym.registry:
        gym.register(ENV_ID, entry_point=ENTRY_POINT, kwargs=dict(REGISTERED_DEFAULTS))
    return [ENV_ID]


class SC2Env(gym.Env):
    """StarCraft II for one agent; ``config`` (or its fields as keyword arguments) says map, races, bot, sizes."""

    metadata = {"render_modes": []}

    def __init__(self, config: SC2EnvConfig | None = None, **fields: Any) -> None:
        config = SC2EnvConfig(**fields) if config is None else dataclasses.replace(config, **fields)
        require("pysc2_evolved.env.sc2_env", "The StarCraft II env")
        check_game_installed(map_paths(config.map_name))
        self.config = config
        self.max_units, self.resolution, self.lenient = config.max_units, config.resolution, config.lenient
        self._spec = sc2_spec(config.map_size, max_units=config.max_units, resolution=config.resolution)
        self.observation_space, self.action_space = contract_spaces(self.max_units, len(catalogue()), self.resolution)
        self.game: Game | None = None
        self._response: Any = None  # the ResponseObservation the next action answers
        self._rows: UnitRows | None = None
        self._available: np.ndarray | None = None
        self._over = False

    @property
    def sc2_spec(self) -> Spec:
        """The spec the agent is built from (``envs.sc2.spec.sc2_spec`` of this config)."""
        return self._spec

    @property
    def rows(self) -> UnitRows | None:
        """The real rows of the last observation: exact unit tags and alliances."""
        return self._rows

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        if self.game is None:
            self.game = Game(self.config)
        timestep = self.game.reset()
        self._over = False
        obs = self._observe(timestep.observation)
        loop = int(timestep.observation.observation.game_loop)
        return obs, {"illegal_actions": 0, "game_loop": loop, "units_dropped": self._rows.dropped}

    def step(self, action: Mapping[str, Any] | list[Mapping[str, Any]]) -> tuple[dict, float, bool, bool, dict]:
        if self.game is None:
            raise RuntimeError("SC2Env.step called before reset()")
        if self._over:
            raise RuntimeError("SC2Env.step called after the game ended; call reset()")
        batch = action_list(action)
        calls, reasons = [], []
        for one in batch:
            if self.lenient:
                call, reason = to_function_call_lenient(one, self._rows, self._available, self.game.grid)
                if reason is not None:
                    reasons.append(reason)
                    continue
            else:
                call = to_function_call(one, self._rows, self._available, self.game.grid)
            calls.append(call)
        timestep = self.game.step(calls, self._response)
        response = timestep.observation
        obs = self._observe(response)
        info = {
            "illegal_actions": len(reasons),
            "illegal_reasons": reasons,
            "action_errors": len(response.action_errors),
            "game_loop": int(response.observation.game_loop),
            "units_dropped": self._rows.dropped,
        }
        terminated = len(response.player_result) > 0
        truncated = timestep.last() and not terminated
        if timestep.last():
            self._over = True
            info["winner"] = _winner(response)
        return obs, float(timestep.reward), terminated, truncated, info

    def _observe(self, response: Any) -> dict[str, np.ndarray]:
        game = self.game
        transformed = game.features.transform_obs(response)
        abilities = game.query_abilities(own_tags(response))
        obs, self._rows = convert_observation(transformed, response, game.frame, abilities, self.max_units)
        self._response, self._available = response, obs["available_actions"]
        return obs

    def close(self) -> None:
        if self.game is not None:
            self.game.close()
            self.game = None


def _winner(response: Any) -> int:
    """1 if the agent won, 2 if it lost, 0 for a tie, an undecided result or the time limit."""
    me = response.observation.player_common.player_id
    for result in response.player_result:
        if result.player_id == me:
            return {_VICTORY: 1, _DEFEAT: 2}.get(result.result, 0)
    return 0
