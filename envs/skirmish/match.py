"""A two-player Skirmish game spoken through the observation/action contract (self-play, bots, env).

Reward (zero-sum, per agent step): the fraction of the enemy's starting hp + shields destroyed this step
minus the fraction of one's own lost, plus +1 for a win and -1 for a loss when the game ends (0 for a
draw). A time-limit end is a draw and is reported as ``truncated``.

Action budget (``actions_per_step``, default 2; see ``envs/contract/budget.py`` for why): each player may send at
most that many actions per agent step, no_ops not counted, whether it is a bot or an agent. Over budget, a
strict match raises ``ActionBudgetError`` naming the player, the count and the limit; a lenient one plays the
first ones and counts the rest in ``info["over_budget"]``. The budget is in the spec (``actions_per_step``),
so every player knows it, and a recording match logs only the actions that were played.

Actions may hold numpy or torch values (tensors are converted at this boundary, ``envs.contract.action``). Every
action of both players is checked before any is played: an illegal one raises in a strict match and is dropped
and counted in a lenient one (``info["illegal_actions"]``); a malformed one (not an action dict of ints and int
arrays, e.g. ``Agent.act``'s batched output) raises ``MalformedActionError`` in both, leaving the game as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from envs.contract.action import action_list
from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP, check_actions_per_step
from envs.contract.sizes import DEFAULT_MAX_UNITS, DEFAULT_RESOLUTION
from envs.skirmish.actions import translate, translate_lenient
from envs.skirmish.batched import BatchedEngine, GameView
from envs.skirmish.budget import within_budget
from envs.skirmish.engine import Engine
from envs.skirmish.observation import Observations, observe_one
from envs.skirmish.scenario import Scenario, load_scenario
from envs.skirmish.spec import skirmish_spec

PLAYERS = (1, 2)
ENGINES = ("compiled", "numpy")
Actions = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
StepResult = tuple[dict[int, dict[str, np.ndarray]], dict[int, float], bool, bool, dict[int, dict]]


@dataclass
class PlannedStep:
    """One agent step's checked actions (what is logged), their engine commands and the infos counted so far."""

    batches: dict[int, list]
    commands: dict[int, list]
    infos: dict[int, dict]


class Match:
    """One game between players 1 and 2. ``step`` takes each player's action (or list of actions).

    ``actions_per_step``: each player's action budget per agent step (no_ops free); ``engine``: ``"compiled"`` or
    ``"numpy"``; see the module docstring.
    """

    def __init__(
        self,
        scenario: Scenario | str | Path,
        seed: int = 0,
        *,
        step_mul: int = 8,
        max_units: int = DEFAULT_MAX_UNITS,
        resolution: int = DEFAULT_RESOLUTION,
        fog: bool = False,
        see_all: Sequence[int] = (),
        lenient: bool = False,
        record: bool = False,
        actions_per_step: int = DEFAULT_ACTIONS_PER_STEP,
        engine: str = "compiled",
    ) -> None:
        if step_mul < 1:
            raise ValueError(f"step_mul must be >= 1, got {step_mul}")
        if engine not in ENGINES:
            raise ValueError(f"Match: engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        self.compiled = engine == "compiled"
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self.seed = int(seed)
        self.step_mul = int(step_mul)
        self.max_units = int(max_units)
        self.fog = bool(fog)
        self.see_all = tuple(sorted(set(see_all)))
        self.lenient = bool(lenient)
        self.record = bool(record)
        self.actions_per_step = check_actions_per_step(actions_per_step)
        self.spec = skirmish_spec((self.scenario.map_width, self.scenario.map_height), max_units=max_units,
                                  resolution=resolution, actions_per_step=self.actions_per_step)
        self.reset()

    def reset(self) -> dict[int, dict[str, np.ndarray]]:
        """Start the game again from the scenario and seed; returns each player's first observation."""
        self.engine: Engine | GameView = Engine(self.scenario, self.seed, fog=self.fog)
        self.engine.see_all = frozenset(self.see_all)
        self.actions_log: list[dict[int, list[dict]]] = []
        self.steps = 0
        self._full = self._last = self._observe().vitality  # hp + shields of each side's living units
        return self.observations

    @property
    def winner(self) -> int | None:
        return self.engine.winner

    def state_hash(self) -> str:
        """The game's state hash (what a replay's header records)."""
        return self.engine.state_hash()

    def _observe(self, observed: Observations | None = None) -> Observations:
        """Each player's observation now (``observed``: made by the caller, e.g. ``MatchBatch`` for many games at
        once), kept as ``observations`` with its rows (for the actions that answer it) and ``units_dropped``."""
        if observed is None:
            observed = observe_one(self.engine, self.max_units)
        (obs_1, rows_1, dropped_1), (obs_2, rows_2, dropped_2) = observed.players
        self._rows: dict[int, np.ndarray] = {1: rows_1, 2: rows_2}
        # what translate checks action types against (a copy: the caller may write to the observation)
        self._available = {1: obs_1["available_actions"].copy(), 2: obs_2["available_actions"].copy()}
        self.units_dropped = {1: dropped_1, 2: dropped_2}  # per player: units in view with no row
        self.observations = {1: obs_1, 2: obs_2}
        return observed

    def step(self, actions: Mapping[int, Actions]) -> StepResult:
        """Play one agent step: (observations, rewards, terminated, truncated, infos), each keyed by player.

        A player's info holds ``illegal_actions`` (with ``illegal_reasons``) and ``over_budget`` (actions dropped
        by the budget; both stay 0 in a strict match, which raises instead), ``game_loop``, ``winner`` and
        ``units_dropped`` (units in view of the new observation that got no row: more than ``max_units``).
        """
        planned = self.plan(actions)
        self.issue(planned)
        self.engine.advance(self.step_mul)  # stops early when the game ends (elimination or time limit)
        return self.conclude(planned)

    def plan(self, actions: Mapping[int, Actions]) -> PlannedStep:
        """Check and translate both players' actions into engine commands, changing nothing (``step``'s first
        part: ``MatchBatch`` plans every game's step before any game is played)."""
        if self.engine.done:
            raise RuntimeError("the game is over; call reset() to start a new one")
        unknown = set(actions) - set(PLAYERS)
        if unknown:
            raise ValueError(f"actions must be keyed by player 1 and/or 2, got keys {sorted(unknown)}")
        infos: dict[int, dict] = {p: {"illegal_actions": 0, "illegal_reasons": [], "over_budget": 0} for p in PLAYERS}
        batches = {}
        for player in PLAYERS:  # both budgets are checked before anything is translated
            given = action_list(actions.get(player), player)
            batches[player], infos[player]["over_budget"] = within_budget(
                given, self.actions_per_step, player, lenient=self.lenient
            )
        commands: dict[int, list] = {player: [] for player in PLAYERS}
        for player in PLAYERS:  # every action is translated (a malformed one raises) before anything is played
            for action in batches[player]:
                if self.lenient:
                    sent, reason = translate_lenient(action, self._rows[player], self.engine, player, self.spec,
                                                     self._available[player])  # fmt: skip
                    if reason is not None:
                        infos[player]["illegal_actions"] += 1
                        infos[player]["illegal_reasons"].append(reason)
                else:
                    sent = translate(action, self._rows[player], self.engine, player, self.spec,
                                     self._available[player])  # fmt: skip
                commands[player] += sent
        return PlannedStep(batches, commands, infos)

    def issue(self, planned: PlannedStep) -> None:
        """Give the engine the planned commands (and log the actions when recording); the engine is advanced next.
        A compiled match's first step moves its game from the numpy Engine into its own one-game BatchedEngine."""
        if self.compiled and isinstance(self.engine, Engine):
            engine = self.engine
            batch = BatchedEngine([self.scenario], [self.seed], fog=self.fog, units=engine.units,
                                  capacity=engine.state.n)  # fmt: skip
            self.engine = batch.load(0, engine)
        for player in PLAYERS:
            for command in planned.commands[player]:
                self.engine.issue(player, command)
        if self.record:
            self.actions_log.append(planned.batches)

    def conclude(self, planned: PlannedStep, observed: Observations | None = None) -> StepResult:
        """After the engine advanced ``step_mul`` loops: rewards, the game's end and both new observations
        (``observed``: this game's ``Observations`` now, when the caller made them)."""
        self.steps += 1
        now = self._observe(observed).vitality
        (last_1, last_2), (full_1, full_2) = self._last, self._full
        lost_1, lost_2 = (last_1 - now[0]) / max(full_1, 1e-9), (last_2 - now[1]) / max(full_2, 1e-9)
        self._last = now
        rewards = {1: lost_2 - lost_1, 2: lost_1 - lost_2}
        winner = self.engine.winner
        truncated = winner == 0 and self.engine.loop >= self.scenario.time_limit_loops  # a stalemate terminates
        terminated = winner is not None and not truncated
        if winner in PLAYERS:
            rewards[winner] += 1.0
            rewards[3 - winner] -= 1.0
        observations = self.observations
        infos = planned.infos
        for player in PLAYERS:
            infos[player].update(game_loop=self.engine.loop, winner=winner, units_dropped=self.units_dropped[player])
        return observations, rewards, terminated, truncated, infos
