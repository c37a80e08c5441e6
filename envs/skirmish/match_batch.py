"""``MatchBatch``: many Skirmish games in numbered slots, stepped together (RL actors, evaluation, the vector env,
replay recording).

A step runs in three passes over the games it is given: every game's actions are checked and translated
(``Match.plan``; a strict game's illegal action raises here, before any game changes), every game's commands are
issued and all the engines advanced (``_advance``), then every game's observations are made (batched: all the games
of a batched engine at once, ``observe_games``) and its rewards (``Match.conclude``). Each game's outcome is exactly
what ``Match.step`` gives it alone: games share nothing.

Engines (``engine=``): ``"batched"`` plays the games in ``BatchedEngine``s, one struct-of-arrays state advanced
for all the slots' games at once; ``"single"`` advances each match's own engine (``Match(engine=...)``: compiled by
default, a one-game ``BatchedEngine`` of its own); ``"auto"`` (default) picks batched from ``BATCHED_FROM`` slots on.
All give bit-identical games.

Batched: ``start`` loads the new match's freshly built engine into the slot (``BatchedEngine.load``) and sets
``match.engine`` to the slot's view, so the code that builds matches (``bot_match``, ``SkirmishEnv.reset``) is
unchanged. A game goes into the batched engine of the smallest capacity (units per game) that holds it; when none
does, a new one is made with room for the next power of two units (at least ``MIN_CAPACITY``) and ``size`` slots,
so mixed scenario sizes cost one engine per size class, not padding every game to the largest. Slot ``s`` is game
``s`` of whichever engine holds its match. A game left out of a step pauses (``advance(loops, games)``).
Once a slot gets a new match (``start``), the match it held before must not be read: its view shows the new game.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from envs.skirmish.batched import BatchedEngine, GameView
from envs.skirmish.match import Actions, Match, StepResult
from envs.skirmish.observation import Observations, observe_games

ENGINES = ("auto", "batched", "single")
BATCHED_FROM = 2  # "auto": batched from here (MatchBatch.step with games restarting, one core, batched / single
# compiled matches: 10v10_mixed 1 game 1.0x, 2 1.3x, 8 2.0x, 16 2.3x; 3m 1 game 1.1x, 2 1.3x, 8 1.8x)
MIN_CAPACITY = 16  # smallest batched engine, in units per game


class MatchBatch:
    """``size`` game slots; ``start`` puts a match in a slot, ``step`` plays one agent step of some slots' games."""

    def __init__(self, size: int, engine: str = "auto") -> None:
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise ValueError(f"MatchBatch: size must be an int >= 1, got {size!r}")
        if engine not in ENGINES:
            raise ValueError(f"MatchBatch: engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        self.matches: list[Match | None] = [None] * int(size)
        self.batched = engine == "batched" or (engine == "auto" and size >= BATCHED_FROM)
        self.engines: list[BatchedEngine] = []  # batched: by capacity, smallest first
        self._views: list[GameView | None] = [None] * int(size)

    def __len__(self) -> int:
        return len(self.matches)

    def start(self, slot: int, match: Match) -> dict[int, dict]:
        """Play ``match`` (not yet stepped) in ``slot`` from now on, replacing the slot's game; returns its current
        observations."""
        self.matches[slot] = match
        if self.batched:
            self._load(slot, match)
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
            if self.batched and match.engine is not self._views[slot]:  # the match was reset: a new engine
                self._load(slot, match)
            games[slot] = match
        planned = {slot: match.plan(actions[slot]) for slot, match in games.items()}
        for slot, match in games.items():
            match.issue(planned[slot])
        self._advance(list(games))
        observed = self._observe(list(games)) if self.batched else {}
        return {slot: match.conclude(planned[slot], observed.get(slot)) for slot, match in games.items()}

    def _load(self, slot: int, match: Match) -> None:
        """Load the match's single engine into slot ``slot`` of the smallest batched engine holding its units."""
        engine = match.engine
        n = engine.state.n
        batch = next((b for b in self.engines if b.capacity >= n and b.units is engine.units), None)
        if batch is None:
            capacity = max(MIN_CAPACITY, 1 << max(n - 1, 0).bit_length())
            size = len(self.matches)
            batch = BatchedEngine([engine.scenario] * size, [0] * size, units=engine.units, capacity=capacity)
            self.engines.append(batch)
            self.engines.sort(key=lambda b: b.capacity)
        match.engine = self._views[slot] = batch.load(slot, engine)

    def _observe(self, slots: list[int]) -> dict[int, Observations]:
        """Both players' observations of the games of ``slots`` (batched), made together per batched engine."""
        groups: dict[tuple[int, int], list[int]] = {}
        for slot in slots:
            groups.setdefault((id(self._views[slot].batch), self.matches[slot].max_units), []).append(slot)
        observed = {}
        for (_, max_units), group in groups.items():
            batch = self._views[group[0]].batch
            games = [self._views[slot].g for slot in group]
            observed.update(zip(group, observe_games(batch, games, max_units), strict=True))
        return observed

    def _advance(self, slots: list[int]) -> None:
        """Advance the engines of ``slots`` by their match's ``step_mul`` loops (each stops early when its game
        ends): batched, one ``advance`` per batched engine and ``step_mul``; single, each engine alone."""
        if not self.batched:
            for slot in slots:
                match = self.matches[slot]
                match.engine.advance(match.step_mul)
            return
        groups: dict[tuple[int, int], list[int]] = {}
        for slot in slots:
            view = self._views[slot]
            groups.setdefault((id(view.batch), self.matches[slot].step_mul), []).append(slot)
        for (_, step_mul), group in groups.items():
            self._views[group[0]].batch.advance(step_mul, group)
