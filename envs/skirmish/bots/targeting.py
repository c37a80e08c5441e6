"""Targeting policies: which enemy each of a bot's armed units should shoot.

The ladder's levels differ here most: random targets scatter damage and send units chasing across the map;
nearest is what attack-move already does; focus fire puts the group on the weakest enemy in reach so enemies
die (and stop shooting) sooner; damage-per-hp priority ranks enemies by how many of this unit's own volleys
they take to kill (bonus damage and armour count: a marauder prefers armoured targets it hits for 20), then
as focus, then by the damage (or healing) they deal; overkill avoidance stops piling volleys on a target that
the units already assigned will kill, so the rest switch to the next one.

Measured on mirrored armies (see ladder.py), weighting targets by their damage output (dps per hp) lost to
plain focus fire: it spreads fire over high-hp, high-dps units that a medivac keeps healing.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from envs.skirmish.bots.facts import UnitFacts
from envs.skirmish.bots.view import Army

MELEE_RANGE = 1.0  # weapons shorter than this are melee
MELEE_REACH_LOOPS = 3.0  # melee units reach enemies they can walk to within this many loops ...
RANGED_REACH = 0.5  # ... ranged units only enemies (almost) in weapon range: chasing costs volleys
STICKY = 0.8  # keep the previous target while its score is at least this fraction of the best one
OVERKILL_MARGIN = 1.1  # assigned volleys must exceed the target's health + shield by this factor


def edge_gaps(a: Army, b: Army, facts: UnitFacts) -> np.ndarray:
    """[len(a), len(b)] edge-to-edge distances (SC2's range measure)."""
    d = np.hypot(*(b.pos[None, :, :] - a.pos[:, None, :]).transpose(2, 0, 1))
    return d - facts.radius[a.types][:, None] - facts.radius[b.types][None, :]


def threat(t: np.ndarray, facts: UnitFacts) -> np.ndarray:
    """Damage (or healing) per loop a unit of each type id in ``t`` adds to its side: what killing it removes."""
    dps = np.where(facts.armed[t], facts.damage[t] * facts.attacks[t] / np.maximum(facts.cooldown[t], 1.0), 0.0)
    return dps + facts.heal_rate[t]


@lru_cache(maxsize=8)
def _per_type(facts: UnitFacts) -> tuple[np.ndarray, np.ndarray]:
    """Per type id: how far beyond its edge a unit reaches a target (weapon range plus the melee walk or the ranged
    slack) and its ``threat``; computed once per facts, since targeting runs every decision."""
    reach = facts.range + np.where(facts.range < MELEE_RANGE, facts.speed * MELEE_REACH_LOOPS, RANGED_REACH)
    return reach, threat(np.arange(len(facts.known)), facts)


def assign_targets(
    own: Army,
    enemy: Army,
    facts: UnitFacts,
    mode: str,
    rng: np.random.Generator,
    *,
    overkill: bool = False,
    previous: np.ndarray | None = None,
    gap: np.ndarray | None = None,
) -> np.ndarray:
    """Index into ``enemy`` of each own unit's target, or -1 (nothing sensible to shoot: let it attack-move).

    ``previous`` (per own unit, index into ``enemy`` or -1) makes focus/priority targets sticky so groups do
    not thrash between near-equal targets. ``gap``: ``edge_gaps(own, enemy)`` when the caller has it.
    """
    n, m = len(own), len(enemy)
    if n == 0 or m == 0:
        return np.full(n, -1, dtype=np.int64)
    damage = facts.volley(own.types, enemy.types)
    can = damage > 0
    gap = edge_gaps(own, enemy, facts) if gap is None else gap
    if mode == "random":
        pick = np.where(can, rng.random((n, m)), -1.0)
        return np.where(can.any(axis=1), pick.argmax(axis=1), -1)
    if mode == "nearest":
        near = np.where(can, gap, np.inf)
        return np.where(can.any(axis=1), near.argmin(axis=1), -1)
    reach_dist, threats = _per_type(facts)
    reach = can & (gap <= reach_dist[own.types][:, None])
    vitality = np.maximum(enemy.vitality, 1.0)
    # Ties go to the enemy nearest the group's centre, the same for every unit, so the group picks one target.
    offset = enemy.pos - own.centroid()
    tie = 1e-9 * np.sqrt(np.add.reduce(offset * offset, axis=1))[None, :]  # np.linalg.norm's sum, minus its overhead
    if mode == "focus":
        score = np.broadcast_to(1.0 / vitality, (n, m)) - tie  # weakest first
    else:  # priority: fewest of this unit's volleys to kill (bonus damage and armour count), then weakest, then threat
        volleys = np.ceil(vitality[None, :] / np.maximum(damage, 1e-9))
        score = 1.0 / volleys + 1e-4 / vitality[None, :] + 1e-8 * threats[enemy.types][None, :] - tie
    score = np.where(reach, score, -np.inf)
    best = score.argmax(axis=1)
    if previous is not None:
        keep = (previous >= 0) & (previous < m)
        prev = np.where(keep, previous, 0)
        rows = np.arange(n)
        prev_score = score[rows, prev]
        keep &= np.isfinite(prev_score) & (prev_score >= STICKY * score[rows, best])
        best = np.where(keep, prev, best)
    target = np.where(reach.any(axis=1), best, -1)
    if overkill:
        ranged = facts.range[own.types] >= MELEE_RANGE
        target = _spread(target, score, reach & ranged[:, None], damage, gap, vitality, own.cooldown, ~ranged)
    return target


def _spread(
    target: np.ndarray,
    score: np.ndarray,
    reach: np.ndarray,
    damage: np.ndarray,
    gap: np.ndarray,
    vitality: np.ndarray,
    cooldown: np.ndarray,
    fixed: np.ndarray,
) -> np.ndarray:
    """Reassign units so each enemy gets about one killing volley and no more while others in reach get none.

    Units marked ``fixed`` (melee: switching costs them a walk) keep their target.
    Enemies are served in order of their best score; each takes unassigned units that reach it (ready weapons
    first, then the closest) until their volleys cover its health + shield. A unit left over (everything it
    reaches is covered) joins the target in its reach that is covered least, relative to its health + shield.
    """
    # Plain Python over the few units and enemies (numpy's per-call cost dominates at this size); the sums that
    # numpy did stay numpy sums, so every float (and so every decision) is the same.
    n = len(target)
    out = np.where(fixed, target, -1).tolist()
    assigned = [0.0] * len(vitality)  # melee hits are not counted: pushed-around melee units often miss
    need = (OVERKILL_MARGIN * vitality).tolist()
    reach_rows, gap_rows, damage_rows, ready = reach.tolist(), gap.tolist(), damage.tolist(), cooldown.tolist()
    col_score = np.where(reach, score, -np.inf).max(axis=0)
    finite = np.isfinite(col_score).tolist()
    for j in np.argsort(-col_score, kind="stable").tolist():
        if not finite[j]:
            break
        free = [i for i in range(n) if out[i] < 0 and reach_rows[i][j]]
        if not free or assigned[j] >= need[j]:
            continue
        free.sort(key=lambda i: (ready[i], gap_rows[i][j]))  # ready weapons first, then the nearest
        left, total, enough = need[j] - assigned[j], 0.0, len(free)
        for k, i in enumerate(free):  # the first k whose running volley total covers what is left
            total = total + damage_rows[i][j] if k else damage_rows[i][j]
            if total >= left:
                enough = k + 1
                break
        for i in free[:enough]:
            out[i] = j
        assigned[j] += damage[free[:enough], j].sum()
    for i in range(n):
        if out[i] < 0 and any(reach_rows[i]):
            cover = [assigned[j] / need[j] if r else np.inf for j, r in enumerate(reach_rows[i])]
            j = cover.index(min(cover))
            out[i] = j
            assigned[j] += damage_rows[i][j]
    out = np.array(out, dtype=np.int64)
    return np.where(out >= 0, out, target)
