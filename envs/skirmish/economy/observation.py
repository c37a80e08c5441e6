"""A full game's observation in the contract: the battle observation of its units, the economy's columns, resource
rows, the economy scalars and the full catalogue's ``available_actions``.

Rows: the player's units (structures, workers, larva, eggs and army alike), then the enemy units it sees, as in
a battle (``envs.skirmish.observation``); then the resources with minerals or vespene left, nearest the player's
units first, in the rows left (units keep theirs first). Resource rows are neutral (alliance 3, owner 16, pysc2's
neutral player) and report ``mineral_contents`` / ``vespene_contents``; every player sees every resource and its
contents (a simplification: StarCraft II shows unscouted fields as snapshots). A geyser with a gas building on it (or
ordered onto it) has no row of its own: the building's row reports its vespene, as in SC2. Unit rows add what pysc2
reports:

- ``build_progress`` of a structure going up (0..100);
- a producer's (or egg's, or cocoon's) orders: ``order_id_*`` the pysc2 functions of what it trains, morphs or
  researches, current first, ``order_progress_0`` (0..100) and ``order_length``;
- a gathering worker's order (``Harvest_Gather_unit`` on its way out or mining, ``Harvest_Return_quick`` when it
  carries), a worker walking to a site the ``Build_*`` order;
- ``assigned_harvesters`` / ``ideal_harvesters`` of own town halls (mineral workers; 2 per field with minerals left)
  and gas buildings (3 per geyser with vespene left), with the gas building's ``vespene_contents``.

Scalars: the base ones (``minerals``, ``vespene`` from the bank, ``food_used`` counting paid-for production,
``army_count`` without workers and structures, vitalities over the living units' maximum) then
``ECONOMY_SCALARS``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from envs.contract.catalogue import NUM_ACTION_TYPES
from envs.contract.columns import CLOAK_NOT_CLOAKED, DISPLAY_VISIBLE, NUM_UNIT_COLUMNS, Alliance
from envs.contract.columns import UnitColumn as C
from envs.skirmish.economy.catalogue import BUILD, GATHER, PRODUCE, RALLY, RETURN, full_catalogue
from envs.skirmish.economy.gathering import BASE_RADIUS, NONE, PAUSED, TO_HALL
from envs.skirmish.economy.spec import FULL_SCALAR_NAMES
from envs.skirmish.observation import Observed, observe_one

NEUTRAL_PLAYER = 16  # pysc2's owner of neutral units
RESOURCE_TAG = 0x80000  # resource rows' tags: this + the source index (below every unit tag, 0x100000 and up)
_S = {name: i for i, name in enumerate(FULL_SCALAR_NAMES)}
_ORDERS = (C.order_id_0, C.order_id_1, C.order_id_2, C.order_id_3)


class FullObserved(NamedTuple):
    """One player's full-game observation: the contract dict, the engine slot of each unit row (the first
    ``len(row_to_slot)`` rows), the source index of each resource row after them, and the units left out."""

    obs: dict[str, np.ndarray]
    row_to_slot: np.ndarray
    row_to_source: np.ndarray
    units_dropped: int


def observe_full(game, max_units: int) -> tuple[FullObserved, FullObserved]:
    """Players 1 and 2's observations of the full game ``game`` now."""
    view = _EconomyView(game)
    players = observe_one(game.engine, max_units).players
    return tuple(_player(game, view, observed, player, max_units)
                 for player, observed in zip((1, 2), players, strict=True))  # fmt: skip


class _EconomyView:
    """What both players' observations share this step: per-slot economy columns and per-source rows."""

    def __init__(self, game) -> None:
        self.catalogue = full_catalogue(game.rules)
        engine, rules, g = game.engine, game.rules, game.gathering
        st = engine.state
        n = st.n
        self.progress = np.full(n, 100.0)
        for site in game.construction.orders.values():
            if site.slot >= 0 and not site.finished:
                self.progress[site.slot] = np.floor(100.0 * game.construction.progress(site.slot))
        self.assigned = np.zeros(n)
        self.ideal = np.zeros(n)
        mining = g.phase != NONE
        halls = np.flatnonzero(st.alive & game.is_town_hall[st.utype] & game.production.complete)
        for hall in halls.tolist():
            near = np.hypot(*(g.field_pos - st.pos[hall]).T) < BASE_RADIUS
            fields = near & ~g.vespene & (g.contents > 0)
            self.ideal[hall] = rules.gathering.workers_per_field * np.count_nonzero(fields)
            self.assigned[hall] = np.count_nonzero(mining & (g.hall == hall) & ~g.vespene[np.maximum(g.field, 0)])
        self.gas_contents = np.zeros(n)
        for source in np.flatnonzero(g.building >= 0).tolist():
            b = int(g.building[source])
            if st.alive[b]:
                self.gas_contents[b] = g.contents[source]
                self.assigned[b] = np.count_nonzero(mining & (g.field == source))
                self.ideal[b] = rules.gathering.workers_per_geyser if g.contents[source] > 0 else 0
        # orders per slot: up to 4 function ids (-1: none; the engine's columns stay), progress of the first, length
        self.order_ids = np.full((n, len(_ORDERS)), -1, dtype=np.int64)
        self.order_progress = np.zeros(n)
        self.order_length = np.zeros(n)
        self.walking = np.zeros(n, dtype=bool)  # workers on their way to a building site
        production = game.production
        for slot in np.flatnonzero(production.done_at != np.iinfo(np.int64).max).tolist():
            items = [production.current[slot], *production.queue[slot]]
            ids = [self.catalogue.action_types[self.catalogue.product_index(p)].function_id for p in items]
            span = max(int(production.done_at[slot] - production.started_at[slot]), 1)
            done = 100.0 * (engine.loop - int(production.started_at[slot])) / span
            self.order_ids[slot, : min(len(ids), len(_ORDERS))] = ids[: len(_ORDERS)]
            self.order_progress[slot], self.order_length[slot] = np.floor(done), len(items)
        gather_id = self.catalogue.action_types[self.catalogue.index("Harvest_Gather_unit")].function_id
        return_id = self.catalogue.action_types[self.catalogue.index("Harvest_Return_quick")].function_id
        carrying = (g.phase == PAUSED) | (g.phase == TO_HALL)
        self.order_ids[mining, 0] = np.where(carrying[mining], return_id, gather_id)
        self.order_ids[mining, 1:] = -1
        self.order_progress[mining], self.order_length[mining] = 0.0, 1
        for site in game.construction.orders.values():
            if site.slot < 0 and site.worker >= 0:  # on its way to the site
                self.walking[site.worker] = True
                index = self.catalogue.product_index(site.structure)
                self.order_ids[site.worker] = -1
                self.order_ids[site.worker, 0] = self.catalogue.action_types[index].function_id
                self.order_progress[site.worker], self.order_length[site.worker] = 0.0, 1
        self.has_order = self.order_ids[:, 0] >= 0
        free = np.ones(len(g.field_pos), dtype=bool)  # a geyser under a gas building (or its site) is not a row:
        free[g.geyser_base:] = ~game.construction.geyser_taken  # the building is, as in SC2
        left = np.flatnonzero((g.contents > 0) & free)
        self.sources = left
        self.source_rows = np.zeros((len(left), NUM_UNIT_COLUMNS), dtype=np.float32)
        rows = self.source_rows
        rows[:, C.unit_type] = game.source_sc2_id[left]
        rows[:, C.alliance] = float(Alliance.neutral)
        rows[:, C.owner] = NEUTRAL_PLAYER
        rows[:, C.x], rows[:, C.y] = g.field_pos[left, 0], g.field_pos[left, 1]
        rows[:, C.radius] = g.source_radius[left]
        rows[:, C.mineral_contents] = np.where(g.vespene[left], 0, g.contents[left])
        rows[:, C.vespene_contents] = np.where(g.vespene[left], g.contents[left], 0)
        rows[:, C.build_progress] = 100.0
        rows[:, C.display_type] = DISPLAY_VISIBLE
        rows[:, C.cloak] = CLOAK_NOT_CLOAKED
        rows[:, C.is_on_screen] = 1.0
        rows[:, C.tag] = RESOURCE_TAG + left


def _player(game, view: _EconomyView, observed: Observed, player: int, max_units: int) -> FullObserved:
    obs, slots, dropped = observed
    units = obs["units"]
    k = len(slots)
    st = game.engine.state
    own = st.owner[slots] == player
    units[:k, C.build_progress] = view.progress[slots]
    units[:k, C.assigned_harvesters] = np.where(own, view.assigned[slots], 0.0)
    units[:k, C.ideal_harvesters] = np.where(own, view.ideal[slots], 0.0)
    units[:k, C.vespene_contents] = view.gas_contents[slots]
    rows = np.flatnonzero(own & view.has_order[slots])
    if rows.size:
        at = slots[rows]
        ids = view.order_ids[at]
        block = units[rows[:, None], list(_ORDERS)]
        units[rows[:, None], list(_ORDERS)] = np.where(ids >= 0, ids, block)
        units[rows, C.order_progress_0] = view.order_progress[at]
        units[rows, C.order_length] = view.order_length[at]
    room = max_units - k
    sources = view.sources
    if room > 0 and sources.size:
        mine = slots[own]
        centre = st.pos[mine].mean(axis=0) if mine.size else np.array(game.engine.map_size) / 2.0
        offsets = game.gathering.field_pos[sources] - centre
        order = np.argsort(offsets[:, 0] ** 2 + offsets[:, 1] ** 2, kind="stable")[:room]
        units[k : k + order.size] = view.source_rows[order]
        obs["unit_mask"][k : k + order.size] = True
        row_to_source = sources[order]
    else:
        row_to_source = np.zeros(0, dtype=np.int64)
    obs["scalars"] = _scalars(game, obs["scalars"], player, slots, own, view)
    obs["available_actions"] = _available(game, view, obs["available_actions"], player, row_to_source)
    return FullObserved(obs, slots, row_to_source, dropped)


def _scalars(game, base: np.ndarray, player: int, slots: np.ndarray, own: np.ndarray,
             view: _EconomyView) -> np.ndarray:  # fmt: skip
    st, units, production = game.engine.state, game.rules.units, game.production
    out = np.zeros(len(FULL_SCALAR_NAMES), dtype=np.float32)
    out[: base.size] = base
    mine = np.flatnonzero(st.alive & (st.owner == player))
    types = st.utype[mine]
    worker = types == game.worker_type(player)
    army = ~worker & ~production.structure[types] & (units.supply[types] > 0)
    out[_S["minerals"]], out[_S["vespene"]] = game.bank.minerals[player], game.bank.vespene[player]
    out[_S["food_used"]], out[_S["food_cap"]] = game.supply(player)
    out[_S["army_count"]] = np.count_nonzero(army)
    out[_S["food_army"]] = units.supply[types[army]].sum()
    out[_S["food_workers"]] = units.supply[types[worker]].sum()
    idle = worker & (game.gathering.phase[mine] == NONE) & (st.order_len[mine] == 0) & (st.attack_target[mine] < 0)
    idle &= ~view.walking[mine]
    out[_S["idle_worker_count"]] = np.count_nonzero(idle)
    larva = game.larva_type(player)
    out[_S["larva_count"]] = np.count_nonzero(types == larva) if larva >= 0 else 0
    seen = slots[~own]
    for name, rows in (("own_vitality", mine), ("enemy_vitality_visible", seen)):
        t = st.utype[rows]
        top = float((units.hp[t] + units.shields[t]).sum())
        out[_S[name]] = float((st.hp[rows] + st.shield[rows]).sum()) / top if top > 0 else 1.0
    return out


def _available(game, view: _EconomyView, base: np.ndarray, player: int, sources: np.ndarray) -> np.ndarray:
    """The base types' availability, then each economy type's: some own unit could carry it out now (money,
    supply, tech, an idle or queueing producer, a free builder), a finished town hall to deliver to for gathering
    and returning, and a row to name for gathering (a mineral field's among the resource ``sources`` with rows, or
    an own finished gas building) and for gas buildings (a geyser's)."""
    g = game.gathering
    minerals, geysers = bool(np.any(~g.vespene[sources])), bool(np.any(g.vespene[sources]))
    buildings = g.building[g.building >= 0]
    st, names = game.engine.state, game.rules.units.names
    mine = np.flatnonzero(st.alive & (st.owner == player))
    gas_buildings = st.alive[buildings] & (st.owner[buildings] == player) & (g.contents[g.building >= 0] > 0)
    hall = bool(np.any(game.is_town_hall[st.utype[mine]] & game.production.complete[mine]))
    catalogue = view.catalogue
    out = np.zeros(len(catalogue.action_types), dtype=bool)
    out[:NUM_ACTION_TYPES] = base
    finished = game.production.finished_structures(player)
    types = st.utype[mine]
    by_type = {names[t]: mine[types == t].tolist() for t in np.unique(types).tolist()}  # (slots in order per type)
    for index, action in catalogue.economy.items():
        makers = [slot for t in action.makers for slot in by_type.get(t, ())]
        if not makers:
            continue
        if action.kind == PRODUCE:  # the player-wide rules first (money, tech), then a producer that can take it
            item = game.rules.recipes.get(action.product) or game.rules.upgrades[action.product]
            product = action.product
            out[index] = (game.bank.affords(player, item.cost)
                          and game.rules.satisfied(getattr(item, "requires", ()), finished)
                          and any(game.production.check(player, s, product) is None for s in makers))  # fmt: skip
        elif action.kind == BUILD:  # check_builder's rules, once per type: a worker not on its way to a site
            recipe = game.rules.recipes[action.product]
            out[index] = (any(not view.walking[s] for s in makers) and game.bank.affords(player, recipe.cost)
                          and game.rules.satisfied(recipe.requires, finished)
                          and (geysers or not recipe.on_geyser))  # fmt: skip
        elif action.kind == GATHER:
            out[index] = hall and (minerals or bool(np.any(gas_buildings)))
        elif action.kind == RETURN:
            out[index] = hall
        elif action.kind == RALLY:
            out[index] = True
    return out
