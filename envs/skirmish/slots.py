"""Per-slot static unit parameters and order lookup tables, shared by the single-game and batched engines.

Both engines index every static stat by slot (so their loops never look up unit types); the batched engine's
slots are the flattened ``[games, units]`` grid. Deriving them in one place keeps the two bit-identical.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from envs.skirmish.commands import Order
from envs.skirmish.units import UnitTable

PUSH_CAP = 0.5  # a unit is pushed at most this fraction of its own speed per loop
MELEE_RANGE = 1.0  # weapons shorter than this are melee
MELEE_SLACK = 0.3  # melee units strike up to this much beyond their range: crowd pushes keep fighters that far apart
_IDLE, _MOVE, _ATTACK_MOVE, _ATTACK_UNIT, _HOLD, _FOLLOW = (int(o) for o in Order)


def slot_params(u: UnitTable, utype: np.ndarray) -> dict[str, np.ndarray]:
    """Static stats per slot of ``utype`` (any shape, usually 1-D), by name (the engines keep them as ``_name``)."""
    ut = utype.astype(np.intp)
    p: dict[str, np.ndarray] = {"ut": ut}
    p["r"] = u.radius[ut]
    p["speed"] = u.speed_loop[ut]
    p["can_move"] = p["speed"] > 0.0
    p["push_cap"] = p["speed"] * PUSH_CAP
    p["disp"] = p["speed"] + p["push_cap"]
    p["air"] = u.is_air[ut]
    p["sight"] = u.sight[ut]
    p["armed"] = u.armed[ut]
    p["range"] = u.range[ut]
    p["strike"] = p["range"] + np.where(u.armed[ut] & (p["range"] < MELEE_RANGE), MELEE_SLACK, 0.0)
    p["min_range"] = u.min_range[ut]
    p["acquire"] = u.acquire_range[ut]
    p["period"] = u.cooldown_loops[ut]
    p["hits_ground"] = u.hits_ground[ut]
    p["hits_air"] = u.hits_air[ut]
    p["attacks"] = u.attacks[ut]
    p["armor"] = u.armor[ut]
    p["splash_r"] = u.splash_radius[ut]
    p["splash_f"] = u.splash_fraction[ut]
    p["splashes"] = p["splash_r"][..., 0] > 0.0
    p["splash_friendly"] = u.splash_friendly[ut]
    p["splash_at_attacker"] = u.splash_at_attacker[ut]
    p["suicide"] = u.suicide[ut]
    p["plain"] = ~p["splashes"] & (p["attacks"] == 1)  # one direct hit per volley
    p["healer"] = u.healer[ut]
    p["heal_rate"] = u.heal_loop[ut]
    p["heal_cost"] = np.where(p["healer"], u.heal_energy_per_hp[ut], 1.0)
    p["heal_range"] = u.heal_range[ut]
    p["bio"] = u.biological[ut]
    p["hp_max"] = u.hp[ut]
    p["sh_max"] = u.shields[ut]
    p["en_max"] = u.energy_max[ut]
    p["shield_delay"] = u.shield_delay_loops[ut]
    p["hp_regen_rate"] = u.hp_regen_loop[ut]
    p["sh_regen_rate"] = u.shield_regen_loop[ut]
    p["en_regen_rate"] = u.energy_regen_loop[ut]
    p["target_gap"] = np.where(p["healer"], p["heal_range"], p["range"])  # stop distance to a target
    return p


def damage_table(u: UnitTable) -> np.ndarray:
    """Raw damage of one hit, [attacker type, victim type]: weapon damage plus the bonus where it applies."""
    bonus_applies = (u.attributes[None, :] & u.bonus_mask[:, None]) != 0
    return u.damage[:, None] + u.bonus[:, None] * bonus_applies


def order_tables(p: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (slot, order kind) lookup tables for the engines' refresh (slots of 1-D ``slot_params``):
    what a unit scans for and how far it keeps a target depend only on its static stats and its current order
    kind, so a refresh reads them with one gather (at ``kind_base + kind``) instead of a chain of ``np.where``.

    Returns (kind_values [3, n x kinds]: scan range, leash range, leash minimum; kind_wants [n x kinds]: the unit
    scans while it has no target (armed: idle, attack-move, hold; healers: those and follow); kind_base [n])."""
    kinds = np.arange(len(Order))[None, :]
    healer, armed = p["healer"][:, None], p["armed"][:, None]
    attack_move, follow, hold = kinds == _ATTACK_MOVE, kinds == _FOLLOW, kinds == _HOLD
    heal_reach = np.where(attack_move, p["sight"][:, None], np.where(follow, np.inf, p["heal_range"][:, None]))
    scan_range = np.where(healer, heal_reach, np.where(attack_move, p["acquire"][:, None], p["range"][:, None]))
    leash = np.where(kinds == _ATTACK_UNIT, np.inf, np.where(hold, p["range"][:, None], p["acquire"][:, None]))
    leash = np.where(healer, heal_reach, leash)
    leash_min = np.where(armed & (kinds != _ATTACK_UNIT), p["min_range"][:, None], -np.inf)
    kind_values = np.stack((scan_range, leash, leash_min)).reshape(3, -1)
    scans = attack_move | hold | (kinds == _IDLE)
    kind_wants = ((armed & scans) | (healer & (scans | follow))).reshape(-1)
    kind_base = np.arange(healer.shape[0]) * len(Order)
    return kind_values, kind_wants, kind_base


def shield_delay_min(sh_max: np.ndarray, shield_delay: np.ndarray) -> int:
    """The shortest shield regeneration delay among shielded slots (0 when none has shields)."""
    shielded = sh_max > 0
    return int(shield_delay[shielded].min()) if shielded.any() else 0


class SlotTables(NamedTuple):
    """One row of slots' ``slot_params``, ``order_tables`` and ``shield_delay_min`` (shared: read-only)."""

    params: dict[str, np.ndarray]
    kind_values: np.ndarray
    kind_wants: np.ndarray
    kind_base: np.ndarray
    shield_delay_min: int


_TABLES: dict[tuple, SlotTables] = {}
_TABLES_KEPT = 64  # unit type rows whose tables are kept


def slot_tables(u: UnitTable, utype: np.ndarray) -> SlotTables:
    """The ``SlotTables`` of a 1-D row of unit types, built once per unit table and row (every game of a scenario
    has the same row, and an RL actor starts a game every few steps)."""
    key = (u, utype.dtype.str, utype.tobytes())
    tables = _TABLES.pop(key, None)
    if tables is None:
        params = slot_params(u, utype)
        tables = SlotTables(params, *order_tables(params), shield_delay_min(params["sh_max"], params["shield_delay"]))
        if len(_TABLES) >= _TABLES_KEPT:
            del _TABLES[next(iter(_TABLES))]
    _TABLES[key] = tables  # (most recent last)
    return tables
