"""The action catalogue: each action type's index, arguments, pysc2 raw function and Skirmish command.

One agent speaks to both environments: ``action_type`` indexes ``ACTION_TYPES``; in StarCraft II the adapter calls
the listed pysc2 raw function (``function_id`` in ``actions.RAW_FUNCTIONS``, which sends ``ability_id``), in Skirmish
``actions.translate`` issues the listed engine command. Ids are pysc2's (checked against its source by the tests).

``ORDER_REPORTS`` says what the ``order_id_*`` columns hold for each engine order: what pysc2's raw units report
for the order the game would show. The game lists a unit's orders under their specific ability (attack 23
``Attack_Attack``, move and follow 16 ``Move_Move``, hold 18 ``HoldPosition_Hold``, medivac heal 386
``Effect_Heal``, a healer's attack-move 19 ``Scan_Move``), and pysc2 writes ``RAW_ABILITY_ID_TO_FUNC_ID`` of that
ability: the smallest raw function id that uses it (``Attack_Attack_pt`` 4 for 23, ``Move_Move_pt`` 547 for 16,
``HoldPosition_Hold_quick`` 543 for 18, ``Effect_Heal_unit`` 311 for 386, ``Scan_Move_pt`` 10 for 19). So a
unit that attacks a unit and one that attack-moves both report 4, and move and follow both report 547.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from envs.skirmish.commands import Order

ARGUMENTS = ("selected_units", "target_unit", "target_location", "queued")
MAX_SELECTED_UNITS = 64


class Requirement(IntEnum):
    """What a selected unit needs to carry out an action type (units lacking it are left out of the command)."""

    none = 0  # no unit is selected (no_op)
    any_unit = 1
    mobile = 2  # speed > 0 (a sieged tank cannot move, hold or follow)
    armed = 3  # has a weapon (healers cannot attack a unit)
    armed_or_healer = 4  # attack-move: weapons fire, healers scan-move and heal on the way (as in SC2)


class TargetRule(IntEnum):
    """Which rows ``target_unit`` may name."""

    none = 0  # target_unit is not used
    enemy = 1  # a visible living enemy (Skirmish has no friendly fire)
    other_unit = 2  # any living unit in the observation other than the selected ones


@dataclass(frozen=True)
class ActionType:
    """One entry of the catalogue; ``arguments`` are the action keys it reads (others are ignored)."""

    index: int
    name: str
    function: str  # pysc2 RAW_FUNCTIONS name
    function_id: int  # pysc2 RAW_FUNCTIONS id
    function_type: str  # pysc2 raw function type: raw_no_op, raw_cmd, raw_cmd_pt or raw_cmd_unit
    ability_id: int  # SC2 ability the raw function sends (0 for no_op)
    arguments: tuple[str, ...]
    command: str | None  # Skirmish Command.kind (None: nothing is issued)
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
    ActionType(0, "no_op", "no_op", 0, "raw_no_op", 0, (), None, Requirement.none, TargetRule.none,
               "do nothing this step"),
    ActionType(1, "stop", "Stop_quick", 101, "raw_cmd", 3665, (_SEL,), "stop", Requirement.any_unit,
               TargetRule.none, "clear the selected units' orders; they idle and fight back"),
    ActionType(2, "hold_position", "HoldPosition_quick", 17, "raw_cmd", 3793, (_SEL, _Q), "hold",
               Requirement.mobile, TargetRule.none, "stay put and attack only what is in weapon range"),
    ActionType(3, "move", "Move_pt", 13, "raw_cmd_pt", 3794, (_SEL, _LOC, _Q), "move", Requirement.mobile,
               TargetRule.none, "move to the location, ignoring enemies"),
    ActionType(4, "attack_move", "Attack_pt", 2, "raw_cmd_pt", 3674, (_SEL, _LOC, _Q), "attack_move",
               Requirement.armed_or_healer, TargetRule.none, "move to the location, fighting enemies met on the way"),
    ActionType(5, "attack_unit", "Attack_unit", 3, "raw_cmd_unit", 3674, (_SEL, _UNIT, _Q), "attack_unit",
               Requirement.armed, TargetRule.enemy, "chase and attack the target unit"),
    ActionType(6, "follow", "Move_unit", 14, "raw_cmd_unit", 3794, (_SEL, _UNIT, _Q), "follow", Requirement.mobile,
               TargetRule.other_unit, "move to and follow the target unit; healers heal it"),
)  # fmt: skip
NUM_ACTION_TYPES = len(ACTION_TYPES)
ACTION_INDEX: dict[str, int] = {a.name: a.index for a in ACTION_TYPES}
NO_OP, STOP, HOLD_POSITION, MOVE, ATTACK_MOVE, ATTACK_UNIT, FOLLOW = range(NUM_ACTION_TYPES)


@dataclass(frozen=True)
class OrderReport:
    """What pysc2's raw units show for an order: the specific ability the game lists, and its function id."""

    ability_id: int
    ability: str
    function_id: int  # RAW_ABILITY_ID_TO_FUNC_ID[ability_id], the value in the order_id_* columns
    function: str


REPORT_ATTACK = OrderReport(23, "Attack_Attack", 4, "Attack_Attack_pt")
REPORT_MOVE = OrderReport(16, "Move_Move", 547, "Move_Move_pt")
REPORT_HOLD = OrderReport(18, "HoldPosition_Hold", 543, "HoldPosition_Hold_quick")
REPORT_HEAL = OrderReport(386, "Effect_Heal", 311, "Effect_Heal_unit")
REPORT_SCAN_MOVE = OrderReport(19, "Scan_Move", 10, "Scan_Move_pt")

ORDER_REPORTS: dict[Order, OrderReport | None] = {
    Order.IDLE: None,
    Order.MOVE: REPORT_MOVE,
    Order.ATTACK_MOVE: REPORT_ATTACK,
    Order.ATTACK_UNIT: REPORT_ATTACK,
    Order.HOLD: REPORT_HOLD,
    Order.FOLLOW: REPORT_MOVE,
}


def order_id_table(healer: bool) -> np.ndarray:
    """``order_id_*`` value per engine Order value for an armed unit or a healer (whose attack-move is a scan-move)."""
    table = np.zeros(max(Order) + 1, dtype=np.float32)
    for order, report in ORDER_REPORTS.items():
        table[order] = report.function_id if report else 0
    if healer:
        table[Order.ATTACK_MOVE] = REPORT_SCAN_MOVE.function_id
    return table


def unit_abilities(mobile: np.ndarray, armed: np.ndarray, healer: np.ndarray) -> np.ndarray:
    """bool ``[n_types, NUM_ACTION_TYPES]``: which action types a unit of each type can be selected for."""
    mobile, armed, healer = (np.asarray(a, dtype=bool) for a in (mobile, armed, healer))
    can = {
        Requirement.none: np.zeros_like(mobile),
        Requirement.any_unit: np.ones_like(mobile),
        Requirement.mobile: mobile,
        Requirement.armed: armed,
        Requirement.armed_or_healer: armed | (healer & mobile),
    }
    return np.stack([can[a.requires] for a in ACTION_TYPES], axis=1)
