"""Compile (or load from numba's disk cache) every Skirmish kernel once, before workers need them.

The compiled engine's kernels compile on first use (about a minute on a fresh checkout, ``kernels.py``). Run at
install time (``make install``) and at the start of a test session, so Ray actors, recording workers and
subprocess tests find a warm cache instead of each compiling on its own. ``python -m envs.skirmish.precompile``.
"""

from __future__ import annotations

import time

from envs.skirmish.botgame import bot_match, play_bot_game, play_bot_games
from envs.skirmish.economy.bot import FullGameBot
from envs.skirmish.economy.match import FullMatch


def precompile() -> float:
    """Play short bot games through every engine path (one game alone, two batched; fog on and off, a mixed
    scenario with air, healers and splash; the first 400 steps of a full game); returns the seconds it took."""
    start = time.perf_counter()
    for fog in (False, True):
        play_bot_game("MMM", {1: "very_hard", 2: "medium"}, seed=0, fog=fog, max_units=16, record=False)
    games = [lambda s=s, name=name: bot_match(name, {1: "hard", 2: "easy"}, seed=s, max_units=64)
             for s, name in enumerate(("10v10_mixed", "2s3z"))]  # fmt: skip
    play_bot_games(games, lambda i, result: None)
    match = FullMatch("duel", ("terran", "protoss"), seed=0)  # the full game's own kernels (gathering, structures)
    bots = {p: FullGameBot("very_hard", match.game, p, seed=p) for p in (1, 2)}
    for _ in range(400):
        match.step({p: bots[p].act(match.observed[p], match.spec) for p in (1, 2)})
    return time.perf_counter() - start


if __name__ == "__main__":
    print(f"Skirmish kernels ready in {precompile():.1f} s")
