"""Engine -> each player's observation dict (``units``, ``unit_mask``, ``scalars``, ``available_actions``).

Rows follow the contract's rule (envs/contract/README.md): the player's living units first, by tag; then the enemy
units it can see, nearest first by squared distance from the centroid of its living units (ties by tag; by tag
alone when it has none left); then neutral units (Skirmish has none). Dead units and, with fog, unseen enemies are
absent. With more units than ``max_units`` rows, own and enemy units share the rows fairly
(``envs.contract.rows.row_shares``): the enemies nearest the own centroid and the own units nearest the centroid
of the visible enemies keep theirs (ties by tag), so a player always sees the enemy; ``observe`` returns how many
units were left out. ``row_to_slot[r]`` is the engine index of row ``r`` (``actions.translate`` needs it).

Each row holds what pysc2's raw units would report for the unit, with these Skirmish conventions:
- ``x``, ``y``, ``radius`` are in map units (float) and ``facing`` in radians in [0, 2 pi), not pysc2's pixels;
  ``health``, ``shield``, ``energy`` are the exact float values (pysc2 truncates them to ints).
- ratios are pysc2's ``int(value / max * 255)`` (0 when the max is 0); ``build_progress`` is 100 (finished);
  ``display_type`` 1 (visible); ``cloak`` 3 (not cloaked); ``is_on_screen`` 1 (the camera sees the whole map).
- as in SC2, orders and ``weapon_cooldown`` (loops until the weapon is ready) are filled for own units only.
  ``order_id_*`` are pysc2 function ids (see ``catalogue.ORDER_REPORTS``); an idle unit that is fighting
  (``attack_target`` set) shows one attack order (a healer: one heal order), as the game shows an auto-acquired
  target. ``is_selected`` is "selected by the player's last command". ``tag`` is the engine tag (0x100000 +
  slot: exact in float32, which holds integers below 2**24).
- ``cargo_*``, ``is_blip``, ``is_powered``, ``active`` (buildings only), harvesters, resources, buffs, add-ons,
  order progress (trains/research only), hallucination, is_in_cargo and upgrade levels are 0: Skirmish has none.

Both players' observations of many games are made in two compiled passes (``observe_games``: every game of a
``BatchedEngine`` a ``MatchBatch`` steps, or one engine's game): ``_select`` picks and orders each player's rows and
computes the scalars, ``_fill`` writes the rows; between them the rare player with more units in view than rows gets
``fair_rows``. The passes do numpy's float operations in numpy's order (its pairwise sums, its stable sort, its
remainder), so the observations are the same bit for bit as a numpy implementation's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from envs.contract.catalogue import ATTACK_UNIT, FOLLOW, NO_OP, NUM_ACTION_TYPES
from envs.contract.columns import (
    BUILD_PROGRESS_DONE,
    CLOAK_NOT_CLOAKED,
    DISPLAY_VISIBLE,
    NUM_UNIT_COLUMNS,
    RATIO_SCALE,
    Alliance,
)
from envs.contract.columns import UnitColumn as C
from envs.contract.rows import fair_rows
from envs.contract.scalars import NUM_SCALARS, SCALAR_NAMES
from envs.contract.sizes import DEFAULT_MAX_UNITS
from envs.skirmish.catalogue import REPORT_ATTACK, REPORT_HEAL, order_id_table, unit_abilities
from envs.skirmish.kernels import pairwise_sum

_TWO_PI = 2.0 * math.pi
# Plain ints for the compiled passes.
_HEALTH, _SHIELD, _ENERGY = int(C.health), int(C.shield), int(C.energy)
_HEALTH_RATIO, _SHIELD_RATIO, _ENERGY_RATIO = int(C.health_ratio), int(C.shield_ratio), int(C.energy_ratio)
_X, _Y, _FACING = int(C.x), int(C.y), int(C.facing)
_IS_SELECTED, _WEAPON_COOLDOWN, _ORDER_LENGTH = int(C.is_selected), int(C.weapon_cooldown), int(C.order_length)
_ORDER_ID = (int(C.order_id_0), int(C.order_id_1), int(C.order_id_2), int(C.order_id_3))
_ALLIANCE, _SELF, _ENEMY = int(C.alliance), float(Alliance.self), float(Alliance.enemy)
(_S_LOOP, _S_TIME, _S_WIDTH, _S_HEIGHT, _S_FOOD, _S_ARMY, _S_ENEMY_FOOD, _S_ENEMY_ARMY, _S_OWN_VITALITY,
 _S_ENEMY_VITALITY) = (SCALAR_NAMES.index(name) for name in (
    "game_loop", "time_remaining", "map_width", "map_height", "food_used", "army_count", "enemy_food_visible",
    "enemy_army_count_visible", "own_vitality", "enemy_vitality_visible"))  # fmt: skip


@dataclass(frozen=True, eq=False)
class SlotInfo:
    """Per-slot constants of one game (fixed until a full game spawns or morphs a unit), derived from the UnitTable."""

    state: object  # the GameState these were built for; a new state means a new game
    roster: int  # the engine's ``roster_version`` they were built at (a spawn or morph makes them stale)
    template: np.ndarray  # float32 [n, 46]: every row's constant columns (alliance, which depends on the viewer, 0)
    mine: dict[int, np.ndarray]  # player -> bool [n]: owned by that player
    vital_max: np.ndarray  # float64 [n, 3]: max hp, shield, energy (inf where the max is 0, so the ratio is 0)
    supply: np.ndarray  # float64 [n]
    abilities: np.ndarray  # bool [n, NUM_ACTION_TYPES]: what the unit can be selected for
    order_ids: np.ndarray  # float32 [n, number of Order kinds]: the order_id_* value of (slot, order kind)
    engaged_id: np.ndarray  # float32 [n]: the order id an idle unit that is fighting (or healing) shows
    by_tag: np.ndarray  # intp [n]: slots sorted by tag
    full_vitality: np.ndarray  # float64 [2]: players 1 and 2's full hp + shields of all their starting units
    is_air: np.ndarray  # bool [n]
    hits_ground: np.ndarray  # bool [n]
    hits_air: np.ndarray  # bool [n]


def slot_info(engine) -> SlotInfo:
    """The engine's per-slot constants, built on first use and cached per engine (and per game state)."""
    info = getattr(engine, "_slot_info", None)  # an attribute: a WeakKeyDictionary lookup costs more than a step's
    if info is None or info.state is not engine.state or info.roster != getattr(engine, "roster_version", 0):
        info = _build_slot_info(engine)
        engine._slot_info = info
    return info


def _build_slot_info(engine) -> SlotInfo:
    """The engine's ``SlotInfo``: its constants are those of every game with the same unit types, owners and tags
    (every game of a scenario), built once for them (an RL actor starts a game every few steps); shared, read-only."""
    st = engine.state
    key = (engine.units, *((a.dtype.str, a.tobytes()) for a in (st.utype, st.owner, st.tag)))
    constants = _CONSTANTS.pop(key, None)
    if constants is None:
        constants = _slot_constants(engine.units, st)
        if len(_CONSTANTS) >= _CONSTANTS_KEPT:
            del _CONSTANTS[next(iter(_CONSTANTS))]
    _CONSTANTS[key] = constants  # (most recent last)
    return SlotInfo(state=st, roster=getattr(engine, "roster_version", 0), **constants)


_CONSTANTS: dict[tuple, dict[str, object]] = {}
_CONSTANTS_KEPT = 64  # unit sets whose slot constants are kept


def _slot_constants(table, st) -> dict[str, object]:
    """``SlotInfo``'s fields but ``state``, from the unit table and the state's types, owners and tags."""
    t = st.utype.astype(np.intp)
    template = np.zeros((len(t), NUM_UNIT_COLUMNS), dtype=np.float32)
    template[:, C.unit_type] = table.sc2_id[t]
    template[:, C.build_progress] = BUILD_PROGRESS_DONE
    template[:, C.display_type] = DISPLAY_VISIBLE
    template[:, C.owner] = st.owner
    template[:, C.radius] = table.radius[t]
    template[:, C.cloak] = CLOAK_NOT_CLOAKED
    template[:, C.tag] = st.tag
    template[:, C.is_on_screen] = 1
    mine = {p: st.owner == p for p in (1, 2)}
    vital_max = np.stack([table.hp[t], table.shields[t], table.energy_max[t]], axis=1)
    healer = table.healer[t]
    order_ids = np.stack([order_id_table(healer=False), order_id_table(healer=True)])[healer.astype(np.intp)]
    full = table.hp[t] + table.shields[t]
    return {
        "template": template,
        "mine": mine,
        "vital_max": np.where(vital_max > 0, vital_max, np.inf),
        "supply": table.supply[t].astype(np.float64),
        "abilities": unit_abilities(table.speed > 0, table.armed, table.healer)[t],
        "order_ids": np.ascontiguousarray(order_ids, dtype=np.float32),
        "engaged_id": np.where(healer, REPORT_HEAL.function_id, REPORT_ATTACK.function_id).astype(np.float32),
        "by_tag": np.argsort(st.tag, kind="stable"),
        "full_vitality": np.array([float(full[mine[p]].sum()) for p in (1, 2)]),
        "is_air": table.is_air[t],
        "hits_ground": table.hits_ground[t],
        "hits_air": table.hits_air[t],
    }


class Observed(NamedTuple):
    """``observe``'s result: the observation, the engine index of each real row, and how many units in view got
    no row (more than ``max_units``; 0 when they all fit)."""

    obs: dict[str, np.ndarray]
    row_to_slot: np.ndarray
    units_dropped: int


class Observations(NamedTuple):
    """One game now: both players' ``Observed`` and each side's hp + shields of its living units (what ``Match``'s
    reward measures), players 1 and 2."""

    players: tuple[Observed, Observed]
    vitality: tuple[float, float]


def observe(engine, player: int, max_units: int = DEFAULT_MAX_UNITS) -> Observed:
    """``player``'s observation of the engine now (see ``Observed``)."""
    if player != 1 and player != 2:
        raise ValueError(f"player must be 1 or 2, got {player!r}")
    return observe_players(engine, max_units)[player - 1]


def observe_players(engine, max_units: int = DEFAULT_MAX_UNITS) -> tuple[Observed, Observed]:
    """Players 1 and 2's observations now (``engine``: an Engine, or a BatchedEngine's ``GameView``)."""
    return observe_one(engine, max_units).players


def observe_one(engine, max_units: int = DEFAULT_MAX_UNITS) -> Observations:
    """``observe_games`` of one engine's game (an Engine, or a BatchedEngine's ``GameView``)."""
    batch = getattr(engine, "batch", None)
    if batch is not None:
        return observe_games(batch, [engine.g], max_units)[0]
    return observe_games(engine, [0], max_units)[0]


def observe_games(engine, games: Sequence[int], max_units: int = DEFAULT_MAX_UNITS) -> list[Observations]:
    """Both players' observations of each of ``games`` (game indices of a BatchedEngine; ``[0]`` for an Engine),
    made together in two compiled passes; each player's arrays are views of one new array per key."""
    if max_units < 1:
        raise ValueError(f"max_units must be >= 1, got {max_units!r}")
    tables = _tables(engine, games)
    st, count = tables.flat, len(games)
    index = np.asarray(games, dtype=np.int64)
    fogged = np.zeros((count, 2), dtype=bool)
    for i, g in enumerate(games):
        if tables.fogs[g]:
            see_all = tables.see_all(g)
            for player in (1, 2):
                if player not in see_all:
                    fogged[i, player - 1] = True
                    tables.seen[tables.rows(g), player - 1] = tables.visible(g, player)
    rows = np.empty((count, 2, tables.capacity), dtype=np.int64)
    n_own, n_view = np.empty((count, 2), dtype=np.int64), np.empty((count, 2), dtype=np.int64)
    scalars = np.empty((count, 2, NUM_SCALARS), dtype=np.float32)
    vitality = np.empty((count, 2))
    _select(index, tables.base, tables.count, tables.by_tag, fogged, tables.seen, st.alive, st.owner, st.pos, st.hp,
            st.shield, tables.supply, tables.loop(), tables.limit, tables.size, tables.full, rows, n_own, n_view,
            scalars, vitality)  # fmt: skip
    kept = np.minimum(n_view, max_units)
    for i, p in zip(*(n_view > max_units).nonzero(), strict=True):  # more units in view than rows: fair shares
        own, enemy = rows[i, p, : n_own[i, p]].copy(), rows[i, p, n_own[i, p] : n_view[i, p]].copy()
        own, enemy = fair_rows((own, enemy), st.pos[tables.rows(games[i])], max_units)
        rows[i, p, : own.size], rows[i, p, own.size : own.size + enemy.size] = own, enemy
        n_own[i, p], kept[i, p] = own.size, own.size + enemy.size
    units = np.zeros((count, 2, max_units, NUM_UNIT_COLUMNS), dtype=np.float32)
    mask = np.zeros((count, 2, max_units), dtype=bool)
    available = np.zeros((count, 2, NUM_ACTION_TYPES), dtype=bool)
    _fill(index, tables.base, rows, n_own, kept, tables.template, tables.vital_max, tables.order_ids,
          tables.engaged_id, tables.abilities, st.hp, st.shield, st.energy, st.pos, st.facing, st.was_selected,
          st.cooldown, st.order_kind, st.order_len, st.attack_target, units, mask, available)  # fmt: skip
    # each (game, player)'s views, in order (iterating an array makes its views in C)
    pairs = 2 * count
    views = zip(units.reshape(pairs, max_units, NUM_UNIT_COLUMNS), mask.reshape(pairs, max_units),
                scalars.reshape(pairs, NUM_SCALARS), available.reshape(pairs, NUM_ACTION_TYPES),
                rows.reshape(pairs, -1), kept.reshape(-1).tolist(), (n_view - kept).reshape(-1).tolist(),
                strict=True)  # fmt: skip
    observed = [Observed({"units": u, "unit_mask": m, "scalars": sc, "available_actions": a}, r[:k], d)
                for u, m, sc, a, r, k, d in views]  # fmt: skip
    return [Observations((observed[2 * i], observed[2 * i + 1]), (v_1, v_2))
            for i, (v_1, v_2) in enumerate(vitality.tolist())]  # fmt: skip


def available_actions(info: SlotInfo, slots: np.ndarray, n_own: int) -> np.ndarray:
    """bool ``[NUM_ACTION_TYPES]``: no_op always; a unit action when some own row can do it and, for
    attack_unit, an enemy row exists to target, for follow, another row exists to follow."""
    available = np.zeros(NUM_ACTION_TYPES, dtype=bool)
    _available(info.abilities, np.asarray(slots, dtype=np.int64), 0, int(n_own), len(slots), available)
    return available


class _FlatState(NamedTuple):
    """The state arrays the passes read, one row per slot (a BatchedEngine's flattened: game g from g x capacity)."""

    alive: np.ndarray
    owner: np.ndarray
    pos: np.ndarray
    hp: np.ndarray
    shield: np.ndarray
    energy: np.ndarray
    facing: np.ndarray
    was_selected: np.ndarray
    cooldown: np.ndarray
    order_kind: np.ndarray
    order_len: np.ndarray
    attack_target: np.ndarray


class _Tables:
    """The per-slot constants (``SlotInfo``) of every game of one engine as flat arrays for the passes, game g's
    rows from ``base[g]``; a game's rows are rewritten when it is a new game (a new state). ``engine``: a
    BatchedEngine, or an Engine-like object holding one game (whose ``SlotInfo`` arrays are the tables)."""

    _PER_SLOT = ("template", "vital_max", "supply", "abilities", "order_ids", "engaged_id", "by_tag")

    def __init__(self, engine, batched: bool) -> None:
        self.engine, self.batched = engine, batched
        state = engine.state
        games, self.capacity = (engine.games, engine.capacity) if batched else (1, state.n)
        size = games * self.capacity
        self.infos: list[SlotInfo | None] = [None] * games
        self.base = np.arange(games, dtype=np.int64) * self.capacity
        self.count = np.zeros(games, dtype=np.int64)
        if batched:
            self.template = np.zeros((size, NUM_UNIT_COLUMNS), dtype=np.float32)
            self.vital_max = np.ones((size, 3))
            self.supply = np.zeros(size)
            self.abilities = np.zeros((size, NUM_ACTION_TYPES), dtype=bool)
            self.order_ids = np.zeros((size, len(order_id_table(healer=False))), dtype=np.float32)
            self.engaged_id = np.zeros(size, dtype=np.float32)
            self.by_tag = np.zeros(size, dtype=np.int64)
        self.full = np.zeros((games, 2))
        self.limit = np.ones(games, dtype=np.int64)
        self.size = np.zeros((games, 2))
        self.seen = np.ones((size, 2), dtype=bool)  # what fogged players see (written before each pass)
        arrays = {name: getattr(state, name) for name in _FlatState._fields}
        self.flat = _FlatState(**{name: a.reshape(size, *a.shape[2:]) if batched else a for name, a in arrays.items()})

    def rows(self, g: int) -> slice:
        """Game g's rows of the flat arrays."""
        return slice(int(self.base[g]), int(self.base[g] + self.count[g]))

    @property
    def fogs(self) -> list[bool]:
        """Whether each game has fog."""
        return self.engine.fog if self.batched else [getattr(self.engine, "fog", True)]

    def see_all(self, g: int) -> frozenset[int] | tuple[int, ...]:
        """The players that see through game g's fog."""
        return self.engine.see_all[g] if self.batched else getattr(self.engine, "see_all", ())

    def visible(self, g: int, player: int) -> np.ndarray:
        return self.engine.visible(g, player) if self.batched else self.engine.visible(player)

    def loop(self) -> np.ndarray:
        """int64 [games]: each game's loop now."""
        return self.engine.loop if self.batched else np.array([self.engine.loop], dtype=np.int64)

    def update(self, g: int, state, view) -> None:
        """Rewrite game g's rows unless they were made for ``state`` (``view``: game g as an Engine-like object)."""
        info = self.infos[g]
        if info is not None and info.state is state and info.roster == getattr(view, "roster_version", 0):
            return
        info = self.infos[g] = slot_info(view)
        n, b = len(info.by_tag), int(self.base[g])
        self.count[g] = n
        for name in self._PER_SLOT:
            if self.batched:
                getattr(self, name)[b : b + n] = getattr(info, name)
            else:
                setattr(self, name, getattr(info, name))
        self.full[g] = info.full_vitality
        scenario = view.scenario
        self.limit[g] = scenario.time_limit_loops
        self.size[g] = scenario.map_width, scenario.map_height


def _tables(engine, games: Sequence[int]) -> _Tables:
    """The engine's ``_Tables`` (cached on it), with the rows of ``games`` up to date."""
    tables = getattr(engine, "_observation_tables", None)
    if hasattr(engine, "game_state"):  # a BatchedEngine
        if tables is None:
            tables = engine._observation_tables = _Tables(engine, batched=True)
        for g in games:
            state, info = engine.game_state(g), tables.infos[g]
            if info is None or info.state is not state or info.roster != engine.roster_version[g]:
                tables.update(g, state, engine.game(g))  # (a new game, or a full game's spawn or morph)
        return tables
    if tables is None or tables.flat.alive is not engine.state.alive:
        tables = engine._observation_tables = _Tables(engine, batched=False)
    tables.update(0, engine.state, engine)
    return tables


@njit(cache=True)
def _sum(values, lo, hi):
    """np.add.reduce of values[lo:hi] (numpy's pairwise sum; 0.0 when empty)."""
    return pairwise_sum(values, lo, hi) if hi > lo else 0.0


@njit(cache=True, error_model="numpy")
def _select(games, base, count, by_tag, fogged, seen, alive, owner, pos, hp, shield, supply, loop, limit, size, full,
            rows, n_own, n_view, scalars, vitality):  # fmt: skip
    """Per game and player: the rows in view in the contract's order (own living units by tag, then the visible
    enemies nearest the own centroid first, ties by tag) into ``rows`` with ``n_own`` and ``n_view``, the scalars,
    and ``vitality``: hp + shields of the player's living units (summed over its slots, dead ones as 0)."""
    work = np.empty(rows.shape[2])
    work_2 = np.empty(rows.shape[2])
    living = np.empty((2, rows.shape[2]), dtype=np.int64)
    key = np.empty(rows.shape[2])
    for i in range(games.size):
        g = games[i]
        b, n = base[g], count[g]
        alive_n = np.zeros(2, dtype=np.int64)
        for side in range(2):
            m = 0
            for s in range(n):
                if owner[b + s] == side + 1:
                    work[m] = hp[b + s] + shield[b + s] if alive[b + s] else 0.0
                    m += 1
            vitality[i, side] = _sum(work, 0, m)
            m = 0
            for t in range(n):
                s = by_tag[b + t]
                if alive[b + s] and owner[b + s] == side + 1:
                    living[side, m] = s
                    m += 1
            alive_n[side] = m
        for side in range(2):
            out = rows[i, side]
            own = alive_n[side]
            out[:own] = living[side, :own]
            enemy = 0
            for j in range(alive_n[1 - side]):
                s = living[1 - side, j]
                if not fogged[i, side] or seen[b + s, side]:
                    out[own + enemy] = s
                    enemy += 1
            if enemy > 1 and own > 0:  # enemies by squared distance from the own centroid, stable
                cx, cy = pos[b + out[0], 0], pos[b + out[0], 1]
                for j in range(1, own):
                    cx += pos[b + out[j], 0]
                    cy += pos[b + out[j], 1]
                cx /= own
                cy /= own
                for j in range(enemy):
                    s = b + out[own + j]
                    ox, oy = pos[s, 0] - cx, pos[s, 1] - cy
                    key[j] = ox * ox + oy * oy
                for j in range(1, enemy):  # insertion sort: stable
                    k, s = key[j], out[own + j]
                    h = j - 1
                    while h >= 0 and key[h] > k:
                        key[h + 1] = key[h]
                        out[own + h + 1] = out[own + h]
                        h -= 1
                    key[h + 1] = k
                    out[own + h + 1] = s
            n_own[i, side], n_view[i, side] = own, own + enemy
            for j in range(own + enemy):  # supply, then hp + shields, of own (then enemy) units in tag order
                s = b + (out[j] if j < own else living[1 - side, j - own])
                work[j], work_2[j] = supply[s], hp[s] + shield[s]
            if enemy < alive_n[1 - side]:  # fog: the seen enemies only, in tag order
                e = 0
                for j in range(alive_n[1 - side]):
                    s = living[1 - side, j]
                    if seen[b + s, side]:
                        work[own + e], work_2[own + e] = supply[b + s], hp[b + s] + shield[b + s]
                        e += 1
            sc = scalars[i, side]
            sc[:] = 0.0
            t = loop[g]
            sc[_S_LOOP] = t
            left = 1.0 - t / limit[g]
            sc[_S_TIME] = left if left > 0.0 else 0.0
            sc[_S_WIDTH], sc[_S_HEIGHT] = size[g, 0], size[g, 1]
            sc[_S_FOOD], sc[_S_ARMY] = _sum(work, 0, own), own
            sc[_S_OWN_VITALITY] = _sum(work_2, 0, own) / full[g, side]
            sc[_S_ENEMY_FOOD], sc[_S_ENEMY_ARMY] = _sum(work, own, own + enemy), enemy
            sc[_S_ENEMY_VITALITY] = _sum(work_2, own, own + enemy) / full[g, 1 - side]


@njit(cache=True)
def _available(abilities, rows, base, n_own, k, out):
    """Into ``out`` (all False): no_op; a unit action some own row (``rows[:n_own]``, slots from ``base``) can
    do; attack_unit only with an enemy row to target, follow with another row to follow."""
    for r in range(n_own):
        s = base + rows[r]
        for a in range(out.size):
            if abilities[s, a]:
                out[a] = True
    out[NO_OP] = True
    if k == n_own:
        out[ATTACK_UNIT] = False
    if k < 2:
        out[FOLLOW] = False


@njit(cache=True, error_model="numpy")
def _fill(games, base, rows, n_own, kept, template, vital_max, order_ids, engaged_id, abilities, hp, shield,
          energy, pos, facing, was_selected, cooldown, order_kind, order_len, attack_target, units, mask,
          available):  # fmt: skip
    """Write each player's rows (``rows[:kept]``, own ones first) into ``units`` and ``mask``, and its
    ``available`` action types. A row is its slot's template plus the changing columns; ratios are
    floor(float32 value / max x 255); own rows add selection, weapon cooldown and orders (order slots past
    ``order_len`` hold IDLE, whose id is 0; an idle unit that is fighting shows its engaged order)."""
    for i in range(games.size):
        b = base[games[i]]
        for side in range(2):
            own, k = n_own[i, side], kept[i, side]
            for r in range(k):
                s = b + rows[i, side, r]
                row = units[i, side, r]
                row[:] = template[s]
                h, sh, en = np.float32(hp[s]), np.float32(shield[s]), np.float32(energy[s])
                row[_HEALTH], row[_SHIELD], row[_ENERGY] = h, sh, en
                row[_HEALTH_RATIO] = np.floor(np.float64(h) / vital_max[s, 0] * RATIO_SCALE)
                row[_SHIELD_RATIO] = np.floor(np.float64(sh) / vital_max[s, 1] * RATIO_SCALE)
                row[_ENERGY_RATIO] = np.floor(np.float64(en) / vital_max[s, 2] * RATIO_SCALE)
                row[_X], row[_Y] = pos[s, 0], pos[s, 1]
                row[_FACING] = facing[s] % _TWO_PI
                if r < own:
                    row[_ALLIANCE] = _SELF
                    row[_IS_SELECTED] = 1.0 if was_selected[s] else 0.0
                    row[_WEAPON_COOLDOWN] = cooldown[s]
                    length = order_len[s]
                    engaged = length == 0 and attack_target[s] >= 0
                    for c in range(4):
                        row[_ORDER_ID[c]] = order_ids[s, order_kind[s, c]]
                    if engaged:
                        row[_ORDER_ID[0]] = engaged_id[s]
                    row[_ORDER_LENGTH] = length + 1 if engaged else length
                else:
                    row[_ALLIANCE] = _ENEMY
                mask[i, side, r] = True
            _available(abilities, rows[i, side], b, own, k, available[i, side])
