"""Full-game maps: bases with their mineral lines and geysers, start locations and naturals (``data/maps/*.yaml``).

A map file lists its bases by town-hall centre and the side their minerals lie on; the loader lays out each base as
StarCraft II maps do (8 mineral fields, 4 of each size, 3 cells beyond the town hall's footprint, and 2 geysers
beside them), then checks the whole map on a placement grid: everything inside the map, nothing overlapping, every
town-hall spot buildable. Format (unknown keys are errors)::

    description: two mains with their naturals      # optional; `name` defaults to the file stem
    map_size: [128, 128]                            # whole cells
    time_limit_s: 1800                              # game seconds (or time_limit_loops); a draw after it
    bases:
      - {hall: [24.5, 24.5], minerals: west, start: true, natural: 1}
      - {hall: [24.5, 56.5], minerals: west}

``minerals`` is a compass side (east = +x, north = +y); ``natural`` is the index of a start base's natural.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from envs.contract.scalars import LOOPS_PER_SECOND
from envs.skirmish.economy.placement import PlacementGrid, snap
from envs.skirmish.economy.rules import Rules, default_rules

MAP_DIR = Path(__file__).parent.parent / "data" / "maps"
HALL_FOOTPRINT = (5, 5)
MAX_STARTS = 4

_TOP_KEYS = {"name", "description", "map_size", "time_limit_s", "time_limit_loops", "bases"}
_BASE_KEYS = {"hall", "minerals", "start", "natural"}
_SIDES = {"east": (1, 0), "west": (-1, 0), "north": (0, 1), "south": (0, -1)}

# Mineral field and geyser centres relative to the town hall centre, for minerals on the east side (the other sides
# are reflections of it). Fields are 2 x 1 cells, so on an east or west line they stack in a column of 8 rows
# (staggered, with a gap in front of the town hall's middle row), on a north or south line they lie in two rows of
# four. Every layout is symmetric about its own axis, so mirrored maps give every start the same distances. The
# nearer fields hold 1,800 and the farther 900; fields and 3 x 3 geysers stand 3 cells clear of the 5 x 5 hall.
_COLUMN = (-4, -3, -2, -1, 1, 2, 3, 4)
_EAST_FIELDS = tuple((6.5 + (abs(dy) + 1) % 2, float(dy)) for dy in _COLUMN)
_EAST_GEYSERS = ((3.0, -7.0), (3.0, 7.0))
_NORTH_FIELDS = tuple((x, 6.0) for x in (-3.5, -1.5, 1.5, 3.5)) + tuple((x, 7.0) for x in (-4.5, -2.5, 2.5, 4.5))
_NORTH_GEYSERS = ((-7.0, 3.0), (7.0, 3.0))


class MapError(ValueError):
    """A map that cannot be loaded; the message names the file (or map) and the problem."""


@dataclass(frozen=True)
class ResourceSpot:
    """One mineral field or geyser: its resource type (economy.yaml's ``resources``, which holds its contents) and
    centre."""

    resource: str
    x: float
    y: float


@dataclass(frozen=True)
class Base:
    hall: tuple[float, float]  # town-hall centre
    minerals: str  # the compass side of its mineral line
    resources: tuple[ResourceSpot, ...]


@dataclass(frozen=True)
class GameMap:
    """A full-game map: ``starts`` and ``naturals`` index ``bases`` (naturals[i] belongs to starts[i])."""

    name: str
    description: str
    width: int
    height: int
    time_limit_loops: int
    bases: tuple[Base, ...]
    starts: tuple[int, ...]
    naturals: tuple[int | None, ...]

    def grid(self, rules: Rules | None = None) -> PlacementGrid:
        """A placement grid holding this map's resources (ids: 1 + index in ``resources()``)."""
        rules = rules or default_rules()
        grid = PlacementGrid(self.width, self.height)
        for i, spot in enumerate(self.resources()):
            footprint = rules.resources[spot.resource].footprint
            grid.place(spot.x, spot.y, footprint, occupant=i + 1, resource=True)
        return grid

    def resources(self) -> tuple[ResourceSpot, ...]:
        return tuple(spot for base in self.bases for spot in base.resources)


def base_layout(hall: tuple[float, float], side: str) -> tuple[ResourceSpot, ...]:
    """The 8 mineral fields (4 of 1,800 near, 4 of 900 far) and 2 geysers of a base whose minerals lie on ``side``."""
    if side not in _SIDES:
        raise ValueError(f"minerals side must be one of {sorted(_SIDES)}, got {side!r}")
    dx, dy = _SIDES[side]
    if dx:
        fields, geysers = [(dx * x, y) for x, y in _EAST_FIELDS], [(dx * x, y) for x, y in _EAST_GEYSERS]
    else:
        fields, geysers = [(x, dy * y) for x, y in _NORTH_FIELDS], [(x, dy * y) for x, y in _NORTH_GEYSERS]
    hx, hy = hall
    depth = [abs(ox) if dx else abs(oy) for ox, oy in fields]  # distance from the hall along the line's axis
    spots = [ResourceSpot("mineral_field" if d < 7 else "mineral_field_750", hx + ox, hy + oy)
             for d, (ox, oy) in zip(depth, fields, strict=True)]  # fmt: skip
    spots += [ResourceSpot("vespene_geyser", hx + ox, hy + oy) for ox, oy in geysers]
    return tuple(spots)


def shipped_maps() -> tuple[str, ...]:
    """The names of the shipped full-game maps."""
    return tuple(sorted(p.stem for p in MAP_DIR.glob("*.yaml")))


def load_map(name_or_path: str | Path, rules: Rules | None = None) -> GameMap:
    """A shipped map by name (``data/maps/<name>.yaml``) or a map file by path, validated on a placement grid."""
    path = Path(name_or_path)
    if path.suffix != ".yaml":
        path = MAP_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            known = ", ".join(shipped_maps())
            raise MapError(f"unknown map {str(name_or_path)!r}; shipped maps: {known}")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise MapError(f"{path}: cannot read map ({' '.join(str(error).split())})") from None
    try:
        return _build(data, path.stem, rules or default_rules())
    except MapError as error:
        raise MapError(f"{path}: {error}") from None


def map_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in MAP_DIR.glob("*.yaml")))


def _build(data: Any, stem: str, rules: Rules) -> GameMap:
    if not isinstance(data, dict):
        raise MapError(f"expected a mapping, got {data!r:.60}")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise MapError(f"unknown field(s) {unknown}; allowed: {sorted(_TOP_KEYS)}")
    size = data.get("map_size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v >= 16 for v in size)):
        raise MapError(f"map_size must be [width, height] in whole cells >= 16, got {size!r}")
    limit = _time_limit(data)
    raw = data.get("bases")
    if not isinstance(raw, list) or not raw:
        raise MapError("bases must be a non-empty list")
    bases, starts, naturals = [], [], []
    for i, spec in enumerate(raw):
        where = f"bases[{i}]"
        if not isinstance(spec, dict) or set(spec) - _BASE_KEYS or not {"hall", "minerals"} <= set(spec):
            raise MapError(f"{where}: expected a mapping with hall and minerals (and start, natural), got {spec!r:.80}")
        hall = spec["hall"]
        if not (isinstance(hall, list) and len(hall) == 2 and all(isinstance(v, int | float) for v in hall)):
            raise MapError(f"{where}: hall must be [x, y], got {hall!r}")
        hall = (float(hall[0]), float(hall[1]))
        if snap(*hall, HALL_FOOTPRINT) != hall:
            raise MapError(f"{where}: a 5 x 5 town hall centres on a cell centre, got {list(hall)} "
                           f"(nearest: {list(snap(*hall, HALL_FOOTPRINT))})")  # fmt: skip
        try:
            resources = base_layout(hall, spec["minerals"])
        except ValueError as error:
            raise MapError(f"{where}: {error}") from None
        bases.append(Base(hall=hall, minerals=spec["minerals"], resources=resources))
        if spec.get("start", False):
            natural = spec.get("natural")
            if natural is not None and not (isinstance(natural, int) and 0 <= natural < len(raw) and natural != i):
                raise MapError(f"{where}: natural must be the index of another base, got {natural!r}")
            starts.append(i)
            naturals.append(natural)
        elif "natural" in spec:
            raise MapError(f"{where}: only a start base has a natural")
    if not 2 <= len(starts) <= MAX_STARTS:
        raise MapError(f"a map needs 2 to {MAX_STARTS} start bases, got {len(starts)}")
    game_map = GameMap(
        name=str(data.get("name", stem)),
        description=str(data.get("description", "")),
        width=size[0],
        height=size[1],
        time_limit_loops=limit,
        bases=tuple(bases),
        starts=tuple(starts),
        naturals=tuple(naturals),
    )
    _check_layout(game_map, rules)
    return game_map


def _check_layout(game_map: GameMap, rules: Rules) -> None:
    try:
        grid = game_map.grid(rules)
    except ValueError:
        raise MapError("resources overlap each other or leave the map") from None
    for i, base in enumerate(game_map.bases):
        if not grid.free(*base.hall, HALL_FOOTPRINT) or grid.near_resource(*base.hall, HALL_FOOTPRINT):
            raise MapError(f"bases[{i}]: its town-hall spot {list(base.hall)} is not buildable")
        grid.place(*base.hall, HALL_FOOTPRINT, occupant=10_000 + i)  # two town-hall spots must not overlap either


def _time_limit(data: dict) -> int:
    if "time_limit_loops" in data and "time_limit_s" in data:
        raise MapError("give time_limit_loops or time_limit_s, not both")
    if "time_limit_loops" in data:
        value = data["time_limit_loops"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise MapError(f"time_limit_loops must be a positive int, got {value!r}")
        return value
    value = data.get("time_limit_s", 1800)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise MapError(f"time_limit_s must be a positive number, got {value!r}")
    return round(value * LOOPS_PER_SECOND)
