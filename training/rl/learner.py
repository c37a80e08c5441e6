"""The learner: turns actor trajectories into one optimiser step of V-trace policy gradient + value + entropy
+ KL towards the frozen initial (behaviour-cloned) policy, with UPGO and TD(lambda) value targets as options.

KL(pi_ref || pi) is exact per head (AlphaStar's supervised-policy distillation): both policies score the same
teacher-forced actions and every categorical they build is recorded. Both score each action at the temperature it
was sampled at (it travels in the trajectory), so importance weights and the KL compare like with like. A game that
ends cuts the returns (discount 0); one cut by its time limit (``truncated``) bootstraps from the value of its last
observation, computed by the actor, which is added, discounted, to the last reward.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from agents.agent import Agent
from agents.heads.action_heads import HEADS
from agents.heads.distributions import kl_divergence, recording
from training.divergence import check_finite, probe
from training.policy import output_terms
from training.rl.config import LearnerConfig
from training.rl.returns import td_lambda_returns, upgo_returns, vtrace


def batch_trajectories(trajectories: Sequence[dict[str, np.ndarray]], device: torch.device) -> dict[str, Any]:
    """Concatenate trajectories along the batch axis (time-major arrays: axis 1; states: axis 0) as tensors."""

    def cat(key: str) -> torch.Tensor:
        axis = 0 if key.startswith("state/") else 1
        return torch.from_numpy(np.concatenate([np.asarray(t[key]) for t in trajectories], axis=axis)).to(device)

    keys = trajectories[0].keys()
    out: dict[str, Any] = {"obs": {}, "action": {}, "state": {}}
    for key in keys:
        group, _, name = key.partition("/")
        if name:
            out[group][name] = cat(key)
        else:
            out[key] = cat(key)
    return out


class Learner:
    """Owns the trained agent, its optimiser and the frozen reference policy (None: no KL term)."""

    def __init__(self, agent: Agent, reference: Agent | None, config: LearnerConfig,
                 device: torch.device | str = "cpu") -> None:  # fmt: skip
        self.device = torch.device(device)
        self.agent = agent.to(self.device).train()
        self.reference = reference.to(self.device).eval() if reference is not None else None
        if self.reference is not None:
            self.reference.requires_grad_(False)
        self.config = config
        self.optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate, eps=config.adam_eps)

    def weights(self) -> dict[str, np.ndarray]:
        """The current weights as numpy arrays (cheap to ``ray.put`` and to load on CPU actors)."""
        return {k: v.detach().cpu().numpy() for k, v in self.agent.state_dict().items()}

    def loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """The total loss of one batch and its terms (for logging)."""
        cfg = self.config
        first = batch["first"].bool()
        steps = first.shape[0] - 1
        obs = {k: v[:steps] for k, v in batch["obs"].items()}
        action, state = batch["action"], batch["state"]
        temperature = batch["temperature"].float()
        with recording() as current:
            out = self.agent.evaluate_sequence(obs, action, state, first[:steps], temperature)
        last = {k: v[steps] for k, v in batch["obs"].items()}
        bootstrap = self.agent.value(self.agent.trunk(last, out.state, first[steps])[0])
        log_prob = torch.stack([out.log_probs[h] for h in HEADS]).sum(0)
        entropy = torch.stack([out.entropy[h] for h in HEADS]).sum(0)
        values = out.value
        truncated = batch["truncated"].bool()
        rewards = batch["reward"].float() + cfg.discount * truncated.float() * batch["truncation_value"].float()
        discounts = cfg.discount * (~(batch["terminated"].bool() | truncated)).float()
        log_rhos = log_prob.detach() - batch["behaviour_log_prob"].float()
        vt = vtrace(log_rhos, discounts, rewards, values.detach(), bootstrap.detach(),
                    clip_rho_threshold=cfg.clip_rho_threshold, clip_pg_rho_threshold=cfg.clip_pg_rho_threshold,
                    clip_c_threshold=cfg.clip_c_threshold)  # fmt: skip
        policy_loss = -(vt.pg_advantages * log_prob).mean()
        if cfg.value_target == "td_lambda":
            target = td_lambda_returns(rewards, discounts, values.detach(), bootstrap.detach(), cfg.td_lambda)
        else:
            target = vt.vs
        value_loss = 0.5 * (target - values).pow(2).mean()
        total = policy_loss + cfg.baseline_cost * value_loss - cfg.entropy_cost * entropy.mean()
        terms = {"policy": policy_loss.item(), "value": value_loss.item(), "entropy": entropy.mean().item()}
        if cfg.upgo_cost > 0:
            returns = upgo_returns(rewards, discounts, values.detach(), bootstrap.detach())
            upgo = -((returns - values.detach()) * log_rhos.exp().clamp(max=1.0) * log_prob).mean()
            total = total + cfg.upgo_cost * upgo
            terms["upgo"] = upgo.item()
        if self.reference is not None and cfg.kl_cost > 0:
            with torch.no_grad(), recording() as reference:
                self.reference.evaluate_sequence(obs, action, state, first[:steps], temperature)
            per_head = kl_divergence(reference, current)
            kl = torch.stack(list(per_head.values())).sum(0).mean()
            total = total + cfg.kl_cost * kl
            terms["kl"] = kl.item()
            terms.update({f"kl/{head}": v.mean().item() for head, v in per_head.items()})
        terms["total"] = total.item()
        terms["importance_ratio"] = log_rhos.exp().mean().item()
        terms["value_mean"] = values.mean().item()
        return total, terms

    def update(self, trajectories: Sequence[dict[str, np.ndarray]], step: int) -> dict[str, float]:
        """Optimiser step ``step`` on the given trajectories; returns the loss terms, grad norm and timing. A
        non-finite term or gradient norm raises ``DivergedError`` before the weights change, non-finite policy
        outputs after it raise before the weights are saved or reach an actor."""
        start = time.perf_counter()
        batch = batch_trajectories(trajectories, self.device)
        total, terms = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.agent.parameters(), self.config.max_grad_norm)
        terms["total"], terms["grad_norm"] = float(total.detach()), float(norm)
        check_finite(step, terms)
        self.optimizer.step()
        probe(step, lambda: output_terms(self.agent, {k: v[0] for k, v in batch["obs"].items()}, batch["state"],
                                         batch["first"][0].bool()))  # the batch's first step, as an actor plays it
        terms["seconds"] = time.perf_counter() - start
        terms["samples"] = float(batch["reward"].numel())
        return terms
