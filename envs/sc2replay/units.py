"""The approximate unit list of a replay at any game loop, rebuilt from its tracker events.

Tracker events record when a unit is born (finished) or initialised (a building or warp-in starting), done, dies,
changes type or owner, and, every 240 loops or so, the positions of the units that dealt or took damage lately.
So each unit's type, owner and whether it is alive or finished are exact, but its position is the last one
recorded (a worker's is often its birth place): ``pos_loop`` says when it was recorded. Health, shields, energy,
orders and the rest are not recorded at all.

``rows`` orders the live units for one player by the contract's rule (``envs/contract/README.md``): the
player's own units by tag, then the other players' units (enemies, and allies in team games) nearest first by
squared distance from the centroid of the player's own units (ties by tag; by tag alone when it has none), then
neutral units (minerals, geysers, rocks, critters: owner 0) by tag. With more live units than ``max_units``, the
three groups share the rows fairly (``envs.contract.rows.fair_rows``: the first others and neutrals, the own units
nearest the others' centroid). Replays have no fog of war, so every enemy unit is in view.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from envs.contract.columns import BUILD_PROGRESS_DONE, Alliance
from envs.contract.rows import fair_rows
from envs.sc2replay.unit_types import is_ignored, unit_type_id

NEUTRAL_OWNER = 0
# tracker event class name -> UnitTracker method name
_HANDLERS = {
    "UnitBornEvent": "_born",
    "UnitInitEvent": "_init",
    "UnitDoneEvent": "_done",
    "UnitDiedEvent": "_died",
    "UnitTypeChangeEvent": "_type_change",
    "UnitOwnerChangeEvent": "_owner_change",
    "UnitPositionsEvent": "_positions",
}


@dataclass(frozen=True)
class UnitRows:
    """One player's unit list at one moment: tracker slots in row order and what the rows are."""

    slots: np.ndarray  # intp [k]: tracker slot of each row
    alliance: np.ndarray  # float32 [k]: Alliance of each row relative to the player
    own_count: int  # the player's live units (before the max_units cut)
    own_rows: int  # the rows among them (own rows come first)
    enemy_count: int  # live enemy units (before the cut)
    live_count: int  # all live units (before the cut)


class UnitTracker:
    """Every unit a replay's tracker events mention, one slot each (a tag seen again after death is a new slot)."""

    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        self.tag = np.zeros(capacity, dtype=np.int64)  # index << 18 | recycle, as game events name units
        self.unit_index = np.zeros(capacity, dtype=np.int64)
        self.type_id = np.zeros(capacity, dtype=np.int32)  # SC2 unit type id, 0 when pysc2 has none for the name
        self.owner = np.zeros(capacity, dtype=np.int32)
        self.x = np.zeros(capacity, dtype=np.float32)
        self.y = np.zeros(capacity, dtype=np.float32)
        self.pos_loop = np.zeros(capacity, dtype=np.int64)  # game loop the position was recorded at
        self.alive = np.zeros(capacity, dtype=bool)
        self.build_progress = np.zeros(capacity, dtype=np.float32)  # 0 under construction, 100 when done
        self.slot_of_tag: dict[int, int] = {}
        self._slot_of_index: dict[int, int] = {}  # unit index -> the latest slot with it (positions name indices)
        self._ignored: set[int] = set()
        self.unmapped_types: Counter[str] = Counter()  # units whose type name pysc2 has no id for
        self.ignored_types: Counter[str] = Counter()  # UI markers left out (Beacon*)

    def apply(self, event) -> bool:
        """Apply one sc2reader tracker event; False when it is not a unit event."""
        handler = _HANDLERS.get(type(event).__name__)
        if handler is None:
            return False
        getattr(self, handler)(event)
        return True

    def rows(self, player: int, team_of: dict[int, int], max_units: int) -> UnitRows:
        """The live units in contract row order for ``player`` (``team_of``: player id -> team)."""
        live = np.flatnonzero(self.alive[: self.n])
        owner = self.owner[live]
        tag = self.tag[live]
        own_mask = owner == player
        players = np.array([p for p in team_of if p != player], dtype=owner.dtype)
        other_mask = np.isin(owner, players)
        own = live[own_mask][np.argsort(tag[own_mask], kind="stable")]
        others = live[other_mask]
        if others.size and own.size:
            cx, cy = self.x[own].mean(dtype=np.float64), self.y[own].mean(dtype=np.float64)
            d2 = (self.x[others] - cx) ** 2 + (self.y[others] - cy) ** 2
            others = others[np.lexsort((self.tag[others], d2))]
        else:
            others = others[np.argsort(self.tag[others], kind="stable")]
        neutral_mask = ~(own_mask | other_mask)
        neutral = live[neutral_mask][np.argsort(tag[neutral_mask], kind="stable")]
        team = team_of.get(player)
        ally = np.array([p for p, t in team_of.items() if p != player and t == team], dtype=owner.dtype)
        enemy_count = int(np.count_nonzero(~np.isin(self.owner[others], ally)))
        own_count = int(own.size)
        if live.size > max_units:
            xy = np.stack((self.x[: self.n], self.y[: self.n]), axis=1)
            own, others, neutral = fair_rows((own, others, neutral), xy, max_units)
        other_alliance = np.where(np.isin(self.owner[others], ally), float(Alliance.ally), float(Alliance.enemy))
        alliance = np.concatenate(
            (
                np.full(own.size, float(Alliance.self), dtype=np.float32),
                other_alliance.astype(np.float32),
                np.full(neutral.size, float(Alliance.neutral), dtype=np.float32),
            )
        )
        return UnitRows(
            slots=np.concatenate((own, others, neutral)), alliance=alliance, own_count=own_count,
            own_rows=int(own.size), enemy_count=enemy_count, live_count=int(live.size),
        )  # fmt: skip

    # -- tracker events -------------------------------------------------------------------------------------

    def _new_unit(self, event, progress: float) -> None:
        name = event.unit_type_name
        if is_ignored(name):
            self.ignored_types[name] += 1
            self._ignored.add(event.unit_id)
            return
        if self.n == self.tag.size:
            self._grow()
        slot = self.n
        self.n += 1
        self.tag[slot] = event.unit_id
        self.unit_index[slot] = event.unit_id_index
        self.type_id[slot] = self._type_id(name)
        self.owner[slot] = event.control_pid
        self.x[slot], self.y[slot] = event.x, event.y
        self.pos_loop[slot] = event.frame
        self.alive[slot] = True
        self.build_progress[slot] = progress
        self.slot_of_tag[event.unit_id] = slot
        self._slot_of_index[event.unit_id_index] = slot

    def _born(self, event) -> None:
        self._new_unit(event, BUILD_PROGRESS_DONE)

    def _init(self, event) -> None:
        self._new_unit(event, 0.0)

    def _slot(self, event) -> int | None:
        return self.slot_of_tag.get(event.unit_id)

    def _done(self, event) -> None:
        slot = self._slot(event)
        if slot is not None:
            self.build_progress[slot] = BUILD_PROGRESS_DONE

    def _died(self, event) -> None:
        slot = self._slot(event)
        if slot is not None:
            self.alive[slot] = False

    def _type_change(self, event) -> None:
        slot = self._slot(event)
        if slot is not None:
            self.type_id[slot] = self._type_id(event.unit_type_name)

    def _owner_change(self, event) -> None:
        slot = self._slot(event)
        if slot is not None:
            self.owner[slot] = event.control_pid

    def _positions(self, event) -> None:
        for index, (x, y) in event.positions:
            slot = self._slot_of_index.get(index)
            if slot is not None and self.alive[slot]:
                self.x[slot], self.y[slot] = x, y
                self.pos_loop[slot] = event.frame

    def _type_id(self, name: str) -> int:
        type_id = unit_type_id(name)
        if type_id is None:
            self.unmapped_types[name] += 1
            return 0
        return type_id

    def _grow(self) -> None:
        for attr in ("tag", "unit_index", "type_id", "owner", "x", "y", "pos_loop", "alive", "build_progress"):
            old = getattr(self, attr)
            new = np.zeros(old.size * 2, dtype=old.dtype)
            new[: old.size] = old
            setattr(self, attr, new)
