"""The difficulty table: one typed row per built-in bot level, named like pysc2's ``sc2_env.Difficulty``.

Levels differ only through these knobs, so the ladder is readable in one place: how often the bot thinks and
how stale its view is (reaction), how many action dicts it may send per step (never more than the match's
action budget, ``actions_per_step``), how it picks targets, and
which micro behaviours it uses. Cheat levels reuse the best play and add fog-free vision and/or extra units.
Under the match's action budget (2 actions per step by default) every level from medium up sends at most 2, so
the upper levels differ in micro rather than in speed: hard, harder and very_hard pull hurt ranged units out
of the fight below 10%, 20% and 30% health (the knob the ladder is most sensitive to, measured in the README).
"""

from __future__ import annotations

from dataclasses import dataclass

TARGETING = ("random", "nearest", "focus", "priority")


@dataclass(frozen=True)
class LevelConfig:
    """How one bot level plays.

    act_every: the bot decides every ``act_every`` agent steps and sends nothing in between.
    obs_delay: decisions use the observation from ``obs_delay`` steps ago (rows re-mapped to the current one by tag).
    apm: at most this many action dicts per decision step, further capped by the match's ``actions_per_step``.
    targeting: "random" (any enemy), "nearest", "focus" (lowest health + shield in reach, the group on it) or
        "priority" (fewest of the unit's own volleys to kill, bonus damage and armour counted; then focus).
    overkill: stop piling units on a target once their next volleys kill it; the rest take the next target.
    trickle: units are sent into the fight one at a time instead of as an army.
    formation: gather into a concave line (melee in front) before engaging instead of streaming in, and once
        close, stand and let the enemy walk into it for up to ``patience`` decisions.
    kite: ranged units step back from shorter-ranged threats while their weapon reloads.
    retreat_hp: hurt ranged units below this health fraction step out of the enemy's focus (0 = never).
    vision: the match gives this bot fog-free observations (cheat).
    extra_units: fraction of extra units the match adds to this bot's army (cheat).
    """

    name: str
    act_every: int
    obs_delay: int
    apm: int
    targeting: str
    overkill: bool = False
    trickle: bool = False
    formation: bool = False
    patience: int = 12
    kite: bool = False
    retreat_hp: float = 0.0
    vision: bool = False
    extra_units: float = 0.0

    def __post_init__(self) -> None:
        if self.targeting not in TARGETING:
            raise ValueError(f"LevelConfig {self.name!r}: targeting {self.targeting!r}, expected one of {TARGETING}")
        if self.act_every < 1 or self.obs_delay < 0 or self.apm < 1 or self.patience < 0:
            raise ValueError(
                f"LevelConfig {self.name!r}: expected act_every >= 1, obs_delay >= 0, apm >= 1, patience >= 0"
            )
        if not 0.0 <= self.retreat_hp < 1.0 or self.extra_units < 0.0:
            raise ValueError(f"LevelConfig {self.name!r}: expected 0 <= retreat_hp < 1 and extra_units >= 0")


_BEST = dict(
    act_every=1,
    obs_delay=0,
    apm=16,
    targeting="priority",
    overkill=True,
    formation=True,
    patience=24,
    kite=True,
    retreat_hp=0.3,
)

LEVEL_CONFIGS: dict[str, LevelConfig] = {
    c.name: c
    for c in (
        LevelConfig("very_easy", act_every=8, obs_delay=2, apm=1, targeting="random", trickle=True),
        LevelConfig("easy", act_every=4, obs_delay=1, apm=1, targeting="nearest"),
        LevelConfig("medium", act_every=3, obs_delay=1, apm=3, targeting="focus"),
        LevelConfig("medium_hard", act_every=2, obs_delay=0, apm=4, targeting="focus"),
        LevelConfig("hard", act_every=1, obs_delay=0, apm=6, targeting="focus", formation=True, patience=6,
                    retreat_hp=0.1),
        LevelConfig("harder", act_every=1, obs_delay=0, apm=8, targeting="focus", overkill=True, formation=True,
                    retreat_hp=0.2),
        LevelConfig("very_hard", **_BEST),
        LevelConfig("cheat_vision", **_BEST, vision=True),
        LevelConfig("cheat_money", **_BEST, extra_units=0.25),
        LevelConfig("cheat_insane", **_BEST, vision=True, extra_units=0.25),
    )
}

LEVELS: tuple[str, ...] = tuple(LEVEL_CONFIGS)
