"""Scalar encoder: the observation's ``scalars`` and the previous action type -> one embedding vector.

Scalars span many magnitudes (game loop in the thousands, ratios in [0, 1]), so each goes through a signed
``log1p`` first; the previous action type gets a learned embedding, with its own index for "none" (-1, the
first step of an episode). With ``config.unit_counts`` the own units' bag by type (``agents.unit_counts``) joins
the input through weights that start at zero, so an agent grown from one without it acts as that one did. With
``config.available_actions`` the observation's available-action flags join the input too (as AlphaStar's): what a
macro decision waits for (money, supply, tech, an idle producer) flips one flag exactly when it is met, where the
log-scaled bank and supply only approach a threshold. ``config.macro_inputs`` adds the free supply and what the own
units have on the way (``agents.macro_inputs``), also through weights that start at zero.
"""

from __future__ import annotations

import torch
from torch import nn

from agents.config import ScalarEncoderConfig
from agents.macro_inputs import MacroInputs
from agents.spec import AgentSpec
from agents.unit_counts import UnitCounts


class ScalarEncoder(nn.Module):
    """``scalars`` [B, S] float + ``previous_action_type`` [B] int (-1: none) (+ the unit list for the counts and the
    macro inputs, the available-action flags [B, A] for ``available_actions``) -> [B, config.dim]."""

    def __init__(self, spec: AgentSpec, config: ScalarEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or ScalarEncoderConfig()
        self.num_scalars = len(spec.scalars)
        # the scalars the data cannot tell (``spec.unknown_scalars``) are read as 0 whatever they hold
        known = [name not in spec.unknown_scalars for name in spec.scalars]
        self.known_scalars: torch.Tensor | None
        self.register_buffer("known_scalars", None if all(known) else torch.tensor(known, dtype=torch.float32),
                             persistent=False)  # fmt: skip
        if self.config.available_actions and not spec.available_actions_known:
            raise ValueError("scalar.available_actions reads the available-action flags, which this spec's data cannot "
                             "tell (its 'unknown' lists available_actions: replays); set it false")  # fmt: skip
        self.num_action_types = spec.num_action_types
        self.action_embedding = nn.Embedding(self.num_action_types + 1, self.config.action_dim)
        flags = self.num_action_types if self.config.available_actions else 0
        self.projection = nn.Linear(self.num_scalars + self.config.action_dim + flags, self.config.dim)
        self.unit_counts = UnitCounts(spec) if self.config.unit_counts else None
        if self.unit_counts is not None:
            self.counts_projection = nn.Linear(self.unit_counts.out_channels, self.config.dim, bias=False)
            nn.init.zeros_(self.counts_projection.weight)
        self.macro_inputs = MacroInputs(spec) if self.config.macro_inputs else None
        if self.macro_inputs is not None:
            self.macro_projection = nn.Linear(self.macro_inputs.out_channels, self.config.dim, bias=False)
            nn.init.zeros_(self.macro_projection.weight)

    @property
    def out_channels(self) -> int:
        return self.config.dim

    def forward(
        self,
        scalars: torch.Tensor,
        previous_action_type: torch.Tensor,
        units: torch.Tensor | None = None,
        unit_mask: torch.Tensor | None = None,
        available: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if scalars.dim() != 2 or scalars.shape[-1] != self.num_scalars:
            raise ValueError(f"scalars must have shape [batch, {self.num_scalars}], got {tuple(scalars.shape)}")
        if tuple(previous_action_type.shape) != (scalars.shape[0],):
            raise ValueError(
                f"previous_action_type must have shape [batch] = ({scalars.shape[0]},), "
                f"got {tuple(previous_action_type.shape)}"
            )
        action = previous_action_type.long()
        if bool(((action < -1) | (action >= self.num_action_types)).any()):
            raise ValueError(f"previous_action_type must be in [-1, {self.num_action_types - 1}]")
        action = torch.where(action < 0, self.num_action_types, action)
        x = torch.sign(scalars) * torch.log1p(scalars.abs())
        if self.known_scalars is not None:
            x = x * self.known_scalars
        parts = [x.float(), self.action_embedding(action)]
        if self.config.available_actions:
            if available is None or tuple(available.shape) != (scalars.shape[0], self.num_action_types):
                shape = None if available is None else tuple(available.shape)
                raise ValueError(f"this scalar encoder reads the available actions (config.available_actions): give "
                                 f"them with shape [batch, {self.num_action_types}], got {shape}")  # fmt: skip
            parts.append(available.float())
        embedded = self.projection(torch.cat(parts, -1))
        if (self.unit_counts is not None or self.macro_inputs is not None) and (units is None or unit_mask is None):
            raise ValueError("this scalar encoder reads the own units (config.unit_counts or config.macro_inputs): "
                             "give units, unit_mask")  # fmt: skip
        if self.unit_counts is not None:
            embedded = embedded + self.counts_projection(self.unit_counts(units, unit_mask).to(embedded.dtype))
        if self.macro_inputs is not None:
            macro = self.macro_inputs(scalars, units, unit_mask).to(embedded.dtype)
            embedded = embedded + self.macro_projection(macro)
        return torch.relu(embedded)
