"""pysc2 raw observation -> the contract's observation dict (``units``, ``unit_mask``, ``scalars``,
``available_actions``) and the row -> unit tag table the action conversion needs.

Rows follow the contract's rule (envs/contract/README.md), as in Skirmish: the player's own units first, by tag;
then enemy units, nearest first by squared distance from the centroid of the own units (ties by tag; by tag alone
when there are no own units); then the rest (neutral: minerals, geysers, rocks; and allies, which a 1v1 has none
of), ordered the same way. With more units than ``max_units`` rows, the three groups share the rows fairly
(``envs.contract.rows.fair_rows``: the nearest enemies and neutrals, the own units nearest the enemies) and
``UnitRows.dropped`` counts the units left out. Every unit pysc2 reports counts, snapshots of enemy buildings
(``display_type`` 2) included.

Each row is pysc2's transformed ``raw_units`` row (``features.FeatureUnit`` columns: pysc2's ratios, order ids as
raw function ids, add-on type, ...) with Skirmish's conventions for the columns pysc2 quantises, read exactly
from the observation proto the row came from:
- ``x``, ``y``: the unit's world position in map units (the game's frame: origin bottom-left, y up). pysc2's raw
  x/y are pixels of ``raw_resolution`` with y flipped (``features.init_camera``); the env sets that resolution to
  the target grid (see ``action.LocationGrid``), so the pixels would be whole grid cells: the exact position
  is used instead. ``raw_crop_to_playable_area`` stays False, so positions are over the whole map.
- ``radius`` in map units; ``facing`` in radians in [0, 2 pi); ``health``, ``shield``, ``energy`` exact floats.
- ``tag`` is the tag as float32, which holds integers exactly only below 2**24: SC2 tags are 64-bit, so the
  column tells units apart only approximately. ``UnitRows.tags`` holds the exact int64 tags for the actions.

Scalars (Skirmish's ``SCALARS`` list, same order):
- ``game_loop``; ``time_remaining``: 1 - game_loop / the episode length (pysc2's ``game_steps_per_episode``,
  its cap of 524000 loops when there is no limit); ``map_width``, ``map_height``: the game's map size.
- ``minerals``, ``vespene``, ``food_used``, ``army_count``: pysc2's player info. Note ``army_count`` is the
  game's count of army units (workers and buildings excluded), not Skirmish's count of all own units.
- ``enemy_food_visible``: supply (the game data's ``food_required``) of the enemy units seen now
  (``display_type`` 1, so not snapshots); ``enemy_army_count_visible``: the number of those units (all kinds,
  workers and buildings included).
- ``own_vitality`` / ``enemy_vitality_visible``: health + shields over maximum health + shields of the own units
  / of the enemy units seen now (1 when all are unhurt, 0 when there are none). Skirmish divides by the starting
  army's total instead; a game with an economy has no fixed starting army, so losses do not show here.

``available_actions``: pysc2 computes none in raw mode (``Features.transform_obs`` skips it, and
``transform_action`` does not check raw functions). The env asks the game which abilities each own unit has now
(``RequestQueryAvailableAbilities``) and maps them the way ``Features.available_actions`` maps the selection's
abilities to functions: every raw function of the ability whose type fits (no point needed: ``raw_cmd``,
``raw_autocast``; a point needed: ``raw_cmd_pt``, ``raw_cmd_unit``, ``raw_autocast``), as its catalogue entry
(specific functions count as their general one). Abilities pysc2 has no raw function for are ignored; no_op is
always available.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from envs.contract.catalogue import NO_OP
from envs.contract.columns import DISPLAY_VISIBLE, NUM_UNIT_COLUMNS, Alliance
from envs.contract.columns import UnitColumn as C
from envs.contract.rows import fair_rows
from envs.contract.scalars import NUM_SCALARS, SCALAR_NAMES
from envs.contract.sizes import DEFAULT_MAX_UNITS
from envs.sc2.catalogue import catalogue
from envs.sc2.extra import require

FUNCTION_TYPES_BY_POINT: dict[bool, tuple[str, ...]] = {  # pysc2's POINT_REQUIRED_FUNCS, for raw functions
    False: ("raw_cmd", "raw_autocast"),
    True: ("raw_cmd_pt", "raw_cmd_unit", "raw_autocast"),
}
_EXACT = (C.x, C.y, C.facing, C.radius, C.health, C.shield, C.energy)  # columns read from the proto
_S = {name: i for i, name in enumerate(SCALAR_NAMES)}


@dataclass(frozen=True)
class GameFrame:
    """What the conversion needs to know about the game being played (constant for a game)."""

    map_size: tuple[float, float]  # the game's map in map units (``start_raw.map_size``)
    episode_loops: int  # the game loop at which pysc2 ends the episode
    food: Mapping[int, float]  # unit type id -> supply (``food_required`` of the game's static data)

    @classmethod
    def from_game(cls, game_info: Any, unit_types: Iterable[Any], episode_loops: int) -> GameFrame:
        """From the game's ``ResponseGameInfo`` and its ``UnitTypeData`` protos (``ResponseData.units``)."""
        size = game_info.start_raw.map_size
        food = {int(u.unit_id): float(u.food_required) for u in unit_types}
        return cls((float(size.x), float(size.y)), int(episode_loops), food)


@dataclass(frozen=True)
class UnitRows:
    """The real rows of one observation: each row's exact unit tag and alliance (own rows come first)."""

    tags: np.ndarray  # int64 [k]
    alliance: np.ndarray  # int64 [k]: 1 self, 2 ally, 3 neutral, 4 enemy
    max_units: int  # rows of the observation (real and padding)
    dropped: int = 0  # units the observation reported that got no row (more than max_units)

    @property
    def own(self) -> int:
        """Number of own rows (rows 0 .. own - 1)."""
        return int(np.count_nonzero(self.alliance == Alliance.self))


def own_tags(response: Any) -> list[int]:
    """Tags of the player's own units in a ``ResponseObservation`` (the units to ask the game abilities for)."""
    return [int(u.tag) for u in response.observation.raw_data.units if u.alliance == Alliance.self]


def convert_observation(
    transformed: Mapping[str, Any],
    response: Any,
    frame: GameFrame,
    abilities: Iterable[Any] = (),
    max_units: int = DEFAULT_MAX_UNITS,
) -> tuple[dict[str, np.ndarray], UnitRows]:
    """The contract observation and its rows, from ``Features.transform_obs(response)`` and ``response``.

    ``transformed`` must come from a pysc2 ``Features`` with ``use_raw_units`` (and without
    ``add_cargo_to_units``, so its rows are ``response``'s units in order); ``abilities`` are the game's
    ``ResponseQueryAvailableAbilities`` for own units (units that are not own rows are ignored).
    """
    if max_units < 1:
        raise ValueError(f"max_units must be >= 1, got {max_units!r}")
    if "raw_units" not in transformed:
        raise ValueError("the pysc2 observation has no raw_units; build Features with use_raw_units=True")
    raw = np.asarray(transformed["raw_units"], dtype=np.int64).reshape(-1, NUM_UNIT_COLUMNS)
    protos = response.observation.raw_data.units
    tags = raw[:, C.tag]
    if len(protos) != len(raw) or any(int(u.tag) != t for u, t in zip(protos, tags.tolist(), strict=False)):
        raise ValueError(
            f"raw_units ({len(raw)} rows) do not match the observation proto's {len(protos)} units in order; "
            "transform the same ResponseObservation, without add_cargo_to_units"
        )
    exact = np.array(
        [(u.pos.x, u.pos.y, u.facing, u.radius, u.health, u.shield, u.energy, u.health_max, u.shield_max)
         for u in protos], dtype=np.float64,
    ).reshape(-1, 9)  # fmt: skip
    alliance = raw[:, C.alliance]
    groups = _row_groups(alliance, tags, exact[:, :2])
    rows = np.concatenate(fair_rows(groups, exact[:, :2], max_units) if len(raw) > max_units else groups)
    k = rows.size

    units = np.zeros((max_units, NUM_UNIT_COLUMNS), dtype=np.float32)
    units[:k] = raw[rows]
    units[:k, list(_EXACT)] = exact[rows, : len(_EXACT)]  # the tag column keeps int64 -> float32 rounding
    mask = np.zeros(max_units, dtype=bool)
    mask[:k] = True
    table = UnitRows(tags[rows].copy(), alliance[rows].copy(), max_units, len(raw) - k)
    obs = {
        "units": units,
        "unit_mask": mask,
        "scalars": _scalars(response, frame, raw, exact),
        "available_actions": available_actions(abilities, table.tags[: table.own]),
    }
    return obs, table


def _row_groups(alliance: np.ndarray, tags: np.ndarray, xy: np.ndarray) -> list[np.ndarray]:
    """Unit indices in row order, by group: own by tag, enemies, the rest, each nearest the own centroid first."""
    own = np.flatnonzero(alliance == Alliance.self)
    own = own[np.argsort(tags[own], kind="stable")]
    centre = xy[own].mean(axis=0) if own.size else None
    groups = [own]
    for members in (np.flatnonzero(alliance == Alliance.enemy),
                    np.flatnonzero((alliance != Alliance.self) & (alliance != Alliance.enemy))):  # fmt: skip
        if centre is None:
            groups.append(members[np.argsort(tags[members], kind="stable")])
        else:
            offset = xy[members] - centre
            groups.append(members[np.lexsort((tags[members], np.einsum("ij,ij->i", offset, offset)))])
    return groups


def _scalars(response: Any, frame: GameFrame, raw: np.ndarray, exact: np.ndarray) -> np.ndarray:
    observation = response.observation
    player = observation.player_common
    alliance = raw[:, C.alliance]
    own = alliance == Alliance.self
    seen = (alliance == Alliance.enemy) & (raw[:, C.display_type] == DISPLAY_VISIBLE)
    vitality, full = exact[:, 4] + exact[:, 5], exact[:, 7] + exact[:, 8]
    values = np.zeros(NUM_SCALARS, dtype=np.float64)
    values[_S["game_loop"]] = observation.game_loop
    values[_S["time_remaining"]] = max(0.0, 1.0 - observation.game_loop / frame.episode_loops)
    values[_S["map_width"]], values[_S["map_height"]] = frame.map_size
    values[_S["minerals"]] = player.minerals
    values[_S["vespene"]] = player.vespene
    values[_S["food_used"]] = player.food_used
    values[_S["army_count"]] = player.army_count
    values[_S["enemy_food_visible"]] = sum(frame.food.get(int(t), 0.0) for t in raw[seen, C.unit_type])
    values[_S["enemy_army_count_visible"]] = np.count_nonzero(seen)
    values[_S["own_vitality"]] = _ratio(vitality[own].sum(), full[own].sum())
    values[_S["enemy_vitality_visible"]] = _ratio(vitality[seen].sum(), full[seen].sum())
    return values.astype(np.float32)


def _ratio(part: float, whole: float) -> float:
    return float(part / whole) if whole > 0 else 0.0


def available_actions(abilities: Iterable[Any], tags: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """bool ``[catalogue size]``: no_op, and each action type some unit can carry out now.

    ``abilities``: the game's ``ResponseQueryAvailableAbilities`` (one per unit: ``unit_tag`` and its
    ``abilities``, each an ability id and whether it needs a point). With ``tags``, only those units count.
    """
    table = _action_types_by_ability(require("pysc2_evolved.lib.actions", "StarCraft II available actions"))
    available = np.zeros(len(catalogue()), dtype=bool)
    available[NO_OP] = True
    wanted = None if tags is None else {int(t) for t in tags}
    for unit in abilities:
        if wanted is not None and int(unit.unit_tag) not in wanted:
            continue
        for ability in unit.abilities:
            available[list(table.get((int(ability.ability_id), bool(ability.requires_point)), ()))] = True
    return available


@cache
def _action_types_by_ability(actions: Any) -> dict[tuple[int, bool], tuple[int, ...]]:
    """(ability id, requires point) -> the catalogue indices of the raw functions that issue it (``actions``:
    pysc2's ``lib.actions`` module)."""
    cat = catalogue()
    table: dict[tuple[int, bool], tuple[int, ...]] = {}
    for ability_id, functions in actions.RAW_ABILITY_IDS.items():
        for needs_point, kinds in FUNCTION_TYPES_BY_POINT.items():
            found = {cat.function_index(f.id) for f in functions if f.function_type.__name__ in kinds}
            found.discard(None)
            if found:
                table[(int(ability_id), needs_point)] = tuple(sorted(found))
    return table
