"""All action heads chained in AlphaStar order through the autoregressive embedding.

action type -> selected units -> target unit -> target location -> queued, each masked by the spec's legality rules
(``legality.py``), so every sampled action is legal by construction.
``action`` teacher-forces the heads whose keys it holds (all of them to score an action; only some, e.g. the action
type, to predict the rest given those). Arguments the chosen action type does not use (per the spec's argument
table) are neither sampled nor scored: their log-prob and entropy are 0, their choice is the contract's absent
value, and they leave the embedding as is. A given ``target_unit`` of -1 where the type uses one means "unknown"
(a replay that does not record it): that head is left unscored and the action counts as targeting nothing. Rows not
``active`` (a step whose actions ended, see ``step_actions.py``) choose the no_op, which uses no argument, so nothing
of theirs is sampled or scored.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from agents.heads.action_type import ActionTypeHead
from agents.heads.arguments import ArgumentTable
from agents.heads.config import HeadsConfig
from agents.heads.legality import Legality, LegalityRules
from agents.heads.location import LocationHead
from agents.heads.queued import QueuedHead
from agents.heads.selected_units import SelectedUnitsHead
from agents.heads.target_unit import TargetUnitHead
from agents.spec import AgentSpec

HEADS = ("action_type", "selected_units", "target_unit", "target_location", "queued")


class ActionHeadsOutput(NamedTuple):
    """Per-head dicts keyed by ``HEADS``: ``action`` in the contract's format (batched), ``log_probs`` and
    ``entropy`` [B] each; ``selection_step_log_probs`` [B, max_selected]; ``embedding`` [B, D], the autoregressive
    embedding after the last head (what the action was)."""

    action: dict[str, torch.Tensor]
    log_probs: dict[str, torch.Tensor]
    entropy: dict[str, torch.Tensor]
    selection_step_log_probs: torch.Tensor
    embedding: torch.Tensor


class ActionHeads(nn.Module):
    """Samples (or scores, given ``action``) a batch of actions from the core output and the unit embeddings."""

    def __init__(self, spec: AgentSpec, core_dim: int, unit_dim: int, config: HeadsConfig) -> None:
        super().__init__()
        self.table = ArgumentTable(spec)
        self.no_op = spec.no_op
        self.rules = LegalityRules(spec)
        self.max_selected = spec.max_selected_units
        self.action_type = ActionTypeHead(core_dim, self.table.num_action_types, config)
        self.selected_units = SelectedUnitsHead(unit_dim, self.table, spec.max_selected_units, config)
        self.target_unit = TargetUnitHead(unit_dim, self.table, config)
        self.target_location = LocationHead(spec.location_resolution, config)
        self.queued = QueuedHead(config)

    def forward(
        self,
        core_output: torch.Tensor,
        unit_embeddings: torch.Tensor,
        legal: Legality,
        action: dict[str, torch.Tensor] | None = None,
        greedy: bool = False,
        temperature: float | torch.Tensor = 1.0,
        generator: torch.Generator | None = None,
        active: torch.Tensor | None = None,
    ) -> ActionHeadsOutput:
        """``legal`` from ``self.rules.observe(obs)``; ``temperature``: one number, or one per row [B]; ``active``
        [B]: the rows that still act (all when None; the others' action is the no_op, unscored)."""
        given = (lambda key: None) if action is None else action.get  # a partial action forces only its keys
        sampling = {"greedy": greedy, "temperature": temperature, "generator": generator}
        if active is None:
            active = torch.ones(core_output.shape[0], dtype=torch.bool, device=core_output.device)
        kind = self.action_type(core_output, legal.action_types, given("action_type"), **sampling, active=active,
                                end=self.no_op)  # fmt: skip
        types = kind.choice
        real_rows = legal.unit_mask.sum(-1)
        max_picks = torch.where(self.rules.keeps_one_unselected(types), real_rows - 1, self.max_selected)
        selection = self.selected_units(
            kind.autoregressive_embedding,
            unit_embeddings,
            self.rules.selectable(legal, types),
            max_picks,
            types,
            self.table.used(types, "selected_units"),
            given("selected_units"),
            **sampling,
        )
        target_used = self.table.used(types, "target_unit")
        if given("target_unit") is not None:
            target_used = target_used & (given("target_unit") >= 0)
        target = self.target_unit(
            selection.autoregressive_embedding,
            unit_embeddings,
            self.rules.targets(legal, types, selected_rows(selection.choice, legal.unit_mask.shape[1])),
            types,
            target_used,
            given("target_unit"),
            **sampling,
        )
        location = self.target_location(
            target.autoregressive_embedding,
            legal.cells,
            self.table.used(types, "target_location"),
            given("target_location"),
            **sampling,
        )
        queued = self.queued(
            location.autoregressive_embedding, self.table.used(types, "queued"), given("queued"), **sampling
        )
        outputs = dict(zip(HEADS, (kind, selection, target, location, queued), strict=True))
        return ActionHeadsOutput(
            {k: o.choice for k, o in outputs.items()},
            {k: o.log_prob for k, o in outputs.items()},
            {k: o.entropy for k, o in outputs.items()},
            selection.step_log_probs,
            queued.autoregressive_embedding,
        )


def selected_rows(selection: torch.Tensor, num_units: int) -> torch.Tensor:
    """Bool [B, N]: the rows named in a selection [B, max_selected] padded with -1."""
    rows = torch.zeros(selection.shape[0], num_units + 1, dtype=torch.bool, device=selection.device)
    rows.scatter_(1, torch.where(selection >= 0, selection, num_units), True)
    return rows[:, :num_units]
