"""Formation offsets: where the units of one group stand relative to the group's centre.

Shared by the scenario loader and the random generator so that both lay armies out the same way.
"""

from __future__ import annotations

import math

import numpy as np


def grid_offsets(count: int, per_rank: int, spacing: float, forward: float) -> np.ndarray:
    """Offsets ``[count, 2]`` of ranks of up to ``per_rank`` units along y, stacked along x.

    Rank 0 is the front (towards ``forward``, +1 = right, -1 = left); a short last rank is centred.
    A line is a grid with ``per_rank == count``.
    """
    if count < 1 or per_rank < 1 or spacing <= 0:
        raise ValueError(f"grid needs count >= 1, per_rank >= 1 and spacing > 0, got {count}, {per_rank}, {spacing}")
    ranks = math.ceil(count / per_rank)
    rows = []
    for rank in range(ranks):
        in_rank = min(per_rank, count - rank * per_rank)
        x = forward * ((ranks - 1) / 2 - rank) * spacing
        for j in range(in_rank):
            rows.append((x, (j - (in_rank - 1) / 2) * spacing))
    return np.asarray(rows, dtype=np.float64)


def scattered_offsets(count: int, size: tuple[float, float], spacing: float, rng: np.random.Generator) -> np.ndarray:
    """Offsets ``[count, 2]`` scattered over a ``size = (width, height)`` box centred on 0.

    The box is cut into ``spacing``-sized cells; ``count`` distinct cells are drawn and each unit is
    jittered by at most a quarter cell, so any two units stay at least ``spacing / 2`` apart.
    """
    width, height = size
    if spacing <= 0:
        raise ValueError(f"spacing must be > 0, got {spacing}")
    nx, ny = int(width / spacing + 1e-9), int(height / spacing + 1e-9)
    if nx * ny < count:
        raise ValueError(
            f"{count} units do not fit in a {width} x {height} box at spacing {spacing} (room for {nx * ny})"
        )
    cells = np.sort(rng.choice(nx * ny, size=count, replace=False))
    centres = np.stack([(cells % nx - (nx - 1) / 2) * spacing, (cells // nx - (ny - 1) / 2) * spacing], axis=1)
    return centres + rng.uniform(-0.25 * spacing, 0.25 * spacing, size=(count, 2))
