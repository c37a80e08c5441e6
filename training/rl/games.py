"""The games an actor plays: mirrored scenarios, the agent on either side, a bot or a league snapshot opposite; or
full games (``new_full_game``: economy, production, races drawn per game) against the full-game bots.

Each game draws its scenario, start-position variant and opponent from the actor's seeded RNG and alternates the
agent's side, so a policy learns to fight from the left and from the right (evaluation swaps sides too). Games are
strict unless the run asks for lenient ones, where the agent's illegal actions are dropped and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from envs.skirmish.batched import BatchedEngine
from envs.skirmish.botgame import bot_match, outcome
from envs.skirmish.economy.bot import FullGameBot, apply_full_game_cheats
from envs.skirmish.economy.match import FullMatch, FullMatchBatch
from envs.skirmish.economy.start import draw_races
from envs.skirmish.match import Match, StepResult
from envs.skirmish.match_batch import MatchBatch
from envs.skirmish.scenario import Scenario

Opponent = Callable[[dict[str, np.ndarray], dict[str, Any]], Any]


class Stepped(NamedTuple):
    """One agent step of a game for the agent: reward, terminated, truncated (the scenario's time limit, after
    which the last observation still has a value), and its illegal actions and units without a row."""

    reward: float
    terminated: bool
    truncated: bool
    illegal_actions: int
    units_dropped: int


@dataclass
class Game:
    """One running game of an actor's batch: the match, the agent's side and the opponent's policy. The actor's
    ``MatchBatch`` plays the games' steps together (``step_games``)."""

    match: Match | FullMatch
    side: int
    opponent_name: str
    opponent: Opponent
    episode_return: float = 0.0
    length: int = 0
    illegal_actions: int = 0
    units_dropped: int = 0  # units in view that got no row, summed over the observations the steps returned
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def agent_obs(self) -> dict[str, np.ndarray]:
        return self.match.observations[self.side]

    def actions(self, action: Any) -> dict[int, Any]:
        """Both players' actions for the next step: the agent's ``action`` (one action dict or a list) and the
        opponent's answer to its own observation."""
        other = 3 - self.side
        return {self.side: action, other: self.opponent(self.match.observations[other], self.match.spec)}

    def record(self, result: StepResult) -> Stepped:
        """Count the match's step ``result`` into the game; returns the agent's side of it."""
        _, rewards, terminated, truncated, infos = result
        mine = infos[self.side]
        stepped = Stepped(float(rewards[self.side]), bool(terminated), bool(truncated), mine["illegal_actions"],
                          mine["units_dropped"])  # fmt: skip
        self.episode_return += stepped.reward
        self.length += 1
        self.illegal_actions += stepped.illegal_actions
        self.units_dropped += stepped.units_dropped
        return stepped

    def outcome(self) -> str:
        """How the game ended for the agent (one of ``botgame.OUTCOMES``)."""
        return outcome(self.match.winner, self.side)


def step_games(batch: MatchBatch | FullMatchBatch, games: Sequence[Game], actions: Sequence[Any]) -> list[Stepped]:
    """One step of every game (game ``i`` in the batch's slot ``i``) with the agent's ``actions``; per game what
    ``Game.record`` returns."""
    results = batch.step({i: game.actions(action) for i, (game, action) in enumerate(zip(games, actions, strict=True))})
    return [game.record(results[i]) for i, game in enumerate(games)]


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
    return Game(match, side, opponent_name, opponent)


def new_full_game(
    rng: np.random.Generator,
    game_map: str,
    side: int,
    opponent_name: str,
    league_policy: Opponent | None,
    *,
    max_units: int,
    step_mul: int,
    actions_per_step: int,
    lenient: bool = False,
    batch: tuple[BatchedEngine, int] | None = None,
) -> Game:
    """Start a full game on ``game_map`` (a race per side drawn from the game's seed) against the full-game bot level
    ``opponent_name`` (its cheats applied) or ``league_policy``, a snapshot, when given; ``batch``: the batched
    engine slot it plays in (``FullMatchBatch.engine_slot``)."""
    seed = int(rng.integers(2**31 - 1))
    match = FullMatch(game_map, draw_races(seed), seed, step_mul=step_mul, max_units=max_units, lenient=lenient,
                      actions_per_step=actions_per_step, batch=batch)  # fmt: skip
    other = 3 - side
    if league_policy is not None:
        return Game(match, side, opponent_name, league_policy)
    apply_full_game_cheats(match, {other: opponent_name})
    bot = FullGameBot(opponent_name, match.game, other, seed=seed * 2 + other)
    return Game(match, side, opponent_name, lambda _obs, spec: bot.act(match.observed[other], spec))
