"""The evaluation games: which are played (the plan) and how a worker plays a list of them, several at once.

Games are played like the bot ladder's, built by ``envs.skirmish.botgame.bot_match``: mirrored armies, the engine
seeded with the variant, bots seeded with ``bot_seed(variant, side)``, cheat levels' extra units and vision
applied. Per level, games go round-robin over the scenarios in pairs: both games of a pair use the same
variant with the sides swapped, so a side advantage cancels when ``games`` is even. ``random`` as a scenario is a
SMACv2-style random battle (``envs.skirmish.generator.random_scenario``) on the agent's map, seeded by the pair's
variant, so each pair plays a different one (held out: no training job draws them unless told to).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP
from envs.skirmish.botgame import bot_match, outcome
from envs.skirmish.bots import Bot
from envs.skirmish.generator import random_scenario
from envs.skirmish.match import Match
from envs.skirmish.match_batch import MatchBatch
from envs.skirmish.scenario import ScenarioError
from training.eval.config import EvalError
from training.eval.players import Player, PlayerSource
from training.scenario_fit import fitting_scenarios, warn_if_rows_short

RANDOM = "random"  # a scenario name: a random battle per pair of games


@dataclass(frozen=True)
class EvalGame:
    """One game: the evaluated player against bot ``level`` (or the agent opponent of that name); it plays side 2
    when ``swapped``."""

    index: int
    level: str
    scenario: str
    variant: int
    swapped: bool

    @property
    def side(self) -> int:
        return 2 if self.swapped else 1


@dataclass(frozen=True)
class GameOutcome:
    """How a game ended for the evaluated player (one of ``botgame.OUTCOMES``), how many agent steps it took, how
    many of its actions a lenient game dropped as illegal (a strict game raises instead) and how many units in
    view its observations left out (more units than ``max_units`` rows; summed over the steps)."""

    game: EvalGame
    result: str
    steps: int
    illegal_actions: int = 0
    units_dropped: int = 0


def plan_games(levels: Sequence[str], scenarios: Sequence[str], games: int, seed: int = 0) -> list[EvalGame]:
    """``games`` games per level: game g is in pair p = g // 2 on scenario ``scenarios[p % S]``; the pair's
    variant is ``seed + (p // S)`` (its index on that scenario, as the ladder counts ``g // 2``), odd g swapped."""
    plan = []
    for level in levels:
        for g in range(games):
            pair = g // 2
            scenario = scenarios[pair % len(scenarios)]
            plan.append(EvalGame(len(plan), level, scenario, seed + pair // len(scenarios), bool(g % 2)))
    return plan


def check_scenarios(source: PlayerSource, scenarios: Sequence[str]) -> None:
    """Raise ``EvalError`` for a scenario that does not load, or whose map is not the one the agent's spec has;
    warn when the player's rows cannot hold every unit of one (``random`` ones are built to fit)."""
    named = [name for name in scenarios if name != RANDOM]
    try:
        loaded = fitting_scenarios(named, source.map_size, f"the agent of {source.name}")
    except ScenarioError as error:
        raise EvalError(str(error)) from error
    warn_if_rows_short(loaded, source.max_units, "eval")


@dataclass
class _Running:
    """A game in progress in one slot."""

    game: EvalGame
    match: Match
    opponent: Bot | Any
    illegal_actions: int = 0
    units_dropped: int = 0


def play_games(
    player: Player,
    source: PlayerSource,
    games: Sequence[EvalGame],
    *,
    step_mul: int = 8,
    fog: bool = False,
    lenient: bool = False,
    actions_per_step: int = DEFAULT_ACTIONS_PER_STEP,
    opponents: Mapping[str, Callable[[int, int], Any]] | None = None,
) -> list[GameOutcome]:
    """Play ``games`` in ``player.batch_size`` slots of one ``MatchBatch``, stepped together (a slot takes the next
    game when one ends); ``lenient``: drop and count the evaluated player's illegal actions instead of raising.
    ``opponents``: agent opponents by name, each a factory ``(side, variant)`` of a player that acts like a bot.

    Deterministic: the same games, player and seed give the same outcomes, wherever this runs.
    """
    pending = deque(games)
    slots: list[_Running | None] = [None] * player.batch_size
    batch = MatchBatch(player.batch_size)
    outcomes = []

    def start(slot: int) -> None:
        game = pending.popleft()
        other = 3 - game.side  # the evaluated side's cheats apply when it is a bot level; its player plays it
        scenario = random_scenario(game.variant, map_size=source.map_size) if game.scenario == RANDOM else game.scenario
        agent = (opponents or {}).get(game.level)
        match, bots = bot_match(scenario, {game.side: source.level, other: None if agent else game.level}, game.variant,
                                variant=game.variant, lenient=lenient, step_mul=step_mul,
                                max_units=source.max_units, resolution=source.resolution, fog=fog,
                                actions_per_step=actions_per_step)  # fmt: skip
        player.start(slot, game.side, game.variant)
        slots[slot] = _Running(game, match, agent(other, game.variant) if agent else bots[other])
        batch.start(slot, match)

    for slot in range(min(player.batch_size, len(pending))):
        start(slot)
    while any(slots):
        active = [i for i, running in enumerate(slots) if running is not None]
        games_now = [slots[i] for i in active]
        actions = player.act(
            active, [r.match.observations[r.game.side] for r in games_now], [r.match.spec for r in games_now]
        )
        moves = {}
        for slot, running, action in zip(active, games_now, actions, strict=True):
            other, match = 3 - running.game.side, running.match
            reply = running.opponent.act(match.observations[other], match.spec)
            moves[slot] = {running.game.side: action, other: reply}
        results = batch.step(moves)
        for slot, running in zip(active, games_now, strict=True):
            infos = results[slot][4][running.game.side]
            running.illegal_actions += infos["illegal_actions"]
            running.units_dropped += infos["units_dropped"]
            if running.match.engine.done:
                outcomes.append(_outcome(running))
                slots[slot] = None
                batch.stop(slot)
                if pending:
                    start(slot)
    return sorted(outcomes, key=lambda o: o.game.index)


def _outcome(running: _Running) -> GameOutcome:
    return GameOutcome(running.game, outcome(running.match.winner, running.game.side), running.match.steps,
                       running.illegal_actions, running.units_dropped)  # fmt: skip
