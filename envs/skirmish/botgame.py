"""Games with built-in bots: mirrored variants, how a bot level's cheats change a match, bot seeds, the one
builder of such a match (``bot_match``), how a game ended (``outcome``) and whole bot-vs-bot games, one
(``play_bot_game``) or many stepped together (``play_bot_games``, a ``MatchBatch``).

"Mirrored" means both sides get player 1's army of the scenario, reflected across the map's vertical centre line,
so neither side has more or better units; a variant jitters the start positions (seeded). Cheat levels are not
something a bot can do through the action interface, so the code that builds the match applies them:
``extra_units`` grows the bot's army (``cheat_units`` on the scenario) and ``vision`` gives the bot fog-free
observations (``Match(see_all=...)``). RL's and evaluation's games, the ladder, the replay recorder and
``pstar play`` all build their matches with ``bot_match``.

Besides the levels, ``bot_match`` accepts the players of ``EXTRA_PLAYERS`` (``expert``: the privileged planning
demonstrator, envs/skirmish/expert), which are not ladder levels and get no cheats. A player with ``needs_state``
is handed the match and the opponent's bot (``bind``) once both are built; every other bot sees only observations.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP
from envs.contract.sizes import DEFAULT_MAX_UNITS, DEFAULT_RESOLUTION
from envs.skirmish.bots import LEVEL_CONFIGS, LEVELS, Bot, cheat_units, make_bot
from envs.skirmish.match import Match
from envs.skirmish.match_batch import MatchBatch
from envs.skirmish.scenario import FACING, Scenario, UnitPlacement, load_scenario

JITTER = 0.25  # map units; the start positions of a variant move by at most this much on each axis
OUTCOMES = ("win", "draw", "loss")  # how a game ended for one player; a time-limit end is a draw


EXTRA_PLAYERS = ("expert",)  # built-in players that are not ladder levels


def check_level(level: str) -> str:
    """``level`` if it is a bot level, else a ValueError listing the levels."""
    if level not in LEVEL_CONFIGS:
        raise ValueError(f"unknown bot level {level!r}; expected one of {', '.join(LEVELS)}")
    return level


def check_player(name: str) -> str:
    """``name`` if it is a bot level or one of EXTRA_PLAYERS, else a ValueError listing them."""
    if name not in LEVEL_CONFIGS and name not in EXTRA_PLAYERS:
        raise ValueError(f"unknown bot level {name!r}; expected one of {', '.join(LEVELS + EXTRA_PLAYERS)}")
    return name


def make_player(name: str, player: int, seed: int = 0):
    """A fresh built-in player: a bot level (``make_bot``) or one of EXTRA_PLAYERS."""
    if check_player(name) == "expert":
        from envs.skirmish.expert.player import Expert

        return Expert(player, seed)
    return make_bot(name, player, seed)


def apply_cheats(scenario: Scenario, levels: Mapping[int, str | None]) -> tuple[Scenario, tuple[int, ...]]:
    """The scenario with cheating bots' extra units, and the players that see through fog.

    ``levels`` maps a player to its bot level, or to None for a player that is not a bot (a policy).
    """
    see_all = []
    for player in sorted(levels):
        level = levels[player]
        if level is None or check_player(level) in EXTRA_PLAYERS:
            continue
        config = LEVEL_CONFIGS[check_level(level)]
        if config.extra_units > 0:
            scenario = cheat_units(scenario, player, config.extra_units)
        if config.vision:
            see_all.append(player)
    return scenario, tuple(see_all)


def bot_seed(seed: int, player: int) -> int:
    """The bot seed used for ``player`` in a game played with ``seed`` (distinct per side)."""
    return 2 * int(seed) + player - 1


def mirrored(scenario: Scenario, variant: int = 0, jitter: float = JITTER) -> Scenario:
    """``scenario`` with player 1's army on both sides (player 2's reflected), start positions jittered.

    Variant 0 keeps the exact positions; variant k > 0 moves each of player 1's units by a seeded uniform
    offset in [-jitter, jitter] on each axis (at most 30% of the closest spacing, clamped to the map) and
    reflects the result for player 2. Scenarios are immutable, so each (scenario, variant, jitter) is built once
    (an RL actor starts a game every few steps from a handful of them).
    """
    return _mirrored(scenario, int(variant), float(jitter))


@functools.lru_cache(maxsize=1024)
def _mirrored(scenario: Scenario, variant: int, jitter: float) -> Scenario:
    own = [p for p in scenario.placements if p.owner == 1]
    pos = np.array([(p.x, p.y) for p in own])
    if len(own) > 1:  # never jitter two units onto each other: at most 30% of the closest spacing
        gaps = np.hypot(*(pos[:, None, :] - pos[None, :, :]).transpose(2, 0, 1))
        np.fill_diagonal(gaps, np.inf)
        jitter = min(jitter, 0.3 * float(gaps.min()))
    rng = np.random.default_rng(variant)
    offsets = rng.uniform(-jitter, jitter, size=(len(own), 2)) if variant else np.zeros((len(own), 2))
    width, height = scenario.map_width, scenario.map_height
    left = [
        UnitPlacement(p.unit, 1, float(np.clip(p.x + dx, 0.0, width)), float(np.clip(p.y + dy, 0.0, height)),
                      FACING[1])
        for p, (dx, dy) in zip(own, offsets.tolist(), strict=True)
    ]  # fmt: skip
    right = [UnitPlacement(p.unit, 2, width - p.x, p.y, FACING[2]) for p in left]
    return dataclasses.replace(
        scenario,
        name=f"{scenario.name}_mirror{variant}",
        placements=tuple(left + right),
        description=f"{scenario.name}: player 1's army on both sides (variant {variant})",
    )


def bot_match(
    scenario: Scenario | str | Path,
    levels: Mapping[int, str | None],
    seed: int = 0,
    *,
    variant: int | None = None,
    lenient: bool = False,
    step_mul: int = 8,
    max_units: int = DEFAULT_MAX_UNITS,
    resolution: int = DEFAULT_RESOLUTION,
    fog: bool = False,
    record: bool = False,
    actions_per_step: int = DEFAULT_ACTIONS_PER_STEP,
) -> tuple[Match, dict[int, Bot]]:
    """A match on ``scenario`` (its mirrored ``variant`` when given) with the engine seeded by ``seed``, and the
    bots of the players ``levels`` maps to a bot level (or an EXTRA_PLAYERS name), cheats applied, seeded
    ``bot_seed(seed, player)``.

    A player missing from ``levels`` or mapped to None is a policy; ``lenient`` and ``actions_per_step`` (the
    action budget of every player, bots and policies alike) are passed to ``Match``.
    """
    built = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if variant is not None:
        built = mirrored(built, variant)
    built, see_all = apply_cheats(built, levels)
    match = Match(built, seed, step_mul=step_mul, max_units=max_units, resolution=resolution, fog=fog,
                  see_all=see_all, lenient=lenient, record=record, actions_per_step=actions_per_step)  # fmt: skip
    bots = {p: make_player(level, p, bot_seed(seed, p)) for p, level in levels.items() if level is not None}
    for p, bot in bots.items():
        if getattr(bot, "needs_state", False):
            bot.bind(match, bots.get(3 - p))
    return match, bots


def outcome(winner: int | None, player: int) -> str:
    """How the game ended for ``player`` (one of OUTCOMES) given the match's winner (0 or None: a draw)."""
    return "draw" if winner in (0, None) else "win" if winner == player else "loss"


def play_bot_game(
    scenario: Scenario | str | Path,
    levels: Mapping[int, str],
    seed: int = 0,
    *,
    variant: int | None = None,
    step_mul: int = 8,
    max_units: int = 512,
    resolution: int = 64,
    fog: bool = False,
    record: bool = True,
    on_step: Callable[[Match], None] | None = None,
    actions_per_step: int = DEFAULT_ACTIONS_PER_STEP,
) -> Match:
    """Play a whole game between bot ``levels[1]`` and ``levels[2]`` (see ``bot_match``); returns the finished Match.

    ``on_step(match)`` is called after the reset and after every step (e.g. to render frames).
    """
    match, bots = bot_match(scenario, {p: levels[p] for p in (1, 2)}, seed, variant=variant, step_mul=step_mul,
                            max_units=max_units, resolution=resolution, fog=fog, record=record,
                            actions_per_step=actions_per_step)  # fmt: skip
    return play_out(match, bots, on_step)


def play_out(match: Match, players: Mapping[int, Bot], on_step: Callable[[Match], None] | None = None) -> Match:
    """Reset ``match`` and play it to the end, each side's actions from ``players[side].act(observation, spec)``
    (a bot, or anything acting like one); ``on_step(match)`` after the reset and after every step."""
    observations = match.reset()
    if on_step is not None:
        on_step(match)
    while not match.engine.done:
        actions = {p: players[p].act(observations[p], match.spec) for p in (1, 2)}
        observations, _, _, _, _ = match.step(actions)
        if on_step is not None:
            on_step(match)
    return match


def play_bot_games(
    games: Sequence[Callable[[], tuple[Match, dict[int, Bot]]]],
    on_end: Callable[[int, Match | Exception], None],
    *,
    engine: str = "auto",
) -> None:
    """Play whole bot-vs-bot games together, one ``MatchBatch`` slot each: ``games[i]()`` builds game i's match and
    both players' bots (as ``bot_match`` does); ``on_end(i, result)`` gets the finished Match as soon as its game
    ends, or the exception that ended it: a failing game (building, a bot, a step) never stops the others, and
    every game plays exactly as ``play_bot_game`` plays it alone."""
    batch = MatchBatch(max(len(games), 1), engine=engine)
    running: dict[int, tuple[Match, dict[int, Bot]]] = {}

    def end(i: int, result: Match | Exception) -> None:
        running.pop(i, None)
        batch.stop(i)
        on_end(i, result)

    for i, build in enumerate(games):
        try:
            running[i] = build()
            batch.start(i, running[i][0])
        except Exception as err:
            end(i, err)
    while running:
        actions = {}
        for i, (match, bots) in list(running.items()):
            if match.engine.done:
                end(i, match)
                continue
            try:
                actions[i] = {p: bots[p].act(match.observations[p], match.spec) for p in (1, 2)}
            except Exception as err:
                end(i, err)
        try:
            batch.step(actions)
        except Exception:  # one game's step raised, before any game moved: step them one at a time to find it
            for i, moves in actions.items():
                try:
                    batch.step({i: moves})
                except Exception as err:
                    end(i, err)
