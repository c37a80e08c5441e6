"""Construction: a worker walks to a site and the structure goes up there, in each race's way, on exact loops.

An order is checked (``check`` names the reason it is illegal, in the words of ``REASONS``), paid and its footprint
reserved on the placement grid when it is given, so two orders never claim the same cells. The worker then walks to
the site without colliding (so its arrival loop is known, as in gathering). There, by race: an SCV raises the
structure beside it and stays until it is done; a probe starts a warp-in and goes back to mining; a drone walks onto
the site and becomes the structure. A structure starts at 10% hp and gains the rest evenly in HP_TICK steps until
done; only then does it count (supply, requirements, power, creep, production). A gas building goes on a geyser
that has none. Simplified: paying and reserving at order time rather than on arrival, walking without collisions,
and a terran structure whose SCV dies goes on building (SC2 pauses it until another SCV resumes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from envs.skirmish.commands import Order
from envs.skirmish.economy.bank import Bank
from envs.skirmish.economy.gathering import walk
from envs.skirmish.economy.maps import GameMap
from envs.skirmish.economy.placement import PlacementGrid, snap
from envs.skirmish.economy.production import NEVER, Production
from envs.skirmish.economy.rules import BuildStyle, How, Rules
from envs.skirmish.engine import Engine

START_HP = 0.1  # a structure starts at this fraction of its hp
HP_TICK = 16  # loops between hp gains of a structure going up (a fixed schedule keeps runs step-size independent)
RESERVED = 1_000_000  # grid occupant ids of construction orders start here
REASONS = ("not_owner", "not_a_builder", "requirements", "minerals", "vespene", "placement", "geyser", "power",
           "creep")  # fmt: skip


@dataclass
class Site:
    """One structure's place on the grid, from the order to its destruction (``structure`` None: a starting one)."""

    player: int
    worker: int  # the builder (-1 for a starting structure)
    structure: str | None
    x: float
    y: float
    goal: tuple[float, float] = (0.0, 0.0)  # where the worker walks to
    geyser: int = -1  # the map geyser it stands on (gas buildings)
    slot: int = -1  # the structure's engine slot once it stands
    due: int = NEVER  # loop of its next event: the worker's arrival, then hp ticks
    started_at: int = NEVER
    done_at: int = NEVER
    hp_at: int = NEVER  # loop up to which its hp has been added
    finished: bool = False


class IllegalBuild(ValueError):
    """A construction order the rules forbid; ``reason`` is one of REASONS."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Construction:
    """Construction orders, from the walk to the site to the finished structure."""

    def __init__(self, engine: Engine, rules: Rules, bank: Bank, grid: PlacementGrid, game_map: GameMap,
                 production: Production, hooks: dict[str, Callable[[int], None]]) -> None:  # fmt: skip
        """``hooks``: ``release(worker)`` takes a worker out of gathering, ``resume(worker)`` sends it back to
        mining, ``spawned(slot)`` resets the economy's record of a slot a new structure took, ``gas_ready(geyser,
        slot)`` opens a geyser whose gas building is done."""
        self.engine, self.rules, self.bank, self.grid, self.production = engine, rules, bank, grid, production
        self.release, self.resume, self.spawned = hooks["release"], hooks["resume"], hooks["spawned"]
        self.gas_ready = hooks["gas_ready"]
        self.geysers = np.array([(s.x, s.y) for s in game_map.resources() if rules.resources[s.resource].vespene])
        self.geyser_taken = np.zeros(len(self.geysers), dtype=bool)
        self.orders: dict[int, Site] = {}  # grid occupant id -> the site it holds
        self._next_id = RESERVED

    def register(self, slot: int, footprint: int) -> None:
        """A finished structure that was not built here (a starting town hall): it holds its cells until destroyed."""
        x, y = (float(v) for v in self.engine.state.pos[slot])
        order_id, self._next_id = self._next_id, self._next_id + 1
        self.grid.place(x, y, (footprint, footprint), occupant=order_id)
        self.orders[order_id] = Site(int(self.engine.state.owner[slot]), -1, None, x, y, slot=slot, finished=True)

    # ------------------------------------------------------------------ orders

    def check(self, player: int, worker: int, structure: str, site: tuple[float, float]) -> str | None:
        """Why ``player``'s ``worker`` may not build ``structure`` at ``site`` (snapped to the grid); None: it may."""
        return self.check_builder(player, worker, structure) or self.check_site(player, structure, site)

    def check_builder(self, player: int, worker: int, structure: str) -> str | None:
        """``check`` without the site: the worker, the requirements and the money (None: it may build somewhere)."""
        st, rules = self.engine.state, self.rules
        recipe = rules.recipes.get(structure)
        if not (0 <= worker < st.n and st.alive[worker] and st.owner[worker] == player):
            return "not_owner"
        if recipe is None or recipe.how != How.build or rules.units.names[st.utype[worker]] != recipe.made_by:
            return "not_a_builder"
        if self._walking(worker):
            return "not_a_builder"  # already on its way to another site
        if not rules.satisfied(recipe.requires, self.production.finished_structures(player)):
            return "requirements"
        if self.bank.minerals[player] < recipe.cost.minerals:
            return "minerals"
        if self.bank.vespene[player] < recipe.cost.vespene:
            return "vespene"
        return None

    def check_site(self, player: int, structure: str, site: tuple[float, float]) -> str | None:
        """``check``'s site part: whether ``structure`` may stand at ``site`` for ``player`` (None: it may)."""
        rules = self.rules
        recipe = rules.recipes[structure]
        x, y = snap(*site, (recipe.footprint, recipe.footprint))
        if recipe.on_geyser:
            return None if self._free_geyser(x, y) >= 0 else "geyser"
        fits = self.grid.free(x, y, (recipe.footprint, recipe.footprint))
        if not fits or (structure in self.production.town_halls and self.grid.near_resource(x, y, (5, 5))):
            return "placement"
        race = rules.races[recipe.race]
        if race.power_provider and not recipe.exempt and not self._near(player, {race.power_provider}, x, y,
                                                                          race.power_radius):  # fmt: skip
            return "power"
        if race.creep_radius and not recipe.exempt and not self._near(player, set(race.town_halls), x, y,
                                                                      race.creep_radius):  # fmt: skip
            return "creep"
        return None

    def nearest_site(self, player: int, structure: str, point: tuple[float, float], rings: int,
                     step: float = 1.0) -> tuple[float, float] | None:  # fmt: skip
        """The site nearest ``point`` where ``structure`` may stand for ``player``, searched on square rings ``step``
        map units apart out to ``rings`` (ring 0: the point itself); None if none is free. Gas buildings: the point
        must be on a free geyser."""
        if self.rules.recipes[structure].on_geyser:
            return tuple(point) if self.check_site(player, structure, point) is None else None
        for radius in range(rings + 1):
            for dx in range(-radius, radius + 1):
                for dy in (-radius, radius) if abs(dx) < radius else range(-radius, radius + 1):
                    spot = (float(point[0] + step * dx), float(point[1] + step * dy))
                    if self.check_site(player, structure, spot) is None:
                        return spot
        return None

    def order(self, player: int, worker: int, structure: str, site: tuple[float, float]) -> int:
        """Pay, reserve the site and send the worker; returns the order's id. IllegalBuild if ``check`` fails."""
        reason = self.check(player, worker, structure, site)
        if reason is not None:
            raise IllegalBuild(reason, f"player {player} cannot build {structure!r} at {tuple(site)} with slot "
                                       f"{worker}: {reason}")  # fmt: skip
        recipe = self.rules.recipes[structure]
        side = (recipe.footprint, recipe.footprint)
        x, y = snap(*site, side)
        self.bank.pay(player, recipe.cost)
        order_id, self._next_id = self._next_id, self._next_id + 1
        geyser = -1
        if recipe.on_geyser:
            geyser = self._free_geyser(x, y)
            self.geyser_taken[geyser] = True
        else:
            self.grid.place(x, y, side, occupant=order_id)
        self.release(worker)
        st = self.engine.state
        style = self.rules.races[recipe.race].build_style
        centre = np.array([x, y])
        if style == BuildStyle.worker_consumed:
            goal = centre  # the drone becomes the structure where it stands
        else:
            away = st.pos[worker] - centre
            norm = float(np.hypot(*away))
            away = away / norm if norm > 1e-9 else np.array([0.0, -1.0])
            goal = centre + away * (self.rules.units.radius[self.rules.units.type_index(structure)]
                                    + self.rules.units.radius[st.utype[worker]])  # fmt: skip
        self.engine.set_solid([worker], False)
        goal = np.array([float(goal[0]), float(goal[1])])
        arrive = walk(self.engine, worker, goal)
        self.orders[order_id] = Site(player, worker, structure, x, y, goal=(float(goal[0]), float(goal[1])),
                                     geyser=geyser, due=arrive)  # fmt: skip
        return order_id

    # ------------------------------------------------------------------ events

    def next_event(self) -> int:
        return min((o.due for o in self.orders.values()), default=NEVER)

    def handle(self, loop: int) -> None:
        st = self.engine.state
        for order_id in sorted(self.orders):
            order = self.orders[order_id]
            if order.slot >= 0 and not st.alive[order.slot]:
                self._forget(order_id)  # destroyed, going up or finished: its cells (and geyser) are free again
            elif order.due <= loop:
                if order.slot < 0:
                    self._arrive(order_id, loop)
                else:
                    self._grow(order_id, loop)

    def _arrive(self, order_id: int, loop: int) -> None:
        order = self.orders[order_id]
        st, worker, player = self.engine.state, order.worker, order.player
        recipe = self.rules.recipes[order.structure]
        if worker < 0:  # the builder died and its slot holds another unit now
            self.bank.refund(player, recipe.cost)
            self._forget(order_id)
            return
        alive, kind = bool(st.alive[worker]), st.order_kind[worker, 0]
        if alive and kind == Order.MOVE and np.array_equal(st.order_pos[worker, 0], order.goal):
            order.due = loop + 1  # still walking (rounding left it a loop short)
            return
        if not (alive and kind == Order.IDLE and np.allclose(st.pos[worker], order.goal, atol=1e-6)):
            self.bank.refund(player, recipe.cost)  # died or was sent elsewhere on the way: no structure, no cost
            self._forget(order_id)
            if st.alive[worker]:
                self.engine.set_solid([worker], True)
            return
        if self.rules.races[recipe.race].build_style == BuildStyle.worker_consumed:
            self.engine.morph(worker, order.structure)
            slot = worker
            st.hp[slot] = self.rules.units.hp[st.utype[slot]] * START_HP  # (a morph keeps the drone's hp fraction)
            self.engine.invalidate_caches()
        else:
            slot = self.engine.spawn(order.structure, player, (order.x, order.y), hp_fraction=START_HP)
            if self.rules.races[recipe.race].build_style == BuildStyle.worker_free:
                self.resume(worker)
        self.engine.set_solid([slot], True)
        self.spawned(slot)
        self.production.going_up(slot)
        order.slot, order.started_at, order.hp_at, order.done_at = slot, loop, loop, loop + recipe.loops
        order.due = min(loop + HP_TICK, order.done_at)

    def _grow(self, order_id: int, loop: int) -> None:
        """Add the hp gained since the last tick (evenly over the build time); finish on the last loop."""
        order = self.orders[order_id]
        slot, now = order.slot, min(loop, order.done_at)
        hp_max = float(self.rules.units.hp[self.engine.state.utype[slot]])
        gained = hp_max * (1.0 - START_HP) * (now - order.hp_at) / (order.done_at - order.started_at)
        self.engine.add_hp([slot], [gained])
        order.hp_at = now
        if now < order.done_at:
            order.due = min(loop + HP_TICK, order.done_at)
            return
        order.due, order.finished = NEVER, True
        self.production.structure_done(slot, loop)
        if order.geyser >= 0:
            self.gas_ready(order.geyser, slot)
        worker = order.worker
        style = self.rules.races[self.rules.recipes[order.structure].race].build_style
        if style == BuildStyle.worker_busy and worker >= 0 and self.engine.state.alive[worker]:
            self.resume(worker)

    def forget_worker(self, slot: int) -> None:
        """A new unit took ``slot``: a site whose builder had it has no builder any more (it died)."""
        for order in self.orders.values():
            if order.worker == slot:
                order.worker = -1

    def progress(self, slot: int) -> float:
        """build_progress of a structure: 1 when finished (or not built here), else the fraction of its time done."""
        for order in self.orders.values():
            if order.slot == slot and not order.finished:
                return (self.engine.loop - order.started_at) / (order.done_at - order.started_at)
        return 1.0

    # ------------------------------------------------------------------ helpers

    def _walking(self, worker: int) -> bool:
        return any(o.worker == worker and o.slot < 0 for o in self.orders.values())

    def _free_geyser(self, x: float, y: float) -> int:
        if not len(self.geysers):
            return -1
        d = np.hypot(*(self.geysers - (x, y)).T)
        g = int(np.argmin(d))
        return g if d[g] < 0.5 and not self.geyser_taken[g] else -1

    def _near(self, player: int, types: set[str], x: float, y: float, radius: float) -> bool:
        st, units = self.engine.state, self.rules.units
        wanted = [units.type_index(t) for t in types]
        mine = st.alive & (st.owner == player) & self.production.complete & np.isin(st.utype, wanted)
        return bool((np.hypot(st.pos[mine, 0] - x, st.pos[mine, 1] - y) <= radius).any())

    def _forget(self, order_id: int) -> None:
        order = self.orders.pop(order_id)
        if order.geyser >= 0:
            self.geyser_taken[order.geyser] = False
        self.grid.clear(order_id)

    def arrays(self) -> tuple:
        """Everything it holds, for the game's state hash."""
        orders = repr(sorted((i, sorted(asdict(o).items())) for i, o in self.orders.items()))
        return np.frombuffer(orders.encode(), dtype=np.uint8), self.geyser_taken
