"""The StarCraft II env without the game: observation protos (s2clientprotocol) through pysc2's real ``Features``
into the contract's observation, contract actions into pysc2 ``FunctionCall``s and through pysc2's real
``transform_action`` into ``sc_pb.Action`` protos, the validation, and the env loop on pysc2's real ``SC2Env``
whose run config hands out a scripted controller (the only stand-in: the game binary cannot be installed here)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("pysc2_evolved")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from gymnasium.utils.env_checker import check_env  # noqa: E402
from pysc2_evolved import run_configs  # noqa: E402
from pysc2_evolved.env import sc2_env  # noqa: E402
from pysc2_evolved.lib import actions as pysc2_actions  # noqa: E402
from pysc2_evolved.lib import static_data  # noqa: E402
from s2clientprotocol import common_pb2, data_pb2, query_pb2, raw_pb2  # noqa: E402
from s2clientprotocol import sc2api_pb2 as sc_pb  # noqa: E402

from envs.contract.action import IllegalActionError, MalformedActionError, make_action  # noqa: E402
from envs.contract.columns import UnitColumn as C  # noqa: E402
from envs.contract.scalars import SCALAR_NAMES  # noqa: E402
from envs.sc2 import extra  # noqa: E402
from envs.sc2.action import LocationGrid, to_function_call, to_function_call_lenient  # noqa: E402
from envs.sc2.catalogue import catalogue  # noqa: E402
from envs.sc2.config import BUILDS, DIFFICULTIES, RACES, SC2EnvConfig  # noqa: E402
from envs.sc2.env import ENV_ID, SC2Env, register_envs  # noqa: E402
from envs.sc2.extra import MissingExtraError  # noqa: E402
from envs.sc2.game import SC2NotInstalledError, check_game_installed, expected_game_dir, raw_features  # noqa: E402
from envs.sc2.observation import GameFrame, available_actions, convert_observation  # noqa: E402
from envs.sc2.spec import sc2_spec  # noqa: E402
from training.agent_choice import AgentChoice  # noqa: E402
from training.policy import AgentPolicy  # noqa: E402

MAP = (88, 96)  # Simple64's size; 96 is a multiple of a cell (256 / 64 = 4 map units)
FRAME = (256.0, 256.0)
MARINE, SCV, MEDIVAC, ZERGLING, ROACH, HATCHERY, MINERAL = 48, 45, 54, 105, 110, 86, 341
FOOD = {MARINE: 1, SCV: 1, MEDIVAC: 2, ZERGLING: 0.5, ROACH: 2, HATCHERY: 0, MINERAL: 0}
SELF, NEUTRAL, ENEMY = 1, 3, 4
OWNER = {SELF: 1, ENEMY: 2, NEUTRAL: 16}
CAT = catalogue()
MOVE, ATTACK_MOVE, ATTACK_UNIT, STOP = (CAT.index(n) for n in ("move", "attack_move", "attack_unit", "stop"))
SMART_UNIT, DEPOT, HEAL_AUTOCAST, STIM = (
    CAT.index(n) for n in ("Smart_unit", "Build_SupplyDepot_pt", "Effect_Heal_autocast", "Effect_Stim_quick")
)


def tag(index: int, recycle: int = 1) -> int:
    """A tag shaped like the game's: 2**32 + (unit index << 18) + recycle (far above 2**24: float32 rounds it)."""
    return (1 << 32) + (index << 18) + recycle


def unit(index, unit_type, alliance, x, y, health, health_max, *, shield=0.0, shield_max=0.0, display=1,
         facing=0.0, radius=0.375, orders=()):  # fmt: skip
    u = raw_pb2.Unit(display_type=display, alliance=alliance, tag=tag(index), unit_type=unit_type,
                     owner=OWNER[alliance], pos=common_pb2.Point(x=x, y=y, z=10.0), facing=facing, radius=radius,
                     build_progress=1.0, health=health, health_max=health_max, shield=shield, shield_max=shield_max,
                     cloak=3, is_on_screen=True)  # fmt: skip
    for ability in orders:
        u.orders.add(ability_id=ability)
    return u


def scene() -> list:
    """Own: marines (tags 7, 3), an SCV (5), a medivac (6); enemy: a roach, a hurt zergling, a hatchery snapshot;
    neutral: two mineral fields."""
    return [
        unit(7, MARINE, SELF, 20.25, 30.5, 37.5, 45, facing=1.25),
        unit(10, ZERGLING, ENEMY, 30.0, 30.0, 20.0, 35),
        unit(3, MARINE, SELF, 22.0, 30.0, 45, 45, orders=(23,)),  # attacking (Attack_Attack)
        unit(20, MINERAL, NEUTRAL, 10.0, 10.0, 0, 0, radius=1.125),
        unit(5, SCV, SELF, 18.0, 28.5, 45, 45),
        unit(8, HATCHERY, ENEMY, 60.0, 70.0, 1500, 1500, display=2, radius=2.75),
        unit(9, ROACH, ENEMY, 25.0, 35.0, 145, 145),
        unit(21, MINERAL, NEUTRAL, 15.0, 25.0, 0, 0, radius=1.125),
        unit(6, MEDIVAC, SELF, 19.0, 29.0, 150, 150),
    ]


ROW_TAGS = [tag(i) for i in (3, 5, 6, 7, 9, 10, 8, 21, 20)]  # own by tag; enemies, neutrals: nearest first
ABILITIES = {  # what the game answers RequestQueryAvailableAbilities with: (ability id, requires point)
    tag(3): [(23, True), (16, True), (18, False), (4, False), (380, False)],  # attack, move, hold, stop, stim
    tag(7): [(23, True), (16, True), (18, False), (4, False)],
    tag(5): [(23, True), (16, True), (4, False), (295, True), (319, True), (1, True)],  # gather, depot, smart
    tag(6): [(16, True), (4, False), (386, True)],  # heal (and its autocast)
}


def query_answer(tags) -> list:
    return [
        query_pb2.ResponseQueryAvailableAbilities(
            unit_tag=t,
            abilities=[common_pb2.AvailableAbility(ability_id=a, requires_point=p) for a, p in ABILITIES.get(t, [])],
        )
        for t in tags
    ]


def game_info(map_size=MAP) -> sc_pb.ResponseGameInfo:
    width, height = map_size
    return sc_pb.ResponseGameInfo(
        map_name="Simple64",
        start_raw=raw_pb2.StartRaw(map_size=common_pb2.Size2DI(x=width, y=height),
                                   playable_area=common_pb2.RectangleI(p0=common_pb2.PointI(x=8, y=8),
                                                                       p1=common_pb2.PointI(x=width - 8,
                                                                                            y=height - 8))),
        player_info=[sc_pb.PlayerInfo(player_id=1, type=sc_pb.Participant, race_requested=common_pb2.Terran),
                     sc_pb.PlayerInfo(player_id=2, type=sc_pb.Computer, race_requested=common_pb2.Zerg,
                                      difficulty=sc_pb.VeryEasy)],
        options=sc_pb.InterfaceOptions(raw=True, score=True, raw_affects_selection=True),
    )  # fmt: skip


def unit_types() -> list:
    return [data_pb2.UnitTypeData(unit_id=t, food_required=f) for t, f in FOOD.items()]


def response(units, loop=224) -> sc_pb.ResponseObservation:
    return sc_pb.ResponseObservation(observation=sc_pb.Observation(
        game_loop=loop,
        player_common=sc_pb.PlayerCommon(player_id=1, minerals=75, vespene=12, food_used=5, food_cap=15,
                                         army_count=3),
        raw_data=raw_pb2.ObservationRaw(player=raw_pb2.PlayerRaw(camera=common_pb2.Point(x=44, y=48)),
                                        units=units),
    ))  # fmt: skip


def convert(units=None, *, max_units=16, map_size=MAP, abilities=None):
    """pysc2's Features (as the env builds them) -> transform_obs -> the contract observation."""
    grid = LocationGrid(FRAME, 64, (float(map_size[0]), float(map_size[1])))
    features = raw_features(game_info(map_size), grid)
    resp = response(scene() if units is None else units)
    frame = GameFrame.from_game(game_info(map_size), unit_types(), 28800)
    own = [u.tag for u in resp.observation.raw_data.units if u.alliance == SELF]
    obs, rows = convert_observation(features.transform_obs(resp), resp, frame,
                                    query_answer(own) if abilities is None else abilities, max_units)  # fmt: skip
    return obs, rows, features, resp, grid


def test_rows_positions_tags_and_columns():
    obs, rows, _, _, _ = convert()
    units, mask = obs["units"], obs["unit_mask"]
    assert units.shape == (16, 46) and units.dtype == np.float32 and mask.tolist() == [True] * 9 + [False] * 7
    assert rows.tags.dtype == np.int64 and rows.tags.tolist() == ROW_TAGS and rows.own == 4
    assert rows.alliance.tolist() == [SELF] * 4 + [ENEMY] * 3 + [NEUTRAL] * 2
    assert units[:9, C.tag].tolist() == [float(np.float32(t)) for t in ROW_TAGS]  # rounded: 2**32 + ... > 2**24
    assert units[:9, C.unit_type].tolist() == [MARINE, SCV, MEDIVAC, MARINE, ROACH, ZERGLING, HATCHERY, MINERAL,
                                               MINERAL]  # fmt: skip
    # exact world positions (map units, y up), radius, facing and health: pysc2's raw columns quantise them
    assert units[:9, [C.x, C.y]].tolist() == [[22.0, 30.0], [18.0, 28.5], [19.0, 29.0], [20.25, 30.5], [25.0, 35.0],
                                              [30.0, 30.0], [60.0, 70.0], [15.0, 25.0], [10.0, 10.0]]  # fmt: skip
    marine = units[3]
    assert marine[C.health] == 37.5 and marine[C.facing] == 1.25 and marine[C.radius] == 0.375
    assert marine[C.health_ratio] == int(37.5 / 45 * 255)  # pysc2's ratio
    assert units[6, C.display_type] == 2 and units[6, C.radius] == 2.75  # the hatchery snapshot
    attacking = units[0]
    assert attacking[C.order_length] == 1 and attacking[C.order_id_0] == pysc2_actions.RAW_ABILITY_ID_TO_FUNC_ID[23]
    assert units[:9, C.alliance].tolist() == rows.alliance.tolist() and units[:9, C.owner].tolist()[4] == 2
    assert not units[9:].any()


def test_scalars():
    obs, *_ = convert()
    s = dict(zip(SCALAR_NAMES, obs["scalars"].tolist(), strict=True))
    assert s["game_loop"] == 224 and s["time_remaining"] == pytest.approx(1 - 224 / 28800)
    assert (s["map_width"], s["map_height"]) == MAP
    assert (s["minerals"], s["vespene"], s["food_used"], s["army_count"]) == (75, 12, 5, 3)
    assert s["enemy_food_visible"] == 2.5 and s["enemy_army_count_visible"] == 2  # roach + zergling, no snapshot
    assert s["own_vitality"] == pytest.approx((37.5 + 45 + 45 + 150) / (45 * 3 + 150))
    assert s["enemy_vitality_visible"] == pytest.approx((145 + 20) / (145 + 35))


def test_ordering_when_more_units_than_rows():
    own = [unit(i, MARINE, SELF, 40.0 + 2 * (i - 1), 40.0, 45, 45) for i in (3, 1, 2)]  # centroid (42, 40)
    enemies = [unit(28, ROACH, ENEMY, 60, 60, 145, 145), unit(31, ZERGLING, ENEMY, 42, 35, 35, 35),
               unit(29, ROACH, ENEMY, 50, 40, 145, 145), unit(30, ZERGLING, ENEMY, 42, 45, 35, 35)]  # fmt: skip
    neutral = [unit(2000, MINERAL, NEUTRAL, 42, 41, 0, 0)]
    everything = own + enemies + neutral
    _, rows, *_ = convert(everything, max_units=5)  # own 3 (fewer than half) and the 2 nearest enemies
    assert rows.tags.tolist() == [tag(1), tag(2), tag(3), tag(30), tag(31)]  # 30 and 31 tie (d2 25): by tag
    assert rows.dropped == 3
    _, rows, *_ = convert(everything, max_units=4)  # 2 each: the own units nearest the enemies' centroid (48.5, 45)
    assert rows.tags.tolist() == [tag(2), tag(3), tag(30), tag(31)] and rows.own == 2 and rows.dropped == 4
    _, rows, *_ = convert(everything, max_units=8)
    assert rows.tags.tolist() == [tag(i) for i in (1, 2, 3, 30, 31, 29, 28, 2000)]  # neutral (nearest) last
    assert rows.dropped == 0
    _, rows, *_ = convert(enemies + neutral, max_units=3)  # no own units: enemies by tag
    assert rows.tags.tolist() == [tag(28), tag(29), tag(30)] and rows.own == 0
    obs, rows, *_ = convert(own, max_units=2, abilities=query_answer([tag(1), tag(2), tag(3)]))
    assert rows.tags.tolist() == [tag(1), tag(2)]  # own rows past max_units are dropped, by tag
    assert obs["available_actions"].nonzero()[0].tolist() == [0]  # tag 3's abilities do not count: not a row
    obs, rows, *_ = convert([])
    assert not obs["unit_mask"].any() and rows.tags.shape == (0,) and obs["available_actions"].sum() == 1


def test_available_actions_from_the_games_abilities():
    obs, *_ = convert()
    names = {CAT.action_types[i].name for i in np.flatnonzero(obs["available_actions"])}
    assert obs["available_actions"].shape == (len(CAT),) == (326,)
    assert names == {"no_op", "stop", "hold_position", "move", "attack_move", "attack_unit", "follow", "Smart_pt",
                     "Smart_unit", "Effect_Stim_quick", "Harvest_Gather_unit", "Build_SupplyDepot_pt",
                     "Effect_Heal_unit", "Effect_Heal_autocast"}  # fmt: skip
    # only units that are own rows count (tag 3's stim is gone when tag 3 is not a row)
    assert not available_actions(query_answer([tag(3)]), [tag(7)])[STIM]
    assert available_actions([], None).nonzero()[0].tolist() == [0]  # no_op, always


def test_actions_become_pysc2_function_calls_and_sc2_action_protos():
    obs, rows, features, resp, grid = convert()
    available = obs["available_actions"]

    def sent(action):
        call = to_function_call(action, rows, available, grid)
        assert isinstance(call, pysc2_actions.FunctionCall)
        return call, features.transform_action(resp.observation, call)

    call, proto = sent(make_action(MOVE, [0, 3], target_location=(5, 7), queued=1))
    assert call.function == pysc2_actions.RAW_FUNCTIONS.Move_pt.id
    cmd = proto.action_raw.unit_command
    assert cmd.ability_id == CAT.action_types[MOVE].ability_id == 3794
    assert list(cmd.unit_tags) == [tag(3), tag(7)] and cmd.queue_command
    assert (cmd.target_world_space_pos.x, cmd.target_world_space_pos.y) == (22.0, 30.0) == grid.cell_centre(5, 7)

    _, proto = sent(make_action(ATTACK_UNIT, [0, 3], target_unit=4))  # the roach
    cmd = proto.action_raw.unit_command
    assert cmd.ability_id == 3674 and cmd.target_unit_tag == tag(9) and not cmd.queue_command
    assert not cmd.HasField("target_world_space_pos")

    _, proto = sent(make_action(SMART_UNIT, [1], target_unit=7))  # the SCV right-clicks the nearer mineral field
    assert proto.action_raw.unit_command.target_unit_tag == tag(21)

    _, proto = sent(make_action(STOP, [0, 1, 2, 3], queued=1))  # stop takes no queued argument: always now
    cmd = proto.action_raw.unit_command
    assert cmd.ability_id == 3665 and len(cmd.unit_tags) == 4 and not cmd.queue_command

    _, proto = sent(make_action(DEPOT, [1], target_location=(3, 20)))
    cmd = proto.action_raw.unit_command
    assert cmd.ability_id == 319 and (cmd.target_world_space_pos.x, cmd.target_world_space_pos.y) == (14.0, 82.0)

    _, proto = sent(make_action(HEAL_AUTOCAST, [2]))
    assert proto.action_raw.toggle_autocast.ability_id == 386 and list(proto.action_raw.toggle_autocast.unit_tags) == [
        tag(6)
    ]
    call, proto = sent(make_action(0))
    assert call.function == 0 and proto.ListFields() == []


def test_cell_points_on_a_map_whose_height_is_not_a_whole_number_of_cells():
    obs, rows, features, resp, grid = convert(map_size=(88, 90))  # 90 / 4 = 22.5 cells high
    call = to_function_call(make_action(MOVE, [0], target_location=(5, 7)), rows, obs["available_actions"], grid)
    point = features.transform_action(resp.observation, call).action_raw.unit_command.target_world_space_pos
    assert point.x == 22.0 and (point.x, point.y) == grid.world_point(5, 7)
    assert abs(point.y - 30.0) <= 2.0  # within half a cell (4 map units) of the centre


ILLEGAL = [
    ("not a dict", [1, 2], "action", "expected a dict"),
    ("unknown key", {**make_action(STOP, [0]), "target": 1}, "action", "unknown key"),
    ("type out of range", make_action(326, [0]), "action_type", "0..325"),
    ("unavailable type", make_action(CAT.index("Build_CommandCenter_pt"), [1]), "action_type", "not available"),
    ("nothing selected", make_action(STOP), "selected_units", "no unit selected"),
    ("padding row", make_action(STOP, [12]), "selected_units", "padding row"),
    ("row out of range", make_action(STOP, [16]), "selected_units", "out of range"),
    ("row after padding", make_action(STOP, [0, -1, 2]), "selected_units", "after the -1 padding"),
    ("repeated row", make_action(STOP, [0, 0]), "selected_units", "more than once"),
    ("enemy selected", make_action(STOP, [0, 4]), "selected_units", "alliance enemy"),
    ("neutral selected", make_action(STOP, [8]), "selected_units", "alliance neutral"),
    ("no target", make_action(ATTACK_UNIT, [0]), "target_unit", "needs a target row"),
    ("target out of range", make_action(ATTACK_UNIT, [0], target_unit=20), "target_unit", "out of range"),
    ("cell off the grid", make_action(MOVE, [0], target_location=(64, 0)), "target_location", "outside the 64"),
    ("cell off the map", make_action(ATTACK_MOVE, [0], target_location=(30, 5)), "target_location", "outside this map"),
    ("queued 2", make_action(MOVE, [0], target_location=(1, 1), queued=2), "queued", "0 or 1"),
]


@pytest.mark.parametrize(("action", "field", "text"), [c[1:] for c in ILLEGAL], ids=[c[0] for c in ILLEGAL])
def test_illegal_actions_raise_and_lenient_drops(action, field, text):
    """Lenient mode drops illegal actions; malformed ones (not a dict, unknown keys) raise in both modes."""
    obs, rows, _, _, grid = convert()
    with pytest.raises(IllegalActionError) as raised:
        to_function_call(action, rows, obs["available_actions"], grid)
    assert raised.value.field == field and text in raised.value.problem
    if isinstance(raised.value, MalformedActionError):
        assert field == "action"
        with pytest.raises(MalformedActionError):
            to_function_call_lenient(action, rows, obs["available_actions"], grid)
        return
    assert field != "action"
    assert to_function_call_lenient(action, rows, obs["available_actions"], grid) == (None, str(raised.value))


def test_an_agent_built_from_the_spec_acts_and_its_actions_convert():
    agent = AgentChoice().build(sc2_spec(max_units=16))
    obs, rows, features, resp, grid = convert(map_size=(256, 256))  # the frame's size: every cell is on the map
    kinds = set()
    for seed in range(6):
        for action in AgentPolicy(agent, seed=seed).step([obs])[0][0]:  # the actions of one step
            call = to_function_call(action, rows, obs["available_actions"], grid)
            proto = features.transform_action(resp.observation, call)
            kind = CAT.action_types[action["action_type"]]
            kinds.add(kind.name)
            if kind.function_type in ("raw_cmd", "raw_cmd_pt", "raw_cmd_unit"):
                cmd = proto.action_raw.unit_command
                assert cmd.ability_id == kind.ability_id and set(cmd.unit_tags) <= set(ROW_TAGS[:4])
    assert kinds - {"no_op"}


def test_config_names_are_pysc2s_and_build_bots():
    assert RACES == tuple(m.name for m in sc2_env.Race)
    assert DIFFICULTIES == tuple(m.name for m in sc2_env.Difficulty) and len(DIFFICULTIES) == 10
    assert BUILDS == tuple(m.name for m in sc2_env.BotBuild)
    for difficulty in DIFFICULTIES:
        bot = SC2EnvConfig(opponent_race="zerg", difficulty=difficulty, build="macro").opponent_bot()
        assert bot == sc2_env.Bot(sc2_env.Race.zerg, sc2_env.Difficulty[difficulty], sc2_env.BotBuild.macro)
    assert SC2EnvConfig(race="terran").agent() == sc2_env.Agent(sc2_env.Race.terran, "perceiver_star")
    config = SC2EnvConfig()
    assert (config.step_mul, config.max_units, config.resolution, config.map_size) == (8, 512, 64, FRAME)
    with pytest.raises(ValueError, match="difficulty must be one of very_easy.*cheat_insane; got 'impossible'"):
        SC2EnvConfig(difficulty="impossible")
    with pytest.raises(ValueError, match="build must be one of"):
        SC2EnvConfig(build="turtle")
    with pytest.raises(ValueError, match="step_mul must be an int >= 1"):
        SC2EnvConfig(step_mul=0)


def test_missing_game_is_one_clear_error_naming_sc2path(tmp_path, monkeypatch):
    monkeypatch.setenv("SC2PATH", str(tmp_path))
    monkeypatch.setattr(run_configs, "get", _no_launch)
    with pytest.raises(SC2NotInstalledError) as raised:
        check_game_installed()
    message = str(raised.value)
    assert "SC2PATH" in message and f"{tmp_path} (from the SC2PATH environment variable)" in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    with pytest.raises(SC2NotInstalledError, match="Versions/Base"):
        SC2Env(map_name="Simple64")  # before anything is launched (run_configs.get would fail the test)

    (tmp_path / "Versions" / "Base75689").mkdir(parents=True)
    with pytest.raises(SC2NotInstalledError, match=r"the map is not installed: expected .*Maps/Melee/Simple64"):
        SC2Env(map_name="Simple64")
    with pytest.raises(ValueError, match="not one of pysc2's .* maps"):
        SC2Env(map_name="NoSuchMap")

    monkeypatch.delenv("SC2PATH")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("platform.system", lambda: "Linux")
    assert expected_game_dir() == (tmp_path / "StarCraftII", "pysc2's default on Linux; set SC2PATH to change it")
    with pytest.raises(SC2NotInstalledError, match=f"{tmp_path / 'StarCraftII'} .*set SC2PATH"):
        check_game_installed()
    monkeypatch.setattr("platform.system", lambda: "Windows")
    info = tmp_path / "Documents" / "StarCraft II" / "ExecuteInfo.txt"
    info.parent.mkdir(parents=True)
    info.write_bytes(b"executable = D:\\Games\\StarCraft II\\Versions\\Base75689\\SC2_x64.exe\r\n\0")
    assert expected_game_dir()[0] == Path("D:/Games/StarCraft II")


def _no_launch(*args, **kwargs):
    raise AssertionError("the game was about to be launched")


def test_without_the_extra_env_and_conversions_raise_missing_extra_error(monkeypatch):
    obs, rows, features, resp, grid = convert()
    real = extra.importlib.import_module

    def without_pysc2(name, *args):
        if name.startswith("pysc2_evolved"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(extra.importlib, "import_module", without_pysc2)
    with pytest.raises(MissingExtraError, match="optional extra 'sc2'"):
        SC2Env()
    with pytest.raises(MissingExtraError):
        to_function_call(make_action(STOP, [0]), rows, obs["available_actions"], grid)
    with pytest.raises(MissingExtraError):
        convert_observation(features.transform_obs(resp), resp, GameFrame.from_game(game_info(), unit_types(), 1))


def test_registration_imports_no_pysc2():
    code = (
        "import sys, gymnasium; from envs.sc2.env import register_envs, ENV_ID; register_envs(); "
        "assert ENV_ID in gymnasium.registry; assert not [m for m in sys.modules if m.startswith('pysc2')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


# ---- the env loop: pysc2's SC2Env, whose run config starts this scripted game instead of SC2 ----


class ScriptedGame:
    """The game side of pysc2's controller: ``scene()`` at every loop, the agent's victory at ``end_loop``;
    records what pysc2 sends; rejects (``action_errors``) commands of the abilities in ``rejects``."""

    def __init__(self, end_loop: int, rejects=()) -> None:
        self.end_loop, self.rejects = end_loop, set(rejects)
        self.loop, self.games, self.requests, self.errors, self.closed = 0, 0, [], [], False

    def create_game(self, request):
        self.games += 1
        self.loop, self.create = 0, request

    def join_game(self, request):
        self.join = request

    def game_info(self):
        return game_info()

    def data(self):
        return static_data.StaticData(sc_pb.ResponseData(units=unit_types()))

    def observe(self, disable_fog=False, target_game_loop=0):
        resp = response(scene(), loop=self.loop)
        resp.action_errors.extend(self.errors)
        self.errors = []
        if self.status_ended:
            resp.player_result.add(player_id=1, result=sc_pb.Victory)
            resp.player_result.add(player_id=2, result=sc_pb.Defeat)
        return resp

    @property
    def status_ended(self):
        return self.loop >= self.end_loop

    def actions(self, request):
        self.requests.append(request)
        for action in request.actions:
            command = action.action_raw.unit_command
            if command.ability_id in self.rejects:
                self.errors.append(sc_pb.ActionError(ability_id=command.ability_id, result=214))
        return sc_pb.ResponseAction()

    def step(self, count=1):
        self.loop += count
        return sc_pb.ResponseStep()

    def query(self, request):
        return query_pb2.ResponseQuery(abilities=query_answer([q.unit_tag for q in request.abilities]))

    def ping(self):
        return sc_pb.ResponsePing()

    def quit(self):
        self.closed = True


@pytest.fixture
def scripted(tmp_path, monkeypatch):
    """An installed-looking SC2PATH and pysc2's run config replaced by one that starts a ScriptedGame."""
    (tmp_path / "Versions" / "Base75689").mkdir(parents=True)
    (tmp_path / "Maps" / "Melee").mkdir(parents=True)
    (tmp_path / "Maps" / "Melee" / "Simple64.SC2Map").write_bytes(b"map")
    monkeypatch.setenv("SC2PATH", str(tmp_path))
    game = ScriptedGame(end_loop=24, rejects={319})
    run_config = SimpleNamespace(start=lambda **kw: SimpleNamespace(controller=game, close=lambda: None),
                                 map_data=lambda path, players=None: b"map")  # fmt: skip
    monkeypatch.setattr(run_configs, "get", lambda version=None, sc2_run_config=None: run_config)
    return game


def test_env_loop_on_pysc2s_sc2env(scripted):
    env = SC2Env(map_name="Simple64", race="terran", opponent_race="zerg", difficulty="harder", build="rush",
                 max_units=16, lenient=True, seed=5)  # fmt: skip
    assert scripted.games == 0  # launched by the first reset
    obs, info = env.reset(seed=0)
    assert scripted.games == 1 and info == {"illegal_actions": 0, "game_loop": 0, "units_dropped": 0}
    setup = scripted.create.player_setup
    assert [p.type for p in setup] == [sc_pb.Participant, sc_pb.Computer] and scripted.create.random_seed == 5
    assert (setup[1].race, setup[1].difficulty, setup[1].ai_build) == (common_pb2.Zerg, sc_pb.Harder, sc_pb.Rush)
    assert scripted.join.options.raw and not scripted.join.options.raw_crop_to_playable_area
    assert obs in env.observation_space and env.rows.tags.tolist() == ROW_TAGS
    assert obs["available_actions"][[MOVE, ATTACK_UNIT, STIM]].all()

    obs, reward, terminated, truncated, info = env.step(make_action(MOVE, [0, 3], target_location=(5, 7)))
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info == {"illegal_actions": 0, "illegal_reasons": [], "action_errors": 0, "game_loop": 8,
                    "units_dropped": 0}  # fmt: skip
    cmd = scripted.requests[-1].actions[0].action_raw.unit_command
    assert cmd.ability_id == 3794 and list(cmd.unit_tags) == [tag(3), tag(7)]
    assert (cmd.target_world_space_pos.x, cmd.target_world_space_pos.y) == (22.0, 30.0)

    illegal = make_action(STOP, [0, 4])  # row 4 is the enemy roach: dropped and counted (lenient)
    depot = make_action(DEPOT, [1], target_location=(3, 20))  # sent; the scripted game rejects it
    obs, reward, terminated, truncated, info = env.step([illegal, depot])
    assert info["illegal_actions"] == 1 and "alliance enemy" in info["illegal_reasons"][0]
    assert [a.action_raw.unit_command.ability_id for a in scripted.requests[-1].actions] == [319]
    assert (info["game_loop"], terminated, info["action_errors"]) == (16, False, 1)  # the game rejected the depot
    obs, reward, terminated, truncated, info = env.step(make_action(0))
    assert info["action_errors"] == 0
    assert (reward, terminated, truncated, info["winner"], info["game_loop"]) == (1.0, True, False, 1, 24)
    with pytest.raises(RuntimeError, match="after the game ended"):
        env.step(make_action(0))

    env.reset()
    assert scripted.games == 2 and scripted.loop == 0  # pysc2 creates and joins a new game
    env.close()
    assert scripted.closed


@pytest.mark.parametrize("lenient", [True, False])
def test_tensor_actions_are_read_and_malformed_ones_raise_in_both_modes(scripted, lenient):
    import torch

    scripted.end_loop = 10**6
    env = SC2Env(SC2EnvConfig(max_units=16, lenient=lenient))
    env.reset()
    move = {k: torch.as_tensor(v) for k, v in make_action(MOVE, [0, 3], target_location=(5, 7)).items()}
    _, _, _, _, info = env.step(move)
    cmd = scripted.requests[-1].actions[0].action_raw.unit_command
    assert info["illegal_actions"] == 0 and cmd.ability_id == 3794 and list(cmd.unit_tags) == [tag(3), tag(7)]
    sent = len(scripted.requests)
    batched = {k: v[None, None] for k, v in move.items()}  # as Agent.act returns them: [B, N, ...]
    for bad, text in [(batched, "batched"), ("move", "expected an action dict"), ([move, 3], "got int")]:
        with pytest.raises(MalformedActionError, match=text):
            env.step(bad)
        assert len(scripted.requests) == sent  # nothing reached the game
    env.close()


def test_truncation_strict_mode_and_registration(scripted):
    scripted.end_loop = 10**6
    env = SC2Env(SC2EnvConfig(max_units=16, game_steps_per_episode=16))
    env.reset()
    with pytest.raises(IllegalActionError, match="alliance enemy"):
        env.step(make_action(STOP, [4]))
    env.step(make_action(STOP, [0]))
    obs, reward, terminated, truncated, info = env.step(make_action(0))
    assert (reward, terminated, truncated, info["winner"], info["game_loop"]) == (0.0, False, True, 0, 16)
    assert obs["scalars"][SCALAR_NAMES.index("time_remaining")] == 0.0
    env.close()

    register_envs()
    made = gym.make(ENV_ID, map_name="Simple64", max_units=16)
    assert made.unwrapped.lenient and made.unwrapped.sc2_spec.max_units == 16
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(made.unwrapped, skip_render_check=True)
    assert [str(w.message) for w in caught] == []
    made.close()
