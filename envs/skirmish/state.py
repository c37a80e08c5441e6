"""GameState: the whole mutable state of a Skirmish game as struct-of-arrays (one slot per scenario unit).

Slot order is the scenario's placement order and never changes: dead units keep their slot with
``alive=False``. Everything that influences the future of the game lives here (the engine keeps only caches it
can rebuild), so hashing these arrays plus the loop identifies a game position.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from envs.skirmish.commands import Order
from envs.skirmish.scenario import Scenario
from envs.skirmish.units import UnitTable

QUEUE_LENGTH = 8  # orders a unit can hold (current + queued), as Q in the design
NEVER = -(10**9)  # last_damage_loop of a unit that was never damaged
TAG_BASE = 0x100000  # tags look like SC2's (index << 18 | recycle); ours: TAG_BASE + slot, stable and unique
# Added to a slot's tag each time a new unit takes the slot (full games): tags stay unique (slots < 1024) and, for
# 15,000 reuses of a slot, below 2**24, so the observation's float32 tag column holds them exactly.
TAG_RECYCLE = 1 << 10
PADDING = {"order_unit": -1, "attack_target": -1, "last_damage_loop": NEVER}  # a free slot's values (else 0): dead


@dataclass(eq=False)
class GameState:
    """Per-unit arrays of length n (see the design's field list); ``order_*`` have a queue axis of QUEUE_LENGTH.

    ``cooldown`` is in loops until the weapon is ready (fractions carry over, see engine.py);
    ``attack_target`` is the unit being attacked, or healed by a healer; ``stall`` counts loops without
    progress towards a move goal (the blocked-arrival rule).
    """

    tag: np.ndarray  # int64
    owner: np.ndarray  # int8, 1 or 2
    utype: np.ndarray  # int16, index into UnitTable
    alive: np.ndarray  # bool
    pos: np.ndarray  # float64 [n, 2]
    facing: np.ndarray  # float64, radians
    hp: np.ndarray
    shield: np.ndarray
    energy: np.ndarray
    cooldown: np.ndarray
    last_damage_loop: np.ndarray  # int64
    order_kind: np.ndarray  # int8 [n, Q]
    order_unit: np.ndarray  # int32 [n, Q]
    order_pos: np.ndarray  # float64 [n, Q, 2]
    order_len: np.ndarray  # int8
    attack_target: np.ndarray  # int32, -1 none
    was_selected: np.ndarray  # bool
    was_targeted: np.ndarray  # bool
    stall: np.ndarray  # int16

    @property
    def n(self) -> int:
        return len(self.tag)

    @classmethod
    def from_scenario(cls, scenario: Scenario, units: UnitTable, capacity: int | None = None) -> GameState:
        """The starting state: every placement alive at full hp/shields, starting energy, no orders; then free
        (dead, PADDING) slots up to ``capacity`` for units a full game creates later (tags TAG_BASE + slot)."""
        n = len(scenario.placements)
        capacity = n if capacity is None else int(capacity)
        if capacity < n:
            raise ValueError(f"capacity {capacity} is below the scenario's {n} units")
        utype = np.array([units.type_index(p.unit) for p in scenario.placements], dtype=np.int16)
        start = cls(
            tag=TAG_BASE + np.arange(n, dtype=np.int64),
            owner=np.array([p.owner for p in scenario.placements], dtype=np.int8),
            utype=utype,
            alive=np.ones(n, dtype=bool),
            pos=np.array([(p.x, p.y) for p in scenario.placements], dtype=np.float64).reshape(n, 2),
            facing=np.array([p.facing for p in scenario.placements], dtype=np.float64),
            hp=units.hp[utype].copy(),
            shield=units.shields[utype].copy(),
            energy=units.energy_start[utype].copy(),
            cooldown=np.zeros(n, dtype=np.float64),
            last_damage_loop=np.full(n, NEVER, dtype=np.int64),
            order_kind=np.full((n, QUEUE_LENGTH), Order.IDLE, dtype=np.int8),
            order_unit=np.full((n, QUEUE_LENGTH), -1, dtype=np.int32),
            order_pos=np.zeros((n, QUEUE_LENGTH, 2), dtype=np.float64),
            order_len=np.zeros(n, dtype=np.int8),
            attack_target=np.full(n, -1, dtype=np.int32),
            was_selected=np.zeros(n, dtype=bool),
            was_targeted=np.zeros(n, dtype=bool),
            stall=np.zeros(n, dtype=np.int16),
        )
        if capacity == n:
            return start
        arrays = {}
        for name, a in start.arrays().items():
            padded = np.full((capacity, *a.shape[1:]), PADDING.get(name, 0), dtype=a.dtype)
            padded[:n] = a
            arrays[name] = padded
        arrays["tag"][n:] = TAG_BASE + np.arange(n, capacity)
        return cls(**arrays)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every field by name, in declaration order (the order state hashes use)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def copy(self) -> GameState:
        return GameState(**{name: array.copy() for name, array in self.arrays().items()})
