"""The agent's view of the spec: built from the contract's Spec or its dict, refuses another version or bad entries
with one error naming the field, and checkpoints keep the dict the agent was built from."""

from __future__ import annotations

import copy
import json

import pytest

from agents.agent import Agent
from agents.config import AgentConfig
from agents.spec import MAX_SIZES, SUPPORTED_SPEC_VERSION, AgentSpec, AgentSpecError
from envs.contract.arguments import MAX_SELECTED_UNITS
from envs.contract.budget import MAX_ACTIONS_PER_STEP
from envs.contract.sizes import MAX_RESOLUTION, MAX_UNIT_ROWS
from envs.contract.spec import SPEC_VERSION, SpecError
from envs.skirmish.spec import skirmish_spec

SPEC = skirmish_spec((32.0, 24.0), max_units=16, resolution=8)


def test_agent_reads_the_version_the_contract_writes():
    assert SUPPORTED_SPEC_VERSION == SPEC_VERSION


def test_the_agent_is_built_for_every_size_the_contract_allows():
    assert MAX_SIZES["max_units"] == MAX_UNIT_ROWS and MAX_SIZES["location_resolution"] == MAX_RESOLUTION
    assert MAX_SIZES["actions_per_step"] == MAX_ACTIONS_PER_STEP
    assert MAX_SIZES["max_selected_units"] >= MAX_SELECTED_UNITS
    largest = skirmish_spec((32.0, 24.0), max_units=MAX_UNIT_ROWS, resolution=MAX_RESOLUTION,
                            actions_per_step=MAX_ACTIONS_PER_STEP)  # fmt: skip
    assert AgentSpec.from_dict(largest).max_units == MAX_UNIT_ROWS
    for sizes in ({"max_units": MAX_UNIT_ROWS + 1}, {"resolution": MAX_RESOLUTION + 1},
                  {"actions_per_step": MAX_ACTIONS_PER_STEP + 1}):  # fmt: skip
        with pytest.raises(SpecError):
            skirmish_spec((32.0, 24.0), **sizes)


def test_view_from_the_spec_and_from_its_dict_agree():
    typed, plain = AgentSpec.from_dict(SPEC), AgentSpec.from_dict(json.loads(json.dumps(SPEC.to_dict())))
    for view in (typed, plain):
        assert (view.max_units, view.location_resolution, view.map_size) == (16, 8, (32.0, 24.0))
        assert [a.name for a in view.action_types] == [a.name for a in SPEC.action_types]
        assert view.action_types[5].target == "enemy" and view.action_types[6].target == "other_unit"
        assert view.action_types[3].requires == "mobile"
        medivac = next(u for u in view.unit_types if u.name == "medivac")
        assert medivac.is_air and not medivac.hits_ground and "attack_unit" not in medivac.abilities
        assert view.self_alliance == 1 and 0 in view.order_ids
    assert typed.to_dict() == plain.to_dict() == SPEC.to_dict()


@pytest.mark.parametrize("version", [SPEC_VERSION - 1, SPEC_VERSION + 1, None])
def test_a_spec_of_another_version_is_refused(version):
    data = SPEC.to_dict()
    data["spec_version"] = version
    with pytest.raises(AgentSpecError, match=rf"version {version!r}, this agent reads only version {SPEC_VERSION}"):
        Agent(data, AgentConfig.small())


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda d: d.pop("max_selected_units"), "max_selected_units"),
        (lambda d: d.update(location_resolution=0), "location_resolution"),
        (lambda d: d.update(unit_columns=[c for c in d["unit_columns"] if c != "alliance"]), "unit_columns"),
        (lambda d: d["action_types"][5].update(target="friend"), "action_types[5].target"),
        (lambda d: d["action_types"][1].pop("requires"), "action_types[1].requires"),
        (lambda d: d["action_types"][2].update(index=7), "action_types[2].index"),
        (lambda d: d["unit_types"][0].update(hits_air="yes"), "unit_types[0].hits_air"),
        (lambda d: d["unit_types"][0].update(abilities=["fly"]), "unit_types[0].abilities"),
        (lambda d: d.update(map_size=[32.0, -1.0]), "map_size"),
        (lambda d: d.pop("actions_per_step"), "actions_per_step"),
        (lambda d: d.update(actions_per_step=0), "actions_per_step"),
        # sizes a crafted checkpoint could use to make the agent allocate gigabytes
        (lambda d: d.update(location_resolution=10**9), "location_resolution"),
        (lambda d: d.update(max_units=4096), "max_units"),
        (lambda d: d.update(max_selected_units=10**6), "max_selected_units"),
        (lambda d: d.update(actions_per_step=65), "actions_per_step"),
        (lambda d: d["action_types"][0].update(name="idle"), "action_types"),  # no no_op to end a step with
    ],
)
def test_a_bad_entry_is_named(change, field):
    data = copy.deepcopy(SPEC.to_dict())
    change(data)
    with pytest.raises(AgentSpecError) as error:
        AgentSpec.from_dict(data)
    assert error.value.field == field and field in str(error.value)


def test_checkpoint_config_stores_the_spec_dict_and_rebuilds_the_agent():
    agent = Agent(SPEC, AgentConfig.small())
    config = json.loads(json.dumps(agent.checkpoint_config()))
    assert config["spec"] == SPEC.to_dict()
    restored = Agent.from_checkpoint(config, agent.state_dict())
    assert restored.spec.to_dict() == SPEC.to_dict()
