"""Selected-units head: AlphaStar's autoregressive pointer network over per-unit keys plus an end-of-selection key.

Keys: Linear (AlphaStar: Conv1D kernel 1, 32 channels) of the unit embeddings, plus a learned end key. Each step
the pointer query (see ``query.py``) of the current autoregressive embedding feeds an LSTM cell (zero initial
state) whose output is dotted with the keys. A picked unit is masked for later steps; only the ``selectable`` rows
(own real units that may carry the action type, see ``legality.py``) can be picked; end is not allowed before the
first pick; at most ``max_selected`` picks, and at most ``max_picks`` per row (a type that targets another unit
leaves one real row unselected). After each pick the
embedding becomes the head's input embedding plus Linear(mean of the keys picked so far) (AlphaStar adds
Linear 1024 of the picked key after each step; the mean keeps the scale independent of the selection size).
The log-prob of a selection is the sum over its steps, including the end step when fewer than
``max_selected`` units are picked; its entropy is the sum of the per-step entropies along the chosen path.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from agents.heads.arguments import ArgumentTable
from agents.heads.autoregressive import add_where_used
from agents.heads.config import HeadsConfig
from agents.heads.distributions import categorical
from agents.heads.query import PointerQuery


class SelectionOutput(NamedTuple):
    """``choice`` [B, max_selected] unit rows padded with -1; ``step_log_probs`` [B, max_selected] (0 past the end)."""

    choice: torch.Tensor
    log_prob: torch.Tensor
    entropy: torch.Tensor
    autoregressive_embedding: torch.Tensor
    step_log_probs: torch.Tensor


class SelectedUnitsHead(nn.Module):
    """Pointer network choosing up to ``max_selected`` of the ``selectable`` units [B, N] for the chosen action type."""

    def __init__(self, unit_dim: int, table: ArgumentTable, max_selected: int, config: HeadsConfig) -> None:
        super().__init__()
        if max_selected < 1:
            raise ValueError(f"max_selected must be >= 1, got {max_selected}")
        self.config = config
        self.max_selected = max_selected
        self.keys = nn.Linear(unit_dim, config.key_dim)
        self.end_key = nn.Parameter(torch.randn(config.key_dim) / config.key_dim**0.5)
        self.query = PointerQuery(table, config)
        self.lstm = nn.LSTMCell(config.key_dim, config.key_dim)
        self.embed_picks = nn.Linear(config.key_dim, config.autoregressive_dim)

    def forward(
        self,
        autoregressive_embedding: torch.Tensor,
        unit_embeddings: torch.Tensor,
        selectable: torch.Tensor,
        max_picks: torch.Tensor,
        action_type: torch.Tensor,
        used: torch.Tensor,
        action: torch.Tensor | None = None,
        greedy: bool = False,
        temperature: float | torch.Tensor = 1.0,
        generator: torch.Generator | None = None,
    ) -> SelectionOutput:
        batch, num_units = selectable.shape
        steps = self.max_selected
        keys = self.keys(unit_embeddings)
        all_keys = torch.cat([keys, self.end_key.expand(batch, 1, -1)], dim=1)
        selectable = selectable.bool()
        end = torch.full((batch,), num_units, dtype=torch.long, device=keys.device)
        if action is not None:
            action = action.long()
            count = (action >= 0).sum(-1)
            positions = torch.arange(action.shape[1], device=action.device)
            if action.shape[1] != steps or not bool(((action >= 0) == (positions < count[:, None])).all()):
                raise ValueError(f"selected_units must be [B, {steps}] unit rows padded at the end with -1")
        picked = torch.zeros_like(selectable)
        active = used.bool().clone()
        key_sum = keys.new_zeros(batch, keys.shape[-1])
        num_picked = torch.zeros(batch, dtype=torch.long, device=keys.device)
        state = (keys.new_zeros(batch, keys.shape[-1]), keys.new_zeros(batch, keys.shape[-1]))
        embedding = autoregressive_embedding
        picks, log_probs, entropy = [], [], keys.new_zeros(batch)
        for step in range(steps):
            if not bool(active.any()):
                break
            state = self.lstm(self.query(embedding, action_type), state)
            logits = torch.einsum("bnk,bk->bn", all_keys, state[0])
            end_allowed = torch.full((batch, 1), step > 0, dtype=torch.bool, device=keys.device)
            room = (num_picked < max_picks)[:, None]
            mask = torch.cat([selectable & ~picked & room, end_allowed], dim=1)
            target = None if action is None else torch.where(step < count, action[:, step], end)
            choice = categorical(
                logits,
                mask,
                active,
                action=target,
                greedy=greedy,
                temperature=temperature,
                generator=generator,
                name="selected_units",
            )
            pick = active & (choice.index != num_units)
            index = choice.index.clamp(max=num_units - 1)
            picks.append(torch.where(pick, index, -1))
            log_probs.append(choice.log_prob)
            entropy = entropy + choice.entropy
            picked = picked | (nn.functional.one_hot(index, num_units).bool() & pick[:, None])
            picked_key = keys.gather(1, index[:, None, None].expand(-1, 1, keys.shape[-1])).squeeze(1)
            key_sum = key_sum + torch.where(pick[:, None], picked_key, torch.zeros_like(picked_key))
            num_picked = num_picked + pick.long()
            mean_key = key_sum / num_picked.clamp(min=1)[:, None]
            embedding = add_where_used(autoregressive_embedding, self.embed_picks(mean_key), num_picked > 0)
            active = pick
        pad = steps - len(picks)
        choice = torch.stack(picks + [end.new_full((batch,), -1)] * pad, dim=1)
        step_log_probs = torch.stack(log_probs + [entropy.new_zeros(batch)] * pad, dim=1)
        return SelectionOutput(choice, step_log_probs.sum(-1), entropy, embedding, step_log_probs)
