"""One agent step's actions: up to ``actions_per_step`` sub-actions, each conditioned on those before it.

The environment lets a player send up to N actions per agent step (the spec's ``actions_per_step``, no_ops free),
and micro often needs more than one at once (focus fire and pull a hurt unit back). So, as AlphaStar chains its
heads within one action, a step chains whole actions: sub-action k runs the action heads on a context c_k, with
c_0 the core output and c_{k+1} = c_k + Linear(the autoregressive embedding after sub-action k's last head), so
every sub-action knows what was already ordered this step. The no_op is the end action: a row whose sub-action k
is a no_op sends nothing more; its later sub-actions are no_op padding, neither sampled nor scored (log-prob and
entropy 0). From sub-action 1 on the no_op is always allowed, so a row can end whenever it likes. A given action
type of -1 means "unknown" (data that does not say whether the step went on, e.g. one StarCraft II command): that
sub-action is left unscored and the step counts as ended there.

Actions are batched with a sub-action axis after the batch: ``action_type`` [B, N], ``selected_units``
[B, N, max_selected], ``target_unit`` [B, N], ``target_location`` [B, N, 2], ``queued`` [B, N]. Per-head log-probs
and entropies are [B], summed over the sub-actions, so a step's log-prob is the sum over heads, as with one action;
the exact-KL recording holds each head's distributions sub-action by sub-action, in the same order for any two
policies scoring the same actions. With N = 1 this is exactly the single-action head chain. With ``compact``
(acting), sub-action k runs only on the rows still acting and each head only where used (``ActionHeads``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from agents.heads.action_heads import HEADS, ActionHeads, ActionHeadsOutput, Rows
from agents.heads.config import HeadsConfig
from agents.heads.legality import Legality


class StepActionsOutput(NamedTuple):
    """``action``: the contract's keys with the sub-action axis [B, N, ...]; ``log_probs`` and ``entropy`` per head
    [B], summed over the sub-actions (``entropy`` empty from ``compact``)."""

    action: dict[str, torch.Tensor]
    log_probs: dict[str, torch.Tensor]
    entropy: dict[str, torch.Tensor]


class StepActions(nn.Module):
    """Runs ``ActionHeads`` up to ``actions_per_step`` times per row, ending at the first no_op."""

    def __init__(self, actions_per_step: int, no_op: int, core_dim: int, config: HeadsConfig) -> None:
        super().__init__()
        self.actions_per_step, self.no_op = actions_per_step, no_op
        # No carry with one sub-action: no parameter that never gets a gradient (DistributedDataParallel refuses it).
        self.carry = nn.Linear(config.autoregressive_dim, core_dim) if actions_per_step > 1 else nn.Identity()

    def forward(
        self,
        heads: ActionHeads,
        core_output: torch.Tensor,
        unit_embeddings: torch.Tensor,
        legal: Legality,
        action: dict[str, torch.Tensor] | None = None,
        greedy: bool = False,
        temperature: float | torch.Tensor = 1.0,
        generator: torch.Generator | None = None,
        compact: bool = False,
        score: bool = False,
        greedy_arguments: bool = False,
    ) -> StepActionsOutput:
        """Sample, or score ``action`` ([B, N, ...] per key). A partial ``action`` forces its keys in every sub-action
        and samples the rest (e.g. the true action types, to measure the selections given them); later sub-actions
        are then conditioned on the earlier ones as forced and sampled. ``compact``: skip the work of rows and
        heads whose result is unused (same actions and log-probs, no entropies; ``recording`` then sees only the
        rows computed). ``score``:
        ``action`` is complete and only scored (the heads' fast teacher-forced paths, see ``ActionHeads``).
        ``greedy_arguments``: every argument head picks its most likely choice (see ``ActionHeads``)."""
        rows = core_output.shape[0]
        active = torch.ones(rows, dtype=torch.bool, device=core_output.device)
        may_end = legal._replace(action_types=legal.action_types | (torch.arange(
            legal.action_types.shape[1], device=core_output.device) == self.no_op))  # fmt: skip
        context, outputs = core_output, []
        for k in range(self.actions_per_step):
            given = None if action is None else {key: value[:, k] for key, value in action.items()}
            if given is not None and "action_type" in given:
                active = active & (given["action_type"] >= 0)
            allowed = legal if k == 0 else may_end
            if compact:
                out = self._active_rows(heads, active, context, unit_embeddings, allowed, given, greedy, temperature,
                                        generator, greedy_arguments)  # fmt: skip
            else:
                out = heads(context, unit_embeddings, allowed, action=given, greedy=greedy, temperature=temperature,
                            generator=generator, active=active, score=score,
                            greedy_arguments=greedy_arguments)  # fmt: skip
            outputs.append(out)
            active = active & (out.action["action_type"] != self.no_op)
            if k + 1 < self.actions_per_step:
                context = context + self.carry(out.embedding)
        return StepActionsOutput(
            {key: torch.stack([o.action[key] for o in outputs], 1) for key in HEADS},
            {head: torch.stack([o.log_probs[head] for o in outputs]).sum(0) for head in HEADS},
            {} if compact else {head: torch.stack([o.entropy[head] for o in outputs]).sum(0) for head in HEADS},
        )


    def _active_rows(self, heads: ActionHeads, active: torch.Tensor, context: torch.Tensor,
                     unit_embeddings: torch.Tensor, legal: Legality, given: dict[str, torch.Tensor] | None,
                     greedy: bool, temperature: float | torch.Tensor,
                     generator: torch.Generator | None, greedy_arguments: bool) -> ActionHeadsOutput:  # fmt: skip
        """One sub-action computed only for the ``active`` rows (compact heads); the others get the no_op."""
        rows = Rows(active, {"greedy": greedy, "temperature": temperature, "generator": generator})
        if not rows:
            return heads.nothing(active.shape[0], context)
        out = heads(rows.take(context), rows.take(unit_embeddings), Legality(*map(rows.take, legal)),
                    action=None if given is None else {key: rows.take(value) for key, value in given.items()},
                    **rows.sampling, compact=True, greedy_arguments=greedy_arguments)  # fmt: skip
        if rows.every:
            return out
        empty = heads.nothing(active.shape[0], context)
        return ActionHeadsOutput(
            {key: rows.put_tensor(empty.action[key], value) for key, value in out.action.items()},
            {key: rows.put_tensor(empty.log_probs[key], value) for key, value in out.log_probs.items()},
            {key: rows.put_tensor(empty.entropy[key], value) for key, value in out.entropy.items()},
            rows.put_tensor(empty.selection_step_log_probs, out.selection_step_log_probs),
            rows.put_tensor(empty.embedding, out.embedding),
        )


def last_actions(action: dict[str, torch.Tensor], no_op: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of a step's actions [B, N, ...]: the last sub-action's type and target unit that is neither a no_op
    nor unknown (-1) ([B] each; no_op and -1 where the step sent nothing)."""
    kinds, targets = action["action_type"].long(), action["target_unit"].long()
    kind = torch.full(kinds.shape[:1], no_op, dtype=torch.long, device=kinds.device)
    target = torch.full_like(kind, -1)
    for k in range(kinds.shape[1]):
        real = (kinds[:, k] != no_op) & (kinds[:, k] >= 0)
        kind = torch.where(real, kinds[:, k], kind)
        target = torch.where(real, targets[:, k], target)
    return kind, target

