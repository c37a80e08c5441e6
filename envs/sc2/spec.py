"""The spec of a StarCraft II environment (``envs.contract.spec.Spec``), the one the replay reader's samples share.

Same unit columns (pysc2 ``FeatureUnit``), scalars and arguments as every env; the catalogue is
``envs.sc2.catalogue`` (the seven base types first). Unit type ids are pysc2's ``units`` enums plus
``envs.sc2.unit_types``' additions. One spec serves every map: positions are normalised over ``map_size`` (default
256 x 256, the largest SC2 map), so a model trained on one map runs on another. ``unit_types`` is empty: without the
game's data there is no reliable per-type table of abilities or of air/ground targets (the game itself rejects a
command for units that cannot carry it out), so every action type requires only ``any_unit``.
"""

from __future__ import annotations

from envs.contract.sizes import DEFAULT_MAX_UNITS, DEFAULT_RESOLUTION
from envs.contract.spec import ActionTypeEntry, Spec
from envs.sc2.catalogue import catalogue
from envs.sc2.extra import require
from envs.sc2.unit_types import unit_type_ids as known_unit_types

DEFAULT_MAP_SIZE = (256.0, 256.0)


def sc2_spec(
    map_size: tuple[float, float] = DEFAULT_MAP_SIZE,
    *,
    max_units: int = DEFAULT_MAX_UNITS,
    resolution: int = DEFAULT_RESOLUTION,
) -> Spec:
    """The spec of the StarCraft II env (and of .SC2Replay samples) over a ``map_size`` (width, height) frame."""
    actions = require("pysc2_evolved.lib.actions", "The StarCraft II spec")
    return Spec(
        env="sc2",
        max_units=max_units,
        location_resolution=resolution,
        map_size=tuple(map_size),
        action_types=tuple(ActionTypeEntry.of(a) for a in catalogue().action_types),
        unit_types=(),
        unit_type_ids=tuple(sorted(set(known_unit_types().values()))),
        # order_id_* columns hold pysc2 raw function ids; every one is in the featurizer's vocabulary
        order_ids={f.name: int(f.id) for f in actions.RAW_FUNCTIONS if int(f.id)},
    )
