"""The full-game bot ladder: the ten full-game levels play whole games against each other, race against race.

Each game variant draws a race for each start location (seeded), and is played twice with the levels swapping
sides (same races at the same places, same seed), so neither level profits from a race or a start location. The
result is the battle ladder's ``LadderResult`` (win/draw/loss matrix, the adjacent-level check), with the race
matchup (``duel:terran-zerg``) where a battle ladder has its scenario.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from envs.skirmish.botgame import outcome
from envs.skirmish.economy.bot import FULL_GAME_LEVELS, FullGameBot, apply_full_game_cheats
from envs.skirmish.economy.maps import load_map
from envs.skirmish.economy.match import FullMatch, FullMatchBatch
from envs.skirmish.economy.start import draw_races
from envs.skirmish.ladder import GameOutcome, LadderResult, play_games

NON_CHEAT_FULL_LEVELS: tuple[str, ...] = tuple(FULL_GAME_LEVELS)[:7]


@dataclass(frozen=True)
class FullLadderGame:
    """One full game of a ladder run: ``first`` plays player 1 unless ``swapped``; ``races`` by start location."""

    index: int
    game_map: str
    races: tuple[str, str]
    first: str
    second: str
    seed: int
    swapped: bool
    step_mul: int = 8

    @property
    def scenario(self) -> str:
        return f"{self.game_map}:{self.races[0]}-{self.races[1]}"


def play_full_bot_game(levels: dict[int, str], races: tuple[str, str], game_map: str = "duel", seed: int = 0,
                       step_mul: int = 8, lenient: bool = True, record: bool = False,
                       on_step: Callable[[FullMatch], None] | None = None) -> FullMatch:  # fmt: skip
    """Two full-game bots play one game to its end (a win, or a draw at the map's time limit); returns the match,
    whose ``illegal_actions`` counts each player's (a bot means none: the tests play strict games). ``on_step``
    is called after the start and after every step (frames); ``record`` keeps the actions for a replay."""
    for level in levels.values():
        if level not in FULL_GAME_LEVELS:
            raise ValueError(f"unknown full-game bot level {level!r}; expected one of {', '.join(FULL_GAME_LEVELS)}")
    match = FullMatch(game_map, races, seed=seed, step_mul=step_mul, lenient=lenient, record=record)
    apply_full_game_cheats(match, levels)
    bots = {p: FullGameBot(levels[p], match.game, p, seed=seed * 2 + p) for p in (1, 2)}
    match.illegal_actions = {1: 0, 2: 0}
    if on_step is not None:
        on_step(match)
    while True:
        _, _, terminated, truncated, infos = match.step({p: bots[p].act(match.observed[p], match.spec)
                                                         for p in (1, 2)})  # fmt: skip
        for p in (1, 2):
            match.illegal_actions[p] += infos[p]["illegal_actions"]
        if on_step is not None:
            on_step(match)
        if terminated or truncated:
            return match


def play_full_bot_games(games: Sequence[tuple[dict[int, str], tuple[str, str], int]], game_map: str = "duel",
                        step_mul: int = 8, lenient: bool = True, record: bool = False,
                        on_end: Callable[[int, FullMatch], None] | None = None) -> list[FullMatch]:  # fmt: skip
    """``play_full_bot_game`` for several games at once (each ``(levels, races, seed)``), stepped together in one
    batched engine, each exactly as alone; ``on_end(i, match)`` is called as game i ends (e.g. to write it)."""
    for levels, _, _ in games:
        for level in levels.values():
            if level not in FULL_GAME_LEVELS:
                raise ValueError(f"unknown full-game bot level {level!r}; expected one of "
                                 f"{', '.join(FULL_GAME_LEVELS)}")  # fmt: skip
    batch = FullMatchBatch(len(games), batched=True)
    matches, bots = [], []
    for i, (levels, races, seed) in enumerate(games):
        match = FullMatch(game_map, races, seed=seed, step_mul=step_mul, lenient=lenient, record=record,
                          batch=batch.engine_slot(i))  # fmt: skip
        apply_full_game_cheats(match, levels)
        batch.start(i, match)
        match.illegal_actions = {1: 0, 2: 0}
        matches.append(match)
        bots.append({p: FullGameBot(levels[p], match.game, p, seed=seed * 2 + p) for p in (1, 2)})
    live = list(range(len(games)))
    while live:
        results = batch.step({i: {p: bots[i][p].act(matches[i].observed[p], matches[i].spec) for p in (1, 2)}
                              for i in live})  # fmt: skip
        for i, (_, _, terminated, truncated, infos) in results.items():
            for p in (1, 2):
                matches[i].illegal_actions[p] += infos[p]["illegal_actions"]
            if terminated or truncated:
                live.remove(i)
                if on_end is not None:
                    on_end(i, matches[i])
    return matches


def play_full_ladder_game(game: FullLadderGame) -> GameOutcome:
    """Play one ladder game (runs in a worker process)."""
    levels = {1: game.second, 2: game.first} if game.swapped else {1: game.first, 2: game.second}
    match = play_full_bot_game(levels, game.races, game.game_map, game.seed, game.step_mul)
    return GameOutcome(game, outcome(match.winner, 2 if game.swapped else 1), match.steps)


def plan_full_ladder(levels: Sequence[str], games: int, *, game_map: str = "duel", seed: int = 0,
                     adjacent_only: bool = True, step_mul: int = 8) -> list[FullLadderGame]:  # fmt: skip
    """For every pair of levels (each with the next one only, if ``adjacent_only``), ``games`` games: game g is
    variant ``seed + g // 2`` (its races drawn from it) with sides swapped when g is odd."""
    unknown = [level for level in levels if level not in FULL_GAME_LEVELS]
    if unknown or len(set(levels)) != len(levels) or len(levels) < 2:
        raise ValueError(f"full ladder: expected at least two distinct levels of {', '.join(FULL_GAME_LEVELS)}, "
                         f"got {list(levels)}")  # fmt: skip
    if games < 1:
        raise ValueError(f"full ladder: games per pair must be >= 1, got {games}")
    load_map(game_map)  # an unknown map fails here, before any worker starts
    pairs = (list(zip(levels, levels[1:], strict=False)) if adjacent_only
             else [(a, b) for i, a in enumerate(levels) for b in levels[i + 1 :]])  # fmt: skip
    plan = []
    for low, high in pairs:
        for g in range(games):
            variant = seed + g // 2
            races = draw_races(variant)
            plan.append(FullLadderGame(len(plan), game_map, races, high, low, variant, bool(g % 2), step_mul))
    return plan


def run_full_ladder(levels: Sequence[str] = NON_CHEAT_FULL_LEVELS, games: int = 10, *, game_map: str = "duel",
                    processes: int | None = None, seed: int = 0, adjacent_only: bool = True, step_mul: int = 8,
                    threshold: float = 0.6,
                    on_game: Callable[[GameOutcome], None] | None = None) -> LadderResult:  # fmt: skip
    """Play the full-game ladder (see ``plan_full_ladder``) on ``processes`` workers; the result does not depend
    on the number of processes."""
    plan = plan_full_ladder(levels, games, game_map=game_map, seed=seed, adjacent_only=adjacent_only,
                            step_mul=step_mul)  # fmt: skip
    matchups = tuple(dict.fromkeys(g.scenario for g in plan))
    result = LadderResult(tuple(levels), matchups, games, seed, threshold)
    return play_games(plan, result, processes=processes, on_game=on_game, play=play_full_ladder_game)
