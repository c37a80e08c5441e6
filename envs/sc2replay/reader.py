"""Read a .SC2Replay without the game: metadata (s2protocol) and, for every human player's command, a
behaviour-cloning sample (sc2reader's game and tracker events), with counts of everything approximated or skipped.

One pass over the replay's events in game-loop order, a loop's game events before its tracker events (what a
tracker event records at the loop of a command can be that command's effect: a larva told to morph is an egg at
that loop already, and the player chose the command looking at the larva): tracker
events update the unit list (``units.UnitTracker``), player-stats events the economy, selection and control-group
events each human player's selection (``selection.SelectionTracker``), and each command event becomes a
``CommandSample``. AI players' commands are not in replays: they get no samples (``ReplayInfo.notes`` says so).

Commands: a command event names its ability; an "update target" event re-issues the player's previous command
(same ability, same queued flag) at a new target, so it is a sample with that ability. ``CommandManagerStateEvent``
(a repeat of the previous command, e.g. a second Train_SCV press) carries nothing new and is only counted.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from envs.contract.arguments import MAX_SELECTED_UNITS
from envs.contract.scalars import NUM_SCALARS, SCALAR_NAMES
from envs.contract.sizes import DEFAULT_MAX_UNITS, DEFAULT_RESOLUTION, check_sizes
from envs.sc2.extra import MissingExtraError, require
from envs.sc2.spec import DEFAULT_MAP_SIZE
from envs.sc2replay.abilities import (
    AbilityNames,
    ProductionEvidence,
    ability_names,
    action_type_index,
    unknown_ability_name,
)
from envs.sc2replay.errors import ReplayReadError
from envs.sc2replay.info import ReplayInfo, replay_info
from envs.sc2replay.metadata import settle
from envs.sc2replay.protocol import FEATURE, DecodedReplay, decode
from envs.sc2replay.sample import FILLED_COLUMNS, MISSING_COLUMNS, CommandSample
from envs.sc2replay.selection import SelectionTracker
from envs.sc2replay.units import UnitTracker

SUFFIX = ".SC2Replay"
# What a file reads as changes with this reader: caches of its samples key on this (2: 3.0-3.11 builds through
# sc2reader's metadata, ability-less commands as right-clicks)
READER_VERSION = 2
# Commands read from one replay: an hour of two players at 400 actions a minute is under 50,000. Each sample keeps
# its real rows (at most max_units x 8 float32), so this bounds a crafted file's samples to ~400 MB at 256 rows.
MAX_COMMANDS = 50_000
# command event class -> target kind (what ``catalogue().ability_name_index`` calls ``target``)
TARGET_KINDS = {
    "BasicCommandEvent": "none",
    "DataCommandEvent": "none",
    "TargetPointCommandEvent": "point",
    "UpdateTargetPointCommandEvent": "point",
    "TargetUnitCommandEvent": "unit",
    "UpdateTargetUnitCommandEvent": "unit",
}
RIGHT_CLICK = "RightClick"
CONTROL_GROUP_EVENTS = frozenset(
    {"SetControlGroupEvent", "AddToControlGroupEvent", "GetControlGroupEvent", "DeleteControlGroupEvent"}
)
_S = {name: i for i, name in enumerate(SCALAR_NAMES)}
_C = {c.name: i for i, c in enumerate(FILLED_COLUMNS)}


@dataclass(frozen=True, eq=False)
class SC2Replay:
    """A read replay: its metadata, the samples of each human player (1-based player id -> samples in game-loop
    order) and what was counted on the way (``stats``)."""

    info: ReplayInfo
    samples: dict[int, list[CommandSample]]
    stats: dict[str, Any]

    @property
    def num_samples(self) -> int:
        return sum(len(s) for s in self.samples.values())


def read_replay(
    path: str | Path,
    *,
    max_units: int = DEFAULT_MAX_UNITS,
    resolution: int = DEFAULT_RESOLUTION,
    map_size: tuple[float, float] = DEFAULT_MAP_SIZE,
) -> SC2Replay:
    """Read one .SC2Replay; ``ReplayReadError`` names the file and the problem when it cannot be read.

    ``map_size`` is the spec's frame (``envs.sc2.spec.sc2_spec``) that ``target_location`` cells are laid over:
    a ``resolution`` x ``resolution`` grid over (0, 0)..map_size, whatever the replay's own map size."""
    check_sizes(max_units, resolution, map_size)
    path = Path(path)
    decoded = decode(path)
    sc2reader = require("sc2reader", FEATURE)
    # sc2reader logs an ERROR line per ability or unit type its datapack lacks (thousands a corpus); the reader
    # counts those itself (unmapped abilities, unit types), so only sc2reader's critical messages are let through
    logging.getLogger("sc2reader").setLevel(logging.CRITICAL)
    try:
        replay = sc2reader.load_replay(str(path), load_level=4)
    except Exception as exc:  # sc2reader raises its own errors, struct.error, KeyError ... on damaged files
        if decoded.details is None:  # no protocol could decode it either: an unsupported build, not a damaged file
            settle(path, decoded, None)
        raise ReplayReadError(path, f"corrupt: sc2reader cannot read its events ({exc!r:.300})") from exc
    decoded = settle(path, decoded, replay)
    try:
        return _samples(path, decoded, replay, max_units, resolution, map_size)
    except (ReplayReadError, MissingExtraError):
        raise
    except Exception as exc:  # events sc2reader could decode but that do not make a game (a crafted file)
        raise ReplayReadError(path, f"corrupt: its events cannot be turned into samples ({exc!r:.300})") from exc


def _samples(
    path: Path, decoded: DecodedReplay, replay: Any, max_units: int, resolution: int, map_size: tuple[float, float]
) -> SC2Replay:
    """The read replay's metadata, samples and counts (``read_replay`` after sc2reader has loaded the events)."""
    datapacks = require("sc2reader.data", FEATURE).datapacks.get(replay.expansion, {})
    if replay.datapack is None:
        names = AbilityNames({}, ())
    else:
        names = ability_names(datapacks, replay.datapack, int(decoded.header["m_version"]["m_baseBuild"]),
                              lambda: _production_evidence(replay))  # fmt: skip
    info = replay_info(
        str(path),
        decoded,
        ai_builds=_ai_builds(replay),
        ability_datapacks=names.datapacks,
        ability_check=names.check,
        localized_races=require("sc2reader.constants", FEATURE).LOCALIZED_RACES,
    )
    walk = _ReplayWalk(info, names, max_units, resolution, map_size)
    for event in sorted(replay.game_events + replay.tracker_events, key=_loop):  # stable: game events first
        walk.feed(event)
    stats = walk.summary()
    notes = list(info.notes)
    if not replay.tracker_events:
        notes.append("the replay has no tracker events (older than 2.0.8): every sample's unit list is empty")
    unknown = sum(n for name, n in stats["unmapped_abilities"].items() if name.startswith("unknown_ability_"))
    if unknown:
        notes.append(
            f"{unknown} commands have an ability id that sc2reader's datapacks ({', '.join(names.datapacks) or 'none'})"
            f" give no agreed name for base build {info.base_build}: kept as unknown_ability_<link>_<index>, unmapped"
        )
    return SC2Replay(info=dataclasses.replace(info, notes=tuple(notes)), samples=walk.samples, stats=stats)


def read_replays(paths: Iterable[str | Path], **options: Any) -> tuple[list[SC2Replay], list[tuple[str, str]]]:
    """Read every replay in ``paths`` (files, or directories searched for *.SC2Replay); unreadable files are
    skipped and returned as (path, problem). ``options`` go to ``read_replay``."""
    replays, skipped = [], []
    for path in _replay_paths(paths):
        try:
            replays.append(read_replay(path, **options))
        except ReplayReadError as exc:
            skipped.append((exc.path, exc.problem))
    return replays, skipped


def _loop(event) -> int:
    return event.frame


def _replay_paths(paths: Iterable[str | Path]) -> list[Path]:
    out = []
    for p in paths:
        p = Path(p)
        out.extend(sorted(p.rglob(f"*{SUFFIX}")) if p.is_dir() else [p])
    return out


def _production_evidence(replay) -> ProductionEvidence:
    """The human commands (loop, player, ability id) and per player the loops each unit type appeared at (tracker
    events: born, placed, morphed into), what ``abilities.production_check`` tests a datapack with."""
    humans = {int(p.pid) for p in replay.players if getattr(p, "is_human", False)}
    commands = [(int(e.frame), int(e.player.pid), int(e.ability_id)) for e in replay.game_events
                if type(e).__name__ in TARGET_KINDS and not type(e).__name__.startswith("Update")
                and getattr(e, "has_ability", False) and getattr(e, "player", None) is not None
                and e.player.pid in humans]  # fmt: skip
    appeared: dict[int, dict[str, list[int]]] = {}
    for e in replay.tracker_events:
        name = type(e).__name__
        if name in ("UnitBornEvent", "UnitInitEvent"):
            player = getattr(e, "control_pid", None)
        elif name == "UnitTypeChangeEvent":
            owner = getattr(getattr(e, "unit", None), "owner", None)
            player = getattr(owner, "pid", None)
        else:
            continue
        if player:
            appeared.setdefault(int(player), {}).setdefault(str(e.unit_type_name), []).append(int(e.frame))
    return ProductionEvidence(commands, appeared)  # tracker events come in loop order: each list is sorted


def _ai_builds(replay) -> dict[int, str]:
    """AI player id -> the lobby's AI build attribute for its race (``Any Build`` when none was chosen)."""
    builds = {}
    for player in replay.players:
        if getattr(player, "is_human", True):
            continue
        data = getattr(player, "attribute_data", {}) or {}
        build = data.get(f"AI Build ({player.play_race})", data.get("AI Build"))
        if build:
            builds[int(player.pid)] = str(build)
    return builds


class _ReplayWalk:
    """The state of one pass over a replay's events, and the samples and counts it produces."""

    def __init__(
        self,
        info: ReplayInfo,
        names: AbilityNames,
        max_units: int,
        resolution: int,
        map_size: tuple[float, float],
    ) -> None:
        self.info = info
        self.names = names
        self.max_units = max_units
        self.resolution = resolution
        self.frame = (float(map_size[0]), float(map_size[1]))
        self.humans = set(info.human_players)
        self.team_of = {p.id: p.team for p in info.players}
        self.units = UnitTracker()
        self.selections = {p: SelectionTracker() for p in self.humans}
        self.player_stats: dict[int, tuple[int, float, float, float]] = {}  # pid -> (loop, minerals, gas, food)
        self.last_command: dict[int, tuple[str, int]] = {}  # pid -> (ability name, queued) of its last command
        # pid -> tags its previous command was for: the is_selected column (as in Skirmish: "selected by the player's
        # last command"); the current selection would give the selected_units label away
        self.last_selected: dict[int, np.ndarray] = {}
        self.samples: dict[int, list[CommandSample]] = {p: [] for p in sorted(self.humans)}
        self.commands_read = 0
        self.command_repeats = 0
        self.skipped: Counter[str] = Counter()
        self.unmapped_abilities: Counter[str] = Counter()
        self.target_unit_missing = 0
        self.selected_missing = 0
        self.selection_truncated = 0
        self.rows_truncated = 0
        self._staleness: list[np.ndarray] = []
        self._own_staleness: list[np.ndarray] = []
        self._selection_sizes: list[int] = []
        self._selected_counts: list[int] = []
        self._row_counts: list[int] = []

    def feed(self, event) -> None:
        name = type(event).__name__
        if self.units.apply(event):
            return
        if name == "PlayerStatsEvent":
            self.player_stats[int(event.pid)] = (
                int(event.frame),
                float(event.minerals_current),
                float(event.vespene_current),
                float(event.food_used),
            )
        elif name == "SelectionEvent":
            tracker = self.selections.get(self._player(event))
            if tracker is not None:
                tracker.selection_event(event)
        elif name in CONTROL_GROUP_EVENTS:
            tracker = self.selections.get(self._player(event))
            if tracker is not None:
                tracker.control_group_event(event)
        elif name in TARGET_KINDS:
            self._command(event, TARGET_KINDS[name], name.startswith("Update"))
        elif name == "CommandManagerStateEvent" and self._player(event) in self.humans:
            self.command_repeats += 1

    @staticmethod
    def _player(event) -> int | None:
        player = getattr(event, "player", None)
        return int(player.pid) if player is not None and getattr(player, "pid", None) is not None else None

    def _command(self, event, target: str, update: bool) -> None:
        player = self._player(event)
        if player not in self.humans:
            self.skipped["command of a non-player (observer)"] += 1
            return
        self.commands_read += 1
        if self.commands_read > MAX_COMMANDS:
            raise ReplayReadError(self.info.path, f"too large: more than {MAX_COMMANDS} commands (the reader's limit)")
        if update:
            previous = self.last_command.get(player)
            if previous is None:
                self.skipped["target update before any command of the player"] += 1
                return
            ability, queued = previous
        else:
            queued = int(bool(event.flag["queued"]))
            if not getattr(event, "has_ability", True):
                ability = RIGHT_CLICK  # a command without an ability is the smart command (3.x tables call id 0 CAbil)
            else:
                ability_id = int(event.ability_id)
                ability = self.names.name(ability_id) or unknown_ability_name(ability_id)
            self.last_command[player] = (ability, queued)
        action_type = action_type_index(ability, target)
        if action_type is None:
            self.unmapped_abilities[ability] += 1
        self.samples[player].append(self._sample(event, player, ability, action_type, target, queued))

    def _sample(
        self, event, player: int, ability: str, action_type: int | None, target: str, queued: int
    ) -> CommandSample:
        loop = int(event.frame)
        u = self.units
        rows = u.rows(player, self.team_of, self.max_units)
        slots = rows.slots
        k = slots.size
        row_of_slot = np.full(u.n, -1, dtype=np.int64)
        row_of_slot[slots] = np.arange(k)

        selection = self.selections[player]
        tags = selection.active
        selected_slots = np.array([u.slot_of_tag.get(t, -1) for t in tags], dtype=np.int64)
        selected = np.full(selected_slots.size, -1, dtype=np.int64)
        known = selected_slots >= 0
        selected[known] = row_of_slot[selected_slots[known]]
        selected_rows = selected[selected >= 0]
        self.selected_missing += int(selected.size - selected_rows.size)
        if selected_rows.size > MAX_SELECTED_UNITS:
            self.selection_truncated += 1
        selected_units = np.full(MAX_SELECTED_UNITS, -1, dtype=np.int64)
        selected_units[: min(selected_rows.size, MAX_SELECTED_UNITS)] = selected_rows[:MAX_SELECTED_UNITS]

        filled = np.empty((k, len(FILLED_COLUMNS)), dtype=np.float32)
        filled[:, _C["unit_type"]] = u.type_id[slots]
        filled[:, _C["alliance"]] = rows.alliance
        filled[:, _C["build_progress"]] = u.build_progress[slots]
        filled[:, _C["owner"]] = u.owner[slots]
        filled[:, _C["x"]] = u.x[slots]
        filled[:, _C["y"]] = u.y[slots]
        filled[:, _C["is_selected"]] = np.isin(u.tag[slots], self.last_selected.get(player, ()))
        filled[:, _C["tag"]] = u.unit_index[slots]
        staleness = (loop - u.pos_loop[slots]).astype(np.float32)

        target_point = target_tag = None
        target_unit, cell = -1, (0, 0)
        if target in ("point", "unit"):
            target_point = (float(event.x), float(event.y))
            cell = self._cell(target_point)
        if target == "unit":
            target_tag = int(event.target_unit_id or 0)
            slot = u.slot_of_tag.get(target_tag)
            target_unit = int(row_of_slot[slot]) if slot is not None else -1
            if target_unit < 0:
                self.target_unit_missing += 1

        scalars, stats_age = self._scalars(player, loop, rows.own_count, rows.enemy_count)
        self._staleness.append(staleness)
        self._own_staleness.append(staleness[: rows.own_rows])
        self._selection_sizes.append(len(tags))
        self._selected_counts.append(int(selected_rows.size))
        self._row_counts.append(k)
        self.last_selected[player] = np.asarray(tags, dtype=np.int64)
        self.rows_truncated += int(rows.live_count > k)
        return CommandSample(
            game_loop=loop,
            player=player,
            unit_rows=filled,
            unit_tags=u.tag[slots].copy(),
            row_staleness=staleness,
            scalars=scalars,
            max_units=self.max_units,
            action={
                "action_type": -1 if action_type is None else int(action_type),
                "selected_units": selected_units,
                "target_unit": target_unit,
                "target_location": np.asarray(cell, dtype=np.int64),
                "queued": int(queued),
            },
            ability=ability,
            action_type=action_type,
            target_kind=target,
            target_point=target_point,
            target_tag=target_tag,
            stats_age=stats_age,
            missing_columns=MISSING_COLUMNS,
            selection_known=selection.known,
        )

    def _cell(self, point: tuple[float, float]) -> tuple[int, int]:
        """The target_location cell of a map point on the resolution grid over the spec's map frame."""
        res = self.resolution
        return tuple(
            int(min(max(np.floor(v / size * res), 0), res - 1)) for v, size in zip(point, self.frame, strict=True)
        )

    def _scalars(self, player: int, loop: int, own: int, enemies: int) -> tuple[np.ndarray, int]:
        values = np.zeros(NUM_SCALARS, dtype=np.float32)
        values[_S["game_loop"]] = loop
        values[_S["map_width"]], values[_S["map_height"]] = self.info.map_size
        values[_S["army_count"]] = own
        values[_S["enemy_army_count_visible"]] = enemies
        stats = self.player_stats.get(player)
        stats_age = -1
        if stats is not None:
            stats_age = loop - stats[0]
            values[_S["minerals"]], values[_S["vespene"]], values[_S["food_used"]] = stats[1:]
        team = self.team_of[player]
        values[_S["enemy_food_visible"]] = sum(
            s[3] for p, s in self.player_stats.items() if self.team_of.get(p, team) != team
        )
        return values, stats_age

    def summary(self) -> dict[str, Any]:
        samples = sum(len(s) for s in self.samples.values())
        mapped = sum(1 for s in self.samples.values() for x in s if x.action_type is not None)
        staleness = np.concatenate(self._staleness) if self._staleness else np.zeros(0)
        own = np.concatenate(self._own_staleness) if self._own_staleness else np.zeros(0)
        return {
            "commands_read": self.commands_read,
            "samples": samples,
            "samples_per_player": {p: len(s) for p, s in self.samples.items()},
            "mapped": mapped,
            "mapped_share": mapped / samples if samples else 0.0,
            "median_position_staleness": float(np.median(staleness)) if staleness.size else 0.0,
            "median_own_position_staleness": float(np.median(own)) if own.size else 0.0,
            "mean_stats_age": _mean([s.stats_age for p in self.samples.values() for s in p if s.stats_age >= 0]),
            "selection_size_mean": _mean(self._selection_sizes),
            "selection_size_max": max(self._selection_sizes, default=0),
            "selected_units_mean": _mean(self._selected_counts),
            "selection_unknown": sum(1 for s in self.samples.values() for x in s if not x.selection_known),
            "selection_truncated": self.selection_truncated,
            "selected_missing": self.selected_missing,
            "selection_errors": sum(t.errors for t in self.selections.values()),
            "target_unit_missing": self.target_unit_missing,
            "rows_mean": _mean(self._row_counts),
            "rows_max": max(self._row_counts, default=0),
            "rows_truncated": self.rows_truncated,
            "command_repeats": self.command_repeats,
            "skipped": self.skipped,
            "unmapped_abilities": self.unmapped_abilities,
            "unmapped_unit_types": self.units.unmapped_types,
            "ignored_unit_types": self.units.ignored_types,
        }


def _mean(values: list[int] | list[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0
