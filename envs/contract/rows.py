"""Which units get rows when a player has more units in view than ``max_units``: a fair share for each side.

Cutting the ordered list (own units first) would hide the enemy as soon as the player's own units fill the rows
(64 vs 64 units at 64 rows: no enemy at all). Instead own and enemy units share the rows max-min fairly: each side
gets half, a side with fewer units than its half keeps them all and the other side gets the rows it leaves.
A proportional split would let a large army crowd out a small one (200 own vs 20 enemy units at 64 rows: 6 enemy
rows), while equal halves show all 20 enemies and 44 own units. Neutral units (minerals, rocks, critters) get the
rows both sides leave: either army matters more than the scenery (in a late StarCraft II game, 150 neutral units
would otherwise take a third of 512 rows from the armies). AlphaStar simply cut its entity list at 512, which its
games rarely reached.

Within a group the units nearest the fight keep their rows: the enemy and neutral groups come nearest first already
(their row order), and the own units kept are those nearest the centroid of the enemy units in view (ties by tag),
so the units in contact stay controllable; the kept rows stay in the contract's row order. How many units lost
their row is reported (``info["units_dropped"]``), never silent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def row_shares(counts: Sequence[int], max_units: int) -> tuple[int, ...]:
    """Rows per group (``counts`` in row order: own, enemy, then neutral if any) out of ``max_units``, each at most
    its count: all of them when they fit; otherwise own and enemy split the rows max-min fairly (an odd row goes to
    own) and the neutral group takes what they leave. Deterministic: the same counts give the same shares."""
    if max_units < 1:
        raise ValueError(f"max_units must be >= 1, got {max_units!r}")
    if len(counts) not in (2, 3) or any(count < 0 for count in counts):
        raise ValueError(f"counts must be 2 or 3 numbers >= 0 (own, enemy, neutral), got {list(counts)}")
    own, enemy = int(counts[0]), int(counts[1])
    enemy_share = min(enemy, max(max_units // 2, max_units - own))
    own_share = min(own, max_units - enemy_share)
    shares = (own_share, enemy_share)
    if len(counts) == 3:
        shares += (min(int(counts[2]), max_units - own_share - enemy_share),)
    return shares


def fair_rows(groups: Sequence[np.ndarray], xy: np.ndarray, max_units: int) -> list[np.ndarray]:
    """The members of each group that keep a row: ``groups`` are index arrays in row order (own by tag, then enemy
    and neutral nearest first), ``xy`` [n, 2] the positions they index. Each group keeps its ``row_shares``: the
    enemy and neutral groups their first ones, the own group those nearest the enemies' centroid, in tag order."""
    shares = row_shares([group.size for group in groups], max_units)
    own, enemy = groups[0], groups[1]
    kept = [group[:share] for group, share in zip(groups, shares, strict=True)]
    if shares[0] < own.size and enemy.size:
        offset = xy[own] - xy[enemy].mean(axis=0)
        nearest = np.argsort(np.einsum("ij,ij->i", offset, offset), kind="stable")[: shares[0]]
        kept[0] = own[np.sort(nearest)]
    return kept
