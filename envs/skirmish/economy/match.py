"""A two-player full game spoken through the observation/action contract, as ``Match`` is for battles.

Each agent step, both players' actions are played in order (player 1's, then player 2's; each player's in the
order given) and the game advances ``step_mul`` loops with every economy event on its own loop. Actions follow the
battle rules where they can: the same action budget per step (no_ops free), a strict match raises the first illegal
action's ``IllegalActionError`` and a lenient one drops it and counts it (``info["illegal_actions"]`` with the
reasons). Unlike a battle, economy actions change the economy as they are played (an order pays at once), so a
strict match's illegal action raises after the same step's earlier actions took effect; a malformed action still
raises before anything of its step is played.

Reward: +1 to the winner and -1 to the loser when the game ends (a player with no structures left loses), 0 on every
other step: a full game's outcome is what counts. The map's time limit ends a game as a draw, reported as
``truncated``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from envs.contract.action import IllegalActionError, action_list, action_type_index, check_form
from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP, check_actions_per_step
from envs.contract.sizes import DEFAULT_MAX_UNITS, DEFAULT_RESOLUTION
from envs.skirmish.batched import BatchedEngine
from envs.skirmish.budget import within_budget
from envs.skirmish.economy.actions import play_full
from envs.skirmish.economy.catalogue import full_catalogue
from envs.skirmish.economy.game import FullGame, step_together
from envs.skirmish.economy.maps import GameMap, load_map
from envs.skirmish.economy.observation import FullObserved, observe_full
from envs.skirmish.economy.rules import Rules, default_rules
from envs.skirmish.economy.spec import full_game_spec
from envs.skirmish.economy.start import opening_scenario, start_bases
from envs.skirmish.match import PLAYERS, Actions, StepResult


class FullMatch:
    """One full game between players 1 and 2 of ``races`` on ``game_map``; ``step`` takes each player's action(s)."""

    def __init__(
        self,
        game_map: str | GameMap = "duel",
        races: tuple[str, str] = ("terran", "terran"),
        seed: int = 0,
        *,
        step_mul: int = 8,
        max_units: int = DEFAULT_MAX_UNITS,
        resolution: int = DEFAULT_RESOLUTION,
        fog: bool = True,
        lenient: bool = False,
        actions_per_step: int = DEFAULT_ACTIONS_PER_STEP,
        rules: Rules | None = None,
        see_all: tuple[int, ...] = (),
        income: tuple[float, float] = (1.0, 1.0),
        record: bool = False,
        batch: tuple[BatchedEngine, int] | None = None,
    ) -> None:
        """``batch``: play the game in that slot of a BatchedEngine (built with the rules' unit table; see
        ``FullGame``)."""
        self.batch = batch
        if step_mul < 1:
            raise ValueError(f"step_mul must be >= 1, got {step_mul}")
        self.game_map, self.races, self.seed = game_map, tuple(races), int(seed)
        self.step_mul, self.max_units, self.fog, self.lenient = int(step_mul), int(max_units), bool(fog), bool(lenient)
        self.actions_per_step = check_actions_per_step(actions_per_step)
        self.see_all, self.income, self.record = tuple(sorted(set(see_all))), tuple(float(v) for v in income), record
        if not set(self.see_all) <= {1, 2} or len(self.income) != 2 or min(self.income) <= 0:
            raise ValueError(f"see_all must hold players 1 and/or 2 and income two factors > 0, got {see_all!r} and "
                             f"{income!r}")  # fmt: skip
        self.rules = rules or default_rules()
        self.catalogue = full_catalogue(self.rules)
        self.reset()
        self.spec = full_game_spec((self.game.map.width, self.game.map.height), rules=self.rules,
                                   max_units=self.max_units, resolution=resolution,
                                   actions_per_step=self.actions_per_step)  # fmt: skip

    def reset(self) -> dict[int, dict[str, np.ndarray]]:
        """Start the game again from the map, races and seed; returns each player's first observation."""
        self.game = FullGame(self.game_map, self.races, seed=self.seed, fog=self.fog, capacity=self.max_units,
                             rules=self.rules, batch=self.batch)  # fmt: skip
        self.game.engine.see_all = frozenset(self.see_all)
        self.game.bank.income[1:] = self.income
        self.actions_log: list[dict[int, list]] = []
        self.steps = 0
        self.observe()
        return self.observations

    @property
    def engine(self):
        return self.game.engine

    @property
    def scenario(self):
        """The opening as a scenario (its name is the map's), as a battle ``Match`` has one."""
        return self.game.engine.scenario

    @property
    def winner(self) -> int | None:
        return self.game.engine.winner

    @property
    def full_game(self) -> dict:
        """What a replay's header needs beyond a battle's to rebuild this game."""
        return {"map": self.game.map.name, "races": list(self.races), "income": list(self.income)}

    def resource_marks(self) -> np.ndarray:
        """float [N, 4]: each source with something left: x, y, radius, 1 for a geyser (what ``render_rgb`` draws)."""
        g = self.game.gathering
        left = g.contents > 0
        return np.column_stack([g.field_pos[left], g.source_radius[left], g.vespene[left]]).astype(np.float64)

    def state_hash(self) -> str:
        """The whole game's hash, economy included (what a replay's header records)."""
        return self.game.state_hash()

    def set_cheats(self, see_all: tuple[int, ...], income: tuple[float, float]) -> None:
        """Give players fog-free observations and income factors (bot cheats) and observe again."""
        self.see_all, self.income = tuple(sorted(set(see_all))), tuple(float(v) for v in income)
        self.game.engine.see_all = frozenset(self.see_all)
        self.game.bank.income[1:] = self.income
        self.observe()

    def observe(self) -> None:
        """Both players' observations of the game now (again, after a change from outside such as a bot's cheats)."""
        self.observed: dict[int, FullObserved] = dict(zip(PLAYERS, observe_full(self.game, self.max_units),
                                                          strict=True))  # fmt: skip
        self.observations = {p: o.obs for p, o in self.observed.items()}
        self.units_dropped = {p: o.units_dropped for p, o in self.observed.items()}

    def play_actions(self, actions: Mapping[int, Actions]) -> dict[int, dict[str, Any]]:
        """The first half of ``step``: both players' actions checked and given to the game (no loop played yet);
        returns the step's infos so far."""
        if self.game.done:
            raise RuntimeError("the game is over; call reset() to start a new one")
        unknown = set(actions) - set(PLAYERS)
        if unknown:
            raise ValueError(f"actions must be keyed by player 1 and/or 2, got keys {sorted(unknown)}")
        infos: dict[int, dict[str, Any]] = {p: {"illegal_actions": 0, "illegal_reasons": [], "over_budget": 0}
                                            for p in PLAYERS}  # fmt: skip
        batches = {}
        for player in PLAYERS:  # budgets and forms are checked before anything is played
            given = action_list(actions.get(player), player)
            batches[player], infos[player]["over_budget"] = within_budget(given, self.actions_per_step, player,
                                                                          lenient=self.lenient)  # fmt: skip
            for action in batches[player]:
                self._check_form(action)
        if self.record:
            self.actions_log.append(batches)
        for player in PLAYERS:
            for action in batches[player]:
                try:
                    play_full(action, self.observed[player], self.game, player, self.spec)
                except IllegalActionError as error:
                    if not self.lenient:
                        raise
                    infos[player]["illegal_actions"] += 1
                    infos[player]["illegal_reasons"].append(str(error))
        return infos

    def step(self, actions: Mapping[int, Actions]) -> StepResult:
        """Play one agent step: (observations, rewards, terminated, truncated, infos), each keyed by player; a
        player's info holds ``illegal_actions``, ``illegal_reasons``, ``over_budget``, ``game_loop``, ``winner`` and
        ``units_dropped``."""
        infos = self.play_actions(actions)
        self.game.step(self.step_mul)
        return self.stepped(infos)

    def stepped(self, infos: dict[int, dict[str, Any]]) -> StepResult:
        """The step's result once its loops were played (``play_actions``' ``infos``, completed here)."""
        self.steps += 1
        self.observe()
        winner = self.game.engine.winner
        truncated = winner == 0 and self.game.loop >= self.game.engine.scenario.time_limit_loops
        terminated = winner is not None and not truncated
        rewards = {1: 0.0, 2: 0.0}
        if winner in PLAYERS:
            rewards[winner], rewards[3 - winner] = 1.0, -1.0
        for player in PLAYERS:
            infos[player].update(game_loop=self.game.loop, winner=winner, units_dropped=self.units_dropped[player])
        return self.observations, rewards, terminated, truncated, infos

    def _check_form(self, action: Any) -> None:
        """MalformedActionError for an action that is not a well-formed dict of its type (nothing is played)."""
        try:
            index = action_type_index(action, len(self.catalogue.action_types))
        except IllegalActionError as error:
            if type(error) is IllegalActionError:  # an index outside the catalogue: illegal, found when played
                return
            raise
        check_form(action, self.catalogue.action_types[index].arguments)


class FullMatchBatch:
    """Full games in numbered slots (the RL actors' ``MatchBatch`` for full games): ``start`` puts a match in a slot,
    ``step`` plays some slots. ``batched``: the games play in one BatchedEngine (build each slot's match with
    ``batch=batch.engine_slot(slot)``) and step together (``step_together``), each exactly as on its own Engine;
    otherwise each steps on its own engine."""

    def __init__(self, size: int, batched: bool = False, capacity: int = DEFAULT_MAX_UNITS,
                 rules: Rules | None = None) -> None:  # fmt: skip
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"FullMatchBatch: size must be an int >= 1, got {size!r}")
        self.matches: list[FullMatch | None] = [None] * size
        self.engine: BatchedEngine | None = None
        if batched:
            rules = rules or default_rules()
            game_map = load_map("duel", rules)  # (a placeholder game per slot until a match is started there)
            opening = opening_scenario(game_map, ("terran", "terran"), start_bases(game_map, 0), rules)
            self.engine = BatchedEngine([opening] * size, [0] * size, units=rules.units, capacity=capacity)

    def __len__(self) -> int:
        return len(self.matches)

    def engine_slot(self, slot: int) -> tuple[BatchedEngine, int] | None:
        """What a match for ``slot`` passes as ``FullMatch(batch=...)``: None unless the batch is batched."""
        return None if self.engine is None else (self.engine, slot)

    def start(self, slot: int, match: FullMatch) -> dict[int, dict[str, np.ndarray]]:
        """Play ``match`` in ``slot`` from now on; returns its current observations."""
        if self.engine is not None and match.batch != (self.engine, slot):
            raise ValueError(f"FullMatchBatch.start: slot {slot}'s match must be built with "
                             f"batch=engine_slot({slot}) (its game plays in this batch's engine)")  # fmt: skip
        self.matches[slot] = match
        return match.observations

    def step(self, actions: Mapping[int, Mapping[int, Actions]]) -> dict[int, StepResult]:
        """One agent step of each slot in ``actions`` (slot -> that game's actions by player)."""
        return self.advance({slot: self.matches[slot].play_actions(game_actions)
                             for slot, game_actions in actions.items()})  # fmt: skip

    def advance(self, infos: Mapping[int, dict[int, dict[str, Any]]]) -> dict[int, StepResult]:
        """The second half of ``step`` for slots whose actions were played (``FullMatch.play_actions``, its infos by
        slot): their loops played together (or one by one when not batched) and their results."""
        if self.engine is None:
            for slot in infos:
                self.matches[slot].game.step(self.matches[slot].step_mul)
        else:
            for step_mul in sorted({self.matches[slot].step_mul for slot in infos}):
                step_together([self.matches[s].game for s in infos if self.matches[s].step_mul == step_mul], step_mul)
        return {slot: self.matches[slot].stepped(info) for slot, info in infos.items()}
