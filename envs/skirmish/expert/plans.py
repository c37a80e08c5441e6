"""The expert's candidate plans: closed-loop variants of the strongest bot's play that its lookahead compares.

A plan is a ``Bot`` with some knobs of the very_hard row changed (when to engage, whom to shoot, when to pull
hurt units out, whether to kite) . Plans act only through the
bot's own action path (``Orders.emit``: legal action dicts, at most ``spec.actions_per_step`` per step), so the
expert's play obeys the action contract and the budget exactly as the bots' does.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

from envs.skirmish.bots import LEVEL_CONFIGS, Bot

NEVER_COMMIT = 10**6  # patience of a plan that waits in formation for the enemy to come


@dataclass(frozen=True)
class Plan:
    """One candidate: ``knobs`` replace fields of the base level's LevelConfig; ``commit`` ends the formation
    stage now (engage)."""

    name: str
    knobs: dict = field(default_factory=dict)
    commit: bool = False


DEFAULT_PLANS: tuple[Plan, ...] = (
    Plan("base"),
    Plan("wait", {"patience": NEVER_COMMIT}),
    Plan("engage", commit=True),
    Plan("pull_early", {"retreat_hp": 0.5}),
    Plan("stand", {"retreat_hp": 0.0, "kite": False}),
    Plan("weakest", {"targeting": "focus"}),
)


class PlanBot(Bot):
    """A bot playing one Plan; ``with_plan`` gives a copy of a bot's memory (orders sent, targets, stage, rng)
    under another plan, which is how the expert forks its own play into candidates."""

    variant: Plan = Plan("base")

    def with_plan(self, plan: Plan, base: str) -> PlanBot:
        memo = {id(self.facts): self.facts, id(self._spec): self._spec}  # shared, read-only
        other = copy.deepcopy(self, memo)
        other.variant = plan
        other.config = dataclasses.replace(LEVEL_CONFIGS[base], **plan.knobs)
        if plan.commit:
            other.committed = True
        return other
