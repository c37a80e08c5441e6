"""The base action catalogue: the seven action types every environment has, at the same indices.

``action_type`` indexes a catalogue whose first ``NUM_ACTION_TYPES`` entries are these; StarCraft II appends the
other general pysc2 raw functions. Each type names the pysc2 raw function it is (ids are pysc2's, checked against
its source by the tests), the arguments it reads, what a selected unit needs to carry it out (``Requirement``) and
which rows ``target_unit`` may name (``TargetRule``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from envs.contract.arguments import ARGUMENTS


class Requirement(IntEnum):
    """What a selected unit needs to carry out an action type (units lacking it are left out of the command)."""

    none = 0  # no unit is selected (no_op)
    any_unit = 1  # every unit qualifies (StarCraft II: the game itself rejects units that cannot obey)
    mobile = 2  # speed > 0 (a sieged tank cannot move, hold or follow)
    armed = 3  # has a weapon (healers cannot attack a unit)
    armed_or_healer = 4  # attack-move: weapons fire, healers scan-move and heal on the way (as in SC2)


class TargetRule(IntEnum):
    """Which rows ``target_unit`` may name."""

    none = 0  # target_unit is not used
    enemy = 1  # a visible living enemy (Skirmish has no friendly fire)
    other_unit = 2  # any living unit in the observation other than the selected ones
    any_unit = 3  # any living unit in the observation, selected ones included (StarCraft II's general unit commands)
    harvestable = 4  # a mineral field with minerals left, or one's own gas building with vespene left (gathering)
    geyser = 5  # a free vespene geyser: a neutral row with vespene left (gas buildings go on one)


@dataclass(frozen=True)
class ActionType:
    """One catalogue entry; ``arguments`` are the action keys it reads (others are ignored)."""

    index: int
    name: str
    function: str  # pysc2 RAW_FUNCTIONS name
    function_id: int  # pysc2 RAW_FUNCTIONS id
    function_type: str  # pysc2 raw function type: raw_no_op, raw_cmd, raw_cmd_pt, raw_cmd_unit or raw_autocast
    ability_id: int  # SC2 ability the raw function sends (0 for no_op)
    arguments: tuple[str, ...]
    requires: Requirement
    target: TargetRule
    description: str

    @property
    def uses_location(self) -> bool:
        return "target_location" in self.arguments

    @property
    def uses_target_unit(self) -> bool:
        return "target_unit" in self.arguments

    @property
    def uses_queued(self) -> bool:
        return "queued" in self.arguments

    @property
    def uses_selection(self) -> bool:
        return "selected_units" in self.arguments


_SEL, _UNIT, _LOC, _Q = ARGUMENTS
ACTION_TYPES: tuple[ActionType, ...] = (
    ActionType(0, "no_op", "no_op", 0, "raw_no_op", 0, (), Requirement.none, TargetRule.none, "do nothing this step"),
    ActionType(1, "stop", "Stop_quick", 101, "raw_cmd", 3665, (_SEL,), Requirement.any_unit, TargetRule.none,
               "clear the selected units' orders; they idle and fight back"),
    ActionType(2, "hold_position", "HoldPosition_quick", 17, "raw_cmd", 3793, (_SEL, _Q), Requirement.mobile,
               TargetRule.none, "stay put and attack only what is in weapon range"),
    ActionType(3, "move", "Move_pt", 13, "raw_cmd_pt", 3794, (_SEL, _LOC, _Q), Requirement.mobile, TargetRule.none,
               "move to the location, ignoring enemies"),
    ActionType(4, "attack_move", "Attack_pt", 2, "raw_cmd_pt", 3674, (_SEL, _LOC, _Q), Requirement.armed_or_healer,
               TargetRule.none, "move to the location, fighting enemies met on the way"),
    ActionType(5, "attack_unit", "Attack_unit", 3, "raw_cmd_unit", 3674, (_SEL, _UNIT, _Q), Requirement.armed,
               TargetRule.enemy, "chase and attack the target unit"),
    ActionType(6, "follow", "Move_unit", 14, "raw_cmd_unit", 3794, (_SEL, _UNIT, _Q), Requirement.mobile,
               TargetRule.other_unit, "move to and follow the target unit; healers heal it"),
)  # fmt: skip
NUM_ACTION_TYPES = len(ACTION_TYPES)
# The pysc2 raw functions that spend on the economy (build, train, research, morph), by their name's prefix.
PRODUCTION_PREFIXES = ("Build_", "Train_", "Research_", "Morph_")
ACTION_INDEX: dict[str, int] = {a.name: a.index for a in ACTION_TYPES}
NO_OP, STOP, HOLD_POSITION, MOVE, ATTACK_MOVE, ATTACK_UNIT, FOLLOW = range(NUM_ACTION_TYPES)
