"""Play an Agent in numpy games: batches observations, keeps each game's recurrent state, returns contract actions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from agents.agent import ActOutput, Agent
from agents.heads.distributions import recording
from envs.contract.observation import OBS_KEYS


def stack_observations(observations: Sequence[Mapping[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Per-game observation dicts -> one batched tensor dict (games must share ``max_units``)."""
    return {key: torch.from_numpy(np.stack([np.asarray(o[key]) for o in observations])) for key in OBS_KEYS}


def unstack_actions(action: Mapping[str, torch.Tensor], no_op: int) -> list[list[dict[str, Any]]]:
    """A batched step of actions ([B, N, ...] per key) -> per game, the list of contract action dicts it sends: its
    sub-actions before the first no_op, or ``[no_op]`` when it sends none (``Match.step`` takes a list).

    Converted once per batch (ints by ``tolist``; the arrays copied once, each dict holding a row of the copy, so
    nothing shares memory with the agent's output), not per game."""
    kinds, targets, queued = (action[key].cpu().tolist() for key in ("action_type", "target_unit", "queued"))
    selected = action["selected_units"].cpu().numpy().astype(np.int64)
    locations = action["target_location"].cpu().numpy().astype(np.int64)
    games = []
    for i, row in enumerate(kinds):
        sent = []
        for k, kind in enumerate(row):
            if kind == no_op:
                break
            sent.append({"action_type": kind, "selected_units": selected[i, k], "target_unit": targets[i][k],
                         "target_location": locations[i, k], "queued": queued[i][k]})  # fmt: skip
        games.append(sent or [{"action_type": no_op}])
    return games


def output_terms(
    agent: Agent, obs: dict[str, torch.Tensor], state: Any, first: torch.Tensor
) -> dict[str, torch.Tensor]:
    """What the agent computes for one step, as terms the finite guard checks (``training.divergence``): the value
    and, per head, the sum of every log-probability its distributions allow (NaN or +inf once logits blow up; each
    head is built for every row, so a head the greedy choice leaves unused is checked too). Nothing is sampled."""
    with torch.no_grad(), recording() as built:
        value = agent.act(obs, state, first, greedy=True).value
    terms: dict[str, torch.Tensor] = {"value": value.sum()}
    for record in built:
        allowed = record.log_p.masked_fill(record.log_p == float("-inf"), 0.0).sum()
        name = f"{record.name} log-probs"
        terms[name] = terms[name] + allowed if name in terms else allowed
    return terms


class AgentPolicy:
    """``batch_size`` games played by one agent; ``reset(i)`` marks game i's next step as an episode start.

    Calling the policy with one game's ``(obs, spec)`` (batch size 1) makes it a SkirmishEnv opponent.
    ``core_window``: start the recurrent state afresh every that many steps of a game, as an agent cloned with
    truncated BPTT over sequences of that length saw it in training (None: carried over the whole game).
    ``greedy_arguments``: sample the action types, pick the most likely arguments (for evaluation: the log-probs
    then are not those of the actions' distribution, which an RL learner's importance weights would need).
    """

    def __init__(
        self,
        agent: Agent,
        batch_size: int = 1,
        *,
        greedy: bool = False,
        temperature: float | None = None,
        seed: int | None = None,
        core_window: int | None = None,
        greedy_arguments: bool = False,
    ) -> None:
        if core_window is not None and core_window < 1:
            raise ValueError(f"AgentPolicy: core_window must be >= 1 or None, got {core_window}")
        self.agent = agent
        self.core_window = core_window
        self.batch_size = int(batch_size)
        self.greedy, self.temperature, self.greedy_arguments = greedy, temperature, greedy_arguments
        self.generator = None
        if seed is not None:
            self.generator = torch.Generator().manual_seed(int(seed))
        self.state = agent.initial_state(self.batch_size)
        self.first = torch.ones(self.batch_size, dtype=torch.bool)
        self.age = torch.zeros(self.batch_size, dtype=torch.long)  # (core_window) steps since each game's start

    def reset(self, index: int | None = None) -> None:
        """Start game ``index`` (all games when None) afresh at the next step."""
        if index is None:
            self.first[:] = True
        else:
            self.first[index] = True

    def step(
        self, observations: Sequence[Mapping[str, np.ndarray]]
    ) -> tuple[list[list[dict[str, Any]]], ActOutput]:
        """Per game the list of actions it sends this step (see ``unstack_actions``), and the agent's raw output
        (log-probs, values, the state before the step). The agent runs in inference mode (no autograd
        bookkeeping at all; its outputs can never join a graph)."""
        if len(observations) != self.batch_size:
            raise ValueError(f"AgentPolicy: expected {self.batch_size} observations, got {len(observations)}")
        return self.step_stacked(stack_observations(observations))

    def step_stacked(self, obs: Mapping[str, torch.Tensor]) -> tuple[list[list[dict[str, Any]]], ActOutput]:
        """``step`` on observations already batched (one [batch_size, ...] tensor per key, e.g. views of an actor's
        trajectory arrays, which are then not stacked twice)."""
        first = self.first
        if self.core_window is not None:
            first = first | (self.age % self.core_window == 0)
            self.age = torch.where(self.first, 1, self.age + 1)
        with torch.inference_mode():
            out = self.agent.act(obs, self.state, first, greedy=self.greedy, temperature=self.temperature,
                                 generator=self.generator, greedy_arguments=self.greedy_arguments)  # fmt: skip
        self.state = out.state
        self.first = torch.zeros(self.batch_size, dtype=torch.bool)
        return unstack_actions(out.action, self.agent.spec.no_op), out

    @torch.no_grad()
    def value(self, observation: Mapping[str, np.ndarray], index: int) -> float:
        """The value of game ``index``'s ``observation`` from its current state, without stepping (e.g. the last
        observation of a game cut by its time limit)."""
        state = {key: value[index : index + 1] for key, value in self.state.items()}
        core_output = self.agent.trunk(stack_observations([observation]), state, self.first[index : index + 1])[0]
        return float(self.agent.value(core_output)[0])

    def __call__(self, obs: Mapping[str, np.ndarray], spec: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.step([obs])[0][0]
