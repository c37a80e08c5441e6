"""The learners of a league run, each in its own process: a Ray actor on the driver's node (``backend=ray``), or a
plain object in the driver (``backend=inprocess``, tests and debugging).

A ``LeagueLearner`` holds one learner's agent, optimiser and KL reference and does its V-trace updates, restarts
(an exploiter back at the start's weights with a fresh optimiser) and checkpoints. ``Learners`` starts one update
per learner at a time (``start``) and collects it when that learner's next trajectory arrives or at the end
(``finish``), so the learners' updates run side by side with each other and with the actors. Learner actors are
pinned to the driver's node: they write the run's checkpoints into its folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.agent import Agent
from agents.config import AgentConfig
from training.agent_io import check_same_agent, save_agent
from training.checkpoint import load_checkpoint
from training.rl.config import LearnerConfig
from training.rl.learner import Learner, load_numpy_weights

Weights = dict[str, np.ndarray]


def _agent(agent: dict[str, Any], weights: Weights) -> Agent:
    built = Agent(agent["spec"], AgentConfig.from_dict(agent["agent"]))
    load_numpy_weights(built, weights)
    return built


class LeagueLearner:
    """One league learner: ``agent`` is ``Agent.checkpoint_config()``, ``start`` the weights it starts (and restarts)
    from, ``reference`` the KL reference's weights (None: no KL term)."""

    def __init__(self, agent: dict[str, Any], start: Weights, reference: Weights | None, config: LearnerConfig,
                 device: str, threads: int) -> None:  # fmt: skip
        self.threads = max(1, threads)
        torch.set_num_threads(self.threads)
        self.agent_dict, self.start, self.config, self.device = agent, start, config, device
        self.reference = _agent(agent, reference).eval() if reference is not None else None
        self.learner = self._fresh()

    def _fresh(self) -> Learner:
        return Learner(_agent(self.agent_dict, self.start), self.reference, self.config, self.device)  # (frozen)

    def update(self, trajectory: dict[str, np.ndarray], step: int) -> tuple[dict[str, float], Weights]:
        """Update ``step`` on one trajectory; the loss terms and the new weights."""
        torch.set_num_threads(self.threads)  # (in-process, the driver's other work may have set another count)
        terms = self.learner.update([trajectory], step=step)
        return terms, self.learner.weights()

    def weights(self) -> Weights:
        return self.learner.weights()

    def restart(self) -> Weights:
        """Back to the start's weights with a fresh optimiser (an exploiter after its snapshot)."""
        self.learner = self._fresh()
        return self.learner.weights()

    def save(self, directory: str, step: int, *, config: dict[str, Any], counters: dict[str, int], kind: str = "rl",
             keep_last: int | None = None, extra: dict[str, Any] | None = None, optimizer: bool = True) -> str:
        """Write the agent (with its optimiser unless ``optimizer`` is False) as ``directory/ckpt_<step>``."""
        return str(save_agent(Path(directory), step, self.learner.agent, kind=kind, config=config, counters=counters,
                              optimizer=self.learner.optimizer if optimizer else None, keep_last=keep_last,
                              extra=extra, rng=optimizer))  # fmt: skip

    def restore(self, path: str) -> None:
        """Load weights and optimiser state from the checkpoint at ``path``."""
        checkpoint = load_checkpoint(path, optimizer=True)
        check_same_agent(checkpoint, self.learner.agent)
        checkpoint.restore(self.learner.agent, self.learner.optimizer)


class Learners:
    """The league's learners by name, as Ray actors on the driver's node or in this process."""

    def __init__(self, names: list[str], agent: dict[str, Any], start: Weights, reference: Weights | None,
                 config: LearnerConfig, device: torch.device, threads: int,
                 ray: Any | None = None) -> None:  # fmt: skip
        self.ray = ray
        self.pending: dict[str, Any] = {}
        args = (agent, start, reference, config, str(device), threads)
        if ray is None:
            self.learners = {name: LeagueLearner(*args) for name in names}
            return
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        gpus = 1 / len(names) if device.type == "cuda" else 0
        remote = ray.remote(num_cpus=0, num_gpus=gpus)(LeagueLearner).options(scheduling_strategy=here)
        self.learners = {name: remote.remote(*args) for name in names}

    @property
    def inline(self) -> bool:
        """Whether the learners run in this process (an update is then done when ``start`` returns)."""
        return self.ray is None

    def call(self, name: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``learner.method(*args, **kwargs)``, waited for; the learner's pending update must be finished first."""
        if name in self.pending:
            raise RuntimeError(f"learner {name}: an update is still pending (finish it before {method})")
        if self.ray is None:
            return getattr(self.learners[name], method)(*args, **kwargs)
        return self.ray.get(getattr(self.learners[name], method).remote(*args, **kwargs))

    def start(self, name: str, trajectory: dict[str, np.ndarray], step: int) -> None:
        """Start ``name``'s update ``step`` (its previous one must be finished)."""
        if name in self.pending:
            raise RuntimeError(f"learner {name}: an update is still pending")
        learner = self.learners[name]
        self.pending[name] = learner.update(trajectory, step) if self.ray is None else \
            learner.update.remote(trajectory, step)  # fmt: skip

    def finish(self, name: str) -> tuple[dict[str, float], Weights] | None:
        """Wait for ``name``'s pending update: its terms and new weights (None when none is pending)."""
        if name not in self.pending:
            return None
        done = self.pending.pop(name)
        if self.ray is None:
            return done
        from ray.exceptions import RayTaskError

        try:
            return self.ray.get(done)
        except RayTaskError as error:  # the learner's own error (a divergence, a bad trajectory) as itself
            raise error.cause from None

    def shutdown(self) -> None:
        if self.ray is not None:
            for handle in self.learners.values():
                try:
                    self.ray.kill(handle, no_restart=True)
                except Exception:  # noqa: BLE001 (already gone is fine)
                    pass
        self.learners, self.pending = {}, {}
