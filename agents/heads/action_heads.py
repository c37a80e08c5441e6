"""All action heads chained in AlphaStar order through the autoregressive embedding.

action type -> selected units -> target unit -> target location -> queued, each masked by the spec's legality rules
(``legality.py``), so every sampled action is legal by construction.
``action`` teacher-forces the heads whose keys it holds (all of them to score an action; only some, e.g. the action
type, to predict the rest given those). Arguments the chosen action type does not use (per the spec's argument
table) are neither sampled nor scored: their log-prob and entropy are 0, their choice is the contract's absent
value, and they leave the embedding as is. A given ``target_unit`` of -1 where the type uses one means "unknown"
(a replay that does not record it): that head is left unscored and the action counts as targeting nothing. Rows not
``active`` (a step whose actions ended, see ``step_actions.py``) choose the no_op, which uses no argument, so nothing
of theirs is sampled or scored. With ``compact`` (acting: every row given acts), each head runs only on the rows
whose action type uses it, which gives the same actions, log-probs and entropies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

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
    ``entropy`` [B] each (``entropy`` empty from ``compact``: acting never reads it); ``selection_step_log_probs``
    [B, max_selected]; ``embedding`` [B, D], the autoregressive embedding after the last head (what the action
    was)."""

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
        self.rules = LegalityRules(spec, config.idle_producers)
        self.max_selected = spec.max_selected_units
        self.embedding_dim = config.autoregressive_dim
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
        compact: bool = False,
        score: bool = False,
        greedy_arguments: bool = False,
    ) -> ActionHeadsOutput:
        """``legal`` from ``self.rules.observe(obs)``; ``temperature``: one number, or one per row [B]; ``active``
        [B]: the rows that still act (all when None; the others' action is the no_op, unscored). ``compact``: every
        row acts (``active`` None) and each head runs only where used (then only the action-type head's
        distributions cover every row, for ``recording``). ``score``: ``action`` holds every key, and the selection
        and location heads score it on their fast teacher-forced paths. ``greedy_arguments``: the action type is
        sampled (or picked, with ``greedy``) as usual, every argument head picks its most likely choice."""
        given = (lambda key: None) if action is None else action.get  # a partial action forces only its keys
        sampling = {"greedy": greedy, "temperature": temperature, "generator": generator}
        arguments = {**sampling, "greedy": True} if greedy_arguments else sampling
        if compact:
            if active is not None:
                raise ValueError("ActionHeads: compact runs every row given (pass only the active rows)")
            return self._compact(core_output, unit_embeddings, legal, given, sampling, arguments)
        if active is None:
            active = torch.ones(core_output.shape[0], dtype=torch.bool, device=core_output.device)
        kind = self.action_type(core_output, legal.action_types, given("action_type"), **sampling, active=active,
                                end=self.no_op)  # fmt: skip
        types = kind.choice
        real_rows = legal.unit_mask.sum(-1)
        max_picks = torch.where(self.rules.keeps_one_unselected(types), real_rows - 1, self.max_selected)
        selection_inputs = (kind.autoregressive_embedding, unit_embeddings, self.rules.selectable(legal, types),
                            max_picks, types, self.table.used(types, "selected_units"), given("selected_units"))
        if score:
            selection = self.selected_units.score(*selection_inputs, temperature=temperature)
        else:
            selection = self.selected_units(*selection_inputs, **arguments)
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
            **arguments,
        )
        location_inputs = (target.autoregressive_embedding, legal.cells, self.table.used(types, "target_location"),
                           given("target_location"))
        if score:
            location = self.target_location.score(*location_inputs, temperature=temperature)
        else:
            location = self.target_location(*location_inputs, **arguments)
        queued = self.queued(
            location.autoregressive_embedding, self.table.used(types, "queued"), given("queued"), **arguments
        )
        outputs = dict(zip(HEADS, (kind, selection, target, location, queued), strict=True))
        return ActionHeadsOutput(
            {k: o.choice for k, o in outputs.items()},
            {k: o.log_prob for k, o in outputs.items()},
            {k: o.entropy for k, o in outputs.items()},
            selection.step_log_probs,
            queued.autoregressive_embedding,
        )

    def nothing(self, batch: int, like: torch.Tensor) -> ActionHeadsOutput:
        """What ``batch`` rows that send nothing output: the no_op with every argument absent, log-probs and
        entropies 0, a zero embedding (on ``like``'s device and dtype)."""
        device = like.device
        zeros = like.new_zeros(batch)
        action = {
            "action_type": torch.full((batch,), self.no_op, dtype=torch.long, device=device),
            "selected_units": torch.full((batch, self.max_selected), -1, dtype=torch.long, device=device),
            "target_unit": torch.full((batch,), -1, dtype=torch.long, device=device),
            "target_location": torch.zeros(batch, 2, dtype=torch.long, device=device),
            "queued": torch.zeros(batch, dtype=torch.long, device=device),
        }
        return ActionHeadsOutput(action, dict.fromkeys(HEADS, zeros), dict.fromkeys(HEADS, zeros),
                                 like.new_zeros(batch, self.max_selected), like.new_zeros(batch, self.embedding_dim))

    def _compact(
        self,
        core_output: torch.Tensor,
        unit_embeddings: torch.Tensor,
        legal: Legality,
        given: Callable[[str], torch.Tensor | None],
        sampling: dict[str, Any],
        arguments: dict[str, Any],
    ) -> ActionHeadsOutput:
        """``forward`` with every row active, each argument head only on the rows whose type uses it (and no
        entropies); the action type drawn as ``sampling`` says, the arguments as ``arguments`` says."""
        batch, num_units = legal.unit_mask.shape
        device = core_output.device
        sampling = {**sampling, "with_entropy": False}
        arguments = {**arguments, "with_entropy": False}
        kind = self.action_type(core_output, legal.action_types, given("action_type"), **sampling,
                                active=torch.ones(batch, dtype=torch.bool, device=device), end=self.no_op)  # fmt: skip
        types = kind.choice
        out = self.nothing(batch, core_output)._replace(embedding=kind.autoregressive_embedding, entropy={})
        out.action["action_type"] = types
        out.log_probs["action_type"] = kind.log_prob
        rows = Rows(self.table.used(types, "selected_units"), arguments)
        if rows:
            max_picks = torch.where(self.rules.keeps_one_unselected(types), legal.unit_mask.sum(-1) - 1,
                                    self.max_selected)  # fmt: skip
            selection = self.selected_units(
                rows.take(out.embedding), rows.take(unit_embeddings), rows.take(self.rules.selectable(legal, types)),
                rows.take(max_picks), rows.take(types), rows.everyone, rows.take(given("selected_units")),
                **rows.sampling, compact=True)  # fmt: skip
            out = rows.put(out, "selected_units", selection)._replace(
                selection_step_log_probs=rows.put_tensor(out.selection_step_log_probs, selection.step_log_probs))
        used = self.table.used(types, "target_unit")
        if given("target_unit") is not None:
            used = used & (given("target_unit") >= 0)
        rows = Rows(used, arguments)
        if rows:  # the rules on every row (a few small ops), then one take rather than one per legality mask
            allowed = rows.take(self.rules.targets(legal, types, selected_rows(out.action["selected_units"],
                                                                               num_units)))  # fmt: skip
            target = self.target_unit(rows.take(out.embedding), rows.take(unit_embeddings), allowed, rows.take(types),
                                      rows.everyone, rows.take(given("target_unit")), **rows.sampling)  # fmt: skip
            out = rows.put(out, "target_unit", target)
        rows = Rows(self.table.used(types, "target_location"), arguments)
        if rows:
            location = self.target_location(rows.take(out.embedding), rows.take(legal.cells), rows.everyone,
                                            rows.take(given("target_location")), **rows.sampling)  # fmt: skip
            out = rows.put(out, "target_location", location)
        rows = Rows(self.table.used(types, "queued"), arguments)
        if rows:
            queued = self.queued(rows.take(out.embedding), rows.everyone, rows.take(given("queued")), **rows.sampling)
            out = rows.put(out, "queued", queued)
        return out


class Rows:
    """The rows of a batch that use a head (``used`` [B]): ``take`` selects them from a [B, ...] tensor, ``put``
    writes the head's results for them into the output (no indexing at all when every row uses the head)."""

    def __init__(self, used: torch.Tensor, sampling: dict[str, Any]) -> None:
        self.index = used.nonzero().squeeze(1)
        self.every = self.index.numel() == used.numel()
        self.everyone = torch.ones(self.index.numel(), dtype=torch.bool, device=used.device)
        temperature = sampling["temperature"]
        if isinstance(temperature, torch.Tensor) and temperature.dim():
            sampling = {**sampling, "temperature": self.take(temperature)}
        self.sampling = sampling

    def __bool__(self) -> bool:
        return self.index.numel() > 0

    def take(self, x: torch.Tensor | None) -> torch.Tensor | None:
        return x if self.every or x is None else x.index_select(0, self.index)  # faster than x[self.index]

    def put_tensor(self, full: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x if self.every else full.index_copy(0, self.index, x)

    def put(self, out: ActionHeadsOutput, head: str, result: Any) -> ActionHeadsOutput:
        """``out`` with ``head``'s choice, log-prob, entropy (unless None) and the embedding after it from
        ``result``."""
        out.action[head] = self.put_tensor(out.action[head], result.choice)
        out.log_probs[head] = self.put_tensor(out.log_probs[head], result.log_prob)
        if result.entropy is not None:
            out.entropy[head] = self.put_tensor(out.entropy[head], result.entropy)
        return out._replace(embedding=self.put_tensor(out.embedding, result.autoregressive_embedding))


def selected_rows(selection: torch.Tensor, num_units: int) -> torch.Tensor:
    """Bool [B, N]: the rows named in a selection [B, max_selected] padded with -1."""
    rows = torch.zeros(selection.shape[0], num_units + 1, dtype=torch.bool, device=selection.device)
    rows.scatter_(1, torch.where(selection >= 0, selection, num_units), True)
    return rows[:, :num_units]
