"""Agent checkpoints: the agent's weights plus what rebuilds it (spec and agent config) and the run's record.

``meta["agent"]`` is ``Agent.checkpoint_config()``; the checkpoint's kind says which job wrote it (``AGENT_KINDS``:
bc, rl, or an rl-snapshot of the league); ``meta["config"]`` is that job's resolved config and
``meta["counters"]`` its progress counters. Only these kinds load as agents (a task checkpoint is refused by name).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from agents.agent import Agent
from agents.config import AgentConfig
from training.agent_choice import AgentChoice
from training.checkpoint import Checkpoint, CheckpointError, load_checkpoint, load_weights, save_checkpoint
from training.pretrained import resolve

AGENT_KINDS = ("bc", "rl", "rl-snapshot")  # the jobs whose checkpoints hold an agent


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
    rng: bool = True,
) -> Path:
    """Write an agent checkpoint ``directory/ckpt_<step>`` (atomic; see :func:`training.checkpoint.save_checkpoint`;
    ``rng``: with the RNG states a resume restores)."""
    if kind not in AGENT_KINDS:
        raise ValueError(f"save_agent: kind {kind!r} is not one of {', '.join(AGENT_KINDS)}")
    meta = {"agent": agent.checkpoint_config(), "config": config, "counters": counters, **(extra or {})}
    return save_checkpoint(directory, step, agent, meta, kind=kind, optimizer=optimizer, keep_last=keep_last, rng=rng)


def build_agent(checkpoint: Checkpoint) -> Agent:
    """The agent a checkpoint describes, with its weights loaded (mismatches raise ``CheckpointError``)."""
    if checkpoint.kind not in AGENT_KINDS:
        raise CheckpointError(checkpoint.path, f"is a {checkpoint.kind!r} checkpoint, not an agent's (expected one of "
                              f"the kinds {', '.join(AGENT_KINDS)})")  # fmt: skip
    described = checkpoint.meta.get("agent")
    if not isinstance(described, dict) or "spec" not in described or "agent" not in described:
        raise CheckpointError(checkpoint.path, "meta.json has no 'agent' entry with 'spec' and 'agent' (not an agent "
                              "checkpoint?)")  # fmt: skip
    try:
        agent = Agent(described["spec"], AgentConfig.from_dict(described["agent"]))
    except (KeyError, TypeError, ValueError, OverflowError, IndexError) as error:  # a crafted spec or sizes
        raise CheckpointError(checkpoint.path, f"the agent config in meta.json is invalid ({error})") from error
    load_weights(agent, checkpoint.weights, checkpoint.path)
    return agent


def read_agent_checkpoint(reference: str | Path) -> Checkpoint:
    """The checkpoint ``reference`` names: a checkpoint directory, a run directory's latest checkpoint, or a shipped
    ``pretrained:<name>`` (every problem a ``CheckpointError``)."""
    try:
        path = resolve(reference)
    except FileNotFoundError as error:
        raise CheckpointError(reference, str(error)) from None
    return load_checkpoint(path)


def load_agent(path: str | Path) -> tuple[Agent, Checkpoint]:
    """Load the agent of ``read_agent_checkpoint(path)``, in eval mode."""
    checkpoint = read_agent_checkpoint(path)
    agent = build_agent(checkpoint)
    agent.eval()
    return agent, checkpoint


GROWABLE = {"unit_counts": "counts_projection", "macro_inputs": "macro_projection"}  # scalar input -> its weights


def check_same_agent(
    checkpoint: Checkpoint, agent: Agent, acting_may_differ: bool = False, may_grow: bool = False
) -> tuple[str, ...]:
    """Raise ``CheckpointError`` unless ``checkpoint`` holds ``agent``'s architecture (sizes and spec), naming the
    sizes that differ: a resume continues the same agent. The recorded config is compared as read (a checkpoint from
    before the frame existed holds the ``map`` frame's agent). ``acting_may_differ``: a run that starts from the
    checkpoint's weights may see the battle in another frame (``agents.frame``) and follow the other production rule
    (``heads.idle_producers``): neither changes a weight.
    ``may_grow``: the agent may add the scalar inputs of ``GROWABLE`` (the unit counts, the macro inputs) the
    checkpoint's lacks; returns the weights it adds, which start at zero, so the grown agent acts as the
    checkpoint's."""
    recorded = checkpoint.meta.get("agent")
    try:
        theirs = AgentConfig.from_dict(recorded["agent"])
        spec = recorded["spec"]
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(checkpoint.path, f"the agent config in meta.json is invalid ({error})") from error
    if acting_may_differ:
        heads = dataclasses.replace(theirs.heads, idle_producers=agent.config.heads.idle_producers)
        theirs = dataclasses.replace(theirs, frame=agent.config.frame, heads=heads)
    added: tuple[str, ...] = ()
    for flag, weights in GROWABLE.items() if may_grow else ():
        if getattr(agent.config.scalar, flag) and not getattr(theirs.scalar, flag):
            theirs = dataclasses.replace(theirs, scalar=dataclasses.replace(theirs.scalar, **{flag: True}))
            added += tuple(key for key in agent.state_dict() if key.startswith(f"scalar_encoder.{weights}."))
    plain = json.loads(json.dumps({"spec": spec, "agent": theirs.to_dict()}))
    if json.loads(json.dumps(agent.checkpoint_config())) == plain:
        return added
    sizes = AgentChoice.from_config(agent.config).differences(theirs)
    raise CheckpointError(
        checkpoint.path,
        f"its agent differs from this run's ({'checkpoint vs run: ' + '; '.join(sizes) if sizes else 'the spec'}); "
        "resume with the same agent.* and data settings, or start a new run (another name=)",
    )
