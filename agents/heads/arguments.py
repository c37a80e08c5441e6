"""Per-action-type argument table derived from the spec: which heads each action type uses.

Also the AlphaStar "function" features of each action type (its one-hot plus a multi-hot of the unit types
that can accept it, from the spec's unit types' ``abilities``), which condition the pointer heads' queries.
"""

from __future__ import annotations

import torch
from torch import nn

from agents.spec import ARGUMENTS, AgentSpec


class ArgumentTable(nn.Module):
    """``uses[a, k]``: action type ``a`` uses argument ``ARGUMENTS[k]``; ``features[a]``: its function features."""

    uses: torch.Tensor
    features: torch.Tensor

    def __init__(self, spec: AgentSpec) -> None:
        super().__init__()
        types, unit_types = spec.action_types, spec.unit_types
        uses = torch.tensor([[a.uses(arg) for arg in ARGUMENTS] for a in types], dtype=torch.bool)
        accepts = torch.tensor(
            [[a.name in u.abilities for u in unit_types] for a in types], dtype=torch.float32
        ).reshape(len(types), len(unit_types))
        self.register_buffer("uses", uses, persistent=False)
        self.register_buffer("features", torch.cat([torch.eye(len(types)), accepts], dim=1), persistent=False)

    @property
    def num_action_types(self) -> int:
        return self.uses.shape[0]

    @property
    def feature_dim(self) -> int:
        return self.features.shape[1]

    def used(self, action_type: torch.Tensor, argument: str) -> torch.Tensor:
        """Bool [B]: whether each row's action type uses ``argument``."""
        return self.uses[action_type, ARGUMENTS.index(argument)]
