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
    offset = pos - enemy_centre
    radial = np.sqrt(np.add.reduce(offset * offset, axis=1))  # np.linalg.norm's sum, minus its overhead
    front_rank = rank[mobile].min()
    front_now = radial[mobile & (rank == front_rank)].min()
    lines = _lines(pos, rank, mobile, facts.radius[army.types], enemy_centre, side, front_rank)
    slots, formed = _slots(pos, mobile, lines, enemy_centre, d, side, front_now)
    if formed:
        slots, _ = _slots(pos, mobile, lines, enemy_centre, d, side, front_now - advance)
    points[mobile] = np.minimum(np.maximum(slots[mobile], EDGE), map_size - EDGE)
    return points


def _lines(pos, rank, mobile, radius, centre, side, front_rank) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Per rank of mobile units: its members ordered along the arc, their lateral offsets and the rank's depth
    behind the front rank (the same whatever the front radius, so computed once)."""
    out = []
    for r in sorted(set(rank[mobile].tolist())):  # np.unique, minus its overhead
        members = np.flatnonzero(mobile & (rank == r))
        members = members[np.argsort((pos[members] - centre) @ side, kind="stable")]
        spacing = 2.0 * radius[members].max() + GAP
        lateral = (np.arange(members.size) - (members.size - 1) / 2.0) * spacing
        out.append((members, lateral, RANK_DEPTH * (r - front_rank)))
    return out


def _slots(pos, mobile, lines, centre, d, side, front_radius) -> tuple[np.ndarray, bool]:
    """Arc slots for every mobile unit with the front rank at ``front_radius`` from ``centre``, and whether every
    unit is already within STRAGGLER of its slot."""
    slots = pos.copy()
    front_radius = max(front_radius, 1.0)
    for members, lateral, depth in lines:
        radius_r = front_radius + depth
        angle = np.minimum(np.maximum(lateral / radius_r, -MAX_HALF_ANGLE), MAX_HALF_ANGLE)
        slots[members] = centre - radius_r * np.cos(angle)[:, None] * d + radius_r * np.sin(angle)[:, None] * side
    error = slots[mobile] - pos[mobile]
    return slots, bool(np.sqrt(np.add.reduce(error * error, axis=1)).max() < STRAGGLER)
