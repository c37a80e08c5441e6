"""The available-action flags as an input of the scalar embedding (``agent.scalar.available_actions``, AlphaStar's
scalar input): the policy reads them when set and ignores them otherwise; bad inputs are one clear error."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from agents.agent import Agent
from agents.config import AgentConfig, ScalarEncoderConfig
from envs.skirmish.economy.match import FullMatch


def reading(config: AgentConfig) -> AgentConfig:
    return dataclasses.replace(config, scalar=dataclasses.replace(config.scalar, available_actions=True))


def observation() -> tuple[FullMatch, dict[str, torch.Tensor]]:
    match = FullMatch("duel", ("protoss", "terran"), seed=3, max_units=128)
    obs = match.reset()[1]
    return match, {key: torch.as_tensor(value)[None] for key, value in obs.items()}


def test_the_flags_change_the_embedding_only_when_read():
    match, obs = observation()
    flags = obs["available_actions"]
    assert flags.any() and not flags.all()
    fewer = {**obs, "available_actions": flags & (torch.arange(flags.shape[-1]) < 7)}  # combat types only
    for config, reads in ((AgentConfig.small(), False), (reading(AgentConfig.small()), True)):
        torch.manual_seed(0)
        agent = Agent(match.spec, config).eval()
        state = agent.initial_state(1)
        with torch.no_grad():
            a, b = agent.trunk(obs, state)[0], agent.trunk(fewer, state)[0]
        assert torch.equal(a, b) is not reads
    torch.manual_seed(0)
    agent = Agent(match.spec, reading(AgentConfig.small()))
    agent.trunk(obs, agent.initial_state(1))[0].square().sum().backward()
    extra = agent.scalar_encoder.projection.weight.grad[:, -flags.shape[-1] :]
    assert extra.shape[-1] == match.spec.num_action_types and float(extra.abs().sum()) > 0
    out = agent.act(obs, agent.initial_state(1))  # a whole step acts with it
    assert bool(flags[0, int(out.action["action_type"][0, 0])])


def test_missing_or_misshapen_flags_are_one_clear_error():
    match, obs = observation()
    encoder = Agent(match.spec, reading(AgentConfig.small())).scalar_encoder
    previous = torch.tensor([-1])
    with pytest.raises(ValueError, match=r"available actions .* shape \[batch, 48\], got None"):
        encoder(obs["scalars"], previous, obs["units"], obs["unit_mask"])
    with pytest.raises(ValueError, match=r"got \(1, 47\)"):
        encoder(obs["scalars"], previous, obs["units"], obs["unit_mask"], obs["available_actions"][:, :47])


def test_a_config_written_before_the_flag_reads_as_not_reading_them():
    recorded = AgentConfig.small().to_dict()
    recorded["scalar"].pop("available_actions")
    assert AgentConfig.from_dict(recorded).scalar == ScalarEncoderConfig.small()
    assert reading(AgentConfig.small()).to_dict()["scalar"]["available_actions"] is True
