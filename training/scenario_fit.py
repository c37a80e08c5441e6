"""Scenarios an agent can play: the agent normalises positions by its spec's map size, so maps must match it."""

from __future__ import annotations

from collections.abc import Sequence

from envs.skirmish.scenario import Scenario, ScenarioError, load_scenario


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
