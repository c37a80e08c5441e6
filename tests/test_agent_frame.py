"""The own_side frame (``agents.frame``): player 2 sees the battle as player 1 does, so on a mirrored scenario one
policy plays both sides alike; the agent's inputs and outputs stay in the map's frame."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from agents.agent import Agent, without_trailing_padding
from agents.config import AgentConfig
from agents.frame import OwnSideFrame
from agents.inputs import AgentInputError
from agents.spec import AgentSpec
from envs.skirmish.match import Match
from training.agent_choice import AgentChoice
from training.agent_io import check_same_agent
from training.checkpoint import CheckpointError
from training.config_io import ConfigError, from_dict

KINDS = ("perceiver", "transformer")


def own_side_agent(spec, kind: str, seed: int = 0) -> Agent:
    torch.manual_seed(seed)
    return Agent(spec, AgentConfig.small(kind)).eval()


def batched(obs: dict) -> dict[str, torch.Tensor]:
    return {key: torch.as_tensor(value)[None] for key, value in obs.items()}


def both_sides(scenario: str, steps: int = 0) -> tuple[Match, dict, dict]:
    """A mirrored game's two observations (batched) after ``steps`` steps of attack-moves by both sides."""
    match = Match(scenario, seed=0, max_units=32, lenient=True)
    observations = match.reset()
    for _ in range(steps):
        observations = match.step({})[0]
    return match, batched(observations[1]), batched(observations[2])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scenario", ["3m", "2s3z", "MMM"])
def test_player_2_is_played_as_the_mirror_image_of_player_1(kind, scenario):
    """On a mirrored scenario's first steps the two sides' observations are reflections of each other, so an
    own_side agent sends player 2 the reflection of what it sends player 1: the same units, the same targets, and
    target cells reflected across the centre line, with the same log-probabilities."""
    match, side1, side2 = both_sides(scenario, steps=2)
    agent = own_side_agent(match.spec, kind)
    frame = OwnSideFrame(agent.spec)
    assert not bool(frame.mirrored(side1).any()) and bool(frame.mirrored(side2).all())
    state = agent.initial_state(1)
    resolution = agent.spec.location_resolution
    for greedy in (True, False):
        with torch.no_grad():
            one = agent.act(side1, state, greedy=greedy, generator=torch.Generator().manual_seed(3))
            two = agent.act(side2, state, greedy=greedy, generator=torch.Generator().manual_seed(3))
        for key in ("action_type", "selected_units", "target_unit", "queued"):
            assert torch.equal(one.action[key], two.action[key]), key
        x1, x2 = one.action["target_location"][..., 0], two.action["target_location"][..., 0]
        assert torch.equal(torch.where(x1 >= 0, resolution - 1 - x1, x1), x2)
        assert torch.equal(one.action["target_location"][..., 1], two.action["target_location"][..., 1])
        torch.testing.assert_close(one.log_prob, two.log_prob)
        torch.testing.assert_close(one.value, two.value)
        with torch.no_grad():  # scoring takes the map frame's actions back into the agent's frame
            scored = agent.evaluate(side2, two.action, state, temperature=one.temperature)
        torch.testing.assert_close(torch.stack(list(scored.log_probs.values())).sum(0), two.log_prob)


def test_the_map_frame_sees_the_sides_differently_and_sequences_agree_with_steps():
    """Without the reflection the two sides' first observations give different inputs (what own_side removes), and
    an own_side agent's sequence scoring of a side-2 unroll equals its step-by-step scoring."""
    match, side1, side2 = both_sides("3m", steps=1)
    torch.manual_seed(0)
    plain = Agent(match.spec, AgentConfig(**{**AgentConfig.small().__dict__, "frame": "map"})).eval()
    state = plain.initial_state(1)
    with torch.no_grad():
        values = [float(plain.act(obs, state, greedy=True).value) for obs in (side1, side2)]
    assert values[0] != values[1]

    agent = own_side_agent(match.spec, "perceiver")
    obs = {key: torch.cat([side2[key], side1[key]])[:, None] for key in side1}  # [T=2, B=1]: a side change too
    first = torch.tensor([[True], [False]])
    state = agent.initial_state(1)
    with torch.no_grad():
        step0 = agent.act({k: v[0] for k, v in obs.items()}, state, first=first[0], greedy=True)
        step1 = agent.act({k: v[1] for k, v in obs.items()}, step0.state, first=first[1], greedy=True)
        action = {key: torch.stack([step0.action[key], step1.action[key]]) for key in step0.action}
        scored = agent.evaluate_sequence(obs, action, state, first)
    total = torch.stack(list(scored.log_probs.values())).sum(0)
    torch.testing.assert_close(total, torch.stack([step0.log_prob, step1.log_prob]))


def test_the_reflection_is_its_own_inverse_and_leaves_other_owners_and_padding_cells():
    match, _, side2 = both_sides("8m")
    frame = OwnSideFrame(AgentSpec.from_dict(match.spec))
    obs = without_trailing_padding(side2)
    mirrored = frame.mirrored(obs)
    there = frame.observe(obs, mirrored)
    back = frame.observe(there, mirrored)
    torch.testing.assert_close(back["units"], obs["units"])
    columns = list(match.spec.unit_columns)
    owner = there["units"][..., columns.index("owner")][obs["unit_mask"]]
    alliance = there["units"][..., columns.index("alliance")][obs["unit_mask"]]
    assert bool((owner[alliance == 1] == 1).all()) and bool((owner[alliance == 4] == 2).all())
    cells = torch.tensor([[[[5, 7], [-1, -1], [0, 63]]]])  # [B=1, T=1 ... ] any leading shape
    action = {"target_location": cells, "action_type": torch.zeros(1, 1, 3, dtype=torch.long)}
    flipped = frame.actions(action, torch.tensor([[True]]))
    assert flipped["target_location"].tolist() == [[[[58, 7], [-1, -1], [63, 63]]]]
    assert torch.equal(frame.actions(flipped, torch.tensor([[True]]))["target_location"], cells)
    assert frame.actions(action, torch.tensor([[False]])) is action


def test_the_frame_is_part_of_the_config_and_the_checkpoint():
    config = AgentConfig.small("transformer")
    assert config.frame == "own_side" and AgentChoice.of().frame == "own_side"  # new agents see their own side
    data = config.to_dict()
    data.pop("frame")  # a checkpoint from before the frame existed saw the map's
    assert AgentConfig.from_dict(data).frame == "map"
    assert AgentConfig.from_dict({**data, "frame": "own_side"}).frame == "own_side"
    with pytest.raises(ValueError, match="frame must be one of"):
        AgentConfig(frame="mine")
    choice = AgentChoice.from_config(AgentConfig(frame="map"))
    assert choice.frame == "map" and choice.agent_config().frame == "map"
    assert from_dict(AgentChoice, {"frame": "own_side", "encoder": {"kind": "transformer"}}).agent_config().frame \
        == "own_side"
    with pytest.raises(ConfigError, match="frame"):
        from_dict(AgentChoice, {"frame": "theirs"}, "agent")


def test_unroll_inputs_of_another_frame_are_refused():
    match, side1, _ = both_sides("3m")
    torch.manual_seed(0)
    plain = Agent(match.spec, AgentConfig(**{**AgentConfig.small().__dict__, "frame": "map"})).eval()
    agent = own_side_agent(match.spec, "perceiver")
    obs = {key: value[None] for key, value in side1.items()}
    with torch.no_grad():
        out = plain.act(side1, plain.initial_state(1), greedy=True)
        action = {key: value[None] for key, value in out.action.items()}
        inputs = plain.unroll_inputs(obs, action, plain.initial_state(1), torch.tensor([[True]]))
        with pytest.raises(AgentInputError, match="'map' frame, this agent sees the 'own_side' frame"):
            agent.evaluate_unroll(inputs)


def test_a_checkpoint_from_before_the_frame_resumes_as_the_map_frame_agent(tmp_path):
    """meta.json written before the frame existed has no ``frame`` key: its agent is the map frame's, so a run with
    ``agent.frame=map`` resumes it, an own_side run is told the frame differs, and a new run may start from it in
    either frame."""
    match, _, _ = both_sides("3m")
    old = Agent(match.spec, AgentConfig(**{**AgentConfig.small().__dict__, "frame": "map"}))
    recorded = old.checkpoint_config()
    recorded["agent"].pop("frame")
    checkpoint = SimpleNamespace(path=tmp_path / "ckpt", meta={"agent": recorded})
    check_same_agent(checkpoint, old)
    own_side = own_side_agent(match.spec, "perceiver")
    with pytest.raises(CheckpointError, match=r"agent.frame: map vs own_side"):
        check_same_agent(checkpoint, own_side)
    check_same_agent(checkpoint, own_side, acting_may_differ=True)
    idle_only = AgentConfig(**{**AgentConfig.small().__dict__, "frame": "map"})
    idle_only.heads = dataclasses.replace(idle_only.heads, idle_producers=True)
    with pytest.raises(CheckpointError, match=r"idle_producers: False vs True"):  # a resume keeps the rule
        check_same_agent(checkpoint, Agent(match.spec, idle_only))
    check_same_agent(checkpoint, Agent(match.spec, idle_only), acting_may_differ=True)  # new weights' start may not
    with pytest.raises(CheckpointError, match="the agent config in meta.json is invalid"):
        check_same_agent(SimpleNamespace(path=tmp_path / "ckpt", meta={"agent": {"spec": {}}}), old)


def test_a_map_narrower_than_the_frame_is_refused_by_the_own_side_frame():
    """Reflected across the frame, player 2's units on a map narrower than it (StarCraft II: 168 of 256) would land
    off the map; the frame says so instead of acting on them."""
    match, _, side2 = both_sides("3m")
    agent = own_side_agent(match.spec, "perceiver")
    narrow = {key: value.clone() for key, value in side2.items()}
    narrow["scalars"][..., list(agent.spec.scalars).index("map_width")] = agent.spec.map_size[0] / 2
    with pytest.raises(AgentInputError, match="agent.frame=map"):
        agent.act(narrow, agent.initial_state(1), greedy=True)
    agent.act(side2, agent.initial_state(1), greedy=True)  # the map's own width: reflected as before
