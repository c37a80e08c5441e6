"""Engine commands: the order kinds a unit can carry and the Command a player issues to a group of units.

This is the engine's own vocabulary (engine unit indices, map coordinates); ``actions.py`` translates the
agent's action dicts into it and validates them, so the engine trusts a Command except for dead units.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Order(IntEnum):
    """What a unit is doing; ``GameState.order_kind[:, 0]`` holds the current order of each unit."""

    IDLE = 0  # no order; the unit auto-acquires enemies in range and fights back
    MOVE = 1  # move to a point, ignore enemies
    ATTACK_MOVE = 2  # move to a point, acquire and fight enemies on the way (pysc2 Attack_pt)
    ATTACK_UNIT = 3  # chase and attack one unit (pysc2 Attack_unit)
    HOLD = 4  # stay; attack enemies within weapon range only (pysc2 HoldPosition_quick)
    FOLLOW = 5  # move to / follow a unit (pysc2 Move_unit); healers heal what they follow


# Command.kind -> the order it gives; "stop" clears the queue instead (it is a command, not an order).
COMMAND_ORDERS: dict[str, Order] = {
    "hold": Order.HOLD,
    "move": Order.MOVE,
    "attack_move": Order.ATTACK_MOVE,
    "attack_unit": Order.ATTACK_UNIT,
    "follow": Order.FOLLOW,
}
COMMAND_KINDS: tuple[str, ...] = ("stop", *COMMAND_ORDERS)
POINT_KINDS = frozenset({"move", "attack_move"})  # kinds that need target_pos
UNIT_KINDS = frozenset({"attack_unit", "follow"})  # kinds that need target_unit


@dataclass(frozen=True)
class Command:
    """One player's command to some of its units (engine indices), as SC2's raw unit commands.

    ``queued`` appends the order to each unit's queue (up to ``QUEUE_LENGTH`` orders) instead of replacing it.
    """

    kind: str  # "stop", "hold", "move", "attack_move", "attack_unit", "follow"
    units: tuple[int, ...]  # engine unit indices (slots into GameState arrays)
    target_unit: int = -1  # engine index for attack_unit / follow
    target_pos: tuple[float, float] | None = None  # map coordinates for move / attack_move
    queued: bool = False

    def __post_init__(self) -> None:
        if self.kind not in COMMAND_KINDS:
            raise ValueError(f"Command.kind {self.kind!r} is unknown; expected one of {', '.join(COMMAND_KINDS)}")
        if self.kind in POINT_KINDS and (self.target_pos is None or len(self.target_pos) != 2):
            raise ValueError(f"Command {self.kind!r} needs target_pos=(x, y), got {self.target_pos!r}")
        if self.kind in UNIT_KINDS and self.target_unit < 0:
            raise ValueError(f"Command {self.kind!r} needs target_unit >= 0 (an engine index), got {self.target_unit}")
