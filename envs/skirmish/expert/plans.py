"""The expert's candidate plans: closed-loop variants of the strongest bot's play that its lookahead compares.

A plan is a ``Bot`` with some knobs of the very_hard row changed (when to engage, whom to shoot, when to pull
hurt units out, whether to kite), or one that first focuses a group of its units (all, melee or ranged) on one
enemy picked when the plan starts (the weakest, the nearest or the most dangerous per hp), then plays on as the
base once that enemy is dead or out of sight. Plans act only through the bot's own action path (``Orders.emit``: legal
action dicts, at most ``spec.actions_per_step`` per step), so the expert's play obeys the action contract and the
budget exactly as the bots' does.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

import numpy as np

from envs.skirmish.bots import LEVEL_CONFIGS, Bot
from envs.skirmish.bots.facts import UnitFacts
from envs.skirmish.bots.micro import EDGE
from envs.skirmish.bots.orders import FOCUS, JOIN, KITE, RETREAT, Intent
from envs.skirmish.bots.targeting import MELEE_RANGE, threat
from envs.skirmish.bots.view import Army

NEVER_COMMIT = 10**6  # patience of a plan that waits in formation for the enemy to come
FOCUS_RULES = ("weakest", "nearest", "threat")  # how a focus plan picks its enemy when it starts
GROUPS = ("all", "melee", "ranged")  # which own units a focus plan puts on it
DODGE_BEHIND = 4.0  # map units behind its army's centre where a dodging unit steps


@dataclass(frozen=True)
class Plan:
    """One candidate: ``knobs`` replace fields of the base level's LevelConfig; ``commit`` ends the formation
    stage now (engage); ``focus`` (one of FOCUS_RULES, or "") puts the ``group`` (one of GROUPS) on one enemy;
    ``dodge`` steps the most hurt unit of any kind below that health fraction back behind the army (very_hard pulls
    back only unshielded ranged units)."""

    name: str
    knobs: dict = field(default_factory=dict)
    commit: bool = False
    focus: str = ""
    group: str = "all"
    dodge: float = 0.0

    def __post_init__(self) -> None:
        if self.focus not in ("", *FOCUS_RULES) or self.group not in GROUPS:
            raise ValueError(f"Plan {self.name!r}: focus must be one of {FOCUS_RULES} or '', group one of {GROUPS}")


DEFAULT_PLANS: tuple[Plan, ...] = (
    Plan("base"),
    Plan("wait", {"patience": NEVER_COMMIT}),
    Plan("engage", commit=True),
    Plan("pull_early", {"retreat_hp": 0.5}),
    Plan("stand", {"retreat_hp": 0.0, "kite": False}),
    Plan("dodge", dodge=0.3),
    *(Plan(f"all_{rule}", focus=rule) for rule in FOCUS_RULES),
    *(Plan(f"{group}_{rule}", focus=rule, group=group) for group in ("melee", "ranged") for rule in FOCUS_RULES[1:]),
)


class PlanBot(Bot):
    """A bot playing one Plan; ``with_plan`` gives a copy of a bot's memory (orders sent, targets, stage, rng)
    under another plan, which is how the expert forks its own play into candidates."""

    variant: Plan = Plan("base")
    focus_tag: int = -1  # the enemy a focus plan's group attacks first (-1: none, or it is dead)
    start_focus: int = -1  # the one it started with

    def with_plan(self, plan: Plan, base: str, focus_tag: int = -1) -> PlanBot:
        other = clone_bot(self)
        other.variant, other.focus_tag, other.start_focus = plan, focus_tag, focus_tag
        other.config = dataclasses.replace(LEVEL_CONFIGS[base], **plan.knobs)
        if plan.commit:
            other.committed = True
        return other

    def _fight(self, own: Army, enemy: Army, map_size: np.ndarray) -> list[Intent]:
        """The base fight, with the focus group's attackers (and units joining the fight) on ``focus_tag`` and the
        dodging unit stepped back."""
        intents = super()._fight(own, enemy, map_size)
        tags = enemy.tags.tolist()
        if self.focus_tag >= 0 and self.focus_tag not in tags:
            self.focus_tag = -1
        if self.focus_tag >= 0:
            point = tuple(enemy.pos[tags.index(self.focus_tag)].tolist())
            chosen = group_tags(self.variant.group, own, self.facts)
            order = Intent("attack_unit", (), target=self.focus_tag, point=point, priority=FOCUS)
            intents = _take_over(intents, chosen, order, (FOCUS, JOIN))
        if self.variant.dodge > 0:
            mobile = self.facts.mobile[own.types] & (own.vitality_ratio < self.variant.dodge)
            if mobile.any() and len(own) > 1:
                i = int(np.argmin(np.where(mobile, own.vitality_ratio, np.inf)))
                centre = np.add.reduce(np.delete(own.pos, i, axis=0), axis=0) / (len(own) - 1)
                back = centre - enemy.centroid()
                back /= max(float(np.hypot(*back)), 1e-6)
                point = tuple(np.clip(centre + back * DODGE_BEHIND, EDGE, map_size - EDGE).tolist())
                order = Intent("move", (), point=point, priority=RETREAT)
                intents = _take_over(intents, (int(own.tags[i]),), order, (FOCUS, JOIN, KITE))
        return intents


def _take_over(intents: list[Intent], tags: tuple[int, ...], order: Intent, priorities: tuple[int, ...]
               ) -> list[Intent]:  # fmt: skip
    """``intents`` with ``tags`` taken out of every intent of ``priorities`` and given ``order`` instead (first)."""
    chosen = set(tags)
    moved: list[int] = []
    out = []
    for intent in intents:
        if intent.priority in priorities:
            moved += [t for t in intent.tags if t in chosen]
            rest = tuple(t for t in intent.tags if t not in chosen)
            if rest:
                out.append(dataclasses.replace(intent, tags=rest))
        else:
            out.append(intent)
    return [dataclasses.replace(order, tags=tuple(moved)), *out] if moved else out


def group_tags(group: str, own: Army, facts: UnitFacts) -> tuple[int, ...]:
    """The tags of ``own``'s units in ``group`` (one of GROUPS)."""
    if group == "all":
        return tuple(own.tags.tolist())
    melee = facts.range[own.types] < MELEE_RANGE
    return tuple(own.tags[melee if group == "melee" else ~melee].tolist())


def pick_focus(rule: str, own: Army, enemy: Army, facts: UnitFacts) -> int:
    """The tag of the enemy ``rule`` (one of FOCUS_RULES) picks, -1 when none is visible."""
    if len(enemy) == 0 or len(own) == 0:
        return -1
    if rule == "weakest":
        key = enemy.vitality
    elif rule == "nearest":
        key = np.hypot(*(enemy.pos - own.centroid()).T)
    else:
        key = -threat(enemy.types, facts) / np.maximum(enemy.vitality, 1.0)
    return int(enemy.tags[int(np.argmin(key))])


def clone_bot(bot: Bot) -> Bot:
    """An independent copy of ``bot``'s play state; what it only reads is shared: its unit facts, spec summary and
    the parsed views it remembers (frozen, never written)."""
    memo = {id(bot.facts): bot.facts, id(bot._spec): bot._spec}
    memo.update((id(view), view) for view in bot.history)
    return copy.deepcopy(bot, memo)
