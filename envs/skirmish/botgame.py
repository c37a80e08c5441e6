"""Games with built-in bots: how a bot level's cheats change a match, and a whole bot-vs-bot game.

Cheat levels are not something a bot can do through the action interface, so the code that builds the match
applies them: ``extra_units`` grows the bot's army (``cheat_units`` on the scenario) and ``vision`` gives the
bot fog-free observations (``Match(see_all=...)``). The env, the replay recorder and ``pstar play`` share this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from envs.skirmish.bots import LEVEL_CONFIGS, LEVELS, cheat_units, make_bot
from envs.skirmish.match import Match
from envs.skirmish.scenario import Scenario, load_scenario


def check_level(level: str) -> str:
    """``level`` if it is a bot level, else a ValueError listing the levels."""
    if level not in LEVEL_CONFIGS:
        raise ValueError(f"unknown bot level {level!r}; expected one of {', '.join(LEVELS)}")
    return level


def apply_cheats(scenario: Scenario, levels: Mapping[int, str | None]) -> tuple[Scenario, tuple[int, ...]]:
    """The scenario with cheating bots' extra units, and the players that see through fog.

    ``levels`` maps a player to its bot level, or to None for a player that is not a bot (a policy).
    """
    see_all = []
    for player in sorted(levels):
        level = levels[player]
        if level is None:
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


def play_bot_game(
    scenario: Scenario | str | Path,
    levels: Mapping[int, str],
    seed: int = 0,
    *,
    step_mul: int = 8,
    max_units: int = 512,
    resolution: int = 64,
    fog: bool = False,
    record: bool = True,
    on_step: Callable[[Match], None] | None = None,
) -> Match:
    """Play a whole game between bot ``levels[1]`` and ``levels[2]``; returns the finished Match.

    ``on_step(match)`` is called after the reset and after every step (e.g. to render frames).
    """
    base = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    built, see_all = apply_cheats(base, {p: levels[p] for p in (1, 2)})
    match = Match(built, seed, step_mul=step_mul, max_units=max_units, resolution=resolution, fog=fog,
                  see_all=see_all, record=record)
    bots = {p: make_bot(levels[p], p, bot_seed(seed, p)) for p in (1, 2)}
    observations = match.reset()
    if on_step is not None:
        on_step(match)
    while not match.engine.done:
        actions = {p: bots[p].act(observations[p], match.spec) for p in (1, 2)}
        observations, _, _, _, _ = match.step(actions)
        if on_step is not None:
            on_step(match)
    return match
