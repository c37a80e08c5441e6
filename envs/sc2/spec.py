"""The spec of a StarCraft II environment, in the same plain-dict form as Skirmish's (the agent is built from it).

Same unit columns (pysc2 ``FeatureUnit``), the same scalar list and argument names as Skirmish; the catalogue is
``envs.sc2.catalogue`` (Skirmish's seven types first). Unit type ids are pysc2's ``units`` enums plus
``envs.sc2.unit_types``' additions. One spec serves every map: positions are normalised over ``map_size`` (default
256 x 256, the largest SC2 map), so a model trained on one map runs on another. ``unit_types`` is empty: without the
game's data there is no reliable per-type ability table (the game itself rejects a command for units that cannot
carry it out).
"""

from __future__ import annotations

from typing import Any

from envs.sc2.catalogue import catalogue
from envs.sc2.extra import require
from envs.sc2.unit_types import unit_type_ids as known_unit_types
from envs.skirmish.observation import DEFAULT_MAX_UNITS
from envs.skirmish.spec import action_type_entry, contract_fields

DEFAULT_MAP_SIZE = (256.0, 256.0)
DEFAULT_RESOLUTION = 64


def sc2_spec(
    map_size: tuple[float, float] = DEFAULT_MAP_SIZE,
    *,
    max_units: int = DEFAULT_MAX_UNITS,
    resolution: int = DEFAULT_RESOLUTION,
) -> dict[str, Any]:
    """The spec of the StarCraft II env (and of .SC2Replay samples) over a ``map_size`` (width, height) frame."""
    fields = contract_fields("sc2", map_size, max_units, resolution)
    actions = require("pysc2_evolved.lib.actions", "The StarCraft II spec")
    cat = catalogue()
    unit_type_ids = sorted(set(known_unit_types().values()))
    return {
        **fields,
        "action_types": [action_type_entry(a) for a in cat.action_types],
        "unit_types": [],
        "unit_type_ids": unit_type_ids,
        # order_id_* columns hold pysc2 raw function ids; every one is in the featurizer's vocabulary
        "order_ids": {f.name: int(f.id) for f in actions.RAW_FUNCTIONS if int(f.id)},
    }
