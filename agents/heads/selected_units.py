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
Sampling with ``compact`` (every row given uses the head) computes each step only for the rows still selecting, the
query's input projection folded into one matmul per step (``_sample``).
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
        compact: bool = False,
    ) -> SelectionOutput:
        """``compact``: every row uses the head (``used`` is all True), so a sampled row can drop out of the
        computation once its selection ends."""
        if compact and action is None:
            return self._sample(autoregressive_embedding, unit_embeddings, selectable.bool(), max_picks, action_type,
                                greedy, temperature, generator)  # fmt: skip
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

    def _sample(
        self,
        autoregressive_embedding: torch.Tensor,
        unit_embeddings: torch.Tensor,
        selectable: torch.Tensor,
        max_picks: torch.Tensor,
        action_type: torch.Tensor,
        greedy: bool,
        temperature: float | torch.Tensor,
        generator: torch.Generator | None,
    ) -> SelectionOutput:
        """``forward``'s sampling for rows that all use the head, each step only for the rows still selecting.

        After k picks the query's input projection is ``W_e (e + W_p m + b_p) + b_e`` (``e`` the head's input
        embedding, ``m`` the mean picked key): the part from ``e`` is computed once and the picks add ``m`` times
        ``W_e W_p``, so a step costs one small matmul before the LSTM cell instead of two linears.
        """
        batch, num_units = selectable.shape
        keys = self.keys(unit_embeddings)
        all_keys = torch.cat([keys, self.end_key.expand(batch, 1, -1)], dim=1)
        query, embed_picks = self.query, self.embed_picks
        start = query.embedding(autoregressive_embedding) + query.function(query.table.features[action_type])
        after_picks = start + query.embedding.weight @ embed_picks.bias  # [B, H] + [H]
        pick_weight = (query.embedding.weight @ embed_picks.weight).T  # [key_dim, H]
        choice = torch.full((batch, self.max_selected), -1, dtype=torch.long, device=keys.device)
        step_log_probs = keys.new_zeros(batch, self.max_selected)
        entropy = keys.new_zeros(batch)
        key_sums, counts = keys.new_zeros(batch, keys.shape[-1]), torch.zeros_like(max_picks, dtype=torch.long)
        # the state of the rows still selecting: which rows they are, what each may pick, and the LSTM state
        rows = torch.arange(batch, device=keys.device)
        allowed = torch.cat([selectable & (max_picks > 0)[:, None], selectable.new_zeros(batch, 1)], dim=1)
        key_sum, count, limit = key_sums.clone(), counts.clone(), max_picks
        state = (keys.new_zeros(batch, keys.shape[-1]), keys.new_zeros(batch, keys.shape[-1]))
        rows_temperature = temperature
        for step in range(self.max_selected):
            pre = start if step == 0 else torch.addmm(after_picks, key_sum / count[:, None], pick_weight)
            state = self.lstm(query.out(torch.relu(pre)), state)
            logits = torch.bmm(all_keys, state[0][:, :, None]).squeeze(-1)
            everyone = torch.ones_like(count, dtype=torch.bool)
            picked = categorical(logits, allowed, everyone, greedy=greedy, temperature=rows_temperature,
                                 generator=generator, name="selected_units")  # fmt: skip
            index = picked.index
            pick = index != num_units
            choice[rows, step] = torch.where(pick, index, -1)
            step_log_probs[rows, step] = picked.log_prob
            entropy.index_add_(0, rows, picked.entropy)
            unit = index.clamp(max=num_units - 1)
            key_sum = key_sum + torch.where(pick[:, None], keys[torch.arange(len(rows)), unit], 0.0)
            count = count + pick.long()
            allowed[torch.arange(len(rows)), index] = False
            allowed[:, :num_units] &= (count < limit)[:, None]
            allowed[:, num_units] = True  # ending is allowed after the first pick
            if bool(pick.all()):
                continue
            done = ~pick
            key_sums[rows[done]], counts[rows[done]] = key_sum[done], count[done]
            if not bool(pick.any()):
                break
            keep = pick.nonzero().squeeze(1)
            rows, key_sum, count, limit = rows[keep], key_sum[keep], count[keep], limit[keep]
            keys, all_keys, allowed, after_picks = keys[keep], all_keys[keep], allowed[keep], after_picks[keep]
            state = (state[0][keep], state[1][keep])
            if isinstance(temperature, torch.Tensor):
                rows_temperature = temperature[rows]
        else:
            key_sums[rows], counts[rows] = key_sum, count
        mean_key = key_sums / counts.clamp(min=1)[:, None]
        embedding = add_where_used(autoregressive_embedding, embed_picks(mean_key), counts > 0)
        return SelectionOutput(choice, step_log_probs.sum(-1), entropy, embedding, step_log_probs)
