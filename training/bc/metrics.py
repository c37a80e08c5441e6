"""Held-out behaviour-cloning metrics per head, each head measured given the true choices of the heads before it.

A step holds up to N sub-actions (its actions, then the no_op that ends it; see ``agents/heads/step_actions.py``).
Per valid step, with greedy predictions:

- ``action_type/accuracy`` over every sub-action the true step reaches (its actions and the no_op that ends it),
  each predicted given the true sub-actions before it; ``no_op_share`` (the share of no_op labels among them: the
  accuracy of always answering no_op) and ``accuracy_non_noop`` (over the other labels only); with a ``prior``
  type, ``prior_accuracy``: the accuracy of always answering it (the commonest type of the training data);
- ``action_type/nll_production``: the negative log-likelihood of the sub-actions labelled with a production order
  (a pysc2 raw function named ``Build_``, ``Train_``, ``Research_`` or ``Morph_``), given the true ones before it: how
  sharply the clone times its economy (absent where the spec has none, as in battles);
- ``actions_per_step/accuracy``: the greedy step sends as many actions (non-no_op sub-actions) as the true one
  (steps whose sub-actions are all known);
- on the first sub-action: ``selected_units/f1`` and ``/exact`` (set equality), given the true type, over steps
  whose type selects units;
- ``target_unit/accuracy``, given the true type and selection, where the type targets a unit;
- ``target_location/accuracy`` (within a Chebyshev radius of grid cells; ``/exact`` at radius 0), given the true
  type, selection and target, where the type targets a location;
- ``queued/accuracy``, given all the rest, where used;
- ``<head>/nll``: the teacher-forced negative log-likelihood of a step (summed over its sub-actions) averaged over
  valid steps (the training loss's terms);
- ``<head>/samples``: how many steps each head's accuracy is over (sub-actions for the action type).

Every metric of a head counts only the steps whose ``head_mask`` teaches that head (all of them for Skirmish
replays; action type and selection only for .SC2Replay samples).

The recurrent state is carried through each sequence by scoring the TRUE actions (``agent.evaluate``), so every step
is judged from the state the data led to; with ``carry`` (batches from ``training.bc.game_stream``) it is carried on
from each batch to the next, each row's sequences being one game's in order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import torch
from tqdm import tqdm

from agents.agent import Agent
from agents.heads.action_heads import HEADS
from agents.heads.arguments import ArgumentTable
from agents.heads.distributions import recording
from agents.spec import AgentSpec
from envs.contract.catalogue import PRODUCTION_PREFIXES
from training.bc.shards import HEAD_MASK, Batch, split_obs_action

# The heads each prediction is given (teacher-forced), in AlphaStar order.
GIVEN = {head: HEADS[:i] for i, head in enumerate(HEADS)}
SCORED = {head: f"{head}/f1" if head == "selected_units" else f"{head}/accuracy" for head in HEADS}


class Tally:
    """Sums and counts of per-sample scores, keyed by metric name."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, name: str, scores: torch.Tensor, where: torch.Tensor) -> None:
        self.sums[name] += float(scores.detach().float()[where].sum())  # (a metric: no graph kept)
        self.counts[name] += int(where.sum())

    def means(self) -> dict[str, float]:
        return {name: self.sums[name] / self.counts[name] for name in self.sums if self.counts[name] > 0}


def selection_scores(predicted: torch.Tensor, true: torch.Tensor, units: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row F1 and exact-set match of two selections [B, K] (unit rows, -1 padded)."""

    def members(selection: torch.Tensor) -> torch.Tensor:
        hot = torch.zeros(selection.shape[0], units + 1, dtype=torch.bool, device=selection.device)
        hot.scatter_(1, torch.where(selection >= 0, selection, units), True)
        return hot[:, :units]

    p, t = members(predicted), members(true)
    overlap = (p & t).sum(-1).float()
    sizes = p.sum(-1) + t.sum(-1)
    f1 = torch.where(sizes > 0, 2 * overlap / sizes.clamp(min=1), 1.0)
    return f1, (p == t).all(-1)


@torch.no_grad()
def production_types(spec: AgentSpec) -> torch.Tensor:
    """Which action types order production (Build_, Train_, Research_, Morph_): [A] bool."""
    return torch.tensor([t.name.startswith(PRODUCTION_PREFIXES) for t in spec.action_types])


def evaluate_bc(
    agent: Agent,
    data: Iterable[Batch],
    *,
    radius: int = 2,
    device: torch.device | str = "cpu",
    progress: bool = False,
    total: int | None = None,
    carry: bool = False,
    prior: int | None = None,
) -> dict[str, float]:
    """Metrics (``"<head>/<name>"`` -> value) of ``agent`` on the batches of ``data`` (see the module doc)."""
    was_training = agent.training
    agent.eval()
    table = ArgumentTable(agent.spec).to(device)
    no_op = agent.spec.no_op
    production = production_types(agent.spec).to(device)
    tally = Tally()
    carried = None
    for batch in tqdm(data, desc="bc: held-out metrics", unit="batch", total=total, disable=not progress, leave=False):
        batch = {k: v.to(device) for k, v in batch.items()}
        obs, action = split_obs_action(batch)
        valid, first = batch["valid"].bool(), batch["first"].bool()
        steps, size = valid.shape
        start = carried if carried is not None else agent.initial_state(size, device)
        with recording() as records:
            scored = agent.evaluate_sequence(obs, action, start, first)
        taught = valid[..., None] & batch[HEAD_MASK].bool()  # [T, B, heads]: steps each head is scored on
        for i, head in enumerate(HEADS):
            tally.add(f"{head}/nll", -scored.log_probs[head], taught[..., i])
        kinds = [r for r in records if r.name == "action_type"]  # one per sub-action, given the true ones before
        for k, kind in enumerate(kinds):
            true_kind = action["action_type"][..., k].reshape(-1)
            where = kind.active & taught[..., 0].reshape(-1)
            hit = kind.log_p.argmax(-1) == true_kind
            tally.add("action_type/accuracy", hit, where)
            tally.add("action_type/no_op_share", true_kind == no_op, where)
            tally.add("action_type/accuracy_non_noop", hit, where & (true_kind != no_op))
            if prior is not None:
                tally.add("action_type/prior_accuracy", true_kind == prior, where)
            known = true_kind.clamp(min=0)
            label_log_p = kind.log_p.gather(-1, known[:, None])[:, 0]
            tally.add("action_type/nll_production", -label_log_p, where & (true_kind >= 0) & production[known])
        state = start
        for t in range(steps):
            obs_t = {k: v[t] for k, v in obs.items()}
            steps_true = {k: v[t] for k, v in action.items()}
            true = {k: v[:, 0] for k, v in steps_true.items()}  # the first sub-action
            predicted = {}
            for head in HEADS:
                given = {k: steps_true[k] for k in GIVEN[head]}
                out = agent.act(obs_t, state, first[t], greedy=True, given=given or None)
                predicted[head] = out.action[head][:, 0]
                if not given:  # over steps whose every sub-action is known (not .SC2Replay commands)
                    sent = (out.action["action_type"] != no_op).sum(-1)
                    wanted = (steps_true["action_type"] != no_op).sum(-1)
                    known = (steps_true["action_type"] >= 0).all(-1)
                    tally.add("actions_per_step/accuracy", sent == wanted, taught[t, :, 0] & known)
            kind = true["action_type"]
            used = {head: taught[t, :, i] & table.used(kind, head) for i, head in enumerate(HEADS) if i}
            f1, exact = selection_scores(predicted["selected_units"], true["selected_units"], obs_t["units"].shape[1])
            tally.add("selected_units/f1", f1, used["selected_units"])
            tally.add("selected_units/exact", exact, used["selected_units"])
            tally.add("target_unit/accuracy", predicted["target_unit"] == true["target_unit"], used["target_unit"])
            distance = (predicted["target_location"] - true["target_location"]).abs().amax(-1)
            tally.add("target_location/accuracy", distance <= radius, used["target_location"])
            tally.add("target_location/exact", distance == 0, used["target_location"])
            tally.add("queued/accuracy", predicted["queued"] == true["queued"], used["queued"])
            state = agent.evaluate(obs_t, steps_true, state, first[t]).state
        carried = state if carry else None
    agent.train(was_training)
    means = tally.means()
    for head in HEADS:  # how many steps each head's accuracy is over
        means[f"{head}/samples"] = float(tally.counts.get(SCORED[head], 0))
    return means
