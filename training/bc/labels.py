"""DAgger's data: a learner plays one side of a game while a demonstrator labels every step it sees.

Behaviour cloning on the expert's own games trains on the states the expert visits; the cloned agent drifts to
states the expert never reaches and has no demonstration there (covariate shift). DAgger (Ross et al., 2011) plays
the learner, asks the expert what it would do at each visited state, and clones those labels. ``LabelledPlayer``
is that side of a recorded game: every step both the demonstrator and the learner act on the same observation; the
game plays the demonstrator's actions with probability ``beta`` (DAgger's mixture, decayed over iterations) and
the learner's otherwise, and the demonstrator's actions are kept as the step's labels (``replay.Labels``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.contract.spec import Spec
from envs.skirmish.bots import Bot


class LabelledPlayer:
    """Acts like a bot: ``act(observation, spec)`` -> the actions played; ``labels`` holds one list per step."""

    def __init__(self, learner: Any, labeller: Bot, beta: float, seed: int) -> None:
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"LabelledPlayer: beta is {beta!r}, expected a probability in [0, 1]")
        self.learner, self.labeller, self.beta = learner, labeller, float(beta)
        self.rng = np.random.default_rng(seed)
        self.labels: list[list[dict[str, Any]]] = []

    def act(self, observation: dict[str, np.ndarray], spec: Spec) -> list[dict[str, Any]]:
        label = self.labeller.act(observation, spec)  # first: a planning labeller reads the match as it is now
        own = self.learner.act(observation, spec)  # every step, so a recurrent learner's state follows the game
        self.labels.append(label)
        if self.rng.random() < self.beta:
            return label
        if hasattr(self.labeller, "unplayed"):  # a labeller that remembers its commands learns they were not sent
            self.labeller.unplayed()
        return own
