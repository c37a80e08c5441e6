"""A scripted macro player: an opening build order, then workers, supply and army from every idle producer.

It is the economy half the full-game bots will share (their levels will differ in how well they follow it: worker
count, supply timing, idle production), and the way tests and benchmarks drive a full game without an agent. It
only gives orders through ``Production`` and ``Construction``, so everything it does is legal by their checks.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class MacroPlayer:
    """Plays ``player``'s economy in ``game``: call ``act()`` once per agent step."""

    game: FullGame
    player: int
    opening_done: int = 0

    def __post_init__(self) -> None:
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

    def act(self) -> None:
        used, cap = self.game.supply(self.player)
        if self.opening_done < len(self.opening):
            at, item = self.opening[self.opening_done]
            if used >= at and self._make(item):
                self.opening_done += 1
            if self.opening_done < len(self.opening) and used >= at:
                return  # saving for the next opening step
        if cap - used < SUPPLY_MARGIN and cap < self.game.rules.supply_max and not self._supply_coming():
            self._make(self._supply_item())
        self._train_workers()
        self._gas_workers()
        for upgrade in (u for u in self.game.rules.upgrades.values() if u.race == self.race):
            self._make(upgrade.name)
        self._train_army()
        if self.game.minerals(self.player) > SURPLUS and not self._coming(MORE_PRODUCTION[self.race]):
            self._make(MORE_PRODUCTION[self.race])

    # ------------------------------------------------------------------ what to make

    def _make(self, item: str) -> bool:
        """Order ``item`` (a structure, a unit or an upgrade) if the rules allow it now; whether it was ordered."""
        rules = self.game.rules
        recipe = rules.recipes.get(item)
        try:
            if recipe is not None and recipe.how == How.build:
                worker = self._builder()
                site = self._site(item, worker) if worker >= 0 else None
                if site is None:
                    return False
                self.game.construction.order(self.player, worker, item, site)
            else:
                producer = self._producer(recipe.made_by if recipe else rules.upgrades[item].made_by, item)
                if producer < 0:
                    return False
                self.game.production.order(self.player, producer, item)
        except (IllegalOrder, IllegalBuild):
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
        production, construction = self.game.production, self.game.construction
        st = self.game.engine.state
        if any(c == item and st.owner[s] == self.player for s, c in enumerate(production.current)):
            return True
        return any(o.structure == item and not o.finished and o.player == self.player
                   for o in construction.orders.values())  # fmt: skip

    def _train_workers(self) -> None:
        st, units = self.game.engine.state, self.game.rules.units
        mine = st.alive & (st.owner == self.player)
        workers = int(np.count_nonzero(mine & (st.utype == units.type_index(self.spec.worker))))
        halls = np.flatnonzero(mine & np.isin(st.utype, [units.type_index(t) for t in self.spec.town_halls]))
        spots = np.array([base.hall for base in self.game.map.bases])
        bases = sum(bool((np.abs(spots - st.pos[h]).max(axis=1) < 1.0).any()) for h in halls.tolist())
        if workers < WORKERS_PER_BASE * max(bases, 1):  # (a macro hatchery off a base's spot is not a base)
            self._make(self.spec.worker)

    def _gas_workers(self) -> None:
        """Three workers on each finished gas building of its own."""
        g, st = self.game.gathering, self.game.engine.state
        for source in np.flatnonzero(g.vespene).tolist():
            b = int(g.building[source])
            if b < 0 or not st.alive[b] or st.owner[b] != self.player:
                continue
            on_it = int(np.count_nonzero((g.field == source) & (g.phase != 0)))
            miners = np.flatnonzero((g.phase != 0) & ~g.vespene[np.maximum(g.field, 0)] & (st.owner == self.player))
            for w in miners[: max(0, 3 - on_it)].tolist():
                self.game.gather(self.player, int(w), source)

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
            if production.current[slot] is None and production.check(self.player, slot, item) is None:
                return slot
        return -1

    def _builder(self) -> int:
        """A worker that is mining minerals (not gas, not building)."""
        g, st = self.game.gathering, self.game.engine.state
        t = self.game.rules.units.type_index(self.spec.worker)
        miners = np.flatnonzero(st.alive & (st.owner == self.player) & (st.utype == t) & (g.phase != 0)
                                & ~g.vespene[np.maximum(g.field, 0)])  # fmt: skip
        return int(miners[0]) if miners.size else -1

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
