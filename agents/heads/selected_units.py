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
``score`` (teacher forcing) knows every pick in advance, so it builds all steps' embeddings, queries, masks and logits
at once; only the pointer LSTM runs step by step.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from agents.heads.arguments import ArgumentTable
from agents.heads.autoregressive import add_where_used
from agents.heads.config import HeadsConfig
from agents.heads.distributions import categorical, sample_rows, score
from agents.heads.query import PointerQuery


class SelectionOutput(NamedTuple):
    """``choice`` [B, max_selected] unit rows padded with -1; ``step_log_probs`` [B, max_selected] (0 past the end);
    ``entropy`` None where not asked for (``with_entropy=False``)."""

    choice: torch.Tensor
    log_prob: torch.Tensor
    entropy: torch.Tensor | None
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
        with_entropy: bool = True,
    ) -> SelectionOutput:
        """``compact``: every row uses the head (``used`` is all True), so a sampled row can drop out of the
        computation once its selection ends."""
        if compact and action is None:
            return self._sample(autoregressive_embedding, unit_embeddings, selectable.bool(), max_picks, action_type,
                                greedy, temperature, generator, with_entropy)  # fmt: skip
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
        return SelectionOutput(choice, step_log_probs.sum(-1), entropy if with_entropy else None, embedding,
                               step_log_probs)  # fmt: skip

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
        with_entropy: bool,
    ) -> SelectionOutput:
        """``forward``'s sampling for rows that all use the head, each step only for the rows still selecting.

        The rows still selecting have all picked at every step so far, so after k steps each holds k picks. Their
        query's input projection is then ``W_e (e + W_p m + b_p) + b_e`` (``e`` the head's input embedding, ``m``
        the mean picked key): the part from ``e`` is computed once and the picks add ``m W_p^T W_e^T``, and the
        query's output layer is folded into the LSTM's input weights, so a step is one matmul, the LSTM cell, the
        logits and the masked choice (the same distribution as ``categorical``'s, built in place).
        """
        batch, num_units = selectable.shape
        keys = self.keys(unit_embeddings)
        all_keys = torch.cat([keys, self.end_key.expand(batch, 1, -1)], dim=1)
        query, lstm = self.query, self.lstm
        start = query.embedding(autoregressive_embedding) + query.function(query.table.features[action_type])
        after_picks = start + query.embedding.weight @ self.embed_picks.bias  # [B, H]
        pick_weight = (query.embedding.weight @ self.embed_picks.weight).T  # [key_dim, H]
        input_weight = lstm.weight_ih @ query.out.weight  # the LSTM's input gates straight from the ReLU: [4K, H]
        input_bias = lstm.weight_ih @ query.out.bias + lstm.bias_ih
        barred = torch.cat([~selectable | (max_picks <= 0)[:, None], selectable.new_ones(batch, 1)], dim=1)
        if bool(barred.all(-1).any()):
            raise ValueError("selected_units: a row that uses this argument has nothing it may choose")
        least = int(max_picks.min())  # no row's picks are limited before this step
        rows, limit, key_sum = torch.arange(batch, device=keys.device), max_picks, keys.new_zeros(batch, keys.shape[-1])
        key_sums = key_sum.clone()  # each row's sum of picked keys, written when its selection ends
        # flat index of each row's first key in ``all_keys`` (its rows kept in order, so a prefix after a drop)
        width = num_units + 1
        offsets = torch.arange(0, batch * width, width, device=keys.device)[:, None]
        flat_keys = all_keys.flatten(0, 1)
        state = (key_sum, key_sum)
        hidden_weight, hidden_bias = lstm.weight_hh, lstm.bias_hh
        steps: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # rows, choice, log-prob
        entropies: list[torch.Tensor] = []
        for step in range(self.max_selected):
            pre = start if step == 0 else torch.addmm(after_picks, key_sum, pick_weight, alpha=1.0 / step)
            state = torch.lstm_cell(torch.relu(pre), state, input_weight, hidden_weight, input_bias, hidden_bias)
            logits = torch.bmm(all_keys, state[0].unsqueeze(-1)).squeeze(-1)
            if isinstance(temperature, torch.Tensor):
                logits = logits / temperature[rows, None].to(logits.dtype)
            elif temperature != 1:
                logits = logits / temperature
            masked = logits.masked_fill(barred, float("-inf"))
            # each row's choice as a column [R, 1]: what gather, scatter and where read
            if greedy or with_entropy:
                log_p = masked.log_softmax(-1)
                p = log_p.exp()
                column = log_p.argmax(-1, keepdim=True) if greedy else sample_rows(p, generator, keepdim=True)
            else:  # the log of the chosen probability is all a sampled step reads of the log-softmax
                log_p, p = None, masked.softmax(-1)
                column = sample_rows(p, generator, keepdim=True)
            if with_entropy:
                entropies.append(-(p * log_p.masked_fill(barred, 0.0)).sum(-1))
            chosen = (p if log_p is None else log_p).gather(1, column)
            steps.append((rows, column, chosen.log_() if log_p is None else chosen))
            pick = column != num_units
            every = bool(pick.all())
            picked_key = flat_keys.index_select(0, (offsets + column).view(-1))  # the end key where not picking
            key_sum = key_sum + (picked_key if every else torch.where(pick, picked_key, 0.0))
            barred.scatter_(1, column, True)
            if step == 0:
                barred[:, num_units] = False  # ending is allowed after the first pick
            if step + 1 >= least:
                barred[:, :num_units] |= (limit <= step + 1)[:, None]
            if every:
                continue
            key_sums.index_copy_(0, rows, key_sum)
            keep = pick.nonzero()[:, 0]
            if keep.numel() == 0:
                break
            # index_select: the rows still selecting (half the cost of indexing with a tensor)
            rows, key_sum, all_keys, barred, after_picks, *state = (
                x.index_select(0, keep) for x in (rows, key_sum, all_keys, barred, after_picks, *state))
            limit = limit.index_select(0, keep) if least <= self.max_selected else limit  # read from step least - 1
            offsets, flat_keys = offsets[: keep.numel()], all_keys.flatten(0, 1)
        else:
            key_sums.index_copy_(0, rows, key_sum)
        step_index = torch.arange(len(steps), device=keys.device).repeat_interleave(
            torch.tensor([r.numel() for r, *_ in steps], device=keys.device))
        row_index, index, log_prob = (torch.cat(parts).view(-1) for parts in zip(*steps, strict=True))
        choice = torch.full((batch, self.max_selected), -1, dtype=torch.long, device=keys.device)
        choice[row_index, step_index] = torch.where(index != num_units, index, -1)
        step_log_probs = key_sums.new_zeros(batch, self.max_selected).index_put_((row_index, step_index), log_prob)
        counts = (choice >= 0).sum(-1)
        mean_key = key_sums / counts.clamp(min=1)[:, None]
        embedding = add_where_used(autoregressive_embedding, self.embed_picks(mean_key), counts > 0)
        entropy = key_sums.new_zeros(batch).index_add_(0, row_index, torch.cat(entropies)) if with_entropy else None
        return SelectionOutput(choice, step_log_probs.sum(-1), entropy, embedding, step_log_probs)

    def score(
        self,
        autoregressive_embedding: torch.Tensor,
        unit_embeddings: torch.Tensor,
        selectable: torch.Tensor,
        max_picks: torch.Tensor,
        action_type: torch.Tensor,
        used: torch.Tensor,
        action: torch.Tensor,
        temperature: float | torch.Tensor = 1.0,
    ) -> SelectionOutput:
        """``forward`` with the given ``action`` [B, max_selected], every pointer step at once (one recorded
        distribution of [B, steps] rows)."""
        batch, num_units = selectable.shape
        steps = self.max_selected
        action = action.long()
        count = (action >= 0).sum(-1)
        positions = torch.arange(action.shape[1], device=action.device)
        if action.shape[1] != steps or not bool(((action >= 0) == (positions < count[:, None])).all()):
            raise ValueError(f"selected_units must be [B, {steps}] unit rows padded at the end with -1")
        used = used.bool()
        count = torch.where(used, count, 0)
        choice = torch.where(positions < count[:, None], action, -1)
        span = min(steps, int(count.max()) + 1) if bool(used.any()) else 0  # the steps some row is still active at
        if span == 0:
            zeros = autoregressive_embedding.new_zeros(batch)
            return SelectionOutput(choice, zeros, zeros, autoregressive_embedding, zeros.new_zeros(batch, steps))
        keys = self.keys(unit_embeddings)
        all_keys = torch.cat([keys, self.end_key.expand(batch, 1, -1)], dim=1)
        step = positions[:span]
        picking = used[:, None] & (step < count[:, None])  # [B, S]: step s picks a unit (else it ends, or is idle)
        active = used[:, None] & (step <= count[:, None])
        picks = torch.where(picking, action[:, :span], num_units)  # the end key's index where not picking
        picked_keys = keys.gather(1, picks.clamp(max=num_units - 1)[..., None].expand(-1, -1, keys.shape[-1]))
        key_sums = torch.where(picking[..., None], picked_keys, 0.0).cumsum(1)  # keys picked up to step s
        num_picked = picking.long().cumsum(1)
        embedded = self.embed_picks(key_sums / num_picked.clamp(min=1)[..., None])  # [B, S, D] after step s
        start = autoregressive_embedding[:, None]
        later = start + torch.where((num_picked[:, :-1] > 0)[..., None], embedded[:, :-1], 0.0)  # add_where_used
        before = torch.cat([start, later], dim=1)
        queries = self.query(before, action_type[:, None])  # [B, S, key_dim]
        state = (keys.new_zeros(batch, keys.shape[-1]), keys.new_zeros(batch, keys.shape[-1]))
        outputs = []
        for s in range(span):
            state = self.lstm(queries[:, s], state)
            outputs.append(state[0])
        logits = torch.einsum("bnk,bsk->bsn", all_keys, torch.stack(outputs, dim=1))
        one_hot = nn.functional.one_hot(picks, num_units + 1)[..., :num_units].int()
        picked_before = (one_hot.cumsum(1) - one_hot) > 0
        room = (step[None] < max_picks[:, None])[..., None]  # an active row has picked s units before step s
        end_allowed = (step > 0)[None, :, None].expand(batch, -1, 1)
        mask = torch.cat([selectable.bool()[:, None] & ~picked_before & room, end_allowed], dim=-1)
        log_probs, entropy = score(logits, mask, picks, active, temperature=temperature, name="selected_units")
        step_log_probs = torch.cat([log_probs, log_probs.new_zeros(batch, steps - span)], dim=1)
        embedding = add_where_used(autoregressive_embedding, embedded[:, -1], num_picked[:, -1] > 0)
        return SelectionOutput(choice, step_log_probs.sum(-1), entropy.sum(-1), embedding, step_log_probs)
