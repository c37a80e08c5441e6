"""Intents (what a bot wants, in tags) and their translation into contract action dicts under an action budget.

Bots plan on tags because rows move between observations; ``Orders.emit`` maps tags to the rows of the
current observation, leaves out units that died or cannot obey (a medivac cannot attack a unit, a sieged tank
cannot move), turns an attack on an enemy that is no longer visible into an attack-move to where it was last
seen, and skips commands a unit is already carrying out (those cost nothing). When more actions remain than
the budget allows it sends the most valuable ones: each intent carries a priority (pulling a hurt unit out
first, then focus-fire targets, kiting, joining the fight, routine moves), and every decision a unit's command
waits raises it by one, so no group starves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from envs.contract.spec import Spec
from envs.skirmish.bots.facts import UnitFacts
from envs.skirmish.bots.view import View

# Intent priorities (higher is sent first when the budget is short); a waiting command gains 1 per decision.
ROUTINE, JOIN, KITE, FOCUS, RETREAT = range(5)


@dataclass(frozen=True)
class Intent:
    """One command in tags. ``kind``: attack_unit, attack_move, move, stop or hold_position (catalogue names)."""

    kind: str
    tags: tuple[int, ...]
    target: int = -1  # enemy tag (attack_unit)
    point: tuple[float, float] | None = None  # map point (move, attack_move; fallback for attack_unit)
    priority: int = ROUTINE


@dataclass(frozen=True)
class SpecInfo:
    """What the bots need from the spec: action indices by name, grid resolution, map size, selection cap and
    the match's action budget per step."""

    index: dict[str, int]
    resolution: int
    map_size: np.ndarray
    max_selected: int
    actions_per_step: int

    @classmethod
    def from_spec(cls, spec: Spec) -> SpecInfo:
        index = {a.name: a.index for a in spec.action_types}
        info = cls(index, spec.location_resolution, np.asarray(spec.map_size, dtype=np.float64),
                   spec.max_selected_units, spec.actions_per_step)  # fmt: skip
        missing = {"no_op", "attack_unit", "attack_move", "move", "stop", "hold_position"} - set(index)
        if missing:
            raise ValueError(f"bots: the spec's action_types lack {sorted(missing)}")
        return info

    def cell(self, point: tuple[float, float]) -> tuple[int, int]:
        """The grid cell containing a map point (clamped to the grid); plain floats: bots ask for a few per step."""
        top, (x, y), (width, height) = self.resolution - 1, point, self.map_size.tolist()
        cx = math.floor(float(x) / width * self.resolution)
        cy = math.floor(float(y) / height * self.resolution)
        return min(max(cx, 0), top), min(max(cy, 0), top)

    def action(self, kind: str, rows=(), target: int = -1, cell=(0, 0)) -> dict:
        selected = np.full(self.max_selected, -1, dtype=np.int64)
        selected[: len(rows)] = rows
        return {
            "action_type": self.index[kind],
            "selected_units": selected,
            "target_unit": int(target),
            "target_location": np.array(cell, dtype=np.int64),
            "queued": 0,
        }


class Orders:
    """Turns intents into at most ``budget`` action dicts per step, the most valuable first, and remembers each
    unit's last command and how many decisions its pending one has waited."""

    def __init__(self) -> None:
        self.last: dict[int, tuple] = {}
        self.waiting: dict[int, int] = {}

    def reset(self) -> None:
        self.last.clear()
        self.waiting.clear()

    def emit(self, intents: list[Intent], now: View, spec: SpecInfo, facts: UnitFacts, budget: int) -> list[dict]:
        own_tags, order_len = now.own.tags.tolist(), now.own.order_len.tolist()
        own_row = dict(zip(own_tags, range(len(own_tags)), strict=True))
        enemy_row = dict(zip(now.enemy.tags.tolist(), range(len(now.enemy)), strict=True))
        # (score, action arguments, tags, key) in plan order; only the sent ones become action dicts
        candidates: list[tuple[int, tuple, list[int], tuple]] = []
        obeys: dict[tuple[str, bool], list[bool]] = {}  # (kind, air target) -> per own unit: can carry it out
        for intent in intents:
            kind, target, key_target = intent.kind, -1, None
            if kind == "attack_unit":
                if intent.target in enemy_row:
                    target = enemy_row[intent.target]
                    key_target = intent.target
                elif intent.point is not None:
                    kind = "attack_move"
                else:
                    continue
            cell = spec.cell(intent.point) if intent.point is not None else (0, 0)
            key = (kind, key_target, cell if kind in ("move", "attack_move") else None)
            air = kind == "attack_unit" and bool(facts.is_air[now.enemy.types[target]])
            if (kind, air) not in obeys:
                obeys[kind, air] = _obeys(kind, air, now.own.types, facts)
            able = obeys[kind, air]
            picked = []
            for tag in intent.tags:
                i = own_row.get(tag)
                if i is None or not able[i]:
                    continue
                if self.last.get(tag) == key and (kind != "attack_unit" or order_len[i] > 0):
                    continue  # already doing (or done) exactly this
                picked.append(i)
            t_row = int(now.enemy.rows[target]) if target >= 0 else -1
            for start in range(0, len(picked), spec.max_selected):
                chunk = picked[start : start + spec.max_selected]
                tags = [own_tags[i] for i in chunk]
                score = intent.priority + max(self.waiting.get(t, 0) for t in tags)
                candidates.append((score, (kind, now.own.rows[chunk], t_row, cell), tags, key))
        best = sorted(range(len(candidates)), key=lambda c: (-candidates[c][0], -len(candidates[c][2]), c))
        sent = set(best[:budget])
        waiting: dict[int, int] = {}
        actions = []
        for c, (_, args, tags, key) in enumerate(candidates):
            if c in sent:
                actions.append(spec.action(*args))
                self.last.update(dict.fromkeys(tags, key))
            else:
                waiting.update((t, self.waiting.get(t, 0) + 1) for t in tags)
        self.waiting = waiting
        return actions



def _obeys(kind: str, air_target: bool, t: np.ndarray, facts: UnitFacts) -> list[bool]:
    """Per unit of types ``t``: whether it can carry out ``kind`` (for attack_unit: on an air target or not)."""
    if kind == "attack_unit":
        able = facts.armed[t] & (facts.hits_air if air_target else facts.hits_ground)[t]
    elif kind == "attack_move":
        able = facts.armed[t] | (facts.healer[t] & facts.mobile[t])
    elif kind in ("move", "hold_position"):
        able = facts.mobile[t]
    else:
        return [True] * len(t)
    return able.tolist()
