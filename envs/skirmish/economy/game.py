"""FullGame: a Skirmish game with an economy: the engine, the map's placement grid and the players' economies.

``step(loops)`` advances the engine in chunks that end on the loop of each economy event (see gathering.py), so
what the economy does never depends on how a caller splits time into agent steps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from envs.contract.sizes import DEFAULT_MAX_UNITS
from envs.skirmish.batched import BatchedEngine, GameView
from envs.skirmish.economy.bank import Bank
from envs.skirmish.economy.construction import Construction
from envs.skirmish.economy.gathering import Gathering
from envs.skirmish.economy.maps import HALL_FOOTPRINT, GameMap, load_map
from envs.skirmish.economy.production import Production
from envs.skirmish.economy.rules import Rules, default_rules
from envs.skirmish.economy.start import opening_scenario, start_bases
from envs.skirmish.engine import Engine


class FullGame:
    """Two players, each of a race, on a full-game map (see FULL_GAMES.md for what is simulated)."""

    def __init__(self, game_map: str | GameMap = "duel", races: tuple[str, str] = ("terran", "terran"), seed: int = 0,
                 fog: bool = True, capacity: int = DEFAULT_MAX_UNITS, rules: Rules | None = None,
                 batch: tuple[BatchedEngine, int] | None = None) -> None:  # fmt: skip
        """``batch``: (a BatchedEngine built with this game's unit table, a game index): the game plays in that
        slot of the batch, exactly as on its own ``Engine``."""
        self.rules = rules or default_rules()
        self.map = game_map if isinstance(game_map, GameMap) else load_map(game_map, self.rules)
        self.races = tuple(races)
        self.bases = start_bases(self.map, seed)
        scenario = opening_scenario(self.map, self.races, self.bases, self.rules)
        engine = Engine(scenario, seed=seed, fog=fog, units=self.rules.units, capacity=capacity, defeat="structures")
        self.engine: Engine | GameView = engine if batch is None else batch[0].load(batch[1], engine)
        self.grid = self.map.grid(self.rules)
        spots = self.map.resources()
        minerals = [i for i, s in enumerate(spots) if not self.rules.resources[s.resource].vespene]
        geysers = [i for i, s in enumerate(spots) if self.rules.resources[s.resource].vespene]
        self.source_sc2_id = np.array([self.rules.resources[spots[i].resource].sc2_id for i in minerals + geysers])
        units = self.rules.units
        self.is_town_hall = np.zeros(len(units.names), dtype=bool)  # per unit type (a lookup: np.isin is slow here)
        self.is_town_hall[[units.type_index(t) for r in self.rules.races.values() for t in r.town_halls]] = True
        self.bank = Bank(self.rules.start_minerals, self.rules.start_vespene)
        self.gathering = Gathering(
            self.engine,
            self.rules,
            self.bank,
            np.array([(spots[i].x, spots[i].y) for i in minerals]),
            np.array([self.rules.resources[spots[i].resource].contents for i in minerals]),
            np.array([(spots[i].x, spots[i].y) for i in geysers]),
            np.array([self.rules.resources[spots[i].resource].contents for i in geysers]),
        )
        self.production = Production(self.engine, self.rules, self.bank, self.gathering.field_pos,
                                     on_spawn=self._spawned, on_born=self._born)  # fmt: skip
        self.construction = Construction(self.engine, self.rules, self.bank, self.grid, self.map, self.production,
                                         {"release": self.gathering.release, "resume": self.mine,
                                          "spawned": self._spawned, "gas_ready": self.gathering.gas_ready})  # fmt: skip
        st = self.engine.state
        for player in (1, 2):
            hall = int(np.flatnonzero(st.alive & (st.owner == player))[0])  # the town hall is each player's first
            self.construction.register(hall, HALL_FOOTPRINT[0])
            workers = np.flatnonzero(st.alive & (st.owner == player) & (st.utype == self.worker_type(player)))
            self.gathering.assign_all(workers, hall)

    @property
    def loop(self) -> int:
        return self.engine.loop

    @property
    def done(self) -> bool:
        return self.engine.done

    def minerals(self, player: int) -> int:
        return int(self.bank.minerals[player])

    def supply(self, player: int) -> tuple[float, float]:
        """``player``'s supply used (units alive and paid for) and cap."""
        return self.production.supply_used(player), self.production.supply_cap(player)

    def step(self, loops: int) -> None:
        """Play ``loops`` game loops (fewer if the game ends), handling every economy event on its own loop."""
        end = self.engine.loop + int(loops)
        while self.engine.loop < end and not self.engine.done:
            self.engine.advance(self._chunk(end))
            self._handle()

    def _chunk(self, end: int) -> int:
        """How many loops to advance next: to the first economy event, at most to ``end``, at least one."""
        parts = (self.gathering, self.production, self.construction)
        return max(min(end, *(part.next_event() for part in parts)) - self.engine.loop, 1)

    def _handle(self) -> None:
        """After an advance: the economy events due now (none once the game has ended on that loop)."""
        if not self.engine.done:
            for part in (self.gathering, self.production, self.construction):
                part.handle(self.engine.loop)

    def gather(self, player: int, worker: int, source: int) -> None:
        """Send ``player``'s ``worker`` to gather from ``source`` (a mineral field, or a geyser with its own finished
        gas building; indices of ``gathering.field_pos``), delivering to its nearest finished town hall."""
        st, g = self.engine.state, self.gathering
        if not (0 <= worker < st.n and st.alive[worker] and st.owner[worker] == player):
            raise ValueError(f"gather: player {player} has no living unit in slot {worker}")
        if st.utype[worker] != self.worker_type(player):
            raise ValueError(f"gather: slot {worker} is not a worker")
        if not (0 <= source < len(g.field_pos)) or not g.usable(worker, source):
            raise ValueError(f"gather: source {source} cannot be mined by player {player} (empty, or gas without "
                             "its own finished gas building)")  # fmt: skip
        hall = self.production.nearest_town_hall(player, st.pos[worker])
        if hall < 0:
            raise ValueError(f"gather: player {player} has no finished town hall to deliver to")
        g.assign(worker, source, hall)

    def state_hash(self) -> str:
        """sha256 of the engine's hash, the collision flags and the whole economy: equal hashes, equal games."""
        digest = hashlib.sha256(self.engine.state_hash().encode())
        g = self.gathering
        for array in (self.engine.solid, g.contents, g.field_free_at, g.phase, g.field, g.hall, g.due, g.carry,
                      g.goal, *self.bank.arrays(), *self.production.arrays(), *self.construction.arrays(),
                      self.grid.occupant):  # fmt: skip
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(repr([list(q) for q in g.queue]).encode())
        return digest.hexdigest()

    def _spawned(self, slot: int) -> None:
        """A new unit took ``slot``: the economy forgets the unit that had it."""
        self.gathering.forget(slot)
        self.production.reset_slot(slot)
        self.construction.forget_worker(slot)

    def _born(self, slot: int, producer: int) -> None:
        """A new worker from a producer without a rally point mines at the nearest town hall (LotV's default)."""
        st = self.engine.state
        if st.utype[slot] == self.worker_type(int(st.owner[slot])) and np.isnan(self.production.rally[producer]).any():
            self.mine(slot)

    def mine(self, worker: int) -> None:
        """Send a worker to the least busy field of its nearest finished town hall (if that base has minerals)."""
        st = self.engine.state
        player = int(st.owner[worker])
        if not st.alive[worker] or st.utype[worker] != self.worker_type(player):
            return
        hall = self.production.nearest_town_hall(player, st.pos[worker])
        field = self.gathering.free_field(hall) if hall >= 0 else -1
        if field >= 0:
            self.gathering.assign(worker, field, hall)

    def worker_type(self, player: int) -> int:
        """The unit type index of ``player``'s workers."""
        return self.rules.units.type_index(self.rules.races[self.races[player - 1]].worker)

    def larva_type(self, player: int) -> int:
        """The unit type index of ``player``'s larva (-1 for a race without)."""
        larva = self.rules.races[self.races[player - 1]].larva
        return self.rules.units.type_index(larva.unit) if larva is not None else -1


def step_together(games: Sequence[FullGame], loops: int) -> None:
    """Each of ``games`` (all in one BatchedEngine, see ``FullGame(batch=...)``) plays ``loops`` game loops exactly as
    its own ``step`` would, the batch advancing them together: each round every game still playing advances to its
    own next economy event (one ``advance`` with a count per game), then handles it."""
    if not games:
        return
    batch = games[0].engine.batch
    if any(getattr(game.engine, "batch", None) is not batch for game in games):
        raise ValueError("step_together: the games must all play in one BatchedEngine (FullGame(batch=...))")
    ends = [game.engine.loop + int(loops) for game in games]
    counts = np.zeros(batch.games, dtype=np.int64)
    while True:
        playing = [(game, end) for game, end in zip(games, ends, strict=True)
                   if game.engine.loop < end and not game.engine.done]  # fmt: skip
        if not playing:
            return
        counts[:] = 0
        for game, end in playing:
            counts[game.engine.g] = game._chunk(end)
        batch.advance(counts)
        for game, _ in playing:
            game._handle()
