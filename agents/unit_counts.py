"""AlphaStar's ``unit_counts_bow``: how many units of each type the agent owns, read from the unit list.

A full game's build order turns on counts (a second barracks, the 16th worker on minerals) that attention over
hundreds of rows estimates poorly; the bag gives them to the scalar embedding directly, square-rooted as in
AlphaStar. Types outside the spec's vocabulary share one "other" slot.
"""

from __future__ import annotations

import torch
from torch import nn

from agents.featurizer import lookup_index
from agents.spec import AgentSpec


class UnitCounts(nn.Module):
    """``units`` [B, N, C] + ``unit_mask`` [B, N] -> sqrt of the own units' count per type [B, len(types) + 1]."""

    def __init__(self, spec: AgentSpec) -> None:
        super().__init__()
        columns = list(spec.unit_columns)
        self.type_column, self.alliance_column = columns.index("unit_type"), columns.index("alliance")
        self.self_alliance = float(spec.self_alliance)
        ids = torch.tensor(spec.unit_type_ids, dtype=torch.float32)  # sorted, as lookup_index needs
        self.register_buffer("unit_type_ids", ids, persistent=False)
        self.out_channels = len(spec.unit_type_ids) + 1

    def forward(self, units: torch.Tensor, unit_mask: torch.Tensor) -> torch.Tensor:
        own = unit_mask.bool() & (units[..., self.alliance_column] == self.self_alliance)
        index = lookup_index(units[..., self.type_column].float(), self.unit_type_ids)
        return sqrt_bag(index, own, self.out_channels).to(units.dtype)


def sqrt_bag(index: torch.Tensor, where: torch.Tensor, size: int) -> torch.Tensor:
    """Square-rooted count of the rows ``where`` [B, N] holds, per bag slot ``index`` [B, N] -> [B, size] float."""
    counts = torch.zeros(index.shape[0], size, device=index.device)
    return counts.scatter_add_(1, index, where.float()).sqrt()
