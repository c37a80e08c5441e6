"""A rollout worker: ``envs_per_actor`` Skirmish games stepped together (one ``MatchBatch``, or a ``FullMatchBatch``
of full games) with one batched policy on CPU.

Each ``rollout`` call loads the weights it is given (the learner's latest), plays ``unroll_length`` steps of every
game and returns a time-major trajectory of plain numpy arrays: observations include the one after the last step,
for the bootstrap value; ``first`` marks episode starts; the agent state at the start rides along; ``temperature``
is what each action was sampled at; ``terminated`` and ``truncated`` are kept apart, and ``truncation_value`` holds
the value of a truncated game's last observation, which the learner bootstraps from. Games continue across calls.
In a league run (``training.rl.league_train``) each ``rollout`` also names the opponents of the games it starts
(league members: ``bot:<level>``, or agents whose weights ``set_members`` holds). The same class runs in-process
and as a Ray actor. A heartbeat file (when given) records what the worker is doing,
so a hung worker's stack can be logged by the learner. A policy step that fails because the weights give non-finite
outputs raises ``DivergedError`` (the learner diverged; replacing the worker would not help).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.agent import Agent
from agents.config import AgentConfig
from envs.contract.observation import OBS_KEYS
from envs.skirmish.economy.match import FullMatchBatch
from envs.skirmish.match_batch import MatchBatch
from training.allocator import keep_freed_memory
from training.divergence import check_finite
from training.policy import AgentPolicy, output_terms, stack_observations
from training.rl.config import RLConfig
from training.rl.games import Game, new_full_game, new_game, step_games
from training.rl.learner import load_numpy_weights
from training.scenario_fit import fitting_scenarios

HEARTBEAT_S = 2.0


def ray_node() -> str | None:
    """The id of the Ray node this process runs on (None outside Ray), so the learner can log where workers run."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    return ray.get_runtime_context().get_node_id()


class RolloutWorker:
    """Plays games for the learner. ``config`` is ``to_dict(RLConfig)``; ``agent`` is ``Agent.checkpoint_config()``."""

    def __init__(self, worker_id: int, agent: dict[str, Any], config: dict[str, Any], seed: int,
                 heartbeat: str | None = None) -> None:  # fmt: skip
        from training.config_io import from_dict

        torch.set_num_threads(1)
        keep_freed_memory()  # acting allocates and frees the same large tensors every step, as the learner does
        self.worker_id = int(worker_id)
        self.node = ray_node()
        self.cfg: RLConfig = from_dict(RLConfig, config)
        self.agent = Agent(agent["spec"], AgentConfig.from_dict(agent["agent"])).eval()
        self.spec = agent["spec"]
        self.scenarios = [] if self.cfg.full_game else fitting_scenarios(self.cfg.scenarios, self.spec["map_size"])
        self.rng = np.random.default_rng(seed)
        self.policy = AgentPolicy(self.agent, self.cfg.envs_per_actor, temperature=self.cfg.temperature,
                                  seed=int(self.rng.integers(2**31 - 1)))  # fmt: skip
        self.league: list[tuple[str, Agent]] = []
        self.members: dict[str, tuple[int, Agent]] = {}  # a league run's agent members: name -> (version, agent)
        self.opponents: list[str] = []  # a league run's opponents for the games that start next, in order
        self.drawn: list[str] = []  # the last rollout's opponents (drawn from when ``opponents`` runs out)
        self.games_started = 0
        size = self.cfg.envs_per_actor
        self.batch = (FullMatchBatch(size, batched=True, capacity=self.cfg.max_units) if self.cfg.full_game
                      else MatchBatch(size))  # fmt: skip
        self.games: list[Game] = []
        if self.cfg.league is not None:  # a league run's first games, before it names any: its bot members
            self.drawn = [f"bot:{level}" for level in self.cfg.opponents.levels]
        for slot in range(self.cfg.envs_per_actor):
            self.games.append(self._new_game(slot))
            self.batch.start(slot, self.games[slot].match)
        self._status = "idle"
        self._heartbeat = Path(heartbeat) if heartbeat else None
        self._thread = threading.get_ident()  # the thread running the worker's calls (updated by each rollout)
        if self._heartbeat is not None:
            threading.Thread(target=self._beat, daemon=True).start()

    def _beat(self) -> None:
        """Every few seconds: the time, the worker's status and its main thread's current stack."""
        while True:
            frame = sys._current_frames().get(self._thread)
            stack = "".join(traceback.format_stack(frame)) if frame is not None else ""
            try:
                self._heartbeat.write_text(f"{time.time():.3f} {self._status}\n{stack}")
            except OSError:
                pass
            time.sleep(HEARTBEAT_S)

    def set_league(self, *members: tuple[str, dict[str, np.ndarray]]) -> int:
        """Replace the frozen snapshots opponents are drawn from; returns how many there are."""
        self.league = []
        for name, weights in members:
            snapshot = Agent(self.spec, self.agent.config).eval()
            load_numpy_weights(snapshot, weights)
            self.league.append((name, snapshot))
        return len(self.league)

    def set_members(self, *members: tuple[str, int, dict[str, np.ndarray]]) -> int:
        """Add or refresh a league run's agent members (name, version, weights): a member whose version is already
        held is not loaded again. Returns how many are held."""
        for name, version, weights in members:
            held = self.members.get(name)
            if held is not None and held[0] == version:
                continue
            agent = held[1] if held is not None else Agent(self.spec, self.agent.config).eval()
            load_numpy_weights(agent, weights)
            self.members[name] = (version, agent)
        return len(self.members)

    def _member_game(self, slot: int, side: int) -> Game:
        """A league run's next game: against the next named opponent (a bot level or an agent member)."""
        cfg = self.cfg
        name = self.opponents.pop(0) if self.opponents else self.drawn[int(self.rng.integers(len(self.drawn)))]
        policy: AgentPolicy | None = None
        if not name.startswith("bot:"):
            if name not in self.members:
                raise KeyError(f"league opponent {name!r} has no weights in this worker (set_members first)")
            policy = AgentPolicy(self.members[name][1], 1, temperature=cfg.temperature,
                                 seed=int(self.rng.integers(2**31 - 1)))  # fmt: skip
        level = name[len("bot:"):] if policy is None else name
        sizes = {"max_units": cfg.max_units, "step_mul": cfg.step_mul, "lenient": cfg.lenient,
                 "actions_per_step": cfg.actions_per_step}  # fmt: skip
        if cfg.full_game:
            game = new_full_game(self.rng, cfg.full_game, side, level, policy, batch=self.batch.engine_slot(slot),
                                 **sizes)  # fmt: skip
        else:
            game = new_game(self.rng, self.scenarios, cfg.variants, side, level, policy, **sizes)
        game.opponent_name = name
        return game

    def _new_game(self, slot: int) -> Game:
        cfg, opponents = self.cfg, self.cfg.opponents
        side = 1 + self.games_started % 2
        self.games_started += 1
        if self.drawn:
            return self._member_game(slot, side)
        if self.league and (not opponents.levels or self.rng.random() < opponents.league_fraction):
            name, snapshot = self.league[int(self.rng.integers(len(self.league)))]
            seed = int(self.rng.integers(2**31 - 1))
            policy: AgentPolicy | None = AgentPolicy(snapshot, 1, temperature=cfg.temperature, seed=seed)
        else:
            name, policy = opponents.levels[int(self.rng.integers(len(opponents.levels)))], None
        sizes = {"max_units": cfg.max_units, "step_mul": cfg.step_mul, "lenient": cfg.lenient,
                 "actions_per_step": cfg.actions_per_step}  # fmt: skip
        if cfg.full_game:
            return new_full_game(self.rng, cfg.full_game, side, name, policy, batch=self.batch.engine_slot(slot),
                                 **sizes)  # fmt: skip
        return new_game(self.rng, self.scenarios, cfg.variants, side, name, policy, **sizes)

    def rollout(self, weights: dict[str, np.ndarray] | None, version: int,
                opponents: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
        """Play ``unroll_length`` steps of every game with the given weights; returns the trajectory. ``opponents``
        (a league run): the members the games that start in this rollout play, in order."""
        self._status, self._thread = f"rollout v{version}", threading.get_ident()
        if opponents:
            self.opponents, self.drawn = list(opponents), list(opponents)
        start_time = time.perf_counter()
        if weights is not None:
            load_numpy_weights(self.agent, weights)
        steps, batch = self.cfg.unroll_length, len(self.games)
        initial_state = {k: v.numpy().copy() for k, v in self.policy.state.items()}
        obs = [game.agent_obs for game in self.games]
        # each step's observations are stacked straight into their frame (the policy reads views of them)
        frames = {key: np.empty((steps + 1, batch, *np.shape(obs[0][key])), np.asarray(obs[0][key]).dtype)
                  for key in OBS_KEYS}  # fmt: skip
        firsts, actions, log_probs, temperatures, rewards, terminals, truncations, tail_values = ([] for _ in range(8))
        episodes, illegal, dropped = [], 0, 0
        for t in range(steps):
            for key in OBS_KEYS:
                np.stack([o[key] for o in obs], out=frames[key][t])
            firsts.append(self.policy.first.numpy().copy())
            try:
                chosen, out = self.policy.step_stacked({key: torch.from_numpy(frames[key][t]) for key in OBS_KEYS})
            except RuntimeError:
                self._raise_if_diverged(obs, version)
                raise
            actions.append({k: v.numpy() for k, v in out.action.items()})
            log_probs.append(out.log_prob.numpy())
            temperatures.append(out.temperature.numpy())
            step_rewards, tail_value = np.zeros(batch, np.float32), np.zeros(batch, np.float32)
            terminated, truncated = np.zeros(batch, bool), np.zeros(batch, bool)
            stepped = step_games(self.batch, self.games, chosen)
            for i, game in enumerate(self.games):
                step_rewards[i], terminated[i], truncated[i], game_illegal, game_dropped = stepped[i]
                if self.cfg.shaping.enabled:
                    step_rewards[i] += self.cfg.shaping.bonus(frames["scalars"][t, i], game.agent_obs["scalars"],
                                                              self.cfg.learner.discount, bool(terminated[i]))
                illegal += game_illegal
                dropped += game_dropped
                if truncated[i]:
                    tail_value[i] = self.policy.value(game.agent_obs, i)
                if terminated[i] or truncated[i]:
                    episodes.append({"return": game.episode_return, "length": game.length,
                                     "outcome": game.outcome(), "opponent": game.opponent_name,
                                     "scenario": game.match.scenario.name,
                                     "illegal_actions": game.illegal_actions,
                                     "units_dropped": game.units_dropped})  # fmt: skip
                    self.games[i] = self._new_game(i)
                    self.batch.start(i, self.games[i].match)
                    self.policy.reset(i)
            rewards.append(step_rewards)
            terminals.append(terminated)
            truncations.append(truncated)
            tail_values.append(tail_value)
            obs = [game.agent_obs for game in self.games]
        for key in OBS_KEYS:
            np.stack([o[key] for o in obs], out=frames[key][steps])
        firsts.append(self.policy.first.numpy().copy())
        trajectory = {f"obs/{key}": values for key, values in frames.items()}
        trajectory.update({f"action/{key}": np.stack([a[key] for a in actions]) for key in actions[0]})
        trajectory.update({f"state/{key}": value for key, value in initial_state.items()})
        trajectory.update(first=np.stack(firsts), behaviour_log_prob=np.stack(log_probs),
                          temperature=np.stack(temperatures), reward=np.stack(rewards),
                          terminated=np.stack(terminals), truncated=np.stack(truncations),
                          truncation_value=np.stack(tail_values))  # fmt: skip
        self._status = "idle"
        return {"trajectory": trajectory, "episodes": episodes, "version": int(version), "worker": self.worker_id,
                "frames": steps * batch, "seconds": time.perf_counter() - start_time,
                "illegal_actions": illegal, "units_dropped": dropped, "node": self.node}  # fmt: skip

    def _raise_if_diverged(self, obs: list[dict[str, np.ndarray]], version: int) -> None:
        """After a failed policy step: ``DivergedError`` if the weights of update ``version`` give non-finite
        outputs on these observations (the learner diverged: nothing a fresh worker would fix)."""
        terms = output_terms(self.agent, stack_observations(obs), self.policy.state, self.policy.first)
        check_finite(version, terms, "in an actor's games")

    def ping(self) -> int:
        return self.worker_id
