"""Formation: approach the enemy as one concave line instead of a stream of units.

Units arriving one by one fight the whole enemy army alone (the "trickle" that loses even fights). Before
contact a formation bot puts its mobile units on an arc centred on the enemy: melee in the front rank, ranged
units one rank behind, healers behind those. Seen from the enemy the arc is concave, so more of our units are
in range of the enemy's front than the other way round. The arc advances at the pace of the slowest unit and
waits for stragglers.
"""

from __future__ import annotations

import numpy as np

from envs.skirmish.bots.facts import UnitFacts
from envs.skirmish.bots.view import Army

RANK_DEPTH = 1.6  # map units between ranks
GAP = 0.35  # extra room between neighbours in a rank
MAX_HALF_ANGLE = np.pi / 3  # the arc never wraps further round the enemy than this
STRAGGLER = 2.0  # a unit this far from its slot holds the advance back
EDGE = 0.5


def ranks(army: Army, facts: UnitFacts) -> np.ndarray:
    """Rank of each unit: 0 melee, 1 ranged, 2 unarmed (healers)."""
    t = army.types
    return np.where(~facts.armed[t], 2, np.where(facts.range[t] < 2.0, 0, 1))


def formation_points(
    army: Army, facts: UnitFacts, enemy_centre: np.ndarray, advance: float, map_size: np.ndarray
) -> np.ndarray:
    """The slot point of each unit of ``army`` (immobile units keep their position).

    The arc's front is ``advance`` map units closer to the enemy than the army's front rank now, or no closer
    while stragglers are still far from their slots.
    """
    pos = army.pos
    mobile = facts.mobile[army.types]
    points = pos.copy()
    if not mobile.any():
        return points
    to_enemy = enemy_centre - pos[mobile].mean(axis=0)
    dist = float(np.linalg.norm(to_enemy))
    d = to_enemy / dist if dist > 1e-6 else np.array([1.0, 0.0])
    side = np.array([-d[1], d[0]])
    rank = ranks(army, facts)
    # Radius of the front rank: where the closest rank-0-or-best unit is now, minus the advance.
    radial = np.linalg.norm(pos - enemy_centre, axis=1)
    front_rank = rank[mobile].min()
    front_now = radial[mobile & (rank == front_rank)].min()
    slots, formed = _slots(pos, rank, mobile, facts.radius[army.types], enemy_centre, d, side, front_now)
    if formed:
        slots, _ = _slots(pos, rank, mobile, facts.radius[army.types], enemy_centre, d, side, front_now - advance)
    lo, hi = np.full(2, EDGE), map_size - EDGE
    points[mobile] = np.clip(slots[mobile], lo, hi)
    return points


def _slots(pos, rank, mobile, radius, centre, d, side, front_radius) -> tuple[np.ndarray, bool]:
    """Arc slots for every mobile unit with the front rank at ``front_radius`` from ``centre``, and whether every
    unit is already within STRAGGLER of its slot."""
    slots = pos.copy()
    front_radius = max(front_radius, 1.0)
    for r in np.unique(rank[mobile]):
        members = np.flatnonzero(mobile & (rank == r))
        members = members[np.argsort((pos[members] - centre) @ side, kind="stable")]
        spacing = 2.0 * radius[members].max() + GAP
        radius_r = front_radius + RANK_DEPTH * (r - rank[mobile].min())
        lateral = (np.arange(members.size) - (members.size - 1) / 2.0) * spacing
        angle = np.clip(lateral / radius_r, -MAX_HALF_ANGLE, MAX_HALF_ANGLE)
        slots[members] = centre - radius_r * np.cos(angle)[:, None] * d + radius_r * np.sin(angle)[:, None] * side
    error = np.linalg.norm(slots[mobile] - pos[mobile], axis=1)
    return slots, bool(error.max() < STRAGGLER)
