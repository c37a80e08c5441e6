"""Production on exact loops: structures train units, larva and units morph, hatcheries grow larva; SC2's supply.

An order is paid for and its supply reserved when it is given (so a queue can never outrun the bank or the supply
cap), then it waits in its producer's queue (up to MAX_QUEUE) and finishes ``recipe.loops`` after it starts. A
trained unit appears at its producer's edge, towards the producer's rally point (and walks there) or towards the
map centre. A morph turns the maker into its intermediate form at once (larva -> egg, zergling -> cocoon) and into
the product when done; a hatchery stays a hatchery (larva and all) until its lair is done. A producer or egg that dies
loses its orders, and their supply is released. ``check`` names why an order would be illegal, in the words of
``REASONS``, so the action layer can mask it and lenient matches can count it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from envs.contract.spec import RACES
from envs.skirmish.commands import Command
from envs.skirmish.economy.bank import Bank
from envs.skirmish.economy.gathering import BASE_RADIUS
from envs.skirmish.economy.rules import STRUCTURE, How, Rules
from envs.skirmish.engine import Engine

MAX_QUEUE = 5  # orders a producer holds, the current one included (SC2's queue without a reactor)
NEVER = np.iinfo(np.int64).max
SPAWN_GAP = 0.25  # map units between a producer's edge and a unit it trains
REASONS = ("not_owner", "not_a_producer", "under_construction", "busy", "queue_full", "requirements",
           "minerals", "vespene", "supply", "no_capacity")  # fmt: skip


class IllegalOrder(ValueError):
    """A production order the rules forbid; ``reason`` is one of REASONS."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Production:
    """Queues, timers, larva and reserved supply of every engine slot of a full game."""

    def __init__(self, engine: Engine, rules: Rules, bank: Bank, fields: np.ndarray,
                 on_spawn: Callable[[int], None], on_born: Callable[[int, int], None]) -> None:  # fmt: skip
        """``fields``: the map's mineral field centres (hatcheries grow larva on their side away from them);
        ``on_spawn(slot)``: called for every unit it creates, so the rest of the economy forgets the slot's past;
        ``on_born(slot, producer)``: called for every unit an order delivers (new workers go mining)."""
        self.engine, self.rules, self.bank = engine, rules, bank
        self.on_spawn, self.on_born = on_spawn, on_born
        self.upgrades: tuple[set[str], ...] = (set(), set(), set())  # finished, per player
        self.researching: tuple[set[str], ...] = (set(), set(), set())
        self.fields = np.asarray(fields, dtype=np.float64).reshape(-1, 2)
        n, units = engine.state.n, rules.units
        self.queue: list[deque[str]] = [deque() for _ in range(n)]  # orders behind the current one
        self.current: list[str | None] = [None] * n
        self.started_at = np.zeros(n, dtype=np.int64)
        self.done_at = np.full(n, NEVER, dtype=np.int64)
        self.rally = np.full((n, 2), np.nan)
        self.complete = np.ones(n, dtype=bool)  # False while a structure is going up (set through ``going_up``)
        self._finished: dict[int, set[str]] = {}  # finished_structures per player, for ``_finished_at``
        self._finished_at: tuple[int, int] = (-1, -1)  # (loop, engine roster version) it holds
        self.reserved = np.zeros(3)  # supply paid for and not yet out, per player
        self.larva_home = np.full(n, -1, dtype=np.int32)  # each larva's hatchery
        self.larva_next = np.full(n, NEVER, dtype=np.int64)  # each hatchery's next larva
        self.provides = np.zeros(len(units))  # supply each unit type provides (town halls, depots, overlords)
        for recipe in rules.recipes.values():
            self.provides[units.type_index(recipe.name)] = recipe.supply_provided
        self.supply = units.supply
        self.structure = (units.attributes & units.attribute_bit(STRUCTURE)) != 0
        self.town_halls = {t for race in rules.races.values() for t in race.town_halls}
        st = engine.state
        for race in rules.races.values():  # the opening's larva belong to the hatchery of their player
            if race.larva is None:
                continue
            larva = np.flatnonzero(st.alive & (st.utype == units.type_index(race.larva.unit)))
            for slot in larva.tolist():
                self.larva_home[slot] = self.nearest_town_hall(int(st.owner[slot]), st.pos[slot])

    # ------------------------------------------------------------------ supply and tech

    def supply_used(self, player: int) -> float:
        st = self.engine.state
        mine = st.alive & (st.owner == player)
        return float(self.supply[st.utype[mine]].sum() + self.reserved[player])

    def supply_cap(self, player: int) -> float:
        st = self.engine.state
        mine = st.alive & (st.owner == player) & self.complete
        return float(min(self.rules.supply_max, self.provides[st.utype[mine]].sum()))

    def finished_structures(self, player: int) -> set[str]:
        """The types of ``player``'s finished structures (computed once per loop and roster: every legality check
        asks; units die only while the engine advances, and ``complete`` changes clear it)."""
        key = (self.engine.loop, self.engine.roster_version)
        if key != self._finished_at:
            self._finished, self._finished_at = {}, key
        if player not in self._finished:
            st = self.engine.state
            mine = st.alive & (st.owner == player) & self.complete & self.structure[st.utype]
            self._finished[player] = {self.rules.units.names[t] for t in np.unique(st.utype[mine])}
        return self._finished[player]

    def making(self, player: int) -> list[str]:
        """What ``player``'s producers are making now, one entry per busy producer (queued orders not included)."""
        busy = np.flatnonzero((self.done_at != NEVER) & (self.engine.state.owner == player))
        return [self.current[s] for s in busy.tolist()]

    def going_up(self, slot: int) -> None:
        """A structure started going up in ``slot``: it counts for nothing until ``structure_done``."""
        self.complete[slot] = False
        self._finished_at = (-1, -1)

    # ------------------------------------------------------------------ orders

    def check(self, player: int, producer: int, product: str) -> str | None:
        """Why ``player`` may not order ``product`` (a unit or an upgrade) from the unit in slot ``producer`` now
        (None: it may)."""
        st, names = self.engine.state, self.rules.units.names
        recipe = self.rules.recipes.get(product) or self.rules.upgrades.get(product)
        if not (0 <= producer < st.n and st.alive[producer] and st.owner[producer] == player):
            return "not_owner"
        if recipe is None or getattr(recipe, "how", None) == How.build or recipe.made_by != names[st.utype[producer]]:
            return "not_a_producer"
        if not self.complete[producer]:
            return "under_construction"
        morph = getattr(recipe, "how", None) == How.morph
        if morph and self.current[producer] is not None:
            return "busy"  # a morph under way
        if product in self.upgrades[player] | self.researching[player]:
            return "busy"  # an upgrade done or being researched
        if len(self.queue[producer]) + (self.current[producer] is not None) >= MAX_QUEUE:
            return "queue_full"
        if not self.rules.satisfied(getattr(recipe, "requires", ()), self.finished_structures(player)):
            return "requirements"
        if self.bank.minerals[player] < recipe.cost.minerals:
            return "minerals"
        if self.bank.vespene[player] < recipe.cost.vespene:
            return "vespene"
        need = self._supply_of(product)
        if need > 0 and self.supply_used(player) + need > self.supply_cap(player) + 1e-9:
            return "supply"
        if getattr(recipe, "count", 0) - morph > int(np.count_nonzero(~st.alive)):
            return "no_capacity"
        return None

    def order(self, player: int, producer: int, product: str) -> None:
        """Pay for ``product`` and queue it on ``producer`` (a morph starts at once); IllegalOrder if ``check``
        fails."""
        reason = self.check(player, producer, product)
        if reason is not None:
            raise IllegalOrder(reason, f"player {player} cannot order {product!r} from slot {producer}: {reason}")
        recipe = self.rules.recipes.get(product) or self.rules.upgrades[product]
        self.bank.pay(player, recipe.cost)
        self.reserved[player] += self._supply_of(product)
        if product in self.rules.upgrades:
            self.researching[player].add(product)
        self.queue[producer].append(product)
        if self.current[producer] is None:
            self._start(producer, self.engine.loop)

    def set_rally(self, player: int, producer: int, point: tuple[float, float]) -> None:
        st = self.engine.state
        if not (0 <= producer < st.n and st.alive[producer] and st.owner[producer] == player):
            raise IllegalOrder("not_owner", f"player {player} does not own a living unit in slot {producer}")
        self.rally[producer] = point

    # ------------------------------------------------------------------ events

    def structure_done(self, slot: int, loop: int) -> None:
        """A structure finished going up: it counts from now on (and a hatchery starts growing larva)."""
        self.complete[slot] = True
        self._finished_at = (-1, -1)
        self._schedule_larva(slot, loop)

    def next_event(self) -> int:
        return int(min(self.done_at.min(), self.larva_next.min()))

    def handle(self, loop: int) -> None:
        """Finish what is due at ``loop``, grow larva, and drop the orders of producers that died."""
        st = self.engine.state
        for slot in np.flatnonzero((self.done_at != NEVER) & ~st.alive).tolist():
            self._drop(slot)
        for slot in np.flatnonzero(self.done_at <= loop).tolist():
            self._finish(slot, loop)
        for hatch in np.flatnonzero(self.larva_next <= loop).tolist():
            self._grow_larva(hatch, loop)

    def _start(self, slot: int, loop: int) -> None:
        product = self.queue[slot].popleft()
        recipe = self.rules.recipes.get(product) or self.rules.upgrades[product]
        self.current[slot], self.started_at[slot], self.done_at[slot] = product, loop, loop + recipe.loops
        if getattr(recipe, "how", None) == How.morph and recipe.via is not None:
            home = int(self.larva_home[slot])
            self.engine.morph(slot, recipe.via)
            if home >= 0:  # a larva left its hatchery: it grows another
                self.larva_home[slot] = -1
                self._schedule_larva(home, loop)

    def _finish(self, slot: int, loop: int) -> None:
        product = self.current[slot]
        player = int(self.engine.state.owner[slot])
        self.current[slot], self.done_at[slot] = None, NEVER
        if product in self.rules.upgrades:
            self.researching[player].discard(product)
            self.upgrades[player].add(product)
            self._upgrade_army(player, product)
        else:
            self._deliver(slot, product, player, loop)
        if self.queue[slot]:
            self._start(slot, loop)

    def _deliver(self, slot: int, product: str, player: int, loop: int) -> None:
        recipe = self.rules.recipes[product]
        self.reserved[player] -= self._supply_of(product)
        unit = self.rules.form(product, self.upgrades[player])
        if recipe.how == How.morph:
            self.engine.morph(slot, unit)
            born = [slot] + [self._spawn_beside(slot, unit, player) for _ in range(recipe.count - 1)]
        else:
            born = [self._spawn_beside(slot, unit, player) for _ in range(recipe.count)]
        self._schedule_larva(slot, loop)  # (a lair keeps growing larva)
        if not np.isnan(self.rally[slot]).any() and recipe.how == How.train:
            self.engine.issue(player, Command("move", units=tuple(born), target_pos=tuple(self.rally[slot])))
        for unit_slot in born:
            self.on_born(unit_slot, slot)

    def _upgrade_army(self, player: int, upgrade: str) -> None:
        """Every living unit of ``player`` the upgrade improves becomes its upgraded form, fighting on as it was."""
        st, units = self.engine.state, self.rules.units
        for (unit, name), form in self.rules.forms.items():
            if name == upgrade:
                for slot in np.flatnonzero(st.alive & (st.owner == player) & (st.utype == units.type_index(unit))):
                    self.engine.morph(int(slot), form, keep_orders=True)

    def _drop(self, slot: int) -> None:
        """A producer (or egg, or cocoon) died: its orders are lost and their supply freed."""
        player = int(self.engine.state.owner[slot])
        for product in [self.current[slot], *self.queue[slot]]:
            if product is not None:
                self.reserved[player] -= self._supply_of(product)
                self.researching[player].discard(product)
        self.queue[slot].clear()
        self.current[slot], self.done_at[slot] = None, NEVER

    # ------------------------------------------------------------------ larva

    def _schedule_larva(self, hatch: int, loop: int) -> None:
        race = self._race_of(hatch)
        is_hall = self.rules.units.names[self.engine.state.utype[hatch]] in race.town_halls
        if race.larva is None or not is_hall or self.larva_next[hatch] != NEVER:
            return
        if self._larva_of(hatch) < race.larva.max:
            self.larva_next[hatch] = loop + race.larva.loops

    def _grow_larva(self, hatch: int, loop: int) -> None:
        self.larva_next[hatch] = NEVER
        st = self.engine.state
        if not st.alive[hatch]:
            return
        race = self._race_of(hatch)
        if self._larva_of(hatch) < race.larva.max and np.count_nonzero(~st.alive):
            slot = self._spawn_beside(hatch, race.larva.unit, int(st.owner[hatch]), away_from_minerals=True)
            self.larva_home[slot] = hatch
        self._schedule_larva(hatch, loop)

    def _larva_of(self, hatch: int) -> int:
        return int(np.count_nonzero((self.larva_home == hatch) & self.engine.state.alive))

    # ------------------------------------------------------------------ helpers

    def _spawn_beside(self, producer: int, unit: str, player: int, away_from_minerals: bool = False) -> int:
        """Spawn ``unit`` at the producer's edge: towards its rally point, away from the minerals (larva), or
        towards the map centre; the slot's solid, order and economy entries start fresh."""
        st, units = self.engine.state, self.rules.units
        here = st.pos[producer]
        if away_from_minerals:
            near = self.fields[np.linalg.norm(self.fields - here, axis=1) < BASE_RADIUS]
            towards = here - near.mean(axis=0) if near.size else np.array([0.0, -1.0])
        elif not np.isnan(self.rally[producer]).any():
            towards = self.rally[producer] - here
        else:
            towards = self.engine.map_size / 2.0 - here
        norm = float(np.hypot(*towards))
        towards = towards / norm if norm > 1e-9 else np.array([0.0, -1.0])
        reach = float(units.radius[st.utype[producer]] + units.radius[units.type_index(unit)]) + SPAWN_GAP
        slot = self.engine.spawn(unit, player, tuple(here + towards * reach), facing=float(np.arctan2(*towards[::-1])))
        self.on_spawn(slot)
        return slot

    def reset_slot(self, slot: int) -> None:
        """A new unit took ``slot`` (or a drone became a structure): no queue, timer, rally or larva of the past."""
        self.queue[slot].clear()
        self.current[slot], self.done_at[slot], self.started_at[slot] = None, NEVER, 0
        self.rally[slot] = np.nan
        self.complete[slot] = True
        self._finished_at = (-1, -1)
        self.larva_home[slot], self.larva_next[slot] = -1, NEVER

    def _supply_of(self, product: str) -> float:
        if product in self.rules.upgrades:
            return 0.0
        recipe = self.rules.recipes[product]
        return float(self.supply[self.rules.units.type_index(product)]) * recipe.count

    def _race_of(self, slot: int):
        return self.rules.races[RACES[int(self.rules.units.race[self.engine.state.utype[slot]])]]

    def nearest_town_hall(self, player: int, pos: np.ndarray) -> int:
        """The slot of ``player``'s finished town hall nearest to ``pos`` (-1 if it has none)."""
        st, names = self.engine.state, self.rules.units.names
        mine = np.flatnonzero(st.alive & (st.owner == player) & self.complete).tolist()
        halls = [s for s in mine if names[st.utype[s]] in self.town_halls]
        return min(halls, key=lambda s: float(np.hypot(*(st.pos[s] - pos)))) if halls else -1

    def arrays(self) -> tuple:
        """Everything it holds, for the game's state hash."""
        queues = repr([(self.current[s], list(q)) for s, q in enumerate(self.queue)]).encode()
        upgrades = repr([sorted(u) for u in self.upgrades] + [sorted(r) for r in self.researching]).encode()
        return (np.frombuffer(queues + upgrades, dtype=np.uint8), self.started_at, self.done_at, self.rally,
                self.complete, self.reserved, self.larva_home, self.larva_next)  # fmt: skip
