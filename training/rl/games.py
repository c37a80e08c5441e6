"""The games an actor plays: mirrored scenarios, the agent on either side, a bot or a league snapshot opposite.

Each game draws its scenario, start-position variant and opponent from the actor's seeded RNG and alternates the
agent's side, so a policy learns to fight from the left and from the right (evaluation swaps sides too). Games are
strict unless the run asks for lenient ones, where the agent's illegal actions are dropped and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from envs.skirmish.botgame import bot_match, outcome
from envs.skirmish.match import Match
from envs.skirmish.scenario import Scenario

Opponent = Callable[[dict[str, np.ndarray], dict[str, Any]], Any]


@dataclass
class Game:
    """One running game of an actor's batch: the match, the agent's side and the opponent's policy."""

    match: Match
    side: int
    opponent_name: str
    opponent: Opponent
    obs: dict[int, dict[str, np.ndarray]]
    episode_return: float = 0.0
    length: int = 0
    illegal_actions: int = 0
    units_dropped: int = 0  # units in view that got no row, summed over the observations the steps returned
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def agent_obs(self) -> dict[str, np.ndarray]:
        return self.obs[self.side]

    def step(self, action: Any) -> tuple[float, bool, bool]:
        """Play one agent step of ``action`` (one action dict or a list; the opponent answers its own observation);
        returns (reward, terminated, truncated):
        truncated is the scenario's time limit, after which the last observation still has a value."""
        other = 3 - self.side
        reply = self.opponent(self.obs[other], self.match.spec)
        self.obs, rewards, terminated, truncated, infos = self.match.step({self.side: action, other: reply})
        reward = float(rewards[self.side])
        self.episode_return += reward
        self.length += 1
        self.illegal_actions += infos[self.side]["illegal_actions"]
        self.units_dropped += infos[self.side]["units_dropped"]
        return reward, bool(terminated), bool(truncated)

    def outcome(self) -> str:
        """How the game ended for the agent (one of ``botgame.OUTCOMES``)."""
        return outcome(self.match.winner, self.side)


def new_game(
    rng: np.random.Generator,
    scenarios: Sequence[Scenario],
    variants: int,
    side: int,
    opponent_name: str,
    league_policy: Opponent | None,
    *,
    max_units: int,
    step_mul: int,
    actions_per_step: int,
    lenient: bool = False,
) -> Game:
    """Start a game against bot level ``opponent_name`` (or ``league_policy``, a snapshot, when given)."""
    scenario = scenarios[int(rng.integers(len(scenarios)))]
    variant = int(rng.integers(1, variants + 1)) if variants > 0 else 0
    seed = int(rng.integers(2**31 - 1))
    levels = {3 - side: opponent_name if league_policy is None else None}
    match, bots = bot_match(scenario, levels, seed, variant=variant, lenient=lenient, step_mul=step_mul,
                            max_units=max_units, actions_per_step=actions_per_step)  # fmt: skip
    opponent = league_policy if league_policy is not None else bots[3 - side].act
    return Game(match, side, opponent_name, opponent, match.reset())
