"""Target acquisition scans: nearest hittable enemy for armed units, most damaged ally for healers.

Both work on a [scanners, candidates] matrix of edge distances (centre distance minus both radii, SC2's range
measure); ties go to the lowest slot. ``nearest_enemies`` also returns, for scanners that found nothing, how far
the nearest hittable enemy is beyond their scan range, which the engine turns into the first loop at which a
scan could possibly succeed (so it can skip the scans in between without changing the outcome).
"""

from __future__ import annotations

import numpy as np


def edge_distances(z: np.ndarray, r: np.ndarray, scanners: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """[len(scanners), len(candidates)] edge-to-edge distances; ``z`` holds positions as complex x + iy."""
    return np.abs(z[candidates][None, :] - z[scanners][:, None]) - r[scanners][:, None] - r[candidates][None, :]


def nearest_enemies(
    edge: np.ndarray,
    hittable: np.ndarray,
    scan_range: np.ndarray,
    min_range: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(column of the nearest hittable enemy within [min_range, scan_range] or -1, gap) per scanner row.

    ``hittable`` [k, m] says which candidates each scanner may attack (enemy, alive, ground/air as its weapon).
    ``gap`` is (nearest hittable edge distance) - scan_range: <= 0 when something is in range (possibly inside
    the minimum range), +inf when nothing is hittable at all.
    """
    rows = np.arange(edge.shape[0])
    near = np.where(hittable, edge, np.inf)
    gap = near.min(axis=1) - scan_range
    allowed = np.where(near >= min_range[:, None], near, np.inf)
    column = allowed.argmin(axis=1)
    found = allowed[rows, column] <= scan_range
    return np.where(found, column, -1), gap


def most_damaged(
    edge: np.ndarray, missing: np.ndarray, eligible: np.ndarray, scan_range: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(column of the eligible candidate within scan_range missing the most hp, or -1; gap) per scanner row.

    ``gap`` is (nearest damaged eligible edge distance) - scan_range, +inf when no eligible ally is damaged.
    ``missing`` is per candidate ([m]).
    """
    missing = missing[None, :]
    damaged = eligible & (missing > 0.0)
    nearest = np.where(damaged, edge, np.inf).min(axis=1)
    gap = np.full(nearest.shape, np.inf)
    known = np.isfinite(nearest)
    gap[known] = nearest[known] - scan_range[known]
    score = np.where(damaged & (edge <= scan_range[:, None]), missing, -1.0)
    column = score.argmax(axis=1)
    return np.where(score[np.arange(edge.shape[0]), column] > 0.0, column, -1), gap
