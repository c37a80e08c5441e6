"""One behaviour-cloning sample: a human player's command, with the approximate observation at that moment.

``obs`` follows the observation contract (``units`` [max_units, 46] float32 in pysc2 FeatureUnit column order,
``unit_mask``, ``scalars``, ``available_actions``) and ``action`` the action contract. A sample stores only the
columns a replay records (``FILLED_COLUMNS``) for its real rows and builds the padded arrays on each ``obs``
access (a full ``units`` array is 94 KB; an 18-minute game has thousands of commands), so keep the dicts you need.

What is approximate is said, not hidden:
- ``position_staleness``: game loops since each row's position was recorded (0 for padding rows);
- ``stats_age``: loops since the player-stats event that minerals, vespene and supply come from (-1 if none yet);
- ``missing_columns``: unit columns that are 0 because replays do not record them (health, shields, energy,
  orders, ...), and scalars that are 0 for the same reason (``scalars.<name>``);
- ``selection_known``: False until the player's first selection event (the selection is empty until then);
- ``available_actions`` is all True: a replay does not say what the player could have done.

Scalars (the contract's list, ``envs.contract.scalars.SCALARS``): ``game_loop`` exact; ``map_width``/``map_height`` the
replay's map size (init data); ``minerals``, ``vespene``, ``food_used`` from the player's latest player-stats event
(one every 160 loops, so up to that stale: ``stats_age``); ``army_count`` the player's live units (workers and
buildings included, as Skirmish counts); ``enemy_food_visible`` the enemies' ``food_used`` from their latest
player-stats events and ``enemy_army_count_visible`` every live enemy unit (replays have no fog of war: "visible" is
everything); ``time_remaining`` (no time limit), ``own_vitality`` and ``enemy_vitality_visible`` (no health) are 0
and listed as missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.contract.columns import NUM_UNIT_COLUMNS, UnitColumn
from envs.sc2.catalogue import catalogue

# The unit columns a replay sample fills, in this order in ``CommandSample.unit_rows``.
FILLED_COLUMNS: tuple[UnitColumn, ...] = (
    UnitColumn.unit_type,  # SC2 unit type id (pysc2's units enums); 0 when pysc2 has no id for the type
    UnitColumn.alliance,  # relative to the commanding player: self 1, ally 2, neutral 3, enemy 4
    UnitColumn.build_progress,  # 0 while under construction (after UnitInit), 100 when done
    UnitColumn.owner,  # player id, 0 for neutral units
    UnitColumn.x,  # last recorded position, map units
    UnitColumn.y,
    UnitColumn.is_selected,  # selected by the player's previous command (not the current one: that is the label)
    UnitColumn.tag,  # the tracker's unit index (a float32 holds it exactly); full int64 tags in ``unit_tags``
)
_FILLED_INDEX = np.array([int(c) for c in FILLED_COLUMNS], dtype=np.intp)
# Scalars a replay cannot fill: no time limit in a ladder game, no health recorded.
MISSING_SCALARS: tuple[str, ...] = ("time_remaining", "own_vitality", "enemy_vitality_visible")
MISSING_COLUMNS: tuple[str, ...] = tuple(c.name for c in UnitColumn if c not in FILLED_COLUMNS) + tuple(
    f"scalars.{name}" for name in MISSING_SCALARS
)


@dataclass(frozen=True, eq=False)
class CommandSample:
    """A human player's command at ``game_loop`` and the approximate observation it answered."""

    game_loop: int
    player: int  # 1-based player id
    unit_rows: np.ndarray  # float32 [k, len(FILLED_COLUMNS)]: the filled columns of the k real rows
    unit_tags: np.ndarray  # int64 [k]: each row's full tag (index << 18 | recycle)
    row_staleness: np.ndarray  # float32 [k]: loops since each row's position was recorded
    scalars: np.ndarray  # float32 [len(SCALARS)]
    max_units: int
    action: dict[str, Any]  # action contract dict; action_type -1 when the ability maps to no action type
    ability: str  # sc2reader's ability name (unknown_ability_<link>_<index> when the id has no confirmed name)
    action_type: int | None  # catalogue index, None when unmapped
    target_kind: str  # none | point | unit
    target_point: tuple[float, float] | None  # map units, for point and unit targets
    target_tag: int | None  # the targeted unit's tag, unit targets only
    stats_age: int  # loops since the player-stats event the economy scalars come from; -1 before the first
    missing_columns: tuple[str, ...]
    selection_known: bool

    @property
    def num_units(self) -> int:
        return int(self.unit_tags.size)

    @property
    def obs(self) -> dict[str, np.ndarray]:
        """The contract observation (built on each access)."""
        k = self.num_units
        units = np.zeros((self.max_units, NUM_UNIT_COLUMNS), dtype=np.float32)
        units[:k, _FILLED_INDEX] = self.unit_rows
        mask = np.zeros(self.max_units, dtype=bool)
        mask[:k] = True
        return {
            "units": units,
            "unit_mask": mask,
            "scalars": self.scalars.copy(),
            "available_actions": np.ones(len(catalogue()), dtype=bool),
        }

    @property
    def position_staleness(self) -> np.ndarray:
        """float32 [max_units]: loops since each row's position was recorded; 0 for padding rows."""
        out = np.zeros(self.max_units, dtype=np.float32)
        out[: self.num_units] = self.row_staleness
        return out
