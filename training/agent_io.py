"""Agent checkpoints: the agent's weights plus what rebuilds it (spec and agent config) and the run's record.

``meta["agent"]`` is ``Agent.checkpoint_config()``; ``meta["kind"]`` says which job wrote it (bc, rl);
``meta["config"]`` is that job's resolved config and ``meta["counters"]`` its progress counters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from agents.agent import Agent
from agents.config import AgentConfig
from training.checkpoint import Checkpoint, CheckpointError, load_checkpoint, load_weights, save_checkpoint


def save_agent(
    directory: str | Path,
    step: int,
    agent: Agent,
    *,
    kind: str,
    config: dict[str, Any],
    counters: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    keep_last: int | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write an agent checkpoint ``directory/ckpt_<step>`` (atomic; see :func:`training.checkpoint.save_checkpoint`)."""
    meta = {"kind": kind, "agent": agent.checkpoint_config(), "config": config, "counters": counters, **(extra or {})}
    return save_checkpoint(directory, step, agent, meta, optimizer=optimizer, keep_last=keep_last)


def build_agent(checkpoint: Checkpoint) -> Agent:
    """The agent a checkpoint describes, with its weights loaded (mismatches raise ``CheckpointError``)."""
    described = checkpoint.meta.get("agent")
    if not isinstance(described, dict) or "spec" not in described or "agent" not in described:
        raise CheckpointError(checkpoint.path, "meta.json has no 'agent' entry with 'spec' and 'agent' (not an agent "
                              "checkpoint?)")  # fmt: skip
    try:
        agent = Agent(described["spec"], AgentConfig.from_dict(described["agent"]))
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(checkpoint.path, f"the agent config in meta.json is invalid ({error})") from error
    load_weights(agent, checkpoint.weights, checkpoint.path)
    return agent


def load_agent(path: str | Path) -> tuple[Agent, Checkpoint]:
    """Load the agent of a checkpoint directory (or a run directory's latest checkpoint), in eval mode."""
    checkpoint = load_checkpoint(path)
    agent = build_agent(checkpoint)
    agent.eval()
    return agent, checkpoint
