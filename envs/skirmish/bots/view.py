"""What a bot sees: one observation dict split into its own army and the visible enemies, keyed by tag.

Rows change from step to step (units die, enemies appear), so bots reason about tags and only turn them back
into rows of the current observation when they emit actions; that is also what lets slow levels decide on an
old observation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from envs.contract.columns import Alliance
from envs.contract.columns import UnitColumn as C
from envs.contract.scalars import Scalar
from envs.skirmish.bots.facts import UnitFacts

# Plain ints (IntEnum lookups and conversions cost more than the indexing).
_ALLIANCE, _SELF, _ENEMY = int(C.alliance), int(Alliance.self), int(Alliance.enemy)
_TYPE, _HEALTH, _SHIELD, _TAG, _X, _Y = int(C.unit_type), int(C.health), int(C.shield), int(C.tag), int(C.x), int(C.y)
_COOLDOWN, _ORDER_LENGTH = int(C.weapon_cooldown), int(C.order_length)
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
    # Both sides in one compiled pass over just the columns used: bots parse every step.
    rows, own, type_ids, tags, pos, vitality, cooldown, order_len, known = _split(units, mask, facts.known)
    types = type_ids if known else facts.check(type_ids)  # (raises, naming the unknown type id)
    every = Army(
        rows=rows,
        tags=tags,
        types=types,
        pos=pos,
        vitality=vitality,
        vitality_ratio=np.minimum(np.maximum(vitality / facts.vitality[types], 0.0), 1.0),
        cooldown=cooldown,
        order_len=order_len,
    )
    scalars = np.asarray(obs["scalars"])
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


@njit(cache=True)
def _split(units, mask, known):
    """The rows of own and enemy units (by ``alliance``, in row order) and, as float64 values, their type ids
    (truncated to ints), tags (rounded), positions, health + shield, weapon cooldown and order length; plus
    whether every type id is ``known``."""
    k = 0
    for r in range(mask.size):
        if mask[r] and (units[r, _ALLIANCE] == _SELF or units[r, _ALLIANCE] == _ENEMY):
            k += 1
    rows, own = np.empty(k, dtype=np.int64), np.empty(k, dtype=np.bool_)
    type_ids, tags, order_len = np.empty(k, dtype=np.intp), np.empty(k, dtype=np.int64), np.empty(k, dtype=np.int64)
    pos, vitality, cooldown = np.empty((k, 2)), np.empty(k), np.empty(k)
    all_known = True
    i = 0
    for r in range(mask.size):
        alliance = units[r, _ALLIANCE]
        if not mask[r] or (alliance != _SELF and alliance != _ENEMY):
            continue
        rows[i], own[i] = r, alliance == _SELF
        t = int(np.float64(units[r, _TYPE]))
        type_ids[i] = t
        if t < 0 or t >= known.size or not known[t]:
            all_known = False
        tags[i] = int(np.rint(np.float64(units[r, _TAG])))
        pos[i, 0], pos[i, 1] = np.float64(units[r, _X]), np.float64(units[r, _Y])
        vitality[i] = np.float64(units[r, _HEALTH]) + np.float64(units[r, _SHIELD])
        cooldown[i] = np.float64(units[r, _COOLDOWN])
        order_len[i] = int(np.float64(units[r, _ORDER_LENGTH]))
        i += 1
    return rows, own, type_ids, tags, pos, vitality, cooldown, order_len, all_known
