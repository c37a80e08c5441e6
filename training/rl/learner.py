"""The learner: turns actor trajectories into one optimiser step of V-trace policy gradient + value + entropy
+ KL towards the frozen initial (behaviour-cloned) policy, with UPGO and TD(lambda) value targets as options.

KL(pi_ref || pi) is exact per head (AlphaStar's supervised-policy distillation): both policies score the same
teacher-forced actions and every categorical they build is recorded. Both score each action at the temperature it
was sampled at (it travels in the trajectory), so importance weights and the KL compare like with like. A game that
ends cuts the returns (discount 0); one cut by its time limit (``truncated``) bootstraps from the value of its last
observation, computed by the actor, which is added, discounted, to the last reward.

The learner runs on its own device (``cuda`` with CPU actors: weights go back to the actors as CPU arrays); its
entity encoders (the agent's and the reference's) may run under bf16 autocast (``precision``), while the heads,
the return estimators and the losses stay fp32.
A CPU learner keeps freed memory for reuse (``training.allocator``): its updates then page-fault nothing in. With
several torch threads it splits the batch's games into one part per thread and runs each part's losses and gradients
in its own thread on one torch thread (``split_columns``): the parts' losses weighted by their share of the samples
sum to the batch's loss and their gradients to its gradient, and no thread waits for another inside the many small
ops of the heads and the core's time steps, as OpenMP's threads do (2 threads, 2,048 samples: 1.22 s instead of 1.30 s
an update on an idle machine, and no collapse when another process takes a core).
``phase_seconds`` holds the wall time of each phase of the last update (batching, forward, reference forward,
returns and losses, backward, optimiser step, probe).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import numpy as np
import torch

from agents.agent import Agent
from agents.heads.action_heads import HEADS
from agents.heads.distributions import kl_divergence, recording
from training.allocator import keep_freed_memory
from training.config_io import ConfigError
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


def split_columns(batch: dict[str, Any], parts: int) -> list[dict[str, Any]]:
    """``batch`` (``batch_trajectories``) as ``parts`` batches of consecutive games (time-major arrays: axis 1;
    states: axis 0), as even as the game count allows."""
    games = batch["reward"].shape[1]
    bounds = [games * i // parts for i in range(parts + 1)]
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        part: dict[str, Any] = {}
        for key, value in batch.items():
            if key == "state":
                part[key] = {name: v[lo:hi] for name, v in value.items()}
            elif isinstance(value, dict):
                part[key] = {name: v[:, lo:hi] for name, v in value.items()}
            else:
                part[key] = value[:, lo:hi]
        out.append(part)
    return out


class PhaseClock:
    """Wall seconds per named phase, marked in order; on CUDA each mark waits for the device, so GPU work is counted
    in the phase that queued it."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.seconds: dict[str, float] = {}
        self.last = time.perf_counter()

    def mark(self, phase: str) -> None:
        """The time since the previous mark goes to ``phase``."""
        if self.cuda:
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self.last
        self.last = now

    def merge(self, clocks: Sequence[PhaseClock]) -> None:
        """Add the phases of clocks that ran at the same time (threads), each phase as long as its longest; the
        time since the previous mark is theirs."""
        for clock in clocks:
            for phase in clock.seconds:
                self.seconds.setdefault(phase, 0.0)
        for phase in self.seconds:
            self.seconds[phase] += max((c.seconds.get(phase, 0.0) for c in clocks), default=0.0)
        self.last = time.perf_counter()


def learner_device(name: torch.device | str) -> torch.device:
    """The learner's device for a config's ``device`` (``auto``: cuda when available); ``ConfigError`` for cuda on
    a machine without it."""
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{name} requested but CUDA is not available on this machine (use auto or cpu)", "device")
    return device


def numpy_weights(module: torch.nn.Module) -> dict[str, np.ndarray]:
    """A module's weights as numpy arrays on the CPU (cheap to ``ray.put`` and to load on CPU actors)."""
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def load_numpy_weights(module: torch.nn.Module, weights: dict[str, np.ndarray]) -> None:
    """Load ``numpy_weights`` output into ``module`` (copied: arrays from Ray are read-only)."""
    module.load_state_dict({k: torch.as_tensor(np.array(v)) for k, v in weights.items()})


class Learner:
    """Owns the trained agent, its optimiser and the frozen reference policy (None: no KL term)."""

    def __init__(self, agent: Agent, reference: Agent | None, config: LearnerConfig,
                 device: torch.device | str = "cpu") -> None:  # fmt: skip
        self.device = learner_device(device)
        self.config = config
        if self.device.type == "cpu":
            keep_freed_memory()
        encoder_dtype = torch.bfloat16 if config.precision == "bf16" else None
        self.agent = agent.to(self.device).train().autocast_encoder(encoder_dtype)
        self.reference = None
        if reference is not None:
            self.reference = reference.to(self.device).eval().autocast_encoder(encoder_dtype).requires_grad_(False)
        # the reference scores the agent's checked and laid-out inputs unless it reads another spec
        self.shared_inputs = reference is not None and reference.spec.plain == agent.spec.plain
        # foreach: the same step as the per-parameter loop (also on a CPU), in a few multi-tensor kernels
        self.optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate, eps=config.adam_eps,
                                          foreach=True)  # fmt: skip
        self.phase_seconds: dict[str, float] = {}
        self.pool: ThreadPoolExecutor | None = None  # the threads of an update split into parts (``update``)

    def weights(self) -> dict[str, np.ndarray]:
        """The current weights as numpy arrays on the CPU (``numpy_weights``)."""
        return numpy_weights(self.agent)

    def loss(self, batch: dict[str, Any], clock: PhaseClock | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """The total loss of one batch and its terms (for logging)."""
        cfg = self.config
        clock = clock or PhaseClock(self.device)
        first = batch["first"].bool()
        steps = first.shape[0] - 1
        obs = {k: v[:steps] for k, v in batch["obs"].items()}
        action, state = batch["action"], batch["state"]
        temperature = batch["temperature"].float()
        inputs = self.agent.unroll_inputs(obs, action, state, first[:steps], temperature)
        with recording() as current:
            out = self.agent.evaluate_unroll(inputs)
        last = {k: v[steps] for k, v in batch["obs"].items()}
        with torch.no_grad():  # the returns' bootstrap value: no gradient flows through it
            bootstrap = self.agent.value(self.agent.trunk(last, out.state, first[steps])[0])
        log_prob = torch.stack([out.log_probs[h] for h in HEADS]).sum(0)
        entropy = torch.stack([out.entropy[h] for h in HEADS]).sum(0)
        values = out.value
        clock.mark("forward")
        kl_terms: dict[str, torch.Tensor] = {}
        if self.reference is not None and cfg.kl_cost > 0:
            if not self.shared_inputs:
                inputs = self.reference.unroll_inputs(obs, action, state, first[:steps], temperature)
            with torch.no_grad(), recording() as reference:
                self.reference.evaluate_unroll(inputs)
            clock.mark("reference")
            kl_terms = kl_divergence(reference, current)
        truncated = batch["truncated"].bool()
        rewards = batch["reward"].float() + cfg.discount * truncated.float() * batch["truncation_value"].float()
        discounts = cfg.discount * (~(batch["terminated"].bool() | truncated)).float()
        log_rhos = log_prob.detach() - batch["behaviour_log_prob"].float()
        vt = vtrace(log_rhos, discounts, rewards, values.detach(), bootstrap,
                    clip_rho_threshold=cfg.clip_rho_threshold, clip_pg_rho_threshold=cfg.clip_pg_rho_threshold,
                    clip_c_threshold=cfg.clip_c_threshold)  # fmt: skip
        policy_loss = -(vt.pg_advantages * log_prob).mean()
        if cfg.value_target == "td_lambda":
            target = td_lambda_returns(rewards, discounts, values.detach(), bootstrap, cfg.td_lambda)
        else:
            target = vt.vs
        value_loss = 0.5 * (target - values).pow(2).mean()
        total = policy_loss + cfg.baseline_cost * value_loss - cfg.entropy_cost * entropy.mean()
        logged = {"policy": policy_loss, "value": value_loss, "entropy": entropy.mean()}
        if cfg.upgo_cost > 0:
            returns = upgo_returns(rewards, discounts, values.detach(), bootstrap)
            upgo = -((returns - values.detach()) * log_rhos.exp().clamp(max=1.0) * log_prob).mean()
            total = total + cfg.upgo_cost * upgo
            logged["upgo"] = upgo
        if kl_terms:
            kl = torch.stack(list(kl_terms.values())).sum(0).mean()
            total = total + cfg.kl_cost * kl
            logged["kl"] = kl
            logged.update({f"kl/{head}": v.mean() for head, v in kl_terms.items()})
        logged.update(total=total, importance_ratio=log_rhos.exp().mean(), value_mean=values.mean())
        names = list(logged)
        terms = dict(zip(names, torch.stack([logged[n].detach() for n in names]).tolist(), strict=True))  # one sync
        clock.mark("losses")
        return total, terms

    def update(self, trajectories: Sequence[dict[str, np.ndarray]], step: int) -> dict[str, float]:
        """Optimiser step ``step`` on the given trajectories; returns the loss terms, grad norm and timing. A
        non-finite term or gradient norm raises ``DivergedError`` before the weights change, non-finite policy
        outputs after it raise before the weights are saved or reach an actor."""
        start = time.perf_counter()
        threads = torch.get_num_threads()
        try:
            terms, samples, clock = self._update(trajectories, step, threads if self.device.type == "cpu" else 1)
        finally:
            torch.set_num_threads(threads)
        self.phase_seconds = clock.seconds
        terms["seconds"] = time.perf_counter() - start
        terms["samples"] = samples
        return terms

    def _update(self, trajectories: Sequence[dict[str, np.ndarray]], step: int,
                parts: int) -> tuple[dict[str, float], float, PhaseClock]:  # fmt: skip
        """``update`` with the batch's games split into up to ``parts`` parts, each in its own thread; when split, the
        rest of the update runs on one torch thread too (its small steps gain nothing from more)."""
        clock = PhaseClock(self.device)
        batch = batch_trajectories(trajectories, self.device)
        clock.mark("batch")
        split = split_columns(batch, min(parts, batch["reward"].shape[1]))
        self.optimizer.zero_grad(set_to_none=True)
        if len(split) == 1:
            total, terms = self.loss(batch, clock)
            total.backward()
            clock.mark("backward")
        else:
            torch.set_num_threads(1)
            total, terms = self._split_backward(split, batch["reward"].numel(), clock)
        norm = torch.nn.utils.clip_grad_norm_(self.agent.parameters(), self.config.max_grad_norm)
        terms["total"], terms["grad_norm"] = float(total.detach()), float(norm)  # the loss backpropagated
        check_finite(step, terms)
        self.optimizer.step()
        clock.mark("step")
        probe(step, lambda: output_terms(self.agent, {k: v[0] for k, v in batch["obs"].items()}, batch["state"],
                                         batch["first"][0].bool()))  # the batch's first step, as an actor plays it
        clock.mark("probe")
        return terms, float(batch["reward"].numel()), clock

    def _split_backward(self, parts: Sequence[dict[str, Any]], samples: int,
                        clock: PhaseClock) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
        """The loss of the batch made of ``parts`` (``samples`` in all) and its gradient in the agent's ``.grad``,
        the first in this thread and each other in its own (torch set to one thread); gradients summed in part order
        (deterministic)."""
        params = [p for p in self.agent.parameters() if p.requires_grad]

        def run(part: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float], list[torch.Tensor | None], PhaseClock]:
            part_clock = PhaseClock(self.device)
            total, terms = self.loss(part, part_clock)
            total = total * (part["reward"].numel() / samples)
            grads = torch.autograd.grad(total, params, allow_unused=True)
            part_clock.mark("backward")
            return total.detach(), terms, list(grads), part_clock

        if self.pool is None or self.pool._max_workers != len(parts) - 1:  # threads kept: their arenas stay warm
            self.pool = ThreadPoolExecutor(max_workers=len(parts) - 1, thread_name_prefix="learner-part")
        others = [self.pool.submit(run, part) for part in parts[1:]]
        try:
            results = [run(parts[0])]  # here: its memory comes from the main malloc arena, which is never unmapped
        finally:
            wait(others)
        results += [future.result() for future in others]
        clock.merge([r[3] for r in results])
        for i, param in enumerate(params):
            for grads in (r[2] for r in results):
                if grads[i] is not None:
                    param.grad = grads[i] if param.grad is None else param.grad + grads[i]
        clock.mark("backward")
        weights = [part["reward"].numel() / samples for part in parts]
        names = dict.fromkeys(name for r in results for name in r[1])  # a head no row of a part used: 0 there
        terms = {name: sum(w * r[1].get(name, 0.0) for w, r in zip(weights, results, strict=True)) for name in names}
        return sum(r[0] for r in results[1:]) + results[0][0], terms
