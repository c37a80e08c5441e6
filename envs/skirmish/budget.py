"""Match's action budget rule: at most ``actions_per_step`` actions per player per agent step, bots and agents alike.

The number is the spec's (``envs.contract.budget``, where the default of 2 is justified). An explicit no_op is
"no action" and uses no budget (it is how a player says it does nothing); every other action dict counts,
legal or not, duplicate or not: the budget limits what a player may attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from envs.contract.action import IllegalActionError, MalformedActionError, action_type_index
from envs.contract.catalogue import NO_OP, NUM_ACTION_TYPES


class ActionBudgetError(ValueError):
    """A player sent more actions in one agent step than the match allows (strict mode)."""

    def __init__(self, player: int, count: int, limit: int) -> None:
        super().__init__(
            f"player {player} sent {count} actions in one agent step; the budget is {limit} per step "
            f"(Match actions_per_step={limit}; no_ops do not count)"
        )
        self.player, self.count, self.limit = player, count, limit


def is_no_op(action: Any) -> bool:
    """Whether ``action`` is a no_op; one of an action type outside the catalogue counts as an action (and fails
    later as illegal); a malformed one raises ``MalformedActionError`` here, before anything is played."""
    try:
        return action_type_index(action, NUM_ACTION_TYPES) == NO_OP
    except MalformedActionError:
        raise
    except IllegalActionError:
        return False


def within_budget(actions: Sequence[Any], limit: int, player: int, *, lenient: bool) -> tuple[list[Any], int]:
    """(the actions played, how many were dropped): all of them when at most ``limit`` are not no_ops.

    Over budget, strict mode raises :class:`ActionBudgetError`; lenient mode keeps the no_ops and the first
    ``limit`` other actions, in order, and drops the rest.
    """
    counted = [not is_no_op(a) for a in actions]
    count = sum(counted)
    if count <= limit:
        return list(actions), 0
    if not lenient:
        raise ActionBudgetError(player, count, limit)
    kept, used = [], 0
    for action, counts in zip(actions, counted, strict=True):
        if counts:
            if used == limit:
                continue
            used += 1
        kept.append(action)
    return kept, count - limit
