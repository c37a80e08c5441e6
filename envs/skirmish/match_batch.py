"""``MatchBatch``: many Skirmish games in numbered slots, stepped together (RL actors, evaluation, the vector env).

A step runs in three passes over the games it is given: every game's actions are checked and translated
(``Match.plan``; a strict game's illegal action raises here, before any game changes), every game's commands are
issued and all the engines advanced (``_advance``), then every game's rewards and observations are made
(``Match.conclude``). Each game's outcome is exactly what ``Match.step`` gives it alone: games share nothing.

``_advance`` is the one place that moves the engines. Today it advances each slot's own ``Engine``; a batched
engine (one struct-of-arrays state for all slots) plugs in there: ``start`` would load the new match's fresh
engine into the slot and give the match a view of it (the ``Engine`` surface ``Match`` and the observations use:
``state``, ``loop``, ``winner``, ``done``, ``scenario``, ``units``, ``fog``, ``see_all``, ``visible``, ``issue``,
``events``, ``state_hash``), and ``_advance`` would step every given slot ``step_mul`` loops in one call.
"""

from __future__ import annotations

from collections.abc import Mapping

from envs.skirmish.match import Actions, Match, StepResult


class MatchBatch:
    """``size`` game slots; ``start`` puts a match in a slot, ``step`` plays one agent step of some slots' games."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"MatchBatch: size must be >= 1, got {size!r}")
        self.matches: list[Match | None] = [None] * int(size)

    def __len__(self) -> int:
        return len(self.matches)

    def start(self, slot: int, match: Match) -> dict[int, dict]:
        """Play ``match`` in ``slot`` from now on (replacing the slot's game); returns its current observations."""
        self.matches[slot] = match
        return match.observations

    def stop(self, slot: int) -> None:
        """Empty ``slot`` (a finished game nobody replaces)."""
        self.matches[slot] = None

    def step(self, actions: Mapping[int, Mapping[int, Actions]]) -> dict[int, StepResult]:
        """One agent step of the game in each slot ``actions`` names (slot -> {player: action(s)}); returns per slot
        ``Match.step``'s (observations, rewards, terminated, truncated, infos). Other slots do not move.

        Raises (changing no game) when a slot is empty, its game is over, or an action is malformed, over budget or
        (strict games) illegal."""
        games = {}
        for slot in actions:
            match = self.matches[slot]
            if match is None:
                raise ValueError(f"MatchBatch.step: slot {slot} has no game; start one first")
            games[slot] = match
        planned = {slot: match.plan(actions[slot]) for slot, match in games.items()}
        for slot, match in games.items():
            match.issue(planned[slot])
        self._advance(list(games))
        return {slot: match.conclude(planned[slot]) for slot, match in games.items()}

    def _advance(self, slots: list[int]) -> None:
        """Advance the engines of ``slots`` by their match's ``step_mul`` loops (each stops early when its game
        ends)."""
        for slot in slots:
            match = self.matches[slot]
            match.engine.advance(match.step_mul)
