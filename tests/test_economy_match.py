"""Full games through the contract: the catalogue, the spec, the observation's economy columns and resource rows,
the actions (legal and illegal) and a random agent that stays legal by construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.agent import Agent
from agents.config import AgentConfig
from agents.heads.legality import LegalityRules
from agents.spec import AgentSpec
from envs.contract.action import IllegalActionError, make_action
from envs.contract.catalogue import ACTION_TYPES, FOLLOW, MOVE
from envs.contract.columns import Alliance
from envs.contract.columns import UnitColumn as C
from envs.contract.spec import Spec
from envs.skirmish.economy.catalogue import RAW_FUNCTIONS, full_catalogue
from envs.skirmish.economy.gathering import NONE
from envs.skirmish.economy.match import FullMatch
from envs.skirmish.economy.rules import default_rules
from tests.test_economy_fuzz import _check_invariants
from training.bc.dataset import ActionRules
from training.policy import stack_observations, unstack_actions

SCV, CC, DEPOT, REFINERY, MINERAL, GEYSER = 45, 18, 19, 20, 341, 342


def rows_of(obs, sc2_id: int, alliance: Alliance | None = None) -> np.ndarray:
    units, mask = obs["units"], obs["unit_mask"]
    keep = mask & (units[:, C.unit_type] == sc2_id)
    if alliance is not None:
        keep &= units[:, C.alliance] == float(alliance)
    return np.flatnonzero(keep)


def scalar(match: FullMatch, player: int, name: str) -> float:
    return float(match.observations[player]["scalars"][list(match.spec.scalars).index(name)])


def cell(match: FullMatch, x: float, y: float) -> tuple[int, int]:
    r = match.spec.location_resolution
    return int(x / match.game.map.width * r), int(y / match.game.map.height * r)


def play(match: FullMatch, action, player: int = 1, steps: int = 1) -> dict:
    info = match.step({player: action})[4][player]
    for _ in range(steps - 1):
        match.step({})
    return info


def test_catalogue_ids_are_pysc2s():
    actions = pytest.importorskip("pysc2_evolved.lib.actions", reason="needs the sc2 extra (pysc2-evolved)")
    functions = {f.name: f for f in actions.RAW_FUNCTIONS}
    for name, (function_id, function_type, ability) in RAW_FUNCTIONS.items():
        f = functions[name]
        assert (int(f.id), f.function_type.__name__, int(f.ability_id)) == (function_id, function_type, ability), name


def test_the_spec_extends_the_battle_contract():
    match = FullMatch("duel", ("terran", "zerg"))
    spec = match.spec
    assert Spec.from_dict(spec.to_dict()) == spec
    agent_spec = AgentSpec.from_dict(spec.to_dict())
    names = [a.name for a in spec.action_types]
    assert names[: len(ACTION_TYPES)] == [a.name for a in ACTION_TYPES]  # the base types keep their indices
    catalogue = full_catalogue(default_rules())
    assert len(names) == len(catalogue.action_types) == len(ACTION_TYPES) + 3 + len(default_rules().recipes) + 3
    assert {"Train_SCV_quick", "Build_Pylon_pt", "Morph_Lair_quick", "Research_ZergMissileWeaponsLevel1_quick",
            "Harvest_Gather_unit", "Rally_Units_pt"} <= set(names)  # fmt: skip
    assert {MINERAL, GEYSER, 483} <= set(spec.unit_type_ids)
    assert spec.scalars[-5:] == ("food_cap", "food_army", "food_workers", "idle_worker_count", "larva_count")
    by_name = {u.name: u for u in spec.unit_types}
    assert "Train_Drone_quick" in by_name["larva"].abilities and "move" not in by_name["larva"].abilities
    assert "Build_Refinery_pt" in by_name["scv"].abilities and "Train_SCV_quick" in by_name["command_center"].abilities
    assert agent_spec.num_action_types == len(names)
    assert match.observations[1]["available_actions"].shape == (len(names),)
    assert match.observations[1]["scalars"].shape == (len(spec.scalars),)


def test_the_first_observation_holds_units_then_resources_and_the_economy():
    match = FullMatch("duel", ("terran", "zerg"), seed=3)
    obs = match.observations[1]
    alliance = obs["units"][obs["unit_mask"], C.alliance]
    own = np.count_nonzero(alliance == Alliance.self)
    assert own == 13 and np.all(alliance[:own] == Alliance.self) and np.all(alliance[own:] == Alliance.neutral)
    fields = rows_of(obs, MINERAL)
    assert obs["units"][fields, C.mineral_contents].min() == 1800 and np.all(obs["units"][fields, C.owner] == 16)
    hall = rows_of(obs, CC)[0]
    assert obs["units"][hall, C.assigned_harvesters] == 12 and obs["units"][hall, C.ideal_harvesters] == 16
    workers = rows_of(obs, SCV)
    assert set(obs["units"][workers, C.order_id_0]) <= {RAW_FUNCTIONS["Harvest_Gather_unit"][0]}
    assert scalar(match, 1, "minerals") == 50 and scalar(match, 1, "food_used") == 12
    assert scalar(match, 1, "food_cap") == 15 and scalar(match, 1, "food_workers") == 12
    assert scalar(match, 2, "larva_count") == 3 and scalar(match, 2, "food_cap") == 14  # hatchery 6 + overlord 8
    # the nearest resources first: the player's own mineral line
    centre = obs["units"][obs["unit_mask"] & (obs["units"][:, C.alliance] == Alliance.self)][:, [C.x, C.y]].mean(0)
    resources = obs["units"][own : int(obs["unit_mask"].sum())][:, [C.x, C.y]]
    distance = np.hypot(*(resources - centre).T)
    assert np.all(np.diff(distance) >= -1e-4)


def test_training_shows_as_orders_and_costs_at_once():
    match = FullMatch("duel", ("terran", "terran"))
    catalogue = match.catalogue
    hall = rows_of(match.observations[1], CC)[0]
    match.game.bank.minerals[1] = 200
    match.step({})
    play(match, [make_action(catalogue.index("Train_SCV_quick"), [hall])] * 2)
    assert scalar(match, 1, "minerals") < 200 - 100 + 10  # paid at once (a little income since)
    row = match.observations[1]["units"][rows_of(match.observations[1], CC)[0]]
    assert row[C.order_id_0] == row[C.order_id_1] == RAW_FUNCTIONS["Train_SCV_quick"][0]
    assert row[C.order_length] == 2 and 0 < row[C.order_progress_0] < 100
    assert scalar(match, 1, "food_used") == 14  # the two in production count


def test_idle_producers_let_the_agent_train_only_from_a_producer_without_orders():
    match = FullMatch("duel", ("terran", "terran"))
    train = match.catalogue.index("Train_SCV_quick")
    spec = AgentSpec.from_dict(match.spec.to_dict())
    queueing, idle_only = LegalityRules(spec), LegalityRules(spec, idle_producers=True)
    match.game.bank.minerals[1] = 400
    match.step({})

    def masks(rules: LegalityRules) -> tuple[bool, list[int]]:
        legal = rules.observe(stack_observations([match.observations[1]]))
        selectable = rules.selectable(legal, torch.tensor([train]))[0]
        return bool(legal.action_types[0, train]), torch.nonzero(selectable).flatten().tolist()

    hall = int(rows_of(match.observations[1], CC)[0])
    assert masks(queueing) == masks(idle_only) == (True, [hall])
    play(match, make_action(train, [hall]))  # the hall is busy now, the bank still pays for more
    assert match.observations[1]["available_actions"][train]  # StarCraft II's rule: it may queue
    assert masks(queueing) == (True, [hall])
    assert masks(idle_only) == (False, [])
    gather = match.catalogue.index("Harvest_Gather_unit")  # other orders keep every unit that can carry them
    legal = idle_only.observe(stack_observations([match.observations[1]]))
    assert idle_only.selectable(legal, torch.tensor([gather]))[0].sum() == 12
    # recorded production from a busy producer is not taught to such an agent, and is to one that queues
    obs, action = match.observations[1], make_action(train, [hall])
    assert ActionRules(match.spec.to_dict()).teachable([obs], [action])[0][1] is None
    assert ActionRules(match.spec.to_dict(), idle_producers=True).teachable([obs], [action])[0][1] is not None


def test_illegal_economy_actions_raise_with_the_rules_reason_or_are_counted():
    match = FullMatch("duel", ("terran", "terran"))
    catalogue = match.catalogue
    obs = match.observations[1]
    hall, worker = rows_of(obs, CC)[0], rows_of(obs, SCV)[0]
    match.game.bank.minerals[1] = 0
    match.observed[1].obs["available_actions"][catalogue.index("Train_SCV_quick")] = True  # pretend, to reach the rule
    with pytest.raises(IllegalActionError, match="minerals"):
        play(match, make_action(catalogue.index("Train_SCV_quick"), [hall]))
    match = FullMatch("duel", ("terran", "terran"))
    with pytest.raises(IllegalActionError, match="cannot order 'scv': minerals"):
        play(match, [make_action(catalogue.index("Train_SCV_quick"), [hall])] * 2)  # 50 minerals: the second
    with pytest.raises(IllegalActionError, match="no selected unit can Train_SCV_quick"):
        play(match, make_action(catalogue.index("Train_SCV_quick"), [worker]))
    field = rows_of(obs, MINERAL)[0]
    with pytest.raises(IllegalActionError, match="resource"):
        play(match, make_action(MOVE, [field], target_location=(3, 3)))
    with pytest.raises(IllegalActionError, match="not a mineral field, or a finished gas building"):
        play(match, make_action(catalogue.index("Harvest_Gather_unit"), [worker], target_unit=int(hall)))
    lenient = FullMatch("duel", ("terran", "terran"), lenient=True)
    info = play(lenient, [make_action(catalogue.index("Train_SCV_quick"), [hall])] * 2)
    assert info["illegal_actions"] == 1 and "minerals" in info["illegal_reasons"][0]
    match.game.bank.minerals[1] = 0
    match.step({})
    with pytest.raises(IllegalActionError, match="Train_SCV_quick .* is not available"):
        play(match, make_action(catalogue.index("Train_SCV_quick"), [hall]))  # the mask, before the economy


def test_a_build_snaps_to_the_nearest_free_site_and_a_refinery_takes_its_geyser_row():
    match = FullMatch("duel", ("terran", "terran"), seed=1)
    catalogue, game = match.catalogue, match.game
    game.bank.minerals[1] = 1000
    match.step({})  # the next observation's masks see the money
    obs = match.observations[1]
    worker, hall = rows_of(obs, SCV)[0], rows_of(obs, CC)[0]
    hall_xy = obs["units"][hall, [C.x, C.y]]
    play(match, make_action(catalogue.index("Build_SupplyDepot_pt"), [worker], target_location=cell(match, *hall_xy)))
    site = next(s for s in game.construction.orders.values() if s.structure == "supply_depot")
    assert 0 < np.hypot(site.x - hall_xy[0], site.y - hall_xy[1]) <= 2.5 + 1 + 3 * 1.5  # beside the CC, not on it
    geysers = rows_of(match.observations[1], GEYSER)
    before = len(geysers)
    builder = rows_of(match.observations[1], SCV)[1]
    play(match, make_action(catalogue.index("Build_Refinery_pt"), [builder], target_unit=int(geysers[0])))
    assert len(rows_of(match.observations[1], GEYSER)) == before - 1  # the reserved geyser's row is gone
    for _ in range(int(21 * 22.4 / 8) + 40):
        match.step({})
    obs = match.observations[1]
    refinery = rows_of(obs, REFINERY)
    assert len(refinery) == 1 and obs["units"][refinery[0], C.vespene_contents] == 2250
    assert obs["units"][refinery[0], C.ideal_harvesters] == 3
    workers = rows_of(obs, SCV)[:2]
    info = play(match, make_action(catalogue.index("Harvest_Gather_unit"), workers, target_unit=int(refinery[0])))
    assert info["illegal_actions"] == 0
    for _ in range(120):
        match.step({})
    assert scalar(match, 1, "vespene") > 0
    assert match.observations[1]["units"][rows_of(match.observations[1], REFINERY)[0], C.assigned_harvesters] == 2


def test_base_commands_take_workers_out_of_gathering_and_follow_walks_to_a_field():
    match = FullMatch("duel", ("terran", "terran"))
    obs = match.observations[1]
    worker = rows_of(obs, SCV)[0]
    slot = int(match.observed[1].row_to_slot[worker])
    far = rows_of(obs, MINERAL)[10]  # a field of the nearest other base (the natural)
    field_xy = obs["units"][far, [C.x, C.y]]
    play(match, make_action(FOLLOW, [worker], target_unit=int(far)))
    assert match.game.gathering.phase[slot] == NONE
    play(match, None, steps=60)  # up to 84 map units at 1.4 a step
    assert np.hypot(*(match.game.engine.state.pos[slot] - field_xy)) < 2.0
    assert scalar(match, 1, "idle_worker_count") == 1
    play(match, make_action(match.catalogue.index("Harvest_Return_quick"), [rows_of(match.observations[1], SCV)[0]]))
    assert match.game.gathering.phase[slot] != NONE and scalar(match, 1, "idle_worker_count") == 0


def test_random_contract_actions_keep_the_invariants_and_equal_seeds_give_equal_games():
    def run() -> str:
        match = FullMatch("duel", ("protoss", "zerg"), seed=5, lenient=True)
        rng = np.random.default_rng(0)
        for _ in range(40):
            _check_invariants(match.game)
            acts = {}
            for player in (1, 2):
                available = np.flatnonzero(match.observations[player]["available_actions"])
                own = np.flatnonzero(match.observations[player]["units"][:, C.alliance] == Alliance.self)
                acts[player] = make_action(int(rng.choice(available)), [int(rng.choice(own))],
                                           target_unit=int(rng.integers(0, 60)),
                                           target_location=rng.integers(0, 64, 2))  # fmt: skip
            match.step(acts)
        return match.game.state_hash()

    assert run() == run()


@pytest.mark.parametrize("idle_producers", [False, True])
@pytest.mark.parametrize("races", [("terran", "zerg"), ("protoss", "terran"), ("zerg", "protoss")])
def test_a_random_agent_plays_strict_full_games_without_an_illegal_action(races, idle_producers, one_thread):
    torch.manual_seed(0)
    match = FullMatch("duel", races, seed=2)
    config = AgentConfig()
    config.heads.idle_producers = idle_producers
    agent = Agent(match.spec, config)
    state = agent.initial_state(2)
    played = set()
    for _ in range(60):
        obs = stack_observations([match.observations[1], match.observations[2]])
        with torch.no_grad():
            out = agent.act(obs, state)
        state = out.state
        actions = unstack_actions(out.action, agent.spec.no_op)
        played |= {a["action_type"] for a in actions[0] + actions[1]}
        match.step({1: actions[0], 2: actions[1]})  # strict: an illegal action would raise
    economy = {i for i in played if i >= len(ACTION_TYPES)}
    assert len(economy) >= 3  # gathering, returning, rallying, training: the agent reaches the economy


def test_the_full_game_gym_env_passes_check_env_and_plays_against_a_bot():
    import warnings

    import gymnasium as gym
    from gymnasium.utils.env_checker import check_env

    import envs.skirmish  # noqa: F401  (registers the ids)
    from envs.skirmish.economy.env import FullGameEnv

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(FullGameEnv(races=("zerg", "random"), lenient=True), skip_render_check=True)
    assert [str(w.message) for w in caught] == []
    env = gym.make("Skirmish-FullGame-v0", opponent="medium", races=("protoss", "terran"), render_mode="rgb_array")
    obs, info = env.reset(seed=3)
    assert obs["scalars"].shape == (17,) and obs["available_actions"].shape == (48,) and info["races"] == (
        "protoss", "terran")  # fmt: skip
    assert env.observation_space.contains(obs)
    for _ in range(30):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())  # lenient: mostly illegal
        assert reward == 0.0 and not terminated and info["opponent_illegal_actions"] == 0
    assert info["game_loop"] == 240 and env.render().shape == (384, 384, 3)
    with pytest.raises(ValueError, match="full-game bot level"):
        FullGameEnv(opponent="godlike")
