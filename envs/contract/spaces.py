"""The gymnasium spaces of the observation and action contract, shared by every environment."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from envs.contract.arguments import MAX_SELECTED_UNITS
from envs.contract.columns import NUM_UNIT_COLUMNS
from envs.contract.scalars import NUM_SCALARS

_BIG = float(np.finfo(np.float32).max)


def contract_spaces(max_units: int, num_action_types: int, resolution: int,
                    num_scalars: int = NUM_SCALARS) -> tuple[spaces.Dict, spaces.Dict]:  # fmt: skip
    """(observation space, action space) for ``max_units`` rows, a catalogue of ``num_action_types``, a grid and
    ``num_scalars`` scalars (the base list, or more: a full game appends the economy's)."""
    observation = spaces.Dict({
        "units": spaces.Box(-_BIG, _BIG, (max_units, NUM_UNIT_COLUMNS), np.float32),
        "unit_mask": spaces.MultiBinary(max_units),
        "scalars": spaces.Box(-_BIG, _BIG, (num_scalars,), np.float32),
        "available_actions": spaces.MultiBinary(num_action_types),
    })  # fmt: skip
    rows, picks = max_units + 1, MAX_SELECTED_UNITS
    action = spaces.Dict({
        "action_type": spaces.Discrete(num_action_types),
        "selected_units": spaces.MultiDiscrete(np.full(picks, rows), start=np.full(picks, -1)),
        "target_unit": spaces.Discrete(rows, start=-1),
        "target_location": spaces.MultiDiscrete([resolution, resolution]),
        "queued": spaces.Discrete(2),
    })  # fmt: skip
    return observation, action
