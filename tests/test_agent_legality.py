"""Legal by construction: the heads' masks follow the spec's rules, and an agent with random weights never sends an
action a strict match refuses, over every standard scenario and generated ones, with both entity encoders."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from agents.agent import Agent
from agents.config import AgentConfig
from agents.heads.legality import LegalityRules
from agents.spec import AgentSpec
from envs.skirmish.generator import random_scenario
from envs.skirmish.match import Match
from envs.skirmish.scenario import load_scenario, scenario_names
from envs.skirmish.spec import skirmish_spec
from training.policy import AgentPolicy

SPEC = skirmish_spec((32.0, 32.0), max_units=8, resolution=8).to_dict()
COLUMNS = SPEC["unit_columns"]
INDEX = {a["name"]: a["index"] for a in SPEC["action_types"]}
SC2_ID = {u["name"]: float(u["sc2_id"]) for u in SPEC["unit_types"]}


def observation(rows: list[tuple[str, int]], map_size: tuple[float, float] = (32.0, 32.0)) -> dict[str, torch.Tensor]:
    """One observation of ``rows`` (unit name, alliance) padded to the spec's 8 rows, every action available."""
    units = torch.zeros(1, SPEC["max_units"], len(COLUMNS))
    mask = torch.zeros(1, SPEC["max_units"], dtype=torch.bool)
    for i, (name, alliance) in enumerate(rows):
        units[0, i, COLUMNS.index("unit_type")] = SC2_ID[name]
        units[0, i, COLUMNS.index("alliance")] = alliance
        mask[0, i] = True
    scalars = torch.zeros(1, len(SPEC["scalars"]))
    scalars[0, SPEC["scalars"].index("map_width")], scalars[0, SPEC["scalars"].index("map_height")] = map_size
    available = torch.ones(1, len(SPEC["action_types"]), dtype=torch.bool)
    return {"units": units, "unit_mask": mask, "scalars": scalars, "available_actions": available}


RULES = LegalityRules(AgentSpec.from_dict(SPEC))


def legal_types(obs: dict[str, torch.Tensor]) -> set[str]:
    allowed = RULES.observe(obs).action_types[0]
    return {name for name, i in INDEX.items() if allowed[i]}


def test_action_types_need_a_unit_that_can_carry_them_and_a_target_it_can_hit():
    # zealots hit ground only: against medivacs alone attack_unit is impossible, attack_move is not
    obs = observation([("zealot", 1), ("zealot", 1), ("medivac", 4)])
    assert legal_types(obs) == {"no_op", "stop", "hold_position", "move", "attack_move", "follow"}
    assert "attack_unit" in legal_types(observation([("marine", 1), ("medivac", 4)]))
    # a sieged tank can neither move, hold nor follow; alone with no enemy it can only stop or attack-move
    assert legal_types(observation([("siege_tank_sieged", 1)])) == {"no_op", "stop", "attack_move"}
    # follow needs a unit besides the selection: a lone unit cannot
    assert "follow" not in legal_types(observation([("marine", 1)]))
    assert "follow" in legal_types(observation([("marine", 1), ("marine", 1)]))


def test_selection_keeps_only_units_that_can_carry_the_type_and_hit_something():
    obs = observation([("zealot", 1), ("marine", 1), ("medivac", 1), ("siege_tank_sieged", 1), ("medivac", 4)])
    legal = RULES.observe(obs)
    chosen = {name: RULES.selectable(legal, torch.tensor([INDEX[name]]))[0, :5].tolist() for name in INDEX}
    assert chosen["attack_unit"] == [False, True, False, False, False]  # only the marine hits the medivac
    assert chosen["hold_position"] == [True, True, True, False, False]  # the sieged tank cannot move
    assert chosen["attack_move"] == [True, True, True, True, False]  # the medivac heals on the way
    assert chosen["stop"] == [True, True, True, True, False]  # enemies are never selectable


def test_targets_follow_each_type_rule():
    obs = observation([("marine", 1), ("zealot", 1), ("zergling", 4), ("medivac", 4), ("marine", 2)])
    legal = RULES.observe(obs)
    marine, zealot = torch.tensor([[True, False] + [False] * 6]), torch.tensor([[False, True] + [False] * 6])
    attack = torch.tensor([INDEX["attack_unit"]])
    assert RULES.targets(legal, attack, marine)[0, :5].tolist() == [False, False, True, True, False]
    assert RULES.targets(legal, attack, zealot)[0, :5].tolist() == [False, False, True, False, False]
    follow = torch.tensor([INDEX["follow"]])
    assert RULES.targets(legal, follow, marine)[0, :5].tolist() == [False, True, True, True, True]


def test_locations_only_on_the_map():
    # a 16 x 8 map seen through the spec's 32 x 32 frame (as StarCraft II's maps sit in a 256 x 256 frame)
    cells = RULES.observe(observation([("marine", 1)], map_size=(16.0, 8.0))).cells[0].reshape(8, 8)
    assert cells[:2, :4].all() and not cells[2:].any() and not cells[:, 4:].any()
    assert RULES.observe(observation([("marine", 1)])).cells.all()


def test_a_follow_selection_leaves_a_unit_to_follow():
    agent = Agent(SPEC, AgentConfig.small("perceiver")).eval()
    obs = observation([("marine", 1), ("marine", 1), ("marine", 1)])
    given = {"action_type": torch.tensor([[INDEX["follow"]] * agent.spec.actions_per_step])}
    state = agent.initial_state(1)
    with torch.no_grad():
        for seed in range(20):
            out = agent.act(obs, state, given=given, temperature=5.0, generator=torch.Generator().manual_seed(seed))
            for chosen, target in zip(out.action["selected_units"][0], out.action["target_unit"][0], strict=True):
                picked = set(chosen[chosen >= 0].tolist())
                assert 1 <= len(picked) <= 2 and int(target) not in picked


def scenarios(include_large: bool) -> list:
    names = [n for n in scenario_names() if include_large or len(load_scenario(n).placements) <= 60]
    built = [load_scenario(n) for n in names]
    built += [random_scenario(seed, start_positions=start) for seed, start in ((1, "reflect"), (2, "surrounded"))]
    built += [random_scenario(3, races=("terran",), units_per_side=(10, 16), extra_enemies=2)]
    return built


def play_strict(kind: str, steps_per_scenario: int, include_large: bool) -> tuple[int, Counter, int]:
    """A random-weight agent plays both sides of strict matches under the default budget of 2 actions per step;
    returns agent steps, action types used and how many steps sent two actions."""
    torch.manual_seed(0)
    steps, used, several = 0, Counter(), 0
    for scenario in scenarios(include_large):
        max_units = max(16, len(scenario.placements))
        match = Match(scenario, seed=steps, max_units=max_units, resolution=32, lenient=False)
        agent = Agent(match.spec, AgentConfig.small(kind)).eval()
        assert agent.spec.actions_per_step == match.actions_per_step == 2
        policy = AgentPolicy(agent, 2, temperature=1.0, seed=steps)
        observations = match.reset()
        for _ in range(steps_per_scenario):
            actions, _ = policy.step([observations[1], observations[2]])
            observations, _, terminated, truncated, infos = match.step({1: actions[0], 2: actions[1]})
            assert infos[1]["illegal_actions"] == infos[2]["illegal_actions"] == 0
            assert all(1 <= len(sent) <= 2 for sent in actions)
            several += sum(len(sent) == 2 for sent in actions)
            used.update(a["action_type"] for sent in actions for a in sent)
            steps += 2
            if terminated or truncated:
                observations = match.reset()
                policy.reset()
    return steps, used, several


@pytest.mark.parametrize("kind", ["perceiver", "transformer"])
def test_random_agent_plays_strict_games_without_an_illegal_action(kind, one_thread):
    steps, used, several = play_strict(kind, steps_per_scenario=12, include_large=False)
    assert steps >= 300 and several >= steps // 10  # the whole budget is used, and accepted
    assert set(used) == set(INDEX.values())  # every action type was sent (and accepted) at least once


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["perceiver", "transformer"])
def test_random_agent_plays_ten_thousand_strict_steps(kind, one_thread):
    steps, used, _ = play_strict(kind, steps_per_scenario=320, include_large=True)
    assert steps >= 10_000 and set(used) == set(INDEX.values())


def test_greedy_arguments_sample_the_type_and_pick_the_most_likely_arguments():
    agent = Agent(SPEC, AgentConfig.small("perceiver")).eval()
    obs = observation([("marine", 1), ("marine", 1), ("marauder", 1), ("zealot", 4), ("stalker", 4)])
    state = agent.initial_state(1)
    with torch.no_grad():
        for kind in ("attack_unit", "move", "attack_move"):
            given = {"action_type": torch.tensor([[INDEX[kind]] * agent.spec.actions_per_step])}
            picked = agent.act(obs, state, given=given, greedy=True).action
            for seed in range(8):
                out = agent.act(obs, state, given=given, temperature=5.0, greedy_arguments=True,
                                generator=torch.Generator().manual_seed(seed)).action  # fmt: skip
                assert all(torch.equal(out[key], picked[key]) for key in picked), (kind, seed)
        types, sampled_args = set(), set()
        for seed in range(30):  # the type is still drawn as when sampling everything (the same generator draw)
            generator = torch.Generator().manual_seed(seed)
            sampled = agent.act(obs, state, temperature=5.0, generator=generator).action
            out = agent.act(obs, state, temperature=5.0, greedy_arguments=True,
                            generator=torch.Generator().manual_seed(seed)).action  # fmt: skip
            assert out["action_type"][0, 0] == sampled["action_type"][0, 0]
            types.add(int(out["action_type"][0, 0]))
            sampled_args.add(tuple(sampled["selected_units"][0, 0].tolist()))
        assert len(types) > 2 and len(sampled_args) > 2  # (at temperature 5 sampling does vary)
