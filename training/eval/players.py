"""The evaluated player: a checkpointed agent or a built-in bot level, and how it acts in several games at once.

``load_player("runs/rl/checkpoints")`` or ``load_player("bot:hard")`` gives a ``PlayerSource``: plain data (the
agent's spec, config and weights, or the level) that is shipped once to every worker, which rebuilds the player
from it. ``source.player(k, ...)`` is a player for ``k`` concurrent games: an agent runs one batched network call
for all of them per step; a bot level keeps one bot per game.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from agents.agent import Agent
from envs.contract.sizes import DEFAULT_MAX_UNITS, DEFAULT_RESOLUTION
from envs.skirmish.botgame import bot_seed
from envs.skirmish.bots import LEVELS, Bot, make_bot
from training.agent_io import load_agent
from training.eval.config import EvalError
from training.policy import AgentPolicy

BOT_PREFIX = "bot:"
Observation = Mapping[str, np.ndarray]


class Player(Protocol):
    """Acts in ``batch_size`` game slots; ``start`` is called when a slot begins a new game."""

    batch_size: int

    def start(self, slot: int, side: int, seed: int) -> None: ...

    def act(self, slots: Sequence[int], observations: Sequence[Observation], specs: Sequence[dict]) -> list[Any]: ...


class BotPlayer:
    """A built-in bot level in several games: one bot per slot, seeded like ``play_bot_game`` seeds it."""

    def __init__(self, level: str, batch_size: int) -> None:
        self.level, self.batch_size = level, batch_size
        self.bots: dict[int, Bot] = {}

    def start(self, slot: int, side: int, seed: int) -> None:
        self.bots[slot] = make_bot(self.level, side, bot_seed(seed, side))

    def act(self, slots: Sequence[int], observations: Sequence[Observation], specs: Sequence[dict]) -> list[Any]:
        return [self.bots[s].act(o, spec) for s, o, spec in zip(slots, observations, specs, strict=True)]


class OneGameAgent:
    """A ``Player`` in one game slot, acting like a bot: ``act(observation, spec)`` (an agent's games outside a
    batch: ``pstar play``, replay recording)."""

    def __init__(self, player: Player, side: int, seed: int) -> None:
        self.player = player
        player.start(0, side, seed)

    def act(self, observation: Observation, spec: dict) -> Any:
        return self.player.act([0], [observation], [spec])[0]


class AgentPlayer:
    """An agent in several games: one batched ``AgentPolicy`` step for all slots (idle slots repeat a live one)."""

    def __init__(self, policy: AgentPolicy) -> None:
        self.policy = policy
        self.batch_size = policy.batch_size

    def start(self, slot: int, side: int, seed: int) -> None:
        self.policy.reset(slot)

    def act(self, slots: Sequence[int], observations: Sequence[Observation], specs: Sequence[dict]) -> list[Any]:
        rows = [observations[0]] * self.batch_size  # idle slots: any valid observation; their actions are dropped
        for slot, obs in zip(slots, observations, strict=True):
            rows[slot] = obs
        actions, _ = self.policy.step(rows)
        return [actions[slot] for slot in slots]


@dataclass
class PlayerSource:
    """What the evaluated player is, as plain data a worker rebuilds it from.

    name: as given (a checkpoint path or ``bot:<level>``). level: the bot level, or None for an agent.
    agent: ``Agent.checkpoint_config()`` (spec and agent config). weights: the agent's state dict.
    checkpoint: the resolved checkpoint directory. step: the checkpoint's step counter.
    """

    name: str
    level: str | None = None
    agent: dict[str, Any] | None = None
    weights: dict[str, torch.Tensor] | None = None
    checkpoint: str | None = None
    step: int | None = None

    @property
    def is_agent(self) -> bool:
        return self.level is None

    @property
    def spec(self) -> dict[str, Any] | None:
        return self.agent["spec"] if self.agent is not None else None

    @property
    def max_units(self) -> int:
        """Observation rows of every game: the agent's spec, or the bot games' default (as the ladder plays)."""
        return int(self.spec["max_units"]) if self.spec is not None else DEFAULT_MAX_UNITS

    @property
    def resolution(self) -> int:
        return int(self.spec["location_resolution"]) if self.spec is not None else DEFAULT_RESOLUTION

    @property
    def map_size(self) -> tuple[float, float] | None:
        """The map size the agent was built for (None: a bot plays any map)."""
        return tuple(float(v) for v in self.spec["map_size"]) if self.spec is not None else None

    @property
    def default_temperature(self) -> float | None:
        return float(self.agent["agent"]["heads"]["temperature"]) if self.agent is not None else None

    def build_agent(self) -> Agent:
        """The agent with its weights, in eval mode (done once per worker)."""
        agent = Agent.from_checkpoint(self.agent, self.weights)
        agent.eval()
        return agent

    def player(
        self,
        batch_size: int,
        *,
        agent: Agent | None = None,
        greedy: bool = False,
        temperature: float | None = None,
        seed: int = 0,
        core_window: int | None = None,
        greedy_arguments: bool = False,
    ) -> Player:
        """A player for ``batch_size`` concurrent games (``agent``: this source's agent, built once by the caller;
        ``core_window`` and ``greedy_arguments``: see ``AgentPolicy``)."""
        if not self.is_agent:
            return BotPlayer(self.level, batch_size)
        policy = AgentPolicy(
            agent if agent is not None else self.build_agent(),
            batch_size,
            greedy=greedy,
            temperature=temperature,
            seed=seed,
            core_window=core_window,
            greedy_arguments=greedy_arguments,
        )
        return AgentPlayer(policy)


def load_player(player: str) -> PlayerSource:
    """``bot:<level>``, or a checkpoint (or run) directory or ``pretrained:<name>``, loaded and checked here (raises
    ``CheckpointError``)."""
    if player.startswith(BOT_PREFIX):
        level = player[len(BOT_PREFIX) :]
        if level not in LEVELS:
            raise EvalError(
                f"player {player!r}: unknown bot level {level!r}; expected bot:<level> with a level "
                f"in {', '.join(LEVELS)}"
            )
        return PlayerSource(name=player, level=level)
    agent, checkpoint = load_agent(player)
    return PlayerSource(
        name=player,
        agent=agent.checkpoint_config(),
        weights=checkpoint.weights,
        checkpoint=str(checkpoint.path),
        step=checkpoint.step,
    )
