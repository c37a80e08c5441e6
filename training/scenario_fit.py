"""Scenarios an agent can play: the agent normalises positions by its spec's map size, so maps must match it; and
a warning when its rows cannot hold every unit of a scenario."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from envs.skirmish.scenario import Scenario, ScenarioError, load_scenario

log = logging.getLogger(__name__)


def fitting_scenarios(
    names: Sequence[str], map_size: Sequence[float] | None, agent: str = "the agent"
) -> list[Scenario]:
    """Load ``names``; raise ``ScenarioError`` naming the scenario when one does not load or its map is not
    ``map_size`` (None: any map)."""
    scenarios = []
    for name in names:
        try:
            scenario = load_scenario(name)
        except ScenarioError as error:
            raise ScenarioError(f"scenario {name!r}: {error}") from error
        size = (float(scenario.map_width), float(scenario.map_height))
        if map_size is not None and size != tuple(float(v) for v in map_size):
            raise ScenarioError(
                f"scenario {name!r} has a {size[0]:g}x{size[1]:g} map but {agent} was built for map_size "
                f"{float(map_size[0]):g}x{float(map_size[1]):g}; pick scenarios on that map size"
            )
        scenarios.append(scenario)
    return scenarios


def warn_if_rows_short(scenarios: Sequence[Scenario], max_units: int, command: str) -> bool:
    """Log one warning (at start-up) naming the scenarios with more units than ``max_units`` rows: their
    observations share the rows between the sides and leave units out (``envs.contract.rows``; counted as
    ``units_dropped``). Returns whether it warned."""
    short = {s.name: len(s.placements) for s in scenarios if len(s.placements) > max_units}
    if short:
        listed = ", ".join(f"{name} ({count} units)" for name, count in short.items())
        log.warning("%s: max_units=%d is below the unit count of %s; each observation shares its %d rows between "
                    "the sides and leaves the other units out (counted as units_dropped)",
                    command, max_units, listed, max_units)  # fmt: skip
    return bool(short)
