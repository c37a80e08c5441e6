"""Damage arithmetic for one game loop: hits on shields and hp, splash zones, sequential capacity.

Hits that land in the same loop are applied one after another in row order (attacker slot order, then splash),
so a victim's shields absorb the first hits and armor applies to the rest, exactly as if the hits were
separate events. Everything is vectorised over rows; ``capped_in_order`` (a segmented cumulative sum) is the
primitive that makes "one after another" work without a Python loop; ``sequential_cap`` is the same for rows in
any order (how simultaneous heals share a missing-hp budget).
"""

from __future__ import annotations

import numpy as np

MIN_DAMAGE = 0.5  # SC2: a hit on hp always deals at least 0.5 (unless shields took part of it)


def group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Indices where a new key begins in a sorted key array (the first row of each group)."""
    first = np.empty(sorted_keys.size, dtype=bool)
    first[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=first[1:])
    return first.nonzero()[0]


def capped_in_order(starts: np.ndarray, amounts: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """For rows grouped by key (groups begin at ``starts``): how much of each row's amount fits when the rows of
    a group drain that group's ``capacity`` (given per row) one after another, in row order. Each group's
    running sum starts from 0, so a row's result depends on its own group only (a game's hits give the same bits
    resolved alone or among other games' hits in the batched engine)."""
    if starts.size == amounts.size:
        return np.minimum(np.maximum(capacity, 0.0), amounts)
    sizes = np.diff(np.append(starts, amounts.size))
    group = np.repeat(np.arange(starts.size), sizes)
    rank = np.arange(amounts.size) - starts[group]
    grid = np.zeros((starts.size, int(sizes.max()) + 1))  # one row per group: 0, then its amounts in row order
    grid[group, rank + 1] = amounts
    before = np.cumsum(grid, axis=1)[group, rank]  # what the group's earlier rows took, summed from 0 in order
    return np.minimum(np.maximum(capacity - before, 0.0), amounts)


def sequential_cap(keys: np.ndarray, amounts: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """``capped_in_order`` for rows in any order: row k gets clip(capacity[key] - earlier rows of key, 0, amount)."""
    if keys.size == 1:
        return np.minimum(np.maximum(capacity[keys], 0.0), amounts)
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    out = np.empty_like(amounts)
    out[order] = capped_in_order(group_starts(k), amounts[order], capacity[k])
    return out


def resolve_hits(
    starts: np.ndarray, victims: np.ndarray, raw: np.ndarray, shield: np.ndarray, armor: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray]:
    """(shield loss or None when no victim has shields, hp loss) of each hit row; rows are grouped by victim
    (groups begin at ``starts``), in hit order.

    Shields (armor 0) absorb raw damage first; the rest is reduced by the victim's armor and taken from hp,
    at least MIN_DAMAGE for a hit that shields did not touch. ``shield`` and ``armor`` are full-length arrays.
    """
    shields = shield[victims]
    if not np.count_nonzero(shields):
        return None, np.maximum(raw - armor[victims], MIN_DAMAGE)
    absorbed = capped_in_order(starts, raw, shields)
    rest = raw - absorbed
    floor = np.where(absorbed > 0.0, 0.0, MIN_DAMAGE)
    hp_loss = np.where(rest > 0.0, np.maximum(rest - armor[victims], floor), 0.0)
    return absorbed, hp_loss


def splash_fraction(distance: np.ndarray, radii: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Damage fraction for victims whose edge is ``distance`` from a splash centre: the innermost zone reached.

    ``distance`` is [k, m]; ``radii``/``fractions`` are [k, zones] sorted innermost first (radius 0 = no zone).
    """
    out = np.zeros(distance.shape, dtype=np.float64)
    for zone in range(radii.shape[1] - 1, -1, -1):  # outer zones first, inner zones overwrite
        inside = distance <= radii[:, zone, None]
        inside &= radii[:, zone, None] > 0.0
        out = np.where(inside, fractions[:, zone, None], out)
    return out
