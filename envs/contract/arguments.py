"""The action's argument keys and which of them each pysc2 raw function type reads (the argument table).

An action dict holds ``action_type`` plus every argument; an action type reads only the arguments it lists and
ignores the rest. ``selected_units`` holds up to ``MAX_SELECTED_UNITS`` observation rows padded with -1.
"""

from __future__ import annotations

ARGUMENTS = ("selected_units", "target_unit", "target_location", "queued")
ACTION_KEYS = ("action_type", *ARGUMENTS)
MAX_SELECTED_UNITS = 64

_SEL, _UNIT, _LOC, _Q = ARGUMENTS
ARGUMENTS_BY_FUNCTION_TYPE: dict[str, tuple[str, ...]] = {
    "raw_no_op": (),
    "raw_cmd": (_SEL, _Q),
    "raw_cmd_pt": (_SEL, _LOC, _Q),
    "raw_cmd_unit": (_SEL, _UNIT, _Q),
    "raw_autocast": (_SEL,),
}
