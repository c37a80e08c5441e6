"""A scripted macro player: an opening build order, then workers, supply and army from every idle producer.

It is the economy half of the full-game bots (their levels differ in how well they run it: ``MacroStyle``'s worker
count, supply margin, upgrades, expansions) and the way tests and benchmarks drive a full game without an agent.
Each decision becomes a ``MacroOrder`` handed to an executor: ``DirectOrders`` (the default) gives it to
``Production``, ``Construction`` or ``FullGame.gather`` at once, so everything is legal by their checks; a bot's
executor turns it into a contract action dict instead, within the match's action budget.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from envs.skirmish.economy.construction import IllegalBuild
from envs.skirmish.economy.game import FullGame
from envs.skirmish.economy.gathering import BASE_RADIUS
from envs.skirmish.economy.production import IllegalOrder
from envs.skirmish.economy.rules import How

OPENINGS: dict[str, tuple[tuple[float, str], ...]] = {  # (supply used at which to start it, what), in order
    "terran": ((14, "supply_depot"), (16, "barracks"), (16, "refinery"), (19, "barracks"), (20, "supply_depot"),
               (22, "factory"), (24, "engineering_bay")),
    "protoss": ((14, "pylon"), (16, "gateway"), (17, "assimilator"), (19, "gateway"), (20, "cybernetics_core"),
                (21, "pylon"), (23, "forge")),
    "zerg": ((13, "overlord"), (17, "spawning_pool"), (17, "extractor"), (19, "overlord"), (20, "roach_warren"),
             (24, "evolution_chamber")),
}  # fmt: skip
WORKERS_PER_BASE = 19  # 16 on minerals and 3 on the first gas
MORE_PRODUCTION = {"terran": "barracks", "protoss": "gateway", "zerg": "hatchery"}  # built from surplus minerals
SURPLUS = 400  # minerals banked beyond which it adds production
SUPPLY_MARGIN = 4  # build supply when fewer than this many free
SEARCH_RADIUS = 16  # cells around the main town hall searched for a building site
OPENING_LOOPS = 6720  # for its first 5 game minutes the next opening step holds back other spending; later a step
# still missing (a player it labels skipped it) is ordered when affordable and the rest goes on


@dataclass(frozen=True)
class MacroOrder:
    """One economy decision: ``produce`` (``product`` from the producer ``units[0]``), ``build`` (``units[0]`` builds
    ``product`` at ``site``) or ``gather`` (``units`` go to ``source``, an index of ``gathering.field_pos``)."""

    kind: str
    product: str | None
    units: tuple[int, ...]
    site: tuple[float, float] | None = None
    source: int = -1


@dataclass(frozen=True)
class MacroStyle:
    """How well a player runs its economy: the economy knobs of the bot levels."""

    workers_per_base: int = WORKERS_PER_BASE  # workers it trains per base it holds
    supply_margin: int = SUPPLY_MARGIN  # builds supply when fewer than this many are free (0: only when blocked)
    upgrades: bool = True  # researches its race's upgrade
    surplus: int | None = SURPLUS  # adds production when this many minerals are banked (None: never)
    expand: bool = False  # takes the nearest free base once its bases are saturated
    gas_workers: int = 3  # workers on each own gas building


class Executor(Protocol):
    """Where a macro player's orders go: ``issue`` says whether the order was taken; ``full`` stops a decision;
    ``taken``: units given an order this decision that has not reached the economy yet (not to be picked again)."""

    full: bool
    taken: set[int]

    def issue(self, order: MacroOrder) -> bool: ...


@dataclass
class DirectOrders:
    """Gives each order to the economy at once (no action budget); an order the rules refuse is not taken."""

    game: FullGame
    player: int
    full: bool = False
    taken: set[int] = field(default_factory=set)  # (always empty: orders reach the economy at once)

    def issue(self, order: MacroOrder) -> bool:
        game = self.game
        try:
            if order.kind == "build":
                game.construction.order(self.player, order.units[0], order.product, order.site)
            elif order.kind == "produce":
                game.production.order(self.player, order.units[0], order.product)
            else:
                for worker in order.units:
                    game.gather(self.player, worker, order.source)
        except (IllegalOrder, IllegalBuild):
            return False
        return True


@dataclass
class MacroPlayer:
    """Plays ``player``'s economy in ``game`` in ``style``: call ``act()`` once per decision."""

    game: FullGame
    player: int
    style: MacroStyle = field(default_factory=MacroStyle)
    executor: Executor | None = None

    def __post_init__(self) -> None:
        if self.executor is None:
            self.executor = DirectOrders(self.game, self.player)
        self.race = self.game.races[self.player - 1]
        self.spec = self.game.rules.races[self.race]
        self.opening = OPENINGS[self.race]
        st = self.game.engine.state
        self.home = int(np.flatnonzero(st.alive & (st.owner == self.player))[0])  # the starting town hall
        fields = self.game.gathering.field_pos[~self.game.gathering.vespene]
        near = fields[np.linalg.norm(fields - st.pos[self.home], axis=1) < BASE_RADIUS]
        back = st.pos[self.home] - near.mean(axis=0)
        self.back = back / np.hypot(*back)  # away from the minerals: where it builds
        self.orders = 0
        self.at_start = self._made()
        self.most = Counter(self.at_start)  # the most of each item the player has had at once

    def act(self) -> None:
        used, cap = self.game.supply(self.player)
        style, full = self.style, lambda: self.executor.full
        self._gas_workers()  # (spends nothing, so it never waits for the opening)
        k = self.opening_step()
        if k < len(self.opening):
            at, item = self.opening[k]
            due = used >= at or not self._wants_workers()  # (a player that stops at fewer workers goes on)
            holding = self.game.loop < OPENING_LOOPS
            if due and (not self._make(item) or k + 1 < len(self.opening)) and holding:
                return  # saving for this opening step or the next
        if (cap - used < max(style.supply_margin, 1e-9) and cap < self.game.rules.supply_max
                and not self._supply_coming()):  # fmt: skip
            self._make(self._supply_item())
        for step in (self._train_workers, self._research, self._train_army, self._expand):
            if full():
                return
            step()
        if (style.surplus is not None and self.game.minerals(self.player) > style.surplus and not full()
                and not self._coming(MORE_PRODUCTION[self.race])):  # fmt: skip
            self._make(MORE_PRODUCTION[self.race])

    def opening_step(self) -> int:
        """The first opening step not yet taken, read from the game (so an order that never reached the economy, or
        another player's choices while it only labels their steps, are seen): the step whose item the player has
        had fewer of at once than the opening asks for up to it (a structure lost later does not undo its step)."""
        made = self._made()
        asked: Counter = Counter()
        for step, (_, item) in enumerate(self.opening):
            asked[item] += 1
            self.most[item] = max(self.most[item], made[item])
            if self.most[item] - self.at_start[item] < asked[item]:
                return step
        return len(self.opening)

    def _made(self) -> Counter:
        """What the player has, by name: units and structures (standing or going up), structures a worker walks to
        build, units in production."""
        st = self.game.engine.state
        names = self.game.rules.units.names
        made = Counter(names[t] for t in st.utype[st.alive & (st.owner == self.player)].tolist())
        made.update(o.structure for o in self.game.construction.orders.values()
                    if o.player == self.player and o.slot < 0)  # fmt: skip
        made.update(self.game.production.making(self.player))
        return made

    # ------------------------------------------------------------------ what to make

    def _make(self, item: str) -> bool:
        """Order ``item`` (a structure, a unit or an upgrade) if the rules allow it now; whether it was taken."""
        if self.executor.full:
            return False
        rules = self.game.rules
        recipe = rules.recipes.get(item)
        if recipe is not None and recipe.how == How.build:
            worker = self._builder()
            site = self._site(item, worker) if worker >= 0 else None
            if site is None:
                return False
            order = MacroOrder("build", item, (worker,), site=site)
        else:
            producer = self._producer(recipe.made_by if recipe else rules.upgrades[item].made_by, item)
            if producer < 0:
                return False
            order = MacroOrder("produce", item, (producer,))
        if not self.executor.issue(order):
            return False
        self.orders += 1
        return True

    def _supply_item(self) -> str:
        recipes = self.game.rules.recipes.values()
        mine = [r for r in recipes if r.race == self.race and r.supply_provided > 0]
        return next(r.name for r in mine if r.name not in self.spec.town_halls)

    def _supply_coming(self) -> bool:
        return self._coming(self._supply_item())

    def _coming(self, item: str) -> bool:
        """Whether ``item`` is being made for this player (in a queue or going up)."""
        if item in self.game.production.making(self.player):
            return True
        return any(o.structure == item and not o.finished and o.player == self.player
                   for o in self.game.construction.orders.values())  # fmt: skip

    def _wants_workers(self) -> bool:
        """Whether it has fewer workers than ``workers_per_base`` per base it holds."""
        st, units = self.game.engine.state, self.game.rules.units
        mine = st.alive & (st.owner == self.player)
        workers = int(np.count_nonzero(mine & (st.utype == units.type_index(self.spec.worker))))
        halls = np.flatnonzero(mine & self.game.is_town_hall[st.utype])
        spots = np.array([base.hall for base in self.game.map.bases])
        bases = sum(bool((np.abs(spots - st.pos[h]).max(axis=1) < 1.0).any()) for h in halls.tolist())
        return workers < self.style.workers_per_base * max(bases, 1)  # (a macro hatchery off a spot is no base)

    def _train_workers(self) -> None:
        if self._wants_workers():
            self._make(self.spec.worker)

    def _gas_workers(self) -> None:
        """``gas_workers`` workers on each finished gas building of its own."""
        g, st = self.game.gathering, self.game.engine.state
        for source in np.flatnonzero(g.vespene).tolist():
            b = int(g.building[source])
            if b < 0 or not st.alive[b] or st.owner[b] != self.player or g.contents[source] <= 0:
                continue
            on_it = int(np.count_nonzero((g.field == source) & (g.phase != 0)))
            miners = np.flatnonzero((g.phase != 0) & ~g.vespene[np.maximum(g.field, 0)] & (st.owner == self.player))
            free = [w for w in miners.tolist() if w not in self.executor.taken]
            wanted = free[: max(0, self.style.gas_workers - on_it)]
            if wanted and not self.executor.full:
                self.executor.issue(MacroOrder("gather", None, tuple(wanted), source=source))

    def _research(self) -> None:
        if self.style.upgrades:
            for upgrade in (u for u in self.game.rules.upgrades.values() if u.race == self.race):
                self._make(upgrade.name)

    def _expand(self) -> None:
        """Once its bases are saturated, a town hall on the free base nearest its main (``style.expand``)."""
        if not self.style.expand or self._coming(self.spec.town_halls[0]):
            return
        st, units = self.game.engine.state, self.game.rules.units
        mine = st.alive & (st.owner == self.player)
        workers = int(np.count_nonzero(mine & (st.utype == units.type_index(self.spec.worker))))
        halls = np.flatnonzero(mine & self.game.is_town_hall[st.utype])
        if workers < self.style.workers_per_base * len(halls) - 2:
            return
        worker = self._builder()
        if worker < 0 or self.game.construction.check_builder(self.player, worker, self.spec.town_halls[0]):
            return
        spots = sorted((base.hall for base in self.game.map.bases),
                       key=lambda h: float(np.hypot(*(np.asarray(h) - st.pos[self.home]))))  # fmt: skip
        for spot in spots:
            if self.game.construction.check_site(self.player, self.spec.town_halls[0], spot) is None:
                if self.executor.issue(MacroOrder("build", self.spec.town_halls[0], (worker,), site=tuple(spot))):
                    self.orders += 1
                return

    def _train_army(self) -> None:
        """Every idle producer makes the best army unit it can: the dearest its player can pay for now."""
        rules, production = self.game.rules, self.game.production
        army = [r for r in rules.recipes.values() if r.race == self.race and r.how != How.build
                and r.name != self.spec.worker and r.supply_provided == 0 and r.name not in rules.forms.values()
                and not rules.is_structure(r.name)]  # fmt: skip
        army.sort(key=lambda r: -(r.cost.minerals + r.cost.vespene))
        for recipe in army:
            for _ in range(len(production.current)):  # one order per idle producer, while the bank allows
                if not self._make(recipe.name):
                    break

    # ------------------------------------------------------------------ who and where

    def _producer(self, made_by: str, item: str) -> int:
        st = self.game.engine.state
        t = self.game.rules.units.type_index(made_by)
        for slot in np.flatnonzero(st.alive & (st.owner == self.player) & (st.utype == t)).tolist():
            production = self.game.production
            if slot in self.executor.taken:
                continue
            if production.current[slot] is None and production.check(self.player, slot, item) is None:
                return slot
        return -1

    def _builder(self) -> int:
        """A worker that is mining minerals (not gas, not building)."""
        g, st = self.game.gathering, self.game.engine.state
        t = self.game.rules.units.type_index(self.spec.worker)
        miners = np.flatnonzero(st.alive & (st.owner == self.player) & (st.utype == t) & (g.phase != 0)
                                & ~g.vespene[np.maximum(g.field, 0)])  # fmt: skip
        miners = [w for w in miners.tolist() if w not in self.executor.taken]
        return miners[0] if miners else -1

    def _site(self, item: str, worker: int) -> tuple[float, float] | None:
        """The nearest legal site to a point behind the main town hall, searched ring by ring (a geyser for gas)."""
        game = self.game
        if game.rules.recipes[item].on_geyser:  # the nearest free geyser to the main town hall
            g = game.gathering
            geysers = np.flatnonzero(g.vespene)
            distance = np.linalg.norm(g.field_pos[geysers] - game.engine.state.pos[self.home], axis=1)
            for source in geysers[np.argsort(distance, kind="stable")].tolist():
                spot = tuple(g.field_pos[source])
                if game.construction.check(self.player, worker, item, spot) is None:
                    return spot
            return None
        if game.construction.check_builder(self.player, worker, item) is not None:
            return None
        centre = game.engine.state.pos[self.home] + self.back * 7.0
        return game.construction.nearest_site(self.player, item, (float(centre[0]), float(centre[1])),
                                              SEARCH_RADIUS - 1, step=3.0)
