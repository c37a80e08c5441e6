"""The built-in bot: one class whose behaviour is set by a LevelConfig row.

Each decision: pick the view (the latest observation, or one ``obs_delay`` steps old), then plan in tags:
fall back (retreat), step back (kite), shoot (targeting policy, grouped by target), advance (attack-move, or
the formation arc before contact), heal; ``Orders`` turns the plan into at most ``budget`` action dicts of
the current observation, the most valuable first (the level's ``apm``, capped by the match's action budget
``spec.actions_per_step``). The bot sees only the observation and the spec; its randomness comes from its seed.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from envs.contract.spec import Spec
from envs.skirmish.bots.facts import UnitFacts, default_facts
from envs.skirmish.bots.formation import formation_points
from envs.skirmish.bots.levels import LevelConfig
from envs.skirmish.bots.micro import kite, retreat
from envs.skirmish.bots.orders import FOCUS, JOIN, KITE, RETREAT, ROUTINE, Intent, Orders, SpecInfo
from envs.skirmish.bots.targeting import assign_targets, edge_gaps
from envs.skirmish.bots.view import Army, View, parse

STEP_LOOPS = 8  # the default step_mul; only used to size look-aheads (kiting horizon, formation pace)
ENGAGE_BUFFER = 3.0  # map units beyond the longer weapon range (+ closing) at which a formation stops to wait
CONTACT = 0.5  # an enemy this close to weapon range (either side's) means the fight is on


class Bot:
    """A built-in bot for ``player`` playing like ``config`` (see levels.py); ``act`` returns action dicts."""

    def __init__(self, config: LevelConfig, player: int, seed: int = 0, facts: UnitFacts | None = None) -> None:
        if player not in (1, 2):
            raise ValueError(f"Bot: player must be 1 or 2, got {player!r}")
        self.config = config
        self.player = player
        self.seed = int(seed)
        self.facts = facts if facts is not None else default_facts()
        self.orders = Orders()
        self.budget = config.apm
        self._spec_key: tuple | None = None
        self._spec: SpecInfo | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the game: a new game starts from the same seed, so replays of bot games are reproducible."""
        self.rng = np.random.default_rng(self.seed)
        self.history: deque[View | None] = deque(maxlen=self.config.obs_delay + 1)  # None: a step no decision reads
        self.step = 0
        self.orders.reset()
        self.released: set[int] = set()
        self.retreating: set[int] = set()
        self.targets: dict[int, int] = {}
        self.committed = False
        self.waited = 0
        self.enemy_seen: np.ndarray | None = None
        self.start: np.ndarray | None = None

    def unplayed(self) -> None:
        """Its actions of this step were not played (it labels another player's steps: DAgger): forget the commands
        it remembers sending (``Orders`` skips a command a unit is already carrying out)."""
        self.orders.reset()

    def act(self, obs: dict, spec: Spec) -> list[dict]:
        """The action dicts for this step: at most the budget, or one no_op when the bot does nothing."""
        key = (id(spec), spec.location_resolution, spec.map_size, spec.actions_per_step)
        if self._spec_key != key:
            self._spec, self._spec_key = SpecInfo.from_spec(spec), key
            self.budget = min(self.config.apm, self._spec.actions_per_step)
        info, cfg = self._spec, self.config
        step, self.step = self.step, self.step + 1
        deciding = step % cfg.act_every == 0
        # Parse only what a decision will read: this step's view when deciding, or the one a delayed decision
        # will use (``obs_delay`` steps before it), until the start position is known.
        if deciding or (step + cfg.obs_delay) % cfg.act_every == 0 or self.start is None:
            now = parse(obs, self.facts)
            if self.start is None and len(now.own):
                self.start = now.own.centroid()
        else:
            now = None
        self.history.append(now)
        if not deciding or len(now.own) == 0:
            return [info.action("no_op")]
        view = self.history[0]
        actions = self.orders.emit(self.plan(view), now, info, self.facts, self.budget)
        return actions or [info.action("no_op")]

    # ------------------------------------------------------------------ planning

    def plan(self, view: View) -> list[Intent]:
        """This decision's intents from ``view``: trickle (very_easy), formation stages, or the fight."""
        own, enemy, cfg = view.own, view.enemy, self.config
        if len(own) == 0:
            return []
        if len(enemy):
            self.enemy_seen = enemy.centroid()
        goal = self.enemy_seen if self.enemy_seen is not None else self._guess(view)
        if cfg.trickle:
            return self._trickle(own, enemy, goal)
        if cfg.formation and not self.committed:
            stage = self._stage(own, enemy)
            if stage == "hold" and self.waited < cfg.patience:
                self.waited += 1
                mobile = own.tags[self.facts.mobile[own.types]]
                return [Intent("hold_position", tuple(mobile.tolist()), priority=ROUTINE)]
            if stage == "approach":
                return self._form_up(own, goal, view.map_size)
            self.committed = True
        if len(enemy) == 0:
            return [Intent("attack_move", tuple(own.tags.tolist()), point=tuple(goal), priority=JOIN)]
        return self._fight(own, enemy, view.map_size)

    def _guess(self, view: View) -> np.ndarray:
        """Where the enemy probably is before it was ever seen: the start position mirrored through the centre."""
        start = self.start if self.start is not None else view.own.centroid()
        return view.map_size - start

    def _stage(self, own: Army, enemy: Army) -> str:
        """Before contact: "approach" (enemy far or unseen), "hold" (close: stand in formation and let it come),
        "fight" (some enemy is within CONTACT of weapon range of some own unit, or the other way round)."""
        if len(enemy) == 0:
            return "approach"
        f = self.facts
        reach = np.maximum(f.range[own.types][:, None], f.range[enemy.types][None, :])
        closing = f.speed[enemy.types][None, :] * STEP_LOOPS * self.config.act_every
        margin = edge_gaps(own, enemy, f) - reach
        if (margin < CONTACT).any():
            return "fight"
        return "hold" if (margin - closing < ENGAGE_BUFFER).any() else "approach"

    def _trickle(self, own: Army, enemy: Army, goal: np.ndarray) -> list[Intent]:
        """very_easy: release one more unit per decision into the fight; released idle units pick random targets."""
        tags = own.tags.tolist()
        waiting = [t for t in tags if t not in self.released]
        if waiting:
            tag = waiting[int(self.rng.integers(len(waiting)))]
            self.released.add(tag)
            return [Intent("attack_move", (tag,), point=tuple(goal), priority=JOIN)]
        idle = own.take(own.order_len == 0)
        if len(idle) == 0 or len(enemy) == 0:
            return []
        pick = int(self.rng.integers(len(enemy)))
        return [
            Intent("attack_unit", tuple(idle.tags.tolist()), target=int(enemy.tags[pick]), point=tuple(enemy.pos[pick]),
                   priority=FOCUS)
        ]

    def _form_up(self, own: Army, goal: np.ndarray, map_size: np.ndarray) -> list[Intent]:
        """Move to the formation arc facing ``goal``, advancing at the slowest unit's pace."""
        f = self.facts
        mobile = f.mobile[own.types]
        pace = float(f.speed[own.types[mobile]].min()) if mobile.any() else 0.0
        points = formation_points(own, f, goal, pace * STEP_LOOPS * self.config.act_every * 1.5, map_size)
        idx = np.flatnonzero(mobile)
        return _group_moves(own.tags[idx], points[idx], self.budget, ROUTINE)

    def _fight(self, own: Army, enemy: Army, map_size: np.ndarray) -> list[Intent]:
        """Fall back (retreat), step back (kite), shoot (grouped by target), join the fight (attack-move), heal."""
        f, cfg = self.facts, self.config
        intents: list[Intent] = []
        busy = np.zeros(len(own), dtype=bool)
        gap = edge_gaps(own, enemy, f)  # once per decision; each step below takes its rows
        if cfg.retreat_hp > 0:
            flee, points = retreat(own, enemy, f, cfg.retreat_hp, map_size, self.retreating, gap)
            busy[flee] = True
            intents += _group_moves(own.tags[flee], points, self.budget, RETREAT)
        if cfg.kite:
            rest = (~busy).nonzero()[0]  # np.flatnonzero minus its wrapper (1-D)
            kiters, points = kite(own.take(rest), enemy, f, map_size, STEP_LOOPS * cfg.act_every, gap[rest])
            busy[rest[kiters]] = True
            intents += _group_moves(own.tags[rest[kiters]], points, self.budget, KITE)
        shooters = (~busy & f.armed[own.types]).nonzero()[0]
        army = own.take(shooters)
        enemy_tags, enemy_pos = enemy.tags.tolist(), enemy.pos.tolist()
        enemy_index = {t: j for j, t in enumerate(enemy_tags)}
        previous = np.array([enemy_index.get(self.targets.get(t, -1), -1) for t in army.tags.tolist()], dtype=np.int64)
        target = assign_targets(army, enemy, f, cfg.targeting, self.rng, overkill=cfg.overkill, previous=previous,
                                gap=gap[shooters])
        army_tags, target_list = army.tags.tolist(), target.tolist()
        self.targets = {t: enemy_tags[j] for t, j in zip(army_tags, target_list, strict=True) if j >= 0}
        groups: dict[int, list[int]] = {}
        for tag, j in zip(army_tags, target_list, strict=True):
            groups.setdefault(j, []).append(tag)
        free = groups.pop(-1, [])
        if free:  # first: one cheap action that keeps every unit without a target in reach joining the fight
            centre = _mean(own.pos[shooters[target < 0]])
            near = enemy.pos[np.argmin(np.linalg.norm(enemy.pos - centre, axis=1))]
            intents.append(Intent("attack_move", tuple(free), point=tuple(near), priority=JOIN))
        for j in sorted(groups, key=lambda j: (-len(groups[j]), j)):
            intents.append(
                Intent("attack_unit", tuple(groups[j]), target=enemy_tags[j], point=tuple(enemy_pos[j]), priority=FOCUS)
            )
        healers = (~busy & f.healer[own.types] & f.mobile[own.types]).nonzero()[0]
        if healers.size and shooters.size:
            intents.append(
                Intent("attack_move", tuple(own.tags[healers].tolist()), point=tuple(_mean(own.pos[shooters])),
                       priority=ROUTINE)
            )
        return intents


def _mean(points: np.ndarray) -> np.ndarray:
    """``points.mean(axis=0)`` minus its wrapper (the same sum and division)."""
    return np.add.reduce(points, axis=0) / len(points)


def _group_moves(tags: np.ndarray, points: np.ndarray, budget: int, priority: int) -> list[Intent]:
    """One move per unit, or, over ``budget``, ``budget`` groups of neighbouring units sent to their mean point."""
    n = len(tags)
    if n == 0:
        return []
    if n <= budget:
        return [Intent("move", (int(t),), point=(float(p[0]), float(p[1])), priority=priority)
                for t, p in zip(tags, points, strict=True)]
    axis = points - np.add.reduce(points, axis=0) / n  # points.mean(axis=0), minus its wrapper
    spread = np.linalg.svd(axis, full_matrices=False)[2][0] if n > 1 else np.array([1.0, 0.0])
    order = np.argsort(axis @ spread, kind="stable")
    size, extra = divmod(n, budget)  # np.array_split's parts: the first ``extra`` one longer
    ends = [(k + 1) * size + min(k + 1, extra) for k in range(budget)]
    chunks = [order[end - size - (k < extra) : end] for k, end in enumerate(ends)]
    return [
        Intent("move", tuple(tags[c].tolist()), point=tuple((np.add.reduce(points[c], axis=0) / len(c)).tolist()),
               priority=priority)
        for c in chunks
    ]
