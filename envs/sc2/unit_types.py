"""StarCraft II unit type names -> ids: pysc2's ``units`` enums plus the types this pysc2-evolved lacks.

pysc2-evolved 1.1.1 has no ``MissileTurret`` (id 23 in the game's stable ids), a basic Terran building that every
Terran replay has; it is added here so its rows get their real id in observations, replay samples and the spec.
"""

from __future__ import annotations

from functools import cache

from envs.sc2.extra import require

MISSING_FROM_PYSC2 = {"MissileTurret": 23}


@cache
def unit_type_ids() -> dict[str, int]:
    """Every known unit type name -> its SC2 unit type id."""
    units = require("pysc2_evolved.lib.units", "StarCraft II unit types")
    ids = {u.name: int(u) for race in (units.Neutral, units.Protoss, units.Terran, units.Zerg) for u in race}
    return {**MISSING_FROM_PYSC2, **ids}
