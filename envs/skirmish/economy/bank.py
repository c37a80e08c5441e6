"""Each player's minerals and vespene: what gathering deposits and production spends (whole units, never below 0)."""

from __future__ import annotations

import numpy as np

from envs.skirmish.economy.rules import Cost


class Bank:
    """``minerals[p]`` and ``vespene[p]`` for players 1 and 2 (index 0 unused), plus running totals for reports.

    ``income[p]`` multiplies what ``player`` p's deposits bring (rounded half to even per trip): 1, or more for a
    bot level that cheats with extra income as StarCraft II's cheating AIs do."""

    def __init__(self, minerals: int, vespene: int) -> None:
        self.income = np.ones(3)
        self.minerals = np.array([0, minerals, minerals], dtype=np.int64)
        self.vespene = np.array([0, vespene, vespene], dtype=np.int64)
        self.collected = np.zeros((3, 2), dtype=np.int64)  # minerals, vespene gathered per player
        self.spent = np.zeros((3, 2), dtype=np.int64)

    def affords(self, player: int, cost: Cost) -> bool:
        return self.minerals[player] >= cost.minerals and self.vespene[player] >= cost.vespene

    def pay(self, player: int, cost: Cost) -> None:
        """Take ``cost`` from ``player``; a clear error if it cannot pay (callers check ``affords`` first)."""
        if not self.affords(player, cost):
            raise ValueError(f"player {player} cannot pay {cost.minerals} minerals and {cost.vespene} vespene: it "
                             f"has {self.minerals[player]} and {self.vespene[player]}")  # fmt: skip
        self.minerals[player] -= cost.minerals
        self.vespene[player] -= cost.vespene
        self.spent[player] += (cost.minerals, cost.vespene)

    def refund(self, player: int, cost: Cost) -> None:
        """Give back what an order that did not happen cost (not income: ``collected`` is unchanged)."""
        self.minerals[player] += cost.minerals
        self.vespene[player] += cost.vespene
        self.spent[player] -= (cost.minerals, cost.vespene)

    def deposit(self, player: int, minerals: int = 0, vespene: int = 0) -> None:
        if self.income[player] != 1.0:
            minerals, vespene = (round(v * float(self.income[player])) for v in (minerals, vespene))
        self.minerals[player] += minerals
        self.vespene[player] += vespene
        self.collected[player] += (minerals, vespene)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """Everything it holds, for the game's state hash."""
        return self.minerals, self.vespene, self.collected, self.spent, self.income
