"""``SkirmishEnv``: one Skirmish game as a gymnasium env, the agent as player 1 against a bot or a policy.

Spaces (``max_units`` rows, ``A`` action types, ``S`` scalars, grid ``res``)::

    observation  Dict(units             Box(float32 min..max, [max_units, 46])   pysc2 FeatureUnit columns
                      unit_mask         MultiBinary(max_units)                   (bool arrays, as the contract)
                      scalars           Box(float32 min..max, [S])
                      available_actions MultiBinary(A))
    action       Dict(action_type       Discrete(A)
                      selected_units    MultiDiscrete([max_units + 1] * 64, start=-1)   rows, -1 = padding
                      target_unit       Discrete(max_units + 1, start=-1)              row, or -1
                      target_location   MultiDiscrete([res, res])
                      queued            Discrete(2))

The action spaces use ``start=-1`` instead of an offset, so an action sampled from the space is a contract
action dict as it is (check_env accepts these spaces without warnings). Reward, termination (a side
eliminated) and truncation (the scenario's time limit) come from :class:`~envs.skirmish.match.Match`; ``info``
holds ``illegal_actions`` (count; with ``illegal_reasons`` in lenient mode), ``opponent_illegal_actions``,
``over_budget`` and ``opponent_over_budget`` (actions dropped by the match's ``actions_per_step`` budget, see
:class:`~envs.skirmish.match.Match`; a step may hold a list of actions), ``game_loop``, ``units_dropped`` (units
in view that got no row because there are more than ``max_units``; rows are then shared fairly between own and
enemy units, see ``envs.contract.rows``) and, once the game is over, ``winner`` (1, 2, or 0 for a draw; absent
while it runs, so vector envs see one type per key).

Strict mode (``lenient=False``, the class default) raises on an illegal action; the registered ids are lenient
so that ``action_space.sample()`` (mostly illegal) can always be stepped. Both modes raise
``MalformedActionError`` for what is not an action dict of ints and int arrays (lenient is for the game's rules,
not for the caller's bugs), e.g. ``Agent.act``'s batched output: ``training.policy.unstack_actions`` gives one
game's actions. Values may be numpy or torch (converted at the boundary). ``max_units=None`` sizes the rows to
the scenario: 64 for up to 64 units, else the next of 128, 256, 512 (registered ids use it, keeping small
scenarios fast; the contract's default is 512).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP, check_actions_per_step
from envs.contract.catalogue import NUM_ACTION_TYPES
from envs.contract.observation import OBS_KEYS
from envs.contract.sizes import DEFAULT_MAX_UNITS, DEFAULT_RESOLUTION
from envs.contract.spaces import contract_spaces
from envs.contract.spec import Spec
from envs.skirmish.botgame import apply_cheats, bot_seed, check_level
from envs.skirmish.bots import make_bot
from envs.skirmish.generator import random_scenario
from envs.skirmish.match import Match, StepResult
from envs.skirmish.render import render_rgb
from envs.skirmish.scenario import Scenario, load_scenario
from envs.skirmish.spec import skirmish_spec

Policy = Callable[[dict, Spec], Any]  # (obs, spec) -> an action dict or a list of them
AUTO_SIZES = (64, 128, 256, 512)


def auto_max_units(scenario: Scenario) -> int:
    """The smallest of 64, 128, 256, 512 rows that holds every unit of ``scenario`` (512 at most)."""
    count = len(scenario.placements)
    return next((size for size in AUTO_SIZES if size >= count), AUTO_SIZES[-1])


def _scenario_source(scenario: str | Path | Scenario | Callable[[int], Scenario]) -> Callable[[int], Scenario]:
    """A function seed -> Scenario: fixed scenarios ignore the seed; ``"random"`` is the SMACv2-style generator."""
    if isinstance(scenario, Scenario):
        return lambda seed: scenario
    if scenario == "random":
        return random_scenario
    if isinstance(scenario, str | Path):
        fixed = load_scenario(scenario)
        return lambda seed: fixed
    if callable(scenario):
        return scenario
    raise ValueError(f"scenario must be a name, a path, a Scenario or a callable seed -> Scenario, got {scenario!r}")


class SkirmishEnv(gym.Env):
    """Skirmish for one agent (player 1); ``opponent`` is a bot level name or a policy ``(obs, spec) -> action(s)``.

    ``scenario``: a shipped name, a YAML path, a Scenario, ``"random"`` (a new generated battle per reset) or a
    callable ``seed -> Scenario``. ``seed`` seeds the first reset when ``reset()`` is called without one.
    ``record=True`` keeps the actions so that :meth:`save_replay` can write the game.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(
        self,
        scenario: str | Path | Scenario | Callable[[int], Scenario] = "3m",
        opponent: str | Policy = "medium",
        *,
        step_mul: int = 8,
        max_units: int | None = DEFAULT_MAX_UNITS,
        resolution: int = DEFAULT_RESOLUTION,
        fog: bool = False,
        lenient: bool = False,
        render_mode: str | None = None,
        render_size: tuple[int, int] | None = None,
        seed: int | None = None,
        record: bool = False,
        actions_per_step: int = DEFAULT_ACTIONS_PER_STEP,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if isinstance(opponent, str):
            check_level(opponent)
        elif not callable(opponent):
            expected = "a bot level name or a callable (obs, spec) -> action(s)"
            raise ValueError(f"opponent must be {expected}, got {opponent!r}")
        self._scenarios = _scenario_source(scenario)
        self.opponent = opponent
        self._template = self._game_scenario(0 if seed is None else int(seed))[0]
        self.max_units = auto_max_units(self._template) if max_units is None else int(max_units)
        self.step_mul, self.resolution = int(step_mul), int(resolution)
        self.fog, self.lenient = bool(fog), bool(lenient)
        self.render_mode, self.render_size, self.record = render_mode, render_size, bool(record)
        self.actions_per_step = check_actions_per_step(actions_per_step)
        self._first_seed = seed
        self._spec = skirmish_spec((self._template.map_width, self._template.map_height), max_units=self.max_units,
                                   resolution=self.resolution, actions_per_step=self.actions_per_step)
        self.match: Match | None = None
        self._bot = None
        self._obs: dict[int, dict[str, np.ndarray]] = {}
        self.observation_space, self.action_space = contract_spaces(self.max_units, NUM_ACTION_TYPES, self.resolution)

    @property
    def skirmish_spec(self) -> Spec:
        """The spec of the current game (before the first reset: of the first scenario)."""
        return self.match.spec if self.match is not None else self._spec

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        if seed is None and self.match is None:
            seed = self._first_seed
        super().reset(seed=seed)
        game_seed = int(self.np_random.integers(2**31 - 1))
        scenario, see_all = self._game_scenario(game_seed)
        self.match = Match(scenario, game_seed, step_mul=self.step_mul, max_units=self.max_units,
                           resolution=self.resolution, fog=self.fog, see_all=see_all, lenient=self.lenient,
                           record=self.record, actions_per_step=self.actions_per_step)
        if isinstance(self.opponent, str):
            self._bot = make_bot(self.opponent, 2, bot_seed(game_seed, 2))
        elif hasattr(self.opponent, "reset"):
            self.opponent.reset()
        self._obs = self.match.observations  # a new Match starts reset
        info = {"illegal_actions": 0, "over_budget": 0, "game_loop": self.match.engine.loop,
                "units_dropped": self.match.units_dropped[1]}  # fmt: skip
        return self._agent_obs(), info

    def _game_scenario(self, seed: int) -> tuple[Scenario, tuple[int, ...]]:
        """This game's scenario (with a cheating bot's extra units) and the players that see through fog."""
        level = self.opponent if isinstance(self.opponent, str) else None
        return apply_cheats(self._scenarios(seed), {2: level})

    def step(self, action: Mapping[str, Any] | list[Mapping[str, Any]]) -> tuple[dict, float, bool, bool, dict]:
        return self._agent_result(self.match.step(self._actions(action)))

    def _actions(self, action: Mapping[str, Any] | list[Mapping[str, Any]]) -> dict[int, Any]:
        """Both players' actions for the next step: ``action`` and the opponent's reply to its observation."""
        if self.match is None:
            raise RuntimeError("SkirmishEnv.step called before reset()")
        if self.match.engine.done:
            raise RuntimeError("SkirmishEnv.step called after the game ended; call reset()")
        spec = self.match.spec
        if self._bot is not None:
            reply = self._bot.act(self._obs[2], spec)
        else:
            reply = self.opponent(self._obs[2], spec)
        return {1: action, 2: reply}

    def _agent_result(self, result: StepResult) -> tuple[dict, float, bool, bool, dict]:
        """The agent's (obs, reward, terminated, truncated, info) from the match's step result."""
        self._obs, rewards, terminated, truncated, infos = result
        info = dict(infos[1])
        if info.get("winner") is None:
            info.pop("winner", None)  # present only once the game is over (vector envs need one type per key)
        info["opponent_illegal_actions"] = infos[2]["illegal_actions"]
        info["opponent_over_budget"] = infos[2]["over_budget"]
        return self._agent_obs(), float(rewards[1]), bool(terminated), bool(truncated), info

    def _agent_obs(self) -> dict[str, np.ndarray]:
        return {key: self._obs[1][key] for key in OBS_KEYS}

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("SkirmishEnv.render() needs render_mode='rgb_array'; nothing was drawn")
            return None
        if self.match is None:
            raise RuntimeError("SkirmishEnv.render called before reset()")
        return render_rgb(self.match.engine, self.render_size)

    def save_replay(self, path: str | Path, agent: str = "policy:agent") -> Path:
        """Write the current (or just finished) game as a replay; needs ``record=True``."""
        from envs.skirmish.replay import save_replay

        if self.match is None or not self.record:
            raise RuntimeError("SkirmishEnv.save_replay needs record=True and a game started with reset()")
        opponent = self.opponent
        name = f"bot:{opponent}" if isinstance(opponent, str) else f"policy:{getattr(opponent, '__name__', 'opponent')}"
        return save_replay(path, self.match, {1: agent, 2: name})
