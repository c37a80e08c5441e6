"""Tracker-event unit type names -> SC2 unit type ids, through pysc2's ``units`` enums (matched by name).

The game's internal names mostly equal pysc2's enum names; ``ALIASES`` covers the ones pysc2 renamed (same ids).
Names with no id (no rich-vespene extractors, no critters such as ``KarakFemale`` in this pysc2-evolved;
``MissileTurret`` is added by ``envs.sc2.unit_types``) map to None: their rows get unit_type 0 and the reader counts
them. ``Beacon*`` units are the game's UI markers (rally and ping beacons), not units: they are left out of the unit
list.
"""

from __future__ import annotations

from functools import cache

from envs.sc2.unit_types import unit_type_ids as known_unit_types

# game (tracker) name -> pysc2 enum name, where pysc2 renamed a unit type (the id is the same)
ALIASES = {
    "Egg": "Cocoon",
    "OverlordCocoon": "OverseerCocoon",
    "TransportOverlordCocoon": "OverlordTransportCocoon",
    "LurkerMPEgg": "LurkerCocoon",
    "LurkerMP": "Lurker",
    "LurkerMPBurrowed": "LurkerBurrowed",
    "LurkerDenMP": "LurkerDen",
    "SwarmHostMP": "SwarmHost",
    "SwarmHostBurrowedMP": "SwarmHostBurrowed",
    "LocustMP": "Locust",
    "LocustMPFlying": "LocustFlying",
    "ThorAP": "ThorHighImpactMode",
    "ObserverSiegeMode": "ObserverSurveillanceMode",
    "OverseerSiegeMode": "OverseerOversightMode",
    "InfestorTerran": "InfestedTerran",
    "InfestedTerransEgg": "InfestedTerranCocoon",
}
IGNORED_PREFIXES = ("Beacon",)


@cache
def unit_type_ids() -> dict[str, int]:
    """Every known unit type name (and alias) -> its SC2 unit type id."""
    ids = dict(known_unit_types())
    ids.update({alias: ids[name] for alias, name in ALIASES.items() if name in ids})
    return ids


def unit_type_id(name: str) -> int | None:
    """The SC2 unit type id of a tracker unit type name, or None when pysc2 has no such unit type."""
    return unit_type_ids().get(name)


def is_ignored(name: str) -> bool:
    """True for the game's UI markers (``BeaconArmy``, ...), which are not units."""
    return name.startswith(IGNORED_PREFIXES)
