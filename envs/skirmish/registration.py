"""Gymnasium ids for Skirmish: ``Skirmish-v0`` (any scenario through kwargs) and ``Skirmish-<scenario>-v0``.

Registered ids are lenient (illegal actions are dropped and counted in ``info``, so ``action_space.sample()``
always steps) and size ``max_units`` to the scenario (64 rows up to 64 units); pass kwargs to change either.
Importing ``envs.skirmish`` registers them, or ``gymnasium.make("envs.skirmish:Skirmish-3m-v0")``. Each id has a
vector entry point, ``SkirmishVectorEnv`` (games stepped as one batch): ``gymnasium.make_vec(id, num_envs=64)``
builds it; ``vectorization_mode="sync"`` or ``"async"`` still gives gymnasium's own wrappers of ``SkirmishEnv``.
"""

from __future__ import annotations

import gymnasium

from envs.skirmish.scenario import scenario_names

ENTRY_POINT = "envs.skirmish.env:SkirmishEnv"
VECTOR_ENTRY_POINT = "envs.skirmish.vector_env:SkirmishVectorEnv"
REGISTERED_DEFAULTS = {"max_units": None, "lenient": True}


def register_envs() -> list[str]:
    """Register (once) the generic id and one id per shipped scenario; returns the ids."""
    ids = {"Skirmish-v0": {}}
    ids.update({f"Skirmish-{name}-v0": {"scenario": name} for name in scenario_names()})
    for env_id, kwargs in ids.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(env_id, entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT,
                               kwargs={**REGISTERED_DEFAULTS, **kwargs})
    return list(ids)
