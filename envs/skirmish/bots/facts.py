"""Per-type combat facts the bots look up by StarCraft II unit type id (the ``unit_type`` column).

A unit's range, speed, damage and armour are public in SC2 (tooltips, Liquipedia), so a bot knowing them is
not cheating; the observation only carries the type id. The facts come from Skirmish's unit table so the bots
and the engine never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from envs.contract.scalars import LOOPS_PER_SECOND
from envs.skirmish.units import UnitTable, default_units


@dataclass(frozen=True, eq=False)
class UnitFacts:
    """Arrays indexed by SC2 unit type id (``known`` says which ids exist); distances in map units, times in loops."""

    known: np.ndarray  # bool
    range: np.ndarray
    speed: np.ndarray  # map units per loop
    radius: np.ndarray
    damage: np.ndarray  # per hit, before bonus and armour
    attacks: np.ndarray  # hits per volley
    bonus: np.ndarray
    bonus_mask: np.ndarray  # int attribute bitmask the bonus applies to
    attributes: np.ndarray  # int attribute bitmask
    armor: np.ndarray
    cooldown: np.ndarray  # loops between volleys
    armed: np.ndarray  # bool
    hits_ground: np.ndarray  # bool
    hits_air: np.ndarray  # bool
    is_air: np.ndarray  # bool
    healer: np.ndarray  # bool
    heal_rate: np.ndarray  # hp per loop
    mobile: np.ndarray  # bool
    hp: np.ndarray  # max health
    shields: np.ndarray  # max shields
    biological: np.ndarray  # bool (what healers heal)

    @classmethod
    def from_table(cls, table: UnitTable) -> UnitFacts:
        size = int(table.sc2_id.max()) + 1
        ids = table.sc2_id.astype(np.intp)

        def by_id(values: np.ndarray, dtype=np.float64) -> np.ndarray:
            out = np.zeros(size, dtype=dtype)
            out[ids] = values
            return out

        return cls(
            known=by_id(np.ones(len(ids), dtype=bool), bool),
            range=by_id(table.range),
            speed=by_id(table.speed / LOOPS_PER_SECOND),
            radius=by_id(table.radius),
            damage=by_id(table.damage),
            attacks=by_id(table.attacks),
            bonus=by_id(table.bonus),
            bonus_mask=by_id(table.bonus_mask, np.int64),
            attributes=by_id(table.attributes, np.int64),
            armor=by_id(table.armor),
            cooldown=by_id(table.cooldown * LOOPS_PER_SECOND),
            armed=by_id(table.armed, bool),
            hits_ground=by_id(table.hits_ground, bool),
            hits_air=by_id(table.hits_air, bool),
            is_air=by_id(table.is_air, bool),
            healer=by_id(table.healer, bool),
            heal_rate=by_id(table.heal_rate / LOOPS_PER_SECOND),
            mobile=by_id(table.speed > 0, bool),
            hp=by_id(table.hp),
            shields=by_id(table.shields),
            biological=by_id(table.biological, bool),
        )

    def check(self, type_ids: np.ndarray) -> np.ndarray:
        """``type_ids`` as an index array; a clear error if one is not a unit type the bots know."""
        ids = np.asarray(type_ids).astype(np.intp)
        if not self._known_ids.issuperset(ids.tolist()):
            bad = (ids < 0) | (ids >= len(self.known))
            bad[~bad] = ~self.known[ids[~bad]]
            raise ValueError(
                f"bots: unit type id {int(ids[bad][0])} is not in the unit table; known ids: "
                f"{np.flatnonzero(self.known).tolist()}"
            )
        return ids

    def volley(self, attacker: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Damage ``[len(attacker), len(target)]`` one volley of each attacker type deals to each target type
        (bonus by attribute, armour per hit, at least 0.5 per hit; shields' armour is ignored, as a bot would)."""
        return self._volleys[attacker[:, None], target[None, :]]

    @cached_property
    def vitality(self) -> np.ndarray:
        """Full health + shields per type id."""
        return self.hp + self.shields

    @cached_property
    def _known_ids(self) -> frozenset[int]:
        return frozenset(np.flatnonzero(self.known).tolist())

    @cached_property
    def _volleys(self) -> np.ndarray:
        """``volley`` for every pair of type ids, computed once: bots look it up every decision."""
        a = np.arange(len(self.known))[:, None]
        t = a.T
        bonus = np.where((self.bonus_mask[a] & self.attributes[t]) != 0, self.bonus[a], 0.0)
        hit = np.maximum(self.damage[a] + bonus - self.armor[t], 0.5)
        can = np.where(self.is_air[t], self.hits_air[a], self.hits_ground[a]) & self.armed[a]
        return np.where(can, hit * self.attacks[a], 0.0)


@lru_cache(maxsize=1)
def default_facts() -> UnitFacts:
    """The facts of Skirmish's shipped unit table (cached)."""
    return UnitFacts.from_table(default_units())
