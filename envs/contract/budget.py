"""The action budget a spec publishes: at most ``actions_per_step`` actions per player per agent step.

An explicit no_op is "no action" and uses no budget; every other action dict counts. Why 2 by default: AlphaStar
played under limits agreed with professional players, at most 22 agent actions in any 5-second window (about
264 APM). At step_mul 8 an agent step is 8 / 22.4 = 0.357 s of game time, so that limit is 1.6 actions per
step; 2 per step is 336 APM at most, reached only by a player that acts at every step. Micro needs more than
one action in a step of a fight: a focus-fire retarget and pulling a hurt unit out at once, or one group split
off while the rest keeps shooting; with 1 per step a player does one or the other. Measured on Skirmish's bot
ladder (README), 2 is the budget under which every level beats the one below it decisively.
"""

from __future__ import annotations

from typing import Any

DEFAULT_ACTIONS_PER_STEP = 2
MAX_ACTIONS_PER_STEP = 64  # far above any fair budget; bounds what a crafted spec or replay may ask for


def check_actions_per_step(value: Any) -> int:
    """``value`` as the budget; a ValueError naming it unless it is an int in [1, MAX_ACTIONS_PER_STEP]."""
    if not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ACTIONS_PER_STEP):
        raise ValueError(f"actions_per_step must be an int in [1, {MAX_ACTIONS_PER_STEP}], got {value!r}")
    return value
