"""The opening position of a full game: which start bases the players get and what stands on them at loop 0.

Each player starts as in StarCraft II: a town hall on its start base, ``start_workers`` workers between the town hall
and its mineral line, and the race's extras (zerg: an overlord behind the hatchery and three larva beside it).
"""

from __future__ import annotations

import numpy as np

from envs.skirmish.economy.maps import GameMap
from envs.skirmish.economy.rules import Rules
from envs.skirmish.scenario import Scenario, UnitPlacement

SIDES = {"east": (1.0, 0.0), "west": (-1.0, 0.0), "north": (0.0, 1.0), "south": (0.0, -1.0)}
RACES = ("terran", "protoss", "zerg")


def draw_races(seed: int) -> tuple[str, str]:
    """A race per start location, drawn from ``seed`` (what the ladder, recordings and evaluations mean by
    "random races": the same seed, the same pair)."""
    first, second = np.random.default_rng(seed).integers(0, len(RACES), 2)
    return RACES[int(first)], RACES[int(second)]


def start_bases(game_map: GameMap, seed: int) -> tuple[int, int]:
    """The two players' start bases (indices into ``game_map.bases``): on a 2-start map both, else a seeded pair."""
    starts = list(game_map.starts)
    if len(starts) == 2:
        return starts[0], starts[1]
    first, second = np.random.default_rng(seed).choice(len(starts), size=2, replace=False)
    return starts[int(first)], starts[int(second)]


def opening_scenario(game_map: GameMap, races: tuple[str, str], bases: tuple[int, int], rules: Rules) -> Scenario:
    """The loop-0 units of both players as a full-roster Scenario (engine slot order: player 1's, then player 2's)."""
    placements: list[UnitPlacement] = []
    for player, (race, base_index) in enumerate(zip(races, bases, strict=True), start=1):
        if race not in rules.races:
            raise ValueError(f"race must be one of {sorted(rules.races)}, got {race!r}")
        placements += _opening(player, rules, race, game_map.bases[base_index].hall,
                               SIDES[game_map.bases[base_index].minerals])  # fmt: skip
    return Scenario(name=f"{game_map.name}_{races[0]}_vs_{races[1]}", map_width=float(game_map.width),
                    map_height=float(game_map.height), placements=tuple(placements),
                    time_limit_loops=game_map.time_limit_loops, roster="full",
                    description=f"full game on {game_map.name}: {races[0]} vs {races[1]}")  # fmt: skip


def _opening(player: int, rules: Rules, race: str, hall: tuple[float, float],
             side: tuple[float, float]) -> list[UnitPlacement]:  # fmt: skip
    spec = rules.races[race]
    hx, hy = hall
    dx, dy = side
    across = (-dy, dx)  # along the mineral line
    facing = float(np.arctan2(dy, dx))
    units = [UnitPlacement(spec.start[0], player, hx, hy, facing)]
    # Workers in two rows of six between the town hall's edge (2.5) and the mineral line (6 and beyond).
    for i in range(rules.start_workers):
        depth, offset = 3.3 + 1.0 * (i % 2), -2.5 + (i // 2) % 6
        depth += 2.0 * (i // 12)  # (more than 12 workers: further rows, still short of the minerals at 6)
        depth = min(depth, 5.4)
        x, y = hx + dx * depth + across[0] * offset, hy + dy * depth + across[1] * offset
        units.append(UnitPlacement(spec.worker, player, x, y, facing))
    larva = 0
    for extra in spec.start[1:]:
        if spec.larva is not None and extra == spec.larva.unit:  # beside the hatchery, away from the minerals
            x, y = hx - dx * 3.2 + across[0] * (larva - 1) * 0.8, hy - dy * 3.2 + across[1] * (larva - 1) * 0.8
            larva += 1
        else:  # behind the town hall
            x, y = hx - dx * 5.0, hy - dy * 5.0
        units.append(UnitPlacement(extra, player, x, y, facing))
    return units
