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


class LabelMixer:
    """DAgger's mixture for one game's labelled side: ``label`` asks the demonstrator and keeps its actions as the
    step's label; ``choose`` then plays them with probability ``beta``, else the learner's own actions (and tells a
    demonstrator that remembers its commands that they were not sent, so it labels them again)."""

    def __init__(self, labeller: Any, beta: float, seed: int) -> None:
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"beta is {beta!r}, expected a probability in [0, 1]")
        self.labeller, self.beta = labeller, float(beta)
        self.rng = np.random.default_rng(seed)
        self.labels: list[list[dict[str, Any]]] = []

    def label(self, observation: dict[str, np.ndarray], spec: Spec) -> None:
        """The demonstrator's actions at this step (asked before anything of the step is played)."""
        self.labels.append(self.labeller.act(observation, spec))

    def choose(self, own: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The actions this step plays: the latest label with probability ``beta``, else ``own``."""
        if self.rng.random() < self.beta:
            return self.labels[-1]
        if hasattr(self.labeller, "unplayed"):
            self.labeller.unplayed()
        return own


class LabelledPlayer:
    """Acts like a bot: ``act(observation, spec)`` -> the actions played; ``labels`` holds one list per step."""

    def __init__(self, learner: Any, labeller: Bot, beta: float, seed: int) -> None:
        self.learner, self.mixer = learner, LabelMixer(labeller, beta, seed)

    @property
    def labels(self) -> list[list[dict[str, Any]]]:
        return self.mixer.labels

    def act(self, observation: dict[str, np.ndarray], spec: Spec) -> list[dict[str, Any]]:
        self.mixer.label(observation, spec)  # first: a planning labeller reads the match as it is now
        own = self.learner.act(observation, spec)  # every step, so a recurrent learner's state follows the game
        return self.mixer.choose(own)
