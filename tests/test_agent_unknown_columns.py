"""What the data cannot tell (the spec's ``unknown``: a replay records no health, orders or available actions) the
agent does not read: its outputs do not move when those entries change, and do when a known entry does."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from agents.agent import Agent
from agents.config import AgentConfig
from agents.spec import AgentSpec, AgentSpecError
from envs.contract.spec import Spec, SpecError
from envs.skirmish.spec import skirmish_spec

BASE = skirmish_spec((32.0, 24.0), max_units=16, resolution=8)
UNKNOWN = ("health", "shield", "energy", "order_id_0", "order_length", "weapon_cooldown", "scalars.own_vitality",
           "available_actions")  # fmt: skip
SPEC = dataclasses.replace(BASE, unknown=UNKNOWN)


def _observation(spec: Spec, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    n, columns = spec.max_units, list(spec.unit_columns)
    units = torch.zeros(1, n, len(columns))
    units[0, :, columns.index("unit_type")] = torch.tensor(spec.unit_type_ids)[torch.randint(len(spec.unit_type_ids),
                                                                                               (n,), generator=g)]
    units[0, :, columns.index("alliance")] = torch.tensor([1, 4] * (n // 2), dtype=torch.float32)
    units[0, :, columns.index("owner")] = torch.tensor([1, 2] * (n // 2), dtype=torch.float32)
    units[0, :, columns.index("x")] = torch.rand(n, generator=g) * spec.map_size[0]
    units[0, :, columns.index("y")] = torch.rand(n, generator=g) * spec.map_size[1]
    units[0, :, columns.index("health")] = 45.0
    scalars = torch.rand(1, len(spec.scalars), generator=g) * 10
    scalars[0, list(spec.scalars).index("map_width")] = spec.map_size[0]
    scalars[0, list(spec.scalars).index("map_height")] = spec.map_size[1]
    return {
        "units": units,
        "unit_mask": torch.ones(1, n, dtype=torch.bool),
        "scalars": scalars,
        "available_actions": torch.ones(1, spec.num_action_types, dtype=torch.bool),
    }


def _scores(agent: Agent, obs: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        out = agent.act(obs, agent.initial_state(1), torch.ones(1, dtype=torch.bool), greedy=True)
    return torch.cat([out.value.reshape(-1), out.log_prob.reshape(-1)])


def test_unknown_entries_are_not_read_and_known_ones_are():
    torch.manual_seed(0)
    agent = Agent(SPEC, AgentConfig.small("perceiver"))
    agent.eval()
    obs = _observation(SPEC)
    reference = _scores(agent, obs)
    changed = {k: v.clone() for k, v in obs.items()}
    columns = list(SPEC.unit_columns)
    for name in ("health", "shield", "energy", "order_length", "weapon_cooldown"):
        changed["units"][..., columns.index(name)] = 7.0  # "facts" a replay would read as zeros
    changed["units"][..., columns.index("order_id_0")] = float(SPEC.order_ids[next(iter(SPEC.order_ids))])
    changed["scalars"][0, list(SPEC.scalars).index("own_vitality")] = 1e3
    torch.testing.assert_close(_scores(agent, changed), reference, rtol=0, atol=0)
    moved = {k: v.clone() for k, v in obs.items()}
    moved["units"][..., columns.index("x")] = SPEC.map_size[0] - moved["units"][..., columns.index("x")]
    assert not torch.equal(_scores(agent, moved), reference)


def test_the_featurizer_leaves_unknown_columns_out():
    known = Agent(BASE, AgentConfig.small("perceiver"))
    honest = Agent(SPEC, AgentConfig.small("perceiver"))
    assert honest.featurizer.out_channels < known.featurizer.out_channels
    assert "health" not in {c for c, *_ in honest.featurizer.sqrt_one_hots}
    assert "order_id_0" not in honest.featurizer.order_columns and "order_id_0" in known.featurizer.order_columns


def test_the_spec_keeps_its_dict_when_nothing_is_unknown_and_round_trips_unknown():
    assert "unknown" not in BASE.to_dict()
    data = SPEC.to_dict()
    assert data["unknown"] == list(UNKNOWN)
    assert Spec.from_dict(data) == SPEC and Spec.from_dict(BASE.to_dict()) == BASE
    view = AgentSpec.from_dict(data)
    assert view.unknown_columns == {"health", "shield", "energy", "order_id_0", "order_length", "weapon_cooldown"}
    assert view.unknown_scalars == {"own_vitality"} and not view.available_actions_known


def test_a_stray_unknown_name_is_refused():
    with pytest.raises(SpecError, match="unknown"):
        dataclasses.replace(BASE, unknown=("hitpoints",))
    data = {**BASE.to_dict(), "unknown": ["hitpoints"]}
    with pytest.raises(AgentSpecError, match="unknown"):
        AgentSpec.from_dict(data)
    with pytest.raises(AgentSpecError, match="needed"):
        AgentSpec.from_dict({**BASE.to_dict(), "unknown": ["x"]})


def test_inputs_that_read_unknown_entries_are_refused():
    config = AgentConfig.small("perceiver")
    flags = dataclasses.replace(config, scalar=dataclasses.replace(config.scalar, available_actions=True))
    with pytest.raises(ValueError, match="available_actions"):
        Agent(SPEC, flags)
