"""``SkirmishVectorEnv``: ``num_envs`` Skirmish games as one gymnasium 1.x ``VectorEnv``, stepped as a ``MatchBatch``.

Each sub-env is a ``SkirmishEnv`` (same arguments, same spaces, same rewards and infos): the vector env keeps them
for their seeding, opponents and resets, and plays their games' steps together through one ``MatchBatch`` (all
actions checked, all engines advanced, all observed), so stepping it equals stepping ``SyncVectorEnv`` over the
same ``SkirmishEnv`` s with the same seeds and actions, only with the engine work batched.

Gymnasium's vector conventions: observations are the single observation dict with a leading ``num_envs`` axis;
``reset(seed=s)`` seeds sub-env ``i`` with ``s + i`` (or takes a list of seeds); infos are dicts of arrays, each
key ``k`` with a bool mask ``_k`` of the sub-envs that reported it. Autoreset is ``AutoresetMode.NEXT_STEP``
(gymnasium's default, in ``metadata``): the step after a sub-env terminates or truncates resets it instead of
stepping it (its action is ignored) and returns its first observation with reward 0, not done, and the reset's
info; no ``final_obs`` is needed because the last observation was returned by the step that ended the game.

Actions: a batched action dict (one action per sub-env, as ``action_space.sample()`` gives), or a sequence of
``num_envs`` per-sub-env actions, each an action dict or a list of them (up to the match's ``actions_per_step``,
as ``SkirmishEnv.step`` takes). Registered ids build it with ``gymnasium.make_vec(id, num_envs=...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, iterate

from envs.contract.observation import OBS_KEYS
from envs.skirmish.env import SkirmishEnv
from envs.skirmish.match_batch import MatchBatch
from envs.skirmish.scenario import Scenario


class SkirmishVectorEnv(VectorEnv):
    """``num_envs`` Skirmish games (player 1: the agent) stepped together; ``engine``: the ``MatchBatch`` engine
    (auto, batched or single); the other arguments are ``SkirmishEnv``'s and apply to every sub-env (see the module
    docstring for seeding, autoreset and actions)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 8,
        scenario: str | Path | Scenario | Callable[[int], Scenario] = "3m",
        opponent: str | Callable = "medium",
        *,
        render_mode: str | None = None,
        engine: str = "auto",
        **env_kwargs: Any,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"SkirmishVectorEnv: num_envs must be an int >= 1, got {num_envs!r}")
        self.num_envs = int(num_envs)
        self.envs = [SkirmishEnv(scenario, opponent, render_mode=render_mode, **env_kwargs)
                     for _ in range(self.num_envs)]  # fmt: skip
        self.render_mode = render_mode
        self.batch = MatchBatch(self.num_envs, engine=engine)
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._obs: list[dict[str, np.ndarray] | None] = [None] * self.num_envs

    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset every sub-env (or those of ``options["reset_mask"]``, a bool array); ``seed``: None, an int
        (sub-env ``i`` gets ``seed + i``) or one seed per sub-env."""
        seeds = self._seeds(seed)
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is None:
            mask = np.ones(self.num_envs, dtype=bool)
        elif not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
            raise ValueError(f"options['reset_mask'] must be a bool numpy array of shape ({self.num_envs},), "
                             f"got {mask!r}")  # fmt: skip
        infos: dict[str, Any] = {}
        for i in np.flatnonzero(mask).tolist():
            infos = self._add_info(infos, self._reset_env(i, seeds[i], options or None), i)
        self._autoreset[mask] = False
        return self._stacked(), infos

    def step(
        self, actions: Mapping[str, Any] | Sequence[Any]
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One step of every sub-env: sub-envs whose game ended on the previous step are reset instead."""
        per_env = self._per_env(actions)
        if any(obs is None for obs in self._obs):
            raise RuntimeError("SkirmishVectorEnv.step called before reset()")
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        env_infos: dict[int, dict] = {}
        playing = {i: self.envs[i]._actions(per_env[i]) for i in range(self.num_envs) if not self._autoreset[i]}
        results = self.batch.step(playing)
        for i in range(self.num_envs):
            if self._autoreset[i]:
                env_infos[i] = self._reset_env(i, None, None)
            else:
                self._obs[i], rewards[i], terminated[i], truncated[i], env_infos[i] = (
                    self.envs[i]._agent_result(results[i])
                )
        infos: dict[str, Any] = {}
        for i in range(self.num_envs):
            infos = self._add_info(infos, env_infos[i], i)
        self._autoreset = terminated | truncated
        return self._stacked(), rewards, terminated, truncated, infos

    def render(self) -> tuple[np.ndarray, ...] | None:
        """Each sub-env's frame (``render_mode="rgb_array"``), or None without a render mode."""
        if self.render_mode is None:
            gym.logger.warn("SkirmishVectorEnv.render() needs render_mode='rgb_array'; nothing was drawn")
            return None
        return tuple(env.render() for env in self.envs)

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()

    def _reset_env(self, i: int, seed: int | None, options: dict | None) -> dict[str, Any]:
        """Reset sub-env ``i`` and put its new game in the batch's slot ``i``; returns the reset's info."""
        self._obs[i], info = self.envs[i].reset(seed=seed, options=options)
        self.batch.start(i, self.envs[i].match)
        return info

    def _seeds(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
            return [int(seed) + i for i in range(self.num_envs)]
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset: expected one seed per sub-env ({self.num_envs}), got {len(seeds)}")
        return seeds

    def _per_env(self, actions: Mapping[str, Any] | Sequence[Any]) -> list[Any]:
        """One action (dict or list of dicts) per sub-env, from a batched action dict or a per-sub-env sequence."""
        if isinstance(actions, Mapping):
            return list(iterate(self.action_space, actions))
        if isinstance(actions, Sequence) and not isinstance(actions, str) and len(actions) == self.num_envs:
            return list(actions)
        raise ValueError(
            f"SkirmishVectorEnv.step: expected a batched action dict (leading axis {self.num_envs}) or a sequence of "
            f"{self.num_envs} per-sub-env actions, got {type(actions).__name__}"
            + (f" of length {len(actions)}" if isinstance(actions, Sequence) else "")
        )

    def _stacked(self) -> dict[str, np.ndarray]:
        return {key: np.stack([obs[key] for obs in self._obs]) for key in OBS_KEYS}
