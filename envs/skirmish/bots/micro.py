"""Per-unit micro: kiting ranged units away from shorter-ranged threats while they reload, and pulling
badly hurt units out of the fight.

Kiting is the classic stutter step: a stalker whose weapon is on cooldown gains nothing by standing next to a
zealot, so it walks away and turns to shoot when the weapon is ready again; it only pays against enemies that
out-run neither its range nor its legs. Retreat (dodging) steps a badly hurt unit out of the enemy's focus:
the enemy must chase or retarget, the unit lives to shoot again, and with a medivac around it gets healed.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from envs.skirmish.bots.facts import UnitFacts
from envs.skirmish.bots.targeting import edge_gaps
from envs.skirmish.bots.view import Army

KITE_BUFFER = 1.0  # keep this much beyond a threat's weapon range (map units)
MIN_STEP = 1.5  # shortest move worth ordering (map units)
EDGE = 0.5  # stay this far inside the map
RETREAT_BEHIND = 4.0  # hurt units fall back this far behind their army's centre


def away_points(pos: np.ndarray, threats: np.ndarray, step: np.ndarray, map_size: np.ndarray) -> np.ndarray:
    """Points ``step`` away from the (inverse-distance weighted) threat positions, slid along map edges."""
    diff = pos[:, None, :] - threats[None, :, :]
    dist = np.linalg.norm(diff, axis=2, keepdims=True)
    push = (diff / np.maximum(dist, 1e-6) ** 2).sum(axis=1)
    direction = push / np.maximum(np.linalg.norm(push, axis=1, keepdims=True), 1e-9)
    lo, hi = np.full(2, EDGE), map_size - EDGE
    target = pos + direction * step[:, None]
    # Blocked by an edge: keep the free component and push harder along it so the unit slides instead of sticking.
    blocked = (target < lo) | (target > hi)
    slide = np.where(blocked, 0.0, direction)
    norm = np.linalg.norm(slide, axis=1, keepdims=True)
    slid = pos + np.where(norm > 1e-6, slide / np.maximum(norm, 1e-9), direction) * step[:, None]
    return np.clip(np.where(blocked.any(axis=1, keepdims=True), slid, target), lo, hi)


def kite(
    own: Army, enemy: Army, facts: UnitFacts, map_size: np.ndarray, horizon: float, gap: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(indices into ``own`` that should step back now, their move points).

    A unit kites when it outranges a threat that is (or within ``horizon`` loops will be) inside its weapon
    range + KITE_BUFFER, and its weapon needs longer to reload than the step takes. ``gap``: ``edge_gaps(own,
    enemy)`` when the caller has it.
    """
    if len(own) == 0 or len(enemy) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 2))
    t, e = own.types, enemy.types
    pair, danger, able = _kite_tables(facts, horizon)
    ready = np.flatnonzero(able[t] & (own.cooldown > horizon))  # most steps nobody: skip the pair work
    if ready.size == 0:
        return ready, np.zeros((0, 2))
    gap = edge_gaps(own.take(ready), enemy, facts) if gap is None else gap[ready]
    threatened = pair[t[ready][:, None], e[None, :]] & (gap < danger[e][None, :])
    hit = threatened.any(axis=1)
    kiters, threatened = ready[hit], threatened[hit]
    if kiters.size == 0:
        return kiters, np.zeros((0, 2))
    step = np.maximum(facts.speed[t[kiters]] * own.cooldown[kiters], MIN_STEP)
    points = np.zeros((kiters.size, 2))
    for k, i in enumerate(kiters):  # few kiters per step; each flees its own threats
        points[k] = away_points(own.pos[i : i + 1], enemy.pos[threatened[k]], step[k : k + 1], map_size)[0]
    return kiters, points


@lru_cache(maxsize=8)
def _hits(facts: UnitFacts) -> np.ndarray:
    """Per (own type, enemy type): the enemy is armed and can hit the unit (air or ground). Computed once."""
    every = np.arange(len(facts.known))
    t, e = every[:, None], every[None, :]
    return np.where(facts.is_air[t], facts.hits_air[e], facts.hits_ground[e]) & facts.armed[e]


@lru_cache(maxsize=16)
def _kite_tables(facts: UnitFacts, horizon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (own type, enemy type): the enemy is armed, can hit the unit and is outranged by it; per enemy type: the
    distance within which it is a danger over ``horizon`` loops; per own type: can kite at all. Computed once."""
    pair = _hits(facts) & (facts.range[None, :] + 1.0 < facts.range[:, None])
    danger = facts.range + KITE_BUFFER + facts.speed * horizon
    return pair, danger, facts.mobile & facts.armed


def retreat(
    own: Army,
    enemy: Army,
    facts: UnitFacts,
    threshold: float,
    map_size: np.ndarray,
    retreating: set[int],
    gap: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(indices into ``own`` that should fall back, their move points); updates the ``retreating`` tag set.

    A ranged unit below ``threshold`` of its health that something can hit nearby steps out of the fight, if no
    threat is faster than it: enemies focusing it must chase (and stop shooting) or retarget, and it lives to
    shoot again; a biological unit walks to its side's healer. It comes back once recovered to threshold + 0.35
    or unthreatened. At most a third of the army falls back at once, the most hurt first. Melee units never
    fall back (away from the enemy they deal nothing), nor shielded ones: shields regenerate only after 7 s
    without damage, and measured on the ladder, stalkers stepping out lose more than they save. ``gap``:
    ``edge_gaps(own, enemy)`` when the caller has it.
    """
    if len(own) == 0 or len(enemy) == 0 or threshold <= 0:
        retreating.clear()
        return np.zeros(0, dtype=np.int64), np.zeros((0, 2))
    if not retreating and not (own.vitality_ratio < threshold).any():  # most steps: nobody hurt, nobody out
        return np.zeros(0, dtype=np.int64), np.zeros((0, 2))
    t, e = own.types, enemy.types
    healers = facts.healer[t] & facts.mobile[t]
    gap = edge_gaps(own, enemy, facts) if gap is None else gap
    near = _hits(facts)[t[:, None], e[None, :]] & (gap < facts.range[e][None, :] + 3.0)
    threatened = near.any(axis=1)
    fastest = np.where(near, facts.speed[e][None, :], 0.0).max(axis=1)
    able = facts.mobile[t] & facts.armed[t] & (facts.range[t] >= 1.0) & (facts.shields[t] == 0)
    able &= facts.speed[t] >= fastest
    tags, ratio, able_, threatened_ = own.tags.tolist(), own.vitality_ratio.tolist(), able.tolist(), threatened.tolist()
    retreating.intersection_update(tags)
    for i, tag in enumerate(tags):
        if tag in retreating and (ratio[i] > threshold + 0.35 or not threatened_[i] or not able_[i]):
            retreating.discard(tag)
    room = max(1, len(own) // 3) - len(retreating)
    for i in np.argsort(own.vitality_ratio, kind="stable").tolist():
        if room <= 0 or ratio[i] >= threshold:
            break
        if tags[i] not in retreating and able_[i] and threatened_[i]:
            retreating.add(tags[i])
            room -= 1
    flee = np.flatnonzero([tag in retreating for tag in tags])
    if flee.size == 0:
        return flee, np.zeros((0, 2))
    # Fall back behind the units still fighting (or to a healer), so chasers run into the army, not into a corner.
    fighting = np.array([tag not in retreating for tag in tags]) & ~healers
    centre = own.pos[fighting].mean(axis=0) if fighting.any() else own.centroid()
    back = centre - enemy.centroid()
    back /= max(float(np.linalg.norm(back)), 1e-6)
    behind = np.clip(centre + back * RETREAT_BEHIND, EDGE, map_size - EDGE)
    points = np.repeat(behind[None, :], flee.size, axis=0)
    if healers.any():
        bio = facts.biological[t[flee]]
        points[bio] = own.pos[healers].mean(axis=0)
    return flee, points
