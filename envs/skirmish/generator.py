"""Seeded random scenarios in the style of SMACv2: random race, composition and start positions per seed.

Each side draws a race from ``races`` and ``n`` units from that race's unit types with ``unit_weights``
(SMACv2-like defaults: mostly core units, a few healers and splash units). Start positions follow
SMACv2's two modes: ``"reflect"`` (player 1 scattered around a random point on the left, player 2 at the
mirror image) and ``"surrounded"`` (player 1 in the centre, player 2 split into 2-4 groups around it).
The same seed and arguments always give the same Scenario, named ``random_<seed>``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from envs.contract.spec import RACES
from envs.skirmish.formations import scattered_offsets
from envs.skirmish.scenario import FACING, Scenario, UnitPlacement
from envs.skirmish.units import UnitTable, default_units

START_POSITIONS = ("reflect", "surrounded")
# SMACv2 draws 45% / 45% / 10% from each race's two core units and its special unit; ours has more types.
DEFAULT_WEIGHTS: dict[str, float] = {
    "marine": 0.45, "marauder": 0.35, "medivac": 0.1, "siege_tank_sieged": 0.1,
    "zergling": 0.4, "hydralisk": 0.3, "roach": 0.2, "baneling": 0.1,
    "zealot": 0.5, "stalker": 0.5,
}  # fmt: skip
SPACING = 1.5  # cell size of the scattered layout: room for the largest ground units
GAP = 10.0  # map units between the two armies' boxes at the start
MARGIN = 2.0  # map units kept free along the map edges


def random_scenario(
    seed: int,
    *,
    races: Sequence[str] = RACES,
    units_per_side: tuple[int, int] = (5, 10),
    unit_weights: Mapping[str, float] | None = None,
    start_positions: str = "reflect",
    map_size: tuple[float, float] | None = None,
    extra_enemies: int = 0,
    time_limit_loops: int | None = None,
) -> Scenario:
    """A random battle: ``n ~ U{units_per_side}`` units for player 1 and ``n + extra_enemies`` for player 2.

    ``map_size=None`` picks the smallest square map (a multiple of 8, at least 32) that fits the armies;
    ``time_limit_loops=None`` gives 8 * (150 + 2 * n) loops (SMAC-like: 150 agent steps plus 2 per unit).
    The name depends on the seed only: different options with one seed give different ``random_<seed>``s.
    """
    _check_arguments(seed, races, units_per_side, start_positions, extra_enemies)
    weights = _weights(races, unit_weights)
    rng = np.random.default_rng(seed)
    n1 = int(rng.integers(units_per_side[0], units_per_side[1] + 1))
    sides = [_army(rng, races, weights, n1), _army(rng, races, weights, n1 + extra_enemies)]
    need_w, need_h = _needed_map_size(n1, n1 + extra_enemies, start_positions)
    width, height = map_size if map_size is not None else (float(max(32, 8 * math.ceil(max(need_w, need_h) / 8))),) * 2
    if width < need_w or height < need_h:
        raise ValueError(
            f"random_scenario: map_size {width:g} x {height:g} is too small for {n1} vs {n1 + extra_enemies} "
            f"units with start_positions={start_positions!r}; need at least {need_w:g} x {need_h:g}"
        )
    if start_positions == "reflect":
        pos1, pos2 = _reflected(rng, n1, n1 + extra_enemies, width, height)
        facing2 = np.full(len(pos2), FACING[2])
    else:
        pos1, pos2 = _surrounded(rng, n1, n1 + extra_enemies, width, height)
        facing2 = np.arctan2(height / 2 - pos2[:, 1], width / 2 - pos2[:, 0])
    placements = [UnitPlacement(u, 1, x, y, FACING[1]) for u, (x, y) in zip(sides[0][1], pos1.tolist(), strict=True)]
    placements += [
        UnitPlacement(u, 2, x, y, f) for u, (x, y), f in zip(sides[1][1], pos2.tolist(), facing2.tolist(), strict=True)
    ]
    return Scenario(
        name=f"random_{seed}",
        map_width=float(width),
        map_height=float(height),
        placements=tuple(placements),
        time_limit_loops=8 * (150 + 2 * (n1 + extra_enemies)) if time_limit_loops is None else time_limit_loops,
        description=f"random (seed {seed}, {start_positions}): {_describe(sides[0])} vs {_describe(sides[1])}",
    )


def _check_arguments(
    seed: int, races: Sequence[str], units_per_side: tuple[int, int], start_positions: str, extra_enemies: int
) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"random_scenario: seed must be a non-negative int, got {seed!r}")
    if isinstance(races, str) or not races or any(r not in RACES for r in races):
        raise ValueError(f"random_scenario: races must be a non-empty subset of {RACES}, got {races!r}")
    lo, hi = units_per_side
    if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi):
        raise ValueError(
            f"random_scenario: units_per_side must be (lo, hi) ints with 1 <= lo <= hi, got {units_per_side!r}"
        )
    if start_positions not in START_POSITIONS:
        raise ValueError(f"random_scenario: start_positions must be one of {START_POSITIONS}, got {start_positions!r}")
    if not isinstance(extra_enemies, int) or extra_enemies < 0:
        raise ValueError(f"random_scenario: extra_enemies must be an int >= 0, got {extra_enemies!r}")


def _weights(races: Sequence[str], unit_weights: Mapping[str, float] | None) -> dict[str, dict[str, float]]:
    """Per race, the unit types that may be drawn and their (unnormalised) weights."""
    table = default_units()
    given = DEFAULT_WEIGHTS if unit_weights is None else dict(unit_weights)
    for unit, weight in given.items():
        if unit not in table.index:
            raise ValueError(f"random_scenario: unknown unit {unit!r} in unit_weights; known: {', '.join(table.names)}")
        if not (isinstance(weight, int | float) and weight >= 0):
            raise ValueError(f"random_scenario: weight of {unit!r} must be a number >= 0, got {weight!r}")
    per_race: dict[str, dict[str, float]] = {}
    for race in races:
        pool = {u: float(w) for u, w in given.items() if w > 0 and RACES[table.race[table.index[u]]] == race}
        if not any(_armed(table, u) for u in pool):
            raise ValueError(f"random_scenario: race {race!r} has no unit type that can attack with a weight > 0")
        per_race[race] = pool
    return per_race


def _armed(table: UnitTable, unit: str) -> bool:
    """Whether a unit type has a weapon (healers alone cannot win a fight)."""
    return bool(table.armed[table.index[unit]])


def _army(
    rng: np.random.Generator, races: Sequence[str], weights: dict[str, dict[str, float]], n: int
) -> tuple[str, list[str]]:
    """A race and ``n`` unit type names drawn from its weights, with at least one unit that can attack."""
    race = str(races[int(rng.integers(len(races)))])
    names = sorted(weights[race])
    p = np.array([weights[race][u] for u in names])
    units = [names[i] for i in rng.choice(len(names), size=n, p=p / p.sum())]
    table = default_units()
    if not any(_armed(table, u) for u in units):
        fighters = [u for u in names if _armed(table, u)]
        q = np.array([weights[race][u] for u in fighters])
        units[0] = fighters[int(rng.choice(len(fighters), p=q / q.sum()))]
    return race, units


def _box(n: int) -> float:
    """Side of the square box an army of ``n`` scattered units fills at half density."""
    return SPACING * math.ceil(math.sqrt(2 * n))


def _largest_group(n2: int) -> int:
    """The most units one surrounding group can hold (player 2 is split into at least 2 groups when n2 >= 2)."""
    return math.ceil(n2 / 2)


def _ring_radius(n1: int, n2: int) -> float:
    """Distance from the centre to each surrounding group: clear of the centre army and of each other."""
    group = _box(_largest_group(n2))
    return max((_box(n1) + group) / math.sqrt(2) + GAP, group * 1.5)


def _needed_map_size(n1: int, n2: int, start_positions: str) -> tuple[float, float]:
    """The smallest (width, height) that holds both armies and the gap between them."""
    if start_positions == "reflect":
        box = max(_box(n1), _box(n2))
        return 2 * box + GAP + 2 * MARGIN, box + 2 * MARGIN
    side = 2 * (_ring_radius(n1, n2) + _box(_largest_group(n2)) / math.sqrt(2) + MARGIN)
    return side, side


def _reflected(rng: np.random.Generator, n1: int, n2: int, width: float, height: float) -> tuple[np.ndarray, ...]:
    """Player 1 around a random point on the left; player 2 on its mirror image (extra enemies scattered too)."""
    half = max(_box(n1), _box(n2)) / 2
    cx = rng.uniform(MARGIN + half, width / 2 - GAP / 2 - half)
    cy = rng.uniform(MARGIN + half, height - MARGIN - half)
    box = (2 * half, 2 * half)
    both = (scattered_offsets(max(n1, n2), box, SPACING, rng) + (cx, cy))[rng.permutation(max(n1, n2))]
    pos1 = both[:n1]
    pos2 = np.column_stack([width - both[:n2, 0], both[:n2, 1]])
    return np.round(pos1, 4), np.round(pos2, 4)


def _surrounded(rng: np.random.Generator, n1: int, n2: int, width: float, height: float) -> tuple[np.ndarray, ...]:
    """Player 1 in the middle of the map; player 2 split into 2-4 groups evenly around it."""
    centre = np.array([width / 2, height / 2])
    pos1 = scattered_offsets(n1, (_box(n1),) * 2, SPACING, rng) + centre
    groups = 1 if n2 < 2 else int(rng.integers(2, min(4, n2) + 1))
    radius = _ring_radius(n1, n2)
    start = rng.uniform(0, 2 * math.pi)
    parts = []
    for k, size in enumerate(len(part) for part in np.array_split(np.arange(n2), groups)):
        angle = start + 2 * math.pi * k / groups
        at = centre + radius * np.array([math.cos(angle), math.sin(angle)])
        parts.append(scattered_offsets(size, (_box(size),) * 2, SPACING, rng) + at)
    return np.round(pos1, 4), np.round(np.concatenate(parts), 4)


def _describe(side: tuple[str, list[str]]) -> str:
    race, units = side
    counts = Counter(units)
    return f"{race} {len(units)} ({', '.join(f'{c} {u}' for u, c in sorted(counts.items()))})"
