"""Skirmish's side of the base catalogue (``envs.contract.catalogue``): the engine command each action type issues,
what the ``order_id_*`` columns report for each engine order, and which types each unit type can be selected for.

``actions.translate`` issues ``COMMANDS[action_type]``; in StarCraft II the same index calls the catalogue's pysc2
raw function instead.

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

import numpy as np

from envs.contract.catalogue import ACTION_TYPES, Requirement
from envs.skirmish.commands import Order

# Action type index -> the Command.kind Skirmish issues for it (None: nothing is issued).
COMMANDS: tuple[str | None, ...] = (None, "stop", "hold", "move", "attack_move", "attack_unit", "follow")


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
