"""What a build decision waits for, as scalar inputs: the free supply and what the agent's units have on the way.

A macro player builds supply when fewer than a few supply are free and none is coming, and takes its opening's next
step when the previous one is under way. The signed-log scalars make ``food_cap - food_used`` a small difference of
logs, and "a depot is going up" is one row among hundreds for attention to find; here both are explicit: a
thermometer of the free supply (``free <= k`` for k = 0..``FREE_SUPPLY_STEPS`` - 1, and the free supply over
``FREE_SUPPLY_SCALE``), the own units' current orders counted by order id (a worker walking to build, an egg, a
producer training) and the own structures under construction counted by type, square-rooted as AlphaStar's bags.
"""

from __future__ import annotations

import torch
from torch import nn

from agents.featurizer import lookup_index
from agents.spec import PERCENT_DONE, AgentSpec
from agents.unit_counts import sqrt_bag

FREE_SUPPLY_STEPS = 8  # thermometer bits: the bots' supply margins are 0 to 8
FREE_SUPPLY_SCALE = 16.0  # the free supply's linear input is min(free, scale) / scale
SUPPLY_SCALARS = ("food_cap", "food_used")
ORDER_COLUMN = "order_id_0"  # the unit's current order (pysc2's order_id_0)
UNIT_COLUMNS = ("unit_type", "alliance", "build_progress", ORDER_COLUMN)


class MacroInputs(nn.Module):
    """``scalars`` [B, S] + ``units`` [B, N, C] + ``unit_mask`` [B, N] -> [B, out_channels]: the free-supply
    thermometer and its scaled value, the own units' current orders by order id and the own structures going up by
    type (each bag with an "other" slot for ids outside the spec's vocabulary)."""

    def __init__(self, spec: AgentSpec) -> None:
        super().__init__()
        missing = [name for name in SUPPLY_SCALARS if name not in spec.scalars or name in spec.unknown_scalars]
        missing += [name for name in UNIT_COLUMNS if name not in spec.unit_columns or name in spec.unknown_columns]
        if missing:
            raise ValueError(f"macro inputs (agent.scalar.macro_inputs) read {missing}, which this spec lacks: they "
                             "exist only in full games")  # fmt: skip
        self.cap, self.used = (spec.scalars.index(name) for name in SUPPLY_SCALARS)
        self.type_column, self.alliance_column, self.progress_column, self.order_column = (
            spec.unit_columns.index(name) for name in UNIT_COLUMNS
        )
        self.self_alliance = float(spec.self_alliance)
        self.register_buffer("order_ids", torch.tensor(spec.order_ids, dtype=torch.float32), persistent=False)
        self.register_buffer("unit_type_ids", torch.tensor(spec.unit_type_ids, dtype=torch.float32), persistent=False)
        self.register_buffer("steps", torch.arange(FREE_SUPPLY_STEPS, dtype=torch.float32), persistent=False)
        self.out_channels = FREE_SUPPLY_STEPS + 1 + len(spec.order_ids) + 1 + len(spec.unit_type_ids) + 1

    def forward(self, scalars: torch.Tensor, units: torch.Tensor, unit_mask: torch.Tensor) -> torch.Tensor:
        free = (scalars[:, self.cap] - scalars[:, self.used]).float()[:, None]
        thermometer = (free <= self.steps).float()
        scaled = free.clamp(0, FREE_SUPPLY_SCALE) / FREE_SUPPLY_SCALE
        units = units.float()
        own = unit_mask.bool() & (units[..., self.alliance_column] == self.self_alliance)
        has_order = own & (units[..., self.order_column] != 0)
        going_up = own & (units[..., self.progress_column] < PERCENT_DONE)
        order_index = lookup_index(units[..., self.order_column], self.order_ids)
        type_index = lookup_index(units[..., self.type_column], self.unit_type_ids)
        orders = sqrt_bag(order_index, has_order, len(self.order_ids) + 1)
        types = sqrt_bag(type_index, going_up, len(self.unit_type_ids) + 1)
        return torch.cat([thermometer, scaled, orders, types], -1)

