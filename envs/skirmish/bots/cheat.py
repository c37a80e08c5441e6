"""The cheat_money scenario transform: a player starts with a fraction more units.

SC2's cheating AIs get extra income; in a fight-only game the equivalent is a bigger army, so the match
applies this to the scenario before the game starts. Extra units copy the player's own composition and stand
one rank behind its army, so the cheat is reinforcement, not a surprise flank.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from envs.skirmish.scenario import Scenario, UnitPlacement


def cheat_units(scenario: Scenario, player: int, fraction: float) -> Scenario:
    """Return ``scenario`` with ``ceil(fraction * n)`` extra units for ``player`` (n = its unit count).

    Copies are taken evenly across the player's placements (so the extra army mirrors its composition) and
    shifted backwards, away from the enemy, by the army's depth plus one spacing, clamped to the map (and moved
    to the nearest free spot where the map edge crowds them).
    """
    if player not in (1, 2):
        raise ValueError(f"cheat_units: player must be 1 or 2, got {player!r}")
    if not (isinstance(fraction, (int, float)) and 0.0 <= fraction <= 4.0):
        raise ValueError(f"cheat_units: fraction must be a number in [0, 4], got {fraction!r}")
    own = [p for p in scenario.placements if p.owner == player]
    other = [p for p in scenario.placements if p.owner != player]
    if not own:
        raise ValueError(f"cheat_units: scenario {scenario.name!r} has no units for player {player}")
    extra = math.ceil(fraction * len(own) - 1e-9)
    if extra == 0:
        return scenario
    own_x = sum(p.x for p in own) / len(own)
    enemy_x = sum(p.x for p in other) / len(other) if other else scenario.map_width / 2
    back = -1.0 if enemy_x >= own_x else 1.0
    depth = max(p.x for p in own) - min(p.x for p in own)
    shift = back * (depth + 1.5)
    taken = [(p.x, p.y) for p in scenario.placements]
    copies = []
    for k in range(extra):
        src = own[(k * len(own)) // extra % len(own)] if extra <= len(own) else own[k % len(own)]
        lap = k // len(own)  # more than 100% extra: further ranks behind
        x, y = _free_spot(src.x + shift * (1 + lap), src.y, taken, scenario.map_width, scenario.map_height)
        taken.append((x, y))
        copies.append(UnitPlacement(unit=src.unit, owner=player, x=x, y=y, facing=src.facing))
    return dataclasses.replace(
        scenario,
        name=f"{scenario.name}_cheat_p{player}",
        placements=tuple(scenario.placements) + tuple(copies),
        description=f"{scenario.description} (+{extra} units for player {player})".strip(),
    )


def _free_spot(
    x: float, y: float, taken: list[tuple[float, float]], width: float, height: float
) -> tuple[float, float]:
    """(x, y) clamped to the map, or the nearest point of a 0.6 grid around it with no placement within 0.3."""
    lo, hi = np.array([0.5, 0.5]), np.array([width - 0.5, height - 0.5])
    centre = np.clip([x, y], lo, hi)
    others = np.asarray(taken, dtype=np.float64).reshape(-1, 2)
    for ring in range(int(max(width, height) / 0.6) + 1):
        k = np.arange(-ring, ring + 1)
        grid = np.stack(np.meshgrid(k, k), axis=-1).reshape(-1, 2)
        grid = grid[np.abs(grid).max(axis=1) == ring]  # this ring only
        points = np.clip(centre + 0.6 * grid[np.argsort(np.hypot(*grid.T), kind="stable")], lo, hi)
        clear = (((points[:, None, :] - others[None, :, :]) ** 2).sum(axis=2) >= 0.09).all(axis=1)
        if clear.any():
            return tuple(float(v) for v in points[int(clear.argmax())])
    raise ValueError(f"cheat_units: no free spot for an extra unit on the {width:g} x {height:g} map")
