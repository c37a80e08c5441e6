"""Gymnasium ids for Skirmish: ``Skirmish-v0`` (any scenario through kwargs), ``Skirmish-<scenario>-v0``, and
``Skirmish-FullGame-v0`` (a full game against a full-game bot, ``envs.skirmish.economy.env.FullGameEnv``).

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
FULL_GAME_ID, FULL_GAME_ENTRY_POINT = "Skirmish-FullGame-v0", "envs.skirmish.economy.env:FullGameEnv"


def register_envs() -> list[str]:
    """Register (once) the generic id and one id per shipped scenario; returns the ids."""
    ids = {"Skirmish-v0": {}}
    ids.update({f"Skirmish-{name}-v0": {"scenario": name} for name in scenario_names()})
    for env_id, kwargs in ids.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(env_id, entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT,
                               kwargs={**REGISTERED_DEFAULTS, **kwargs})
    if FULL_GAME_ID not in gymnasium.registry:
        gymnasium.register(FULL_GAME_ID, entry_point=FULL_GAME_ENTRY_POINT, kwargs={"lenient": True})
    return [*ids, FULL_GAME_ID]
