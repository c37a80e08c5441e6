"""Built-in bots for Skirmish: ten levels named like pysc2's ``sc2_env.Difficulty``, playing through the
observation/action contract only (cheat levels: fog-free observations and/or extra units from the match).

    bot = make_bot("hard", player=2, seed=0)
    actions = bot.act(obs, spec)   # a list of contract action dicts (at most the level's APM, at least a no_op)
"""

from __future__ import annotations

from envs.skirmish.bots.bot import Bot
from envs.skirmish.bots.cheat import cheat_units
from envs.skirmish.bots.levels import LEVEL_CONFIGS, LEVELS, LevelConfig

__all__ = ["LEVELS", "LEVEL_CONFIGS", "Bot", "LevelConfig", "cheat_units", "make_bot"]


def make_bot(level: str, player: int, seed: int = 0) -> Bot:
    """A fresh bot of ``level`` (one of LEVELS) for ``player`` (1 or 2); same level, player and seed -> same play."""
    if level not in LEVEL_CONFIGS:
        raise ValueError(f"make_bot: unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    return Bot(LEVEL_CONFIGS[level], player, seed)
