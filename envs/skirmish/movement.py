"""Soft collisions between ground units: candidate pairs found once per window, separation pushes per loop.

``candidate_pairs`` returns every pair that could overlap within the next few loops (a conservative distance
bound from the units' maximum displacement per loop), found through a uniform grid so 512 units cost about
n x neighbours, not n^2. ``separation`` then resolves the overlaps of those pairs each loop: each overlapping
pair is pushed apart along the line between centres, split by push weight (units holding position or unable
to move have weight 0), and each unit's total push is capped per loop.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_DENSE_BELOW = 96  # below this many units, test all pairs directly
_PARTS = np.arange(2)
_max = np.maximum.reduce


def candidate_pairs(z: np.ndarray, reach: np.ndarray, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j, slot indices) among ``slots`` whose centres (complex ``z``) are within reach[i] + reach[j]."""
    n = slots.size
    if n < 2:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    pz, pr = z[slots], reach[slots]
    if n < _DENSE_BELOW:
        a, b = _all_pairs(n)
    else:
        a, b = _grid_pairs(pz.real, pz.imag, 2.0 * float(pr.max()))
    keep = np.abs(pz[b] - pz[a]) <= pr[a] + pr[b]
    a, b = slots[a[keep]], slots[b[keep]]
    swap = a > b
    return np.where(swap, b, a), np.where(swap, a, b)


@lru_cache(maxsize=_DENSE_BELOW)
def _all_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n, 1)


def _grid_pairs(px: np.ndarray, py: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """All pairs (positions in px) in the same or adjacent grid cells of size ``cell``, each pair once."""
    n = px.size
    gx = np.floor((px - px.min()) / cell).astype(np.int64)
    gy = np.floor((py - py.min()) / cell).astype(np.int64)
    height = int(gy.max()) + 3
    key = gx * height + gy + 1
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    rank = np.arange(n)
    firsts, seconds = [], []
    for offset in (0, height - 1, height, height + 1, 1):  # same cell, then right column, then the cell above
        lo = np.searchsorted(sorted_key, sorted_key + offset, "left")
        hi = np.searchsorted(sorted_key, sorted_key + offset, "right")
        if offset == 0:
            lo = rank + 1  # within a cell, only later ranks: each pair once
        count = np.maximum(hi - lo, 0)
        total = int(count.sum())
        if total == 0:
            continue
        first = np.repeat(rank, count)
        start = np.repeat(lo - (np.cumsum(count) - count), count)
        firsts.append(order[first])
        seconds.append(order[start + np.arange(total)])
    if not firsts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(firsts), np.concatenate(seconds)


def push_index(pi: np.ndarray, pj: np.ndarray, n: int) -> np.ndarray:
    """``separation``'s bincount index for pairs (pi, pj) among n slots: [2 pj, 2 pj + 1] per pair, then
    [2 n + 2 pi, 2 n + 2 pi + 1] per pair (the float64 parts of each pair's complex push on unit j, then on i)."""
    return (2 * np.concatenate((pj, pi + n))[:, None] + _PARTS).reshape(-1)


def separation(
    z: np.ndarray,
    pi: np.ndarray,
    pj: np.ndarray,
    rsum: np.ndarray,
    shares: np.ndarray,
    cap: np.ndarray,
    inv_closing: np.ndarray,
    index: np.ndarray | None = None,
) -> tuple[np.ndarray | None, int]:
    """(complex push per slot separating the overlapping candidate pairs or None, loops until the next check).

    A pair overlapping by ``o`` is pushed apart by ``o`` in total, unit j taking ``shares[0]`` of it and unit i
    ``shares[1]`` ([2, pairs]; shares by push weight: units holding position or unable to move take none); coincident
    centres separate along +x (a 1e-12 bias on every pair's direction). A unit's summed push is scaled down
    to at most ``cap[slot]`` so crowds relax over a few loops instead of exploding. When nothing overlaps, no
    pair can touch for (gap x ``inv_closing``) loops (1 / the most the pair can close in per loop), which is
    returned so the caller can skip the checks until then. ``index`` is ``push_index(pi, pj, z.size)`` when the
    caller keeps it.

    Every pair is pushed, by zero when it does not overlap (adding zeros leaves each unit's sums exactly what
    summing only the overlapping pairs gives), and one bincount sums the pushes on j and those on i (each
    part separately, in pair order, as per-part bincounts would): fewer numpy calls than selecting first.
    """
    dz = z[pj] - z[pi]
    over = rsum - np.abs(dz)  # > 0 exactly where the centres are closer than the radii
    if not _max(over) > 0.0:
        return None, max(1, int(-_max(over * inv_closing)))
    direction = dz + 1e-12
    push = direction * (np.maximum(over, 0.0) / np.abs(direction))
    n = z.size
    if index is None:
        index = push_index(pi, pj, n)
    parts = (shares * push).view(np.float64).reshape(-1)  # [2, pairs] complex: the pushes on j, then on i
    sums = np.bincount(index, parts, 4 * n)
    total = (sums[: 2 * n] - sums[2 * n :]).view(np.complex128)  # on j minus on i
    return total * np.minimum(cap / np.maximum(np.abs(total), 1e-300), 1.0), 1
