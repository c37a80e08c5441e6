"""Potential-based reward shaping for full games (Ng, Harada and Russell, 1999): each step's reward gains
``discount * phi(s') - phi(s)`` with ``phi`` a weighted sum of the agent's army and worker supply, so the sparse
+-1 of a 1,500-step game is joined by a signal on the step an army unit or worker appears (or dies). Being a
difference of potentials (``phi`` of the state a game ended in is 0), it leaves the games' optimal policies
unchanged. A game cut by the time limit keeps its last ``phi``, as the learner bootstraps from that state's value."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.skirmish.economy.spec import FULL_SCALAR_NAMES
from training.config_io import CheckedConfig, described

_ARMY, _WORKERS = FULL_SCALAR_NAMES.index("food_army"), FULL_SCALAR_NAMES.index("food_workers")


@dataclass
class ShapingConfig(CheckedConfig):
    """The potential's weights per supply of the agent's army and of its workers (both 0: no shaping; only full
    games carry those scalars)."""

    army: float = described("potential per supply of the agent's army (e.g. 0.01: 20 army supply = 0.2)",
                            at_least=0, default=0.0)  # fmt: skip
    workers: float = described("potential per supply of the agent's workers", at_least=0, default=0.0)

    @property
    def enabled(self) -> bool:
        return self.army > 0 or self.workers > 0

    def potential(self, scalars: np.ndarray) -> float:
        """``phi`` of one observation's ``scalars`` (a full game's: the economy scalars appended)."""
        if scalars.shape[-1] != len(FULL_SCALAR_NAMES):
            raise ValueError(f"reward shaping reads the full-game scalars: expected {len(FULL_SCALAR_NAMES)} "
                             f"scalars, got {scalars.shape[-1]}")  # fmt: skip
        return float(self.army * scalars[_ARMY] + self.workers * scalars[_WORKERS])

    def bonus(self, before: np.ndarray, after: np.ndarray, discount: float, terminated: bool) -> float:
        """The step's shaping term from the scalars before and after it: ``discount * phi(after) - phi(before)``,
        with ``phi(after)`` taken as 0 when the game ended there (won or lost)."""
        return (0.0 if terminated else discount * self.potential(after)) - self.potential(before)
