"""Scenarios: the map, time limit and starting units of one battle, loaded from ``scenarios/<name>.yaml``.

A scenario file lists, per player, groups of one unit type in a formation around a centre; the loader
expands them deterministically into ``UnitPlacement`` rows (player 1 faces right, player 2 faces left).
Format (every key is checked; unknown keys are errors so typos do not pass silently)::

    description: 3 marines vs 3 marines            # optional; `name` is optional too (default: file stem)
    map_size: [32, 32]                             # width, height in map units
    time_limit_loops: 480                          # or time_limit_s (game seconds, 22.4 loops each)
    player1:
      - {unit: marine, count: 3, at: [10, 16], formation: line, spacing: 1.0}
    player2: mirror                                # or a list of groups like player1

Group keys: ``unit`` (a data/units.yaml name), ``count``, ``at`` [x, y] (the group's centre), optional
``formation``: ``grid`` (default; ``per_rank`` units per rank, ranks stacked away from the enemy),
``line`` (one rank) or ``scatter`` (``size`` [w, h] box, ``seed``), and ``spacing`` (default 1.0).
``player2: mirror`` reflects player 1's units across the vertical centre line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from envs.contract.scalars import LOOPS_PER_SECOND
from envs.skirmish.economy.rules import default_rules
from envs.skirmish.formations import grid_offsets, scattered_offsets
from envs.skirmish.units import UnitTable, default_units

SCENARIO_DIR = Path(__file__).parent / "scenarios"
MIN_SEPARATION = 0.01  # map units; two units closer than this spawn "on the same point"
FACING = {1: 0.0, 2: math.pi}  # player 1 starts on the left facing right, player 2 on the right facing left

_TOP_KEYS = {"name", "description", "map_size", "time_limit_loops", "time_limit_s", "player1", "player2"}
_GROUP_KEYS = {"unit", "count", "at", "formation", "spacing", "per_rank", "size", "seed"}
_FORMATIONS = ("grid", "line", "scatter")


class ScenarioError(ValueError):
    """A scenario that cannot be loaded or built; the message names the file (or scenario) and the problem."""


@dataclass(frozen=True)
class UnitPlacement:
    """One starting unit: its type name, owner (1 or 2), position in map units and facing in radians."""

    unit: str
    owner: int
    x: float
    y: float
    facing: float = 0.0


@dataclass(frozen=True)
class Scenario:
    """A battle: map size, starting units in engine slot order, and the loop at which it ends as a draw.

    Construction validates everything the engine relies on, so every Scenario (loaded or generated) is playable.
    """

    name: str
    map_width: float
    map_height: float
    placements: tuple[UnitPlacement, ...]
    time_limit_loops: int
    description: str = ""
    roster: str = "combat"  # the unit table its names come from: "combat" (units.yaml) or "full" (+ economy.yaml)

    def __post_init__(self) -> None:
        _check_scenario(self)


ROSTERS = ("combat", "full")


def roster_table(roster: str = "combat") -> UnitTable:
    """The shipped unit table of a roster: units.yaml for battles, extended by economy.yaml for full games."""
    if roster not in ROSTERS:
        raise ScenarioError(f"roster must be one of {ROSTERS}, got {roster!r}")
    return default_units() if roster == "combat" else default_rules().units


def known_units(roster: str = "combat") -> tuple[str, ...]:
    """The unit type names a scenario of ``roster`` may use."""
    return roster_table(roster).names


def scenario_names() -> list[str]:
    """The registered (shipped) scenarios: the file stems of ``scenarios/*.yaml``, sorted."""
    return sorted(path.stem for path in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a registered scenario by name (``"3m"``) or any scenario YAML file by path."""
    path = _resolve(name_or_path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ScenarioError(f"{path}: cannot read scenario file ({error.strerror or error})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ScenarioError(f"{path}: not valid YAML ({_one_line(error)})") from None
    try:
        return _parse(data, default_name=path.stem)
    except ScenarioError as error:
        raise ScenarioError(f"{path}: {error}") from None


def _resolve(name_or_path: str | Path) -> Path:
    if isinstance(name_or_path, Path):
        return name_or_path
    if not isinstance(name_or_path, str):
        raise ScenarioError(f"expected a scenario name or path, got {type(name_or_path).__name__}")
    if name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path or "\\" in name_or_path:
        return Path(name_or_path)
    names = scenario_names()
    if name_or_path not in names:
        raise ScenarioError(
            f"unknown scenario {name_or_path!r}; registered: {', '.join(names)} (or pass a path to a .yaml file)"
        )
    return SCENARIO_DIR / f"{name_or_path}.yaml"


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def _parse(data: Any, default_name: str) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"expected a mapping with keys map_size, time limit, player1, player2, got {data!r:.60}")
    unknown = sorted(set(map(str, data)) - _TOP_KEYS)
    if unknown:
        raise ScenarioError(f"unknown key(s) {unknown}; allowed: {sorted(_TOP_KEYS)}")
    for key in ("map_size", "player1", "player2"):
        if key not in data:
            raise ScenarioError(f"missing required key {key!r}")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise ScenarioError(f"name must be letters, digits, '_', '-' or '.', got {name!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ScenarioError(f"description must be a string, got {description!r}")
    width, height = _pair(data["map_size"], "map_size")
    if width <= 0 or height <= 0:
        raise ScenarioError(f"map_size must be positive, got {data['map_size']!r}")
    player1 = _player_groups(data["player1"], 1, width, height)
    if data["player2"] == "mirror":
        player2 = [UnitPlacement(p.unit, 2, round(width - p.x, 4), p.y, FACING[2]) for p in player1]
    else:
        player2 = _player_groups(data["player2"], 2, width, height)
    return Scenario(
        name=name,
        map_width=width,
        map_height=height,
        placements=tuple(player1 + player2),
        time_limit_loops=_time_limit(data),
        description=description,
    )


def _time_limit(data: dict) -> int:
    given = [key for key in ("time_limit_loops", "time_limit_s") if key in data]
    if len(given) != 1:
        raise ScenarioError("give exactly one of time_limit_loops or time_limit_s")
    value = data[given[0]]
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ScenarioError(f"{given[0]} must be a positive number, got {value!r}")
    if given[0] == "time_limit_loops":
        if value != int(value):
            raise ScenarioError(f"time_limit_loops must be a whole number of loops, got {value!r}")
        return int(value)
    return max(1, round(value * LOOPS_PER_SECOND))


def _pair(value: Any, what: str) -> tuple[float, float]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, int | float) for v in value)
    ):
        raise ScenarioError(f"{what} must be a pair of numbers [a, b], got {value!r}")
    return float(value[0]), float(value[1])


def _player_groups(groups: Any, owner: int, width: float, height: float) -> list[UnitPlacement]:
    where = f"player{owner}"
    if not isinstance(groups, list) or not groups:
        hint = " or 'mirror'" if owner == 2 else ""
        raise ScenarioError(f"{where} must be a non-empty list of unit groups{hint}, got {groups!r:.60}")
    placements: list[UnitPlacement] = []
    for index, group in enumerate(groups):
        unit = group.get("unit") if isinstance(group, dict) else None
        label = f"{where} group {index}" + (f" ({unit})" if unit is not None else "")
        try:
            expanded = _expand_group(group, owner, default_seed=index)
        except ScenarioError as error:
            raise ScenarioError(f"{label}: {error}") from None
        for p in expanded:
            if not (0.0 <= p.x <= width and 0.0 <= p.y <= height):
                raise ScenarioError(f"{label}: a unit at ({p.x:g}, {p.y:g}) is outside the {width:g} x {height:g} map")
        placements += expanded
    return placements


def _expand_group(group: Any, owner: int, default_seed: int) -> list[UnitPlacement]:
    if not isinstance(group, dict):
        raise ScenarioError(f"expected a mapping with unit, count, at, got {group!r:.60}")
    unknown = sorted(set(map(str, group)) - _GROUP_KEYS)
    if unknown:
        raise ScenarioError(f"unknown key(s) {unknown}; allowed: {sorted(_GROUP_KEYS)}")
    for key in ("unit", "count", "at"):
        if key not in group:
            raise ScenarioError(f"missing required key {key!r}")
    unit = group["unit"]
    if unit not in known_units():
        raise ScenarioError(f"unknown unit {unit!r}; known units: {', '.join(known_units())}")
    count = group["count"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ScenarioError(f"count must be a positive integer, got {count!r}")
    cx, cy = _pair(group["at"], "at")
    spacing = group.get("spacing", 1.0)
    if isinstance(spacing, bool) or not isinstance(spacing, int | float) or spacing <= 0:
        raise ScenarioError(f"spacing must be a positive number, got {spacing!r}")
    formation = group.get("formation", "grid")
    if formation not in _FORMATIONS:
        raise ScenarioError(f"unknown formation {formation!r}; expected one of {', '.join(_FORMATIONS)}")
    _only_for(group, "per_rank", formation, ("grid",))
    _only_for(group, "size", formation, ("scatter",))
    _only_for(group, "seed", formation, ("scatter",))
    if formation == "scatter":
        if "size" not in group:
            raise ScenarioError("formation scatter needs size: [width, height]")
        seed = group.get("seed", default_seed)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ScenarioError(f"seed must be a non-negative integer, got {seed!r}")
        try:
            offsets = scattered_offsets(count, _pair(group["size"], "size"), spacing, np.random.default_rng(seed))
        except ValueError as error:
            raise ScenarioError(str(error)) from None
    else:
        per_rank = count if formation == "line" else group.get("per_rank", math.ceil(math.sqrt(count)))
        if isinstance(per_rank, bool) or not isinstance(per_rank, int) or per_rank < 1:
            raise ScenarioError(f"per_rank must be a positive integer, got {per_rank!r}")
        offsets = grid_offsets(count, per_rank, spacing, forward=1.0 if owner == 1 else -1.0)
    return [
        UnitPlacement(unit, owner, round(cx + dx, 4), round(cy + dy, 4), FACING[owner]) for dx, dy in offsets.tolist()
    ]


def _only_for(group: dict, key: str, formation: str, allowed: tuple[str, ...]) -> None:
    if key in group and formation not in allowed:
        raise ScenarioError(f"{key} applies only to formation {' or '.join(allowed)}, not {formation}")


def _check_scenario(scenario: Scenario) -> None:
    """Raise ScenarioError naming the scenario if it is not playable: owners, units, bounds, spawn points."""
    where = f"scenario {scenario.name!r}"
    if not (scenario.map_width > 0 and scenario.map_height > 0):
        raise ScenarioError(f"{where}: map size must be positive, got {scenario.map_width} x {scenario.map_height}")
    if isinstance(scenario.time_limit_loops, bool) or not isinstance(scenario.time_limit_loops, int | np.integer):
        raise ScenarioError(f"{where}: time_limit_loops must be an int, got {scenario.time_limit_loops!r}")
    if scenario.time_limit_loops < 1:
        raise ScenarioError(f"{where}: time_limit_loops must be >= 1, got {scenario.time_limit_loops}")
    units = known_units(scenario.roster)
    for slot, p in enumerate(scenario.placements):
        if p.owner not in (1, 2):
            raise ScenarioError(f"{where}: unit {slot} ({p.unit}) has owner {p.owner!r}; expected 1 or 2")
        if p.unit not in units:
            raise ScenarioError(f"{where}: unit {slot} has unknown type {p.unit!r}; known units: {', '.join(units)}")
        if not (0.0 <= p.x <= scenario.map_width and 0.0 <= p.y <= scenario.map_height):
            raise ScenarioError(
                f"{where}: unit {slot} ({p.unit}) at ({p.x:g}, {p.y:g}) is outside the "
                f"{scenario.map_width:g} x {scenario.map_height:g} map"
            )
    for owner in (1, 2):
        if not any(p.owner == owner for p in scenario.placements):
            raise ScenarioError(f"{where}: player {owner} has no units")
    pair = _coincident_pair(np.array([(p.x, p.y) for p in scenario.placements], dtype=np.float64))
    if pair is not None:
        a, b = (scenario.placements[k] for k in pair)
        raise ScenarioError(
            f"{where}: units {pair[0]} ({a.unit}, player {a.owner}) and {pair[1]} ({b.unit}, player {b.owner}) "
            f"spawn on the same point ({a.x:g}, {a.y:g})"
        )


def _coincident_pair(pos: np.ndarray) -> tuple[int, int] | None:
    """The lowest-slot pair of positions closer than MIN_SEPARATION, or None; a sweep over x-sorted rows."""
    order = np.argsort(pos[:, 0], kind="stable")
    xs, ys = pos[order, 0], pos[order, 1]
    found: list[tuple[int, int]] = []
    for shift in range(1, len(pos)):
        near_x = xs[shift:] - xs[:-shift] < MIN_SEPARATION
        if not near_x.any():
            break  # x is sorted, so larger shifts are farther apart still
        close = near_x & (np.hypot(xs[shift:] - xs[:-shift], ys[shift:] - ys[:-shift]) < MIN_SEPARATION)
        for k in np.flatnonzero(close).tolist():
            found.append(tuple(sorted((int(order[k]), int(order[k + shift])))))
    return min(found) if found else None
