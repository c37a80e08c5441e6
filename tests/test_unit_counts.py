"""AlphaStar's bag of own units by type (``agents.unit_counts``) in the scalar embedding, and an agent grown with it
from a checkpoint without it (``pstar bc init_checkpoint=... agent.scalar.unit_counts=true``)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from agents.agent import Agent
from agents.config import AgentConfig, ScalarEncoderConfig
from agents.unit_counts import UnitCounts
from envs.skirmish.economy.match import FullMatch
from training.agent_io import check_same_agent, read_agent_checkpoint, save_agent
from training.bc.trainer import _start_from
from training.checkpoint import CheckpointError


def first_observation(races=("terran", "zerg"), player: int = 1) -> tuple[FullMatch, dict[str, torch.Tensor]]:
    match = FullMatch("duel", races, seed=0, max_units=128)
    obs = match.reset()[player]
    return match, {key: torch.as_tensor(value)[None] for key, value in obs.items()}


def counting(config: AgentConfig) -> AgentConfig:
    return dataclasses.replace(config, scalar=dataclasses.replace(config.scalar, unit_counts=True))


def test_the_bag_counts_the_own_units_of_each_type_and_nothing_else():
    """At the start of a game the agent owns 12 workers and one town hall (zerg: also larva and an overlord); the
    enemy's units and the mineral fields are rows of the list but not in the bag."""
    match, obs = first_observation(("terran", "zerg"))
    spec = Agent(match.spec).spec
    bag = UnitCounts(spec)(obs["units"].float(), obs["unit_mask"])
    ids = sorted(spec.unit_type_ids)
    counts = dict(zip(ids, (bag[0, :-1] ** 2).round().long().tolist(), strict=True))
    own = {k: v for k, v in counts.items() if v}
    assert own == {45: 12, 18: 1}  # SCV, CommandCenter
    assert float(bag[0, -1]) == 0.0
    _, zerg = first_observation(("terran", "zerg"), player=2)
    zerg_bag = (UnitCounts(spec)(zerg["units"].float(), zerg["unit_mask"])[0, :-1] ** 2).round().long()
    zerg_own = {ids[i]: int(v) for i, v in enumerate(zerg_bag.tolist()) if v}
    assert zerg_own[104] == 12 and zerg_own[86] == 1 and zerg_own[106] == 1  # Drone, Hatchery, Overlord
    assert 151 in zerg_own  # Larva


def test_the_counts_change_the_policy_once_their_weights_move():
    """The counts' projection starts at zero (the same outputs as without it) and gets a gradient, so training
    makes the policy depend on them."""
    match, obs = first_observation()
    torch.manual_seed(0)
    plain = Agent(match.spec, AgentConfig.small()).eval()
    torch.manual_seed(0)
    grown = Agent(match.spec, counting(AgentConfig.small())).eval()
    grown.load_state_dict(plain.state_dict(), strict=False)
    state = plain.initial_state(1)
    with torch.no_grad():
        a = plain.trunk(obs, state)[0]
        b = grown.trunk(obs, state)[0]
    assert torch.equal(a, b)
    grown.trunk(obs, state)[0].square().sum().backward()
    weight = grown.scalar_encoder.counts_projection.weight
    assert weight.grad is not None and float(weight.grad.abs().sum()) > 0
    with torch.no_grad():
        weight.normal_()
        assert not torch.allclose(grown.trunk(obs, state)[0], a)


def test_a_run_may_grow_the_counts_onto_a_checkpoint_without_them(tmp_path):
    """BC's ``init_checkpoint`` loads an agent without the counts into one with them (the new weights at zero, so
    it acts as the checkpoint's); a resume, which must continue the same agent, refuses it, and so does any other
    size change; an old config dict without the key reads as no counts."""
    match, obs = first_observation()
    torch.manual_seed(1)
    plain = Agent(match.spec, AgentConfig.small()).eval()
    path = save_agent(tmp_path / "ckpt", 1, plain, kind="bc", config={}, counters={})
    grown = Agent(match.spec, counting(AgentConfig.small())).eval()
    _start_from(str(path), grown)
    state = plain.initial_state(1)
    with torch.no_grad():
        assert torch.equal(plain.trunk(obs, state)[0], grown.trunk(obs, state)[0])
    checkpoint = read_agent_checkpoint(path)
    with pytest.raises(CheckpointError, match="unit_counts"):
        check_same_agent(checkpoint, grown)
    wider = AgentConfig.small()
    wider = counting(dataclasses.replace(wider, scalar=dataclasses.replace(wider.scalar, dim=48)))
    with pytest.raises(CheckpointError, match="dim"):
        _start_from(str(path), Agent(match.spec, wider))
    recorded = plain.config.to_dict()
    recorded["scalar"].pop("unit_counts")
    assert AgentConfig.from_dict(recorded).scalar == ScalarEncoderConfig.small()
