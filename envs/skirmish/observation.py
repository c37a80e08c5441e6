"""Engine -> one player's observation dict (``units``, ``unit_mask``, ``scalars``, ``available_actions``).

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

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

_ORDER_COLUMNS = 4  # order_id_0..3
_TWO_PI = 2.0 * math.pi
# Plain ints and slices for the hot path (IntEnum member lookups cost more than the numpy work at 20 units).
_HEALTH, _SHIELD, _ENERGY = int(C.health), int(C.shield), int(C.energy)
_VITALS = slice(_HEALTH, _ENERGY + 1)
_RATIOS = slice(int(C.health_ratio), int(C.energy_ratio) + 1)
_XY = slice(int(C.x), int(C.y) + 1)
_FACING, _IS_SELECTED, _WEAPON_COOLDOWN = int(C.facing), int(C.is_selected), int(C.weapon_cooldown)
_ALLIANCE, _SELF, _ENEMY = int(C.alliance), float(Alliance.self), float(Alliance.enemy)
_ORDER_LENGTH = int(C.order_length)
_ORDER_IDS_01 = slice(int(C.order_id_0), int(C.order_id_1) + 1)
_ORDER_IDS_23 = slice(int(C.order_id_2), int(C.order_id_3) + 1)
(_S_LOOP, _S_TIME, _S_WIDTH, _S_HEIGHT, _S_FOOD, _S_ARMY, _S_ENEMY_FOOD, _S_ENEMY_ARMY, _S_OWN_VITALITY,
 _S_ENEMY_VITALITY) = (SCALAR_NAMES.index(name) for name in (
    "game_loop", "time_remaining", "map_width", "map_height", "food_used", "army_count", "enemy_food_visible",
    "enemy_army_count_visible", "own_vitality", "enemy_vitality_visible"))  # fmt: skip


@dataclass(frozen=True, eq=False)
class SlotInfo:
    """Per-slot constants of one game (a unit never changes type, owner or tag), derived once from the UnitTable."""

    state: object  # the GameState these were built for; a new state means a new game
    template: np.ndarray  # float32 [n, 46]: every row's constant columns (alliance, which depends on the viewer, 0)
    mine: dict[int, np.ndarray]  # player -> bool [n]: owned by that player
    vital_max: np.ndarray  # float64 [n, 3]: max hp, shield, energy (inf where the max is 0, so the ratio is 0)
    supply: np.ndarray  # float64 [n]
    abilities: np.ndarray  # bool [n, NUM_ACTION_TYPES]: what the unit can be selected for
    order_ids: np.ndarray  # float32 [n x number of Order kinds]: the order_id_* value of (slot, order kind), flat
    order_base: np.ndarray  # intp [n, 1]: each slot's first entry in ``order_ids``
    engaged_id: np.ndarray  # float32 [n]: the order id an idle unit that is fighting (or healing) shows
    by_tag: np.ndarray  # intp [n]: slots sorted by tag
    tag_ordered: bool  # by_tag is the identity (slots are already in tag order, as the engine assigns tags)
    full_vitality: dict[int, float]  # player -> full hp + shields of all its starting units
    is_air: np.ndarray  # bool [n]
    hits_ground: np.ndarray  # bool [n]
    hits_air: np.ndarray  # bool [n]


_sum = np.add.reduce  # what ndarray.sum calls, without the method's Python wrapper
_any_rows = np.logical_or.reduce  # ndarray.any, likewise


def slot_info(engine) -> SlotInfo:
    """The engine's per-slot constants, built on first use and cached per engine (and per game state)."""
    info = getattr(engine, "_slot_info", None)  # an attribute: a WeakKeyDictionary lookup costs more than a step's
    if info is None or info.state is not engine.state:  # numpy work at 10v10
        info = _build_slot_info(engine)
        engine._slot_info = info
    return info


def _build_slot_info(engine) -> SlotInfo:
    table, st = engine.units, engine.state
    t = st.utype.astype(np.intp)
    n = len(t)
    template = np.zeros((n, NUM_UNIT_COLUMNS), dtype=np.float32)
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
    kinds = order_ids.shape[1]
    full = table.hp[t] + table.shields[t]
    by_tag = np.argsort(st.tag, kind="stable")
    return SlotInfo(
        state=st,
        template=template,
        mine=mine,
        vital_max=np.where(vital_max > 0, vital_max, np.inf),
        supply=table.supply[t].astype(np.float64),
        abilities=unit_abilities(table.speed > 0, table.armed, table.healer)[t],
        order_ids=order_ids.reshape(-1),
        order_base=np.arange(n, dtype=np.intp)[:, None] * kinds,
        engaged_id=np.where(healer, REPORT_HEAL.function_id, REPORT_ATTACK.function_id).astype(np.float32),
        by_tag=by_tag,
        tag_ordered=bool((by_tag == np.arange(n)).all()),
        full_vitality={p: float(full[mine[p]].sum()) for p in (1, 2)},
        is_air=table.is_air[t],
        hits_ground=table.hits_ground[t],
        hits_air=table.hits_air[t],
    )


class UnitTables(NamedTuple):
    """float32 [n, 46] each: every slot's row now as its enemy sees it (``alliance`` enemy, owner-only columns 0)
    and as its owner sees it (``alliance`` self, with selection, weapon cooldown and orders)."""

    enemy_view: np.ndarray
    owner_view: np.ndarray


def unit_tables(engine) -> UnitTables:
    """Both views of every slot's row (``UnitTables``), built once per step and shared by both players' observations
    (``observe_players``), each of which only gathers its rows: the changing columns cost one pass over all slots
    instead of a gather and a write per player. Rows of dead units hold stale values; no observation takes them."""
    info = slot_info(engine)
    st = engine.state
    table = info.template.copy()
    table[:, _HEALTH] = st.hp
    table[:, _SHIELD] = st.shield
    table[:, _ENERGY] = st.energy
    table[:, _RATIOS] = np.floor(table[:, _VITALS] / info.vital_max * RATIO_SCALE)
    table[:, _XY] = st.pos
    table[:, _FACING] = np.remainder(st.facing, _TWO_PI)
    own = table.copy()
    table[:, _ALLIANCE] = _ENEMY  # Skirmish has no neutral units: whoever sees a unit it does not own, sees an enemy
    own[:, _ALLIANCE] = _SELF
    _fill_own_columns(own, st, info)
    return UnitTables(table, own)


class Observed(NamedTuple):
    """``observe``'s result: the observation, the engine index of each real row, and how many units in view got
    no row (more than ``max_units``; 0 when they all fit)."""

    obs: dict[str, np.ndarray]
    row_to_slot: np.ndarray
    units_dropped: int


def observe(engine, player: int, max_units: int = DEFAULT_MAX_UNITS) -> Observed:
    """``player``'s observation of the engine now (see ``Observed``)."""
    if player != 1 and player != 2:
        raise ValueError(f"player must be 1 or 2, got {player!r}")
    return observe_players(engine, max_units)[player - 1]


def observe_players(engine, max_units: int = DEFAULT_MAX_UNITS) -> tuple[Observed, Observed]:
    """Players 1 and 2's observations now. What both share is computed once: the unit tables, each side's living
    units and their totals (``Match`` observes both players every step)."""
    if max_units < 1:
        raise ValueError(f"max_units must be >= 1, got {max_units!r}")
    info = slot_info(engine)
    st = engine.state
    tables = unit_tables(engine)
    alive = st.alive
    if info.tag_ordered:  # the usual case: slot order is tag order
        living = [None, (alive & info.mine[1]).nonzero()[0], (alive & info.mine[2]).nonzero()[0]]
    else:
        by_tag = info.by_tag
        living = [None, by_tag[(alive & info.mine[1])[by_tag]], by_tag[(alive & info.mine[2])[by_tag]]]
    vitality = st.hp + st.shield
    totals = [None, *(_totals(living[p], info, vitality) for p in (1, 2))]
    return (_observe(engine, 1, max_units, tables, info, living, totals, vitality),
            _observe(engine, 2, max_units, tables, info, living, totals, vitality))  # fmt: skip


def _totals(slots: np.ndarray, info: SlotInfo, vitality: np.ndarray) -> tuple[float, int, float]:
    """Supply, count and hp + shields of the units at ``slots`` (what the scalars report of own and enemy units)."""
    return _sum(info.supply[slots]), slots.size, _sum(vitality[slots])


def _observe(engine, player: int, max_units: int, tables: UnitTables, info: SlotInfo, living: list,
             totals: list, vitality: np.ndarray) -> Observed:  # fmt: skip
    """One player's observation from the parts both share: ``living`` [-, player 1's, player 2's] living slots in
    tag order and their ``_totals``."""
    st = engine.state
    enemy = 3 - player
    own_slots, enemy_slots = living[player], living[enemy]
    enemy_totals = totals[enemy]
    if getattr(engine, "fog", True) and player not in getattr(engine, "see_all", ()):  # else visible() is all
        seen = engine.visible(player)[enemy_slots]
        if not seen.all():
            enemy_slots = enemy_slots[seen]
            enemy_totals = _totals(enemy_slots, info, vitality)
    if enemy_slots.size > 1 and own_slots.size:
        pos = st.pos
        offset = pos[enemy_slots] - _sum(pos[own_slots], axis=0) / own_slots.size
        enemy_slots = enemy_slots[np.einsum("ij,ij->i", offset, offset).argsort(kind="stable")]
    scalars = _scalars(engine, player, totals[player], enemy_totals, info)  # over every unit in view
    in_view = own_slots.size + enemy_slots.size
    if in_view > max_units:
        own_slots, enemy_slots = fair_rows((own_slots, enemy_slots), st.pos, max_units)
    n_own = own_slots.size
    k = n_own + enemy_slots.size
    units = np.zeros((max_units, NUM_UNIT_COLUMNS), dtype=np.float32)
    tables.owner_view.take(own_slots, axis=0, out=units[:n_own])
    tables.enemy_view.take(enemy_slots, axis=0, out=units[n_own:k])
    mask = np.zeros(max_units, dtype=bool)
    mask[:k] = True
    slots = np.concatenate((own_slots, enemy_slots))
    available = available_actions(info, slots, n_own)
    obs = {"units": units, "unit_mask": mask, "scalars": scalars, "available_actions": available}
    return Observed(obs, slots, in_view - k)


def _fill_own_columns(rows: np.ndarray, st, info: SlotInfo) -> None:
    """Columns SC2 fills only for the player's own units, for every slot: selection, weapon cooldown and orders
    (order slots past ``order_len`` hold IDLE, whose id is 0)."""
    rows[:, _IS_SELECTED] = st.was_selected
    rows[:, _WEAPON_COOLDOWN] = st.cooldown
    ids = info.order_ids[info.order_base + st.order_kind[:, :_ORDER_COLUMNS]]
    length = st.order_len
    engaged = (length == 0) & (st.attack_target >= 0)
    if np.count_nonzero(engaged):
        ids[engaged, 0] = info.engaged_id[engaged]
    rows[:, _ORDER_LENGTH] = length + engaged
    rows[:, _ORDER_IDS_01] = ids[:, :2]
    rows[:, _ORDER_IDS_23] = ids[:, 2:]


def _scalars(engine, player: int, own: tuple, enemy: tuple, info: SlotInfo) -> np.ndarray:
    """The scalars from the own and enemy ``_totals``."""
    scenario, loop = engine.scenario, engine.loop
    values = [0.0] * NUM_SCALARS
    values[_S_LOOP] = loop
    values[_S_TIME] = max(0.0, 1.0 - loop / scenario.time_limit_loops)
    values[_S_WIDTH] = scenario.map_width
    values[_S_HEIGHT] = scenario.map_height
    values[_S_FOOD], values[_S_ARMY] = own[0], own[1]
    values[_S_ENEMY_FOOD], values[_S_ENEMY_ARMY] = enemy[0], enemy[1]
    values[_S_OWN_VITALITY] = own[2] / info.full_vitality[player]
    values[_S_ENEMY_VITALITY] = enemy[2] / info.full_vitality[3 - player]
    return np.array(values, dtype=np.float32)


def available_actions(info: SlotInfo, slots: np.ndarray, n_own: int) -> np.ndarray:
    """bool ``[NUM_ACTION_TYPES]``: no_op always; a unit action when some own row can do it and, for
    attack_unit, an enemy row exists to target, for follow, another row exists to follow."""
    if n_own:
        available = _any_rows(info.abilities[slots[:n_own]], axis=0)
    else:
        available = np.zeros(NUM_ACTION_TYPES, dtype=bool)
    available[NO_OP] = True
    if slots.size == n_own:
        available[ATTACK_UNIT] = False
    if slots.size < 2:
        available[FOLLOW] = False
    return available
