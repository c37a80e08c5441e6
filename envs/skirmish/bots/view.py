"""What a bot sees: one observation dict split into its own army and the visible enemies, keyed by tag.

Rows change from step to step (units die, enemies appear), so bots reason about tags and only turn them back
into rows of the current observation when they emit actions; that is also what lets slow levels decide on an
old observation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.contract.columns import Alliance
from envs.contract.columns import UnitColumn as C
from envs.contract.scalars import Scalar
from envs.skirmish.bots.facts import UnitFacts

# Plain ints (IntEnum lookups and conversions cost more than the indexing); _COLUMNS in the order parse reads them.
_ALLIANCE, _SELF, _ENEMY = int(C.alliance), int(Alliance.self), int(Alliance.enemy)
_COLUMNS = np.array([C.unit_type, C.health, C.shield, C.tag, C.x, C.y, C.weapon_cooldown, C.order_length], np.intp)
_LOOP, _WIDTH, _HEIGHT = int(Scalar.game_loop), int(Scalar.map_width), int(Scalar.map_height)
_all = np.logical_and.reduce  # ndarray.all without its Python wrapper


@dataclass(frozen=True, eq=False)
class Army:
    """One side's living units in one observation (parallel arrays)."""

    rows: np.ndarray  # int64 row in the observation
    tags: np.ndarray  # int64
    types: np.ndarray  # intp SC2 unit type id
    pos: np.ndarray  # float64 [k, 2]
    vitality: np.ndarray  # health + shield
    vitality_ratio: np.ndarray  # of the type's full health + shields
    cooldown: np.ndarray  # loops until the weapon is ready (0 for enemies: the game does not show theirs)
    order_len: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, index: np.ndarray) -> Army:
        """The units at ``index`` (bool mask or integer positions)."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = index.nonzero()[0]  # np.flatnonzero minus its wrapper (masks are 1-D)
        i = index  # ndarray.take: cheaper than [] on a few rows
        return Army(
            self.rows.take(i), self.tags.take(i), self.types.take(i), self.pos.take(i, axis=0), self.vitality.take(i),
            self.vitality_ratio.take(i), self.cooldown.take(i), self.order_len.take(i),
        )

    def slice(self, start: int, stop: int) -> Army:
        """The units at positions ``start`` to ``stop`` (views: nothing copied)."""
        part = slice(start, stop)
        return Army(
            self.rows[part], self.tags[part], self.types[part], self.pos[part], self.vitality[part],
            self.vitality_ratio[part], self.cooldown[part], self.order_len[part],
        )

    def centroid(self) -> np.ndarray:
        return np.add.reduce(self.pos, axis=0) / len(self.pos)  # what pos.mean(axis=0) computes, minus its wrapper


@dataclass(frozen=True, eq=False)
class View:
    """One observation as the bots use it."""

    own: Army
    enemy: Army
    loop: int
    map_size: np.ndarray  # float64 [2]: width, height


def parse(obs: dict, facts: UnitFacts) -> View:
    """Split ``obs`` (the contract's observation dict) into own units and visible enemies."""
    units = np.asarray(obs["units"])
    mask = np.asarray(obs["unit_mask"], dtype=bool)
    if units.ndim != 2 or units.shape[1] <= C.shield_upgrade_level or mask.shape != units.shape[:1]:
        raise ValueError(
            f"bots: expected obs['units'] [max_units, 46] and a matching unit_mask, got {units.shape} and {mask.shape}"
        )
    rows = mask.nonzero()[0]
    alliance = units[rows, _ALLIANCE]
    own, enemy = alliance == _SELF, alliance == _ENEMY
    sides = own | enemy
    rows = rows[sides]
    # Both sides in one pass over just the columns used (one conversion, one type check): bots parse every step.
    u = units[rows[:, None], _COLUMNS].astype(np.float64)
    types = facts.check(u[:, 0])
    vitality = u[:, 1] + u[:, 2]
    every = Army(
        rows=rows.astype(np.int64),
        tags=np.rint(u[:, 3]).astype(np.int64),
        types=types,
        pos=u[:, [4, 5]],
        vitality=vitality,
        vitality_ratio=np.minimum(np.maximum(vitality / facts.vitality[types], 0.0), 1.0),
        cooldown=u[:, 6],
        order_len=u[:, 7].astype(np.int64),
    )
    scalars = np.asarray(obs["scalars"])
    own = own[sides]
    n_own = int(np.count_nonzero(own))
    if _all(own[:n_own]):  # the contract's order (own rows first): each side is a slice of ``every``
        own_army, enemy_army = every.slice(0, n_own), every.slice(n_own, len(every))
    else:
        own_army, enemy_army = every.take(own), every.take(~own)
    return View(
        own=own_army,
        enemy=enemy_army,
        loop=int(scalars[_LOOP]),
        map_size=np.array([scalars[_WIDTH], scalars[_HEIGHT]], dtype=np.float64),
    )

