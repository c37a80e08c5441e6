"""Skirmish's observation/action contract: pysc2 column order and ids, row rules, every column, translation,
illegal actions (strict and lenient) and the spec."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest

from envs.contract.action import IllegalActionError, MalformedActionError, make_action
from envs.contract.catalogue import (
    ACTION_TYPES,
    ATTACK_MOVE,
    ATTACK_UNIT,
    FOLLOW,
    HOLD_POSITION,
    MOVE,
    NO_OP,
    NUM_ACTION_TYPES,
    STOP,
    TargetRule,
)
from envs.contract.columns import UNIT_COLUMNS
from envs.contract.columns import UnitColumn as C
from envs.contract.scalars import NUM_SCALARS, SCALAR_NAMES, Scalar
from envs.contract.spec import Spec
from envs.skirmish.actions import translate, translate_lenient
from envs.skirmish.catalogue import COMMANDS, ORDER_REPORTS, REPORT_HEAL, REPORT_SCAN_MOVE
from envs.skirmish.commands import COMMAND_KINDS, Command, Order
from envs.skirmish.observation import observe
from envs.skirmish.scenario import Scenario, UnitPlacement
from envs.skirmish.spec import skirmish_spec
from envs.skirmish.state import GameState
from envs.skirmish.units import default_units


def _pysc2_lib() -> Path | None:
    """pysc2's lib/ source folder: $PYSC2_LIB, or the installed pysc2-evolved (the ``sc2`` extra), not imported."""
    if "PYSC2_LIB" in os.environ:
        return Path(os.environ["PYSC2_LIB"])
    spec = importlib.util.find_spec("pysc2_evolved")
    return Path(spec.submodule_search_locations[0]) / "lib" if spec and spec.submodule_search_locations else None


PYSC2_LIB = _pysc2_lib()
MAP = (32.0, 16.0)
RES = 16


class FakeEngine:
    """The parts of Engine that observe/translate read, over a hand-built GameState (no simulation)."""

    def __init__(self, placements: list[tuple[str, int, float, float]], hidden: tuple[int, ...] = ()) -> None:
        self.scenario = Scenario(
            name="contract",
            map_width=MAP[0],
            map_height=MAP[1],
            placements=tuple(UnitPlacement(u, o, x, y) for u, o, x, y in placements),
            time_limit_loops=1000,
        )
        self.units = default_units()
        self.state = GameState.from_scenario(self.scenario, self.units)
        self.loop = 0
        self.hidden = set(hidden)  # slots their enemy cannot see

    def visible(self, player: int) -> np.ndarray:
        seen = np.ones(self.state.n, dtype=bool)
        for slot in self.hidden:
            seen[slot] = self.state.owner[slot] == player
        return seen


# slot: 0 marine, 1 medivac, 2 sieged tank (player 1); 3, 4 zerglings (mirror images about y = 8), 5 zealot,
# 6 roach (player 2). Player 1's centroid is (25/3, 8): enemies by distance are 5, then 3 and 4 (a tie), then 6.
BATTLE = [
    ("marine", 1, 10.0, 8.0),
    ("medivac", 1, 9.0, 8.0),
    ("siege_tank_sieged", 1, 6.0, 8.0),
    ("zergling", 2, 20.0, 10.0),
    ("zergling", 2, 20.0, 6.0),
    ("zealot", 2, 14.0, 8.0),
    ("roach", 2, 28.0, 8.0),
]


def battle(hidden: tuple[int, ...] = ()) -> FakeEngine:
    return FakeEngine(BATTLE, hidden)


def spec(max_units: int = 512) -> Spec:
    return skirmish_spec(MAP, max_units=max_units, resolution=RES)


# --------------------------------------------------------------------------------------------- pysc2 facts


def _source(name: str) -> str:
    if PYSC2_LIB is None:
        pytest.skip("pysc2 source not found: install the sc2 extra (pysc2-evolved) or set PYSC2_LIB")
    path = PYSC2_LIB / name
    if not path.exists():
        pytest.skip(f"pysc2 source not found at {path} (set PYSC2_LIB)")
    return path.read_text()


def test_unit_columns_are_pysc2_feature_units_in_order():
    text = _source("features_types.py")
    body = text.split("class FeatureUnit(enum.IntEnum):", 1)[1].split("\nclass ", 1)[0]
    pysc2 = [(name, int(value)) for name, value in re.findall(r"^\s+(\w+) = (\d+)", body, re.M)]
    assert pysc2 == [(c.name, c.value) for c in C]
    assert len(UNIT_COLUMNS) == 46


def _raw_functions() -> dict[str, tuple[int, str, int]]:
    """pysc2 RAW_FUNCTIONS parsed from source: name -> (function id, function type, ability id)."""
    text = _source("actions.py")
    raw = text.split("_RAW_FUNCTIONS = [", 1)[1].split("\n]", 1)[0]
    functions = {}
    for fid, name, ftype, ability in re.findall(r'Function\.raw_ability\(\s*(\d+),\s*"(\w+)",\s*(\w+),\s*(\d+)', raw):
        functions[name] = (int(fid), ftype, int(ability))
    for fid, name, ftype in re.findall(r'Function\.raw_ui_func\(\s*(\d+),\s*"(\w+)",\s*(\w+)', raw):
        functions[name] = (int(fid), ftype, 0)
    return functions


def test_catalogue_ids_are_pysc2s():
    functions = _raw_functions()
    for a in ACTION_TYPES:
        assert functions[a.function] == (a.function_id, a.function_type, a.ability_id), a.name
    assert [a.index for a in ACTION_TYPES] == list(range(NUM_ACTION_TYPES))


def test_order_ids_are_what_pysc2_reports_for_the_games_abilities():
    functions = _raw_functions()
    func_of_ability: dict[int, int] = {}  # pysc2 RAW_ABILITY_ID_TO_FUNC_ID: the smallest function id per ability
    for fid, _, ability in functions.values():
        func_of_ability[ability] = min(fid, func_of_ability.get(ability, fid))
    for report in [r for r in ORDER_REPORTS.values() if r] + [REPORT_HEAL, REPORT_SCAN_MOVE]:
        assert func_of_ability[report.ability_id] == report.function_id, report
        assert functions[report.function][0] == report.function_id


# --------------------------------------------------------------------------------------------- observation


def test_rows_own_by_tag_then_enemies_by_distance_ties_by_tag():
    engine = battle()
    engine.state.tag[[0, 2]] = engine.state.tag[[2, 0]]  # the tank now has the lowest tag
    obs, rows, _ = observe(engine, 1)
    assert rows.tolist() == [2, 1, 0, 5, 3, 4, 6]
    assert obs["unit_mask"].tolist() == [True] * 7 + [False] * 505
    assert obs["units"].shape == (512, 46) and obs["units"].dtype == np.float32
    assert not obs["units"][7:].any()
    assert obs["units"][:7, C.alliance].tolist() == [1, 1, 1, 4, 4, 4, 4]
    # player 2's view: its own units by tag, then player 1's by distance from its centroid (x = 20.5)
    _, rows2, _ = observe(engine, 2)
    assert rows2.tolist() == [3, 4, 5, 6, 0, 1, 2]


def test_dead_units_fog_and_max_units_truncation():
    engine = battle(hidden=(3,))
    engine.state.alive[[1, 6]] = False
    obs, rows, _ = observe(engine, 1)
    assert rows.tolist() == [0, 2, 5, 4]  # the medivac and roach are dead, zergling 3 unseen
    assert obs["scalars"][Scalar.enemy_army_count_visible] == 2
    obs, rows, _ = observe(engine, 1, max_units=3)
    assert rows.tolist() == [0, 2, 5] and obs["units"].shape == (3, 46) and obs["unit_mask"].all()
    assert obs["scalars"][Scalar.enemy_army_count_visible] == 2  # scalars count what is seen, not what fits
    obs, rows, _ = observe(engine, 1, max_units=1)
    assert rows.tolist() == [0]
    assert not obs["available_actions"][ATTACK_UNIT] and not obs["available_actions"][FOLLOW]


def test_every_modelled_column_for_a_known_state():
    engine = battle()
    st = engine.state
    engine.loop = 250
    st.hp[0], st.cooldown[0], st.facing[0], st.was_selected[0] = 30.0, 5.5, -math.pi / 2, True
    st.order_kind[0, :2], st.order_len[0] = (Order.ATTACK_MOVE, Order.MOVE), 2
    st.energy[1], st.attack_target[1] = 100.0, 0  # the medivac heals the marine while idle
    st.attack_target[2] = 5  # the tank fights the zealot while idle
    st.hp[5], st.shield[5], st.cooldown[5], st.facing[5] = 100.0, 20.0, 9.0, 3 * math.pi
    st.order_kind[5, 0], st.order_len[5], st.was_selected[5] = Order.ATTACK_UNIT, 1, True
    obs, rows, _ = observe(engine, 1)
    units = obs["units"]
    marine, medivac, tank, zealot = units[0], units[1], units[2], units[3]
    assert rows[:4].tolist() == [0, 1, 2, 5]

    expected = np.zeros(46, dtype=np.float32)
    expected[[C.unit_type, C.alliance, C.health, C.build_progress, C.display_type, C.owner]] = [48, 1, 30, 100, 1, 1]
    expected[C.health_ratio] = int(30 / 45 * 255)
    expected[[C.x, C.y, C.facing, C.radius, C.cloak, C.is_selected]] = [10, 8, 1.5 * math.pi, 0.375, 3, 1]
    expected[[C.weapon_cooldown, C.order_length, C.order_id_0, C.order_id_1]] = [5.5, 2, 4, 547]
    expected[[C.tag, C.is_on_screen]] = [st.tag[0], 1]
    np.testing.assert_allclose(marine, expected, rtol=1e-6)
    assert (units[:7, C.tag].astype(np.int64) == st.tag[rows]).all()  # tags are exact in float32

    assert medivac[C.unit_type] == 54 and medivac[C.energy] == 100 and medivac[C.energy_ratio] == 127
    assert medivac[C.health_ratio] == 255 and medivac[C.shield_ratio] == 0
    assert medivac[C.order_length] == 1 and medivac[C.order_id_0] == REPORT_HEAL.function_id
    assert tank[C.order_length] == 1 and tank[C.order_id_0] == 4 and tank[C.radius] == np.float32(0.875)

    assert zealot[C.unit_type] == 73 and zealot[C.alliance] == 4 and zealot[C.owner] == 2
    assert zealot[C.health] == 100 and zealot[C.shield] == 20
    assert zealot[C.health_ratio] == 255 and zealot[C.shield_ratio] == int(20 / 50 * 255)
    assert zealot[C.facing] == pytest.approx(math.pi) and zealot[C.x] == 14
    # SC2 does not report enemies' orders, weapon cooldown or selection
    assert zealot[[C.weapon_cooldown, C.order_length, C.order_id_0, C.is_selected]].tolist() == [0, 0, 0, 0]

    scalars = obs["scalars"]
    assert scalars.shape == (NUM_SCALARS,) and len(SCALAR_NAMES) == NUM_SCALARS
    full1 = 45 + 150 + 175
    full2 = 2 * 35 + 100 + 50 + 145
    own_left = 30 + 150 + 175
    enemy_left = 2 * 35 + 100 + 20 + 145
    assert scalars.tolist() == pytest.approx(
        [250, 0.75, 32, 16, 0, 0, 1 + 2 + 3, 3, 0.5 * 2 + 2 + 2, 4, own_left / full1, enemy_left / full2]
    )


def test_order_ids_of_each_order_kind():
    engine = battle()
    st = engine.state
    st.order_kind[0, :4], st.order_len[0] = (Order.HOLD, Order.FOLLOW, Order.ATTACK_UNIT, Order.MOVE), 4
    st.order_kind[1, 0], st.order_len[1] = Order.ATTACK_MOVE, 1  # a healer's attack-move is a scan-move
    st.order_kind[2, 0], st.order_len[2], st.attack_target[2] = Order.HOLD, 1, 5  # holding and firing: still hold
    units = observe(engine, 1)[0]["units"]
    order_columns = [C.order_length, C.order_id_0, C.order_id_1, C.order_id_2, C.order_id_3]
    assert units[0, order_columns].tolist() == [4, 543, 547, 4, 547]
    assert units[1, order_columns].tolist() == [1, REPORT_SCAN_MOVE.function_id, 0, 0, 0]
    assert units[2, order_columns].tolist() == [1, 543, 0, 0, 0]


def test_available_actions_follow_the_units_abilities():
    engine = battle()
    assert observe(engine, 1)[0]["available_actions"].all()
    engine.state.alive[[0, 1]] = False  # only the sieged tank is left: it cannot move, hold or follow
    available = observe(engine, 1)[0]["available_actions"]
    assert [a.name for a in ACTION_TYPES if available[a.index]] == ["no_op", "stop", "attack_move", "attack_unit"]
    engine.state.alive[[0, 1, 2]] = False
    obs, rows, _ = observe(engine, 1)  # no own units: enemies by tag, only no_op
    assert rows.tolist() == [3, 4, 5, 6]
    assert obs["available_actions"].tolist() == [True] + [False] * (NUM_ACTION_TYPES - 1)


def test_observe_rejects_bad_arguments():
    with pytest.raises(ValueError, match="player"):
        observe(battle(), 3)
    with pytest.raises(ValueError, match="max_units"):
        observe(battle(), 1, max_units=0)


# --------------------------------------------------------------------------------------------- translate


def test_translate_each_action_type():
    engine = battle()
    _, rows, _ = observe(engine, 1)  # rows: 0 marine, 1 medivac, 2 tank, 3 zealot, 4, 5 zerglings, 6 roach
    sp = spec()
    assert translate(make_action(NO_OP), rows, engine, 1, sp) == []
    assert translate(make_action(STOP, [0, 2]), rows, engine, 1, sp) == [Command("stop", (0, 2))]
    assert translate(make_action(HOLD_POSITION, [0], queued=1), rows, engine, 1, sp) == [
        Command("hold", (0,), queued=True)
    ]
    # the grid is 16 x 16 over a 32 x 16 map: cell (3, 5) is centred on (7, 5.5)
    assert translate(make_action(MOVE, [1, 0], target_location=(3, 5)), rows, engine, 1, sp) == [
        Command("move", (1, 0), target_pos=(7.0, 5.5))
    ]
    assert translate(make_action(ATTACK_MOVE, [0, 1, 2], target_location=(15, 0)), rows, engine, 1, sp) == [
        Command("attack_move", (0, 1, 2), target_pos=(31.0, 0.5))
    ]
    # the medivac cannot attack a unit: it is left out, as SC2 rejects the order for it alone
    assert translate(make_action(ATTACK_UNIT, [0, 1], target_unit=3), rows, engine, 1, sp) == [
        Command("attack_unit", (0,), target_unit=5)
    ]
    assert translate(make_action(FOLLOW, [1], target_unit=0, queued=1), rows, engine, 1, sp) == [
        Command("follow", (1,), target_unit=0, queued=True)
    ]
    # the sieged tank cannot move: left out
    assert translate(make_action(MOVE, [2, 0], target_location=(0, 0)), rows, engine, 1, sp)[0].units == (0,)


def test_arguments_an_action_type_does_not_use_are_ignored():
    engine = battle()
    _, rows, _ = observe(engine, 1)
    junk = {"selected_units": "junk", "target_unit": 1.5, "target_location": None, "queued": 7}
    assert translate({"action_type": NO_OP, **junk}, rows, engine, 1, spec()) == []
    action = {**junk, "action_type": STOP, "selected_units": make_action(STOP, [0])["selected_units"]}
    assert translate(action, rows, engine, 1, spec()) == [Command("stop", (0,))]
    assert translate({"action_type": np.int64(STOP), "selected_units": [0] + [-1] * 63}, rows, engine, 1, spec())


def _illegal_cases():
    sel = make_action(MOVE, [0], target_location=(1, 1))
    atk = make_action(ATTACK_UNIT, [0], target_unit=3)
    fol = make_action(FOLLOW, [1], target_unit=0)
    return [
        ("not a dict", [1, 2], "action"),
        ("unknown key", {**sel, "camera": 1}, "action"),
        ("missing action_type", {k: v for k, v in sel.items() if k != "action_type"}, "action_type"),
        ("float action_type", {**sel, "action_type": 3.0}, "action_type"),
        ("bool action_type", {**sel, "action_type": True}, "action_type"),
        ("unknown action_type", {**sel, "action_type": NUM_ACTION_TYPES}, "action_type"),
        ("short selection", {**sel, "selected_units": np.array([0])}, "selected_units"),
        ("float selection", {**sel, "selected_units": np.zeros(64)}, "selected_units"),
        ("empty selection", {**sel, "selected_units": np.full(64, -1)}, "selected_units"),
        ("negative row", make_action(MOVE, [0, -5], target_location=(1, 1)), "selected_units"),
        ("row after padding", {**sel, "selected_units": np.r_[0, -1, 1, np.full(61, -1)]}, "selected_units"),
        ("row out of range", make_action(MOVE, [0, 512], target_location=(1, 1)), "selected_units"),
        ("padding row", make_action(MOVE, [0, 9], target_location=(1, 1)), "selected_units"),
        ("duplicate row", make_action(MOVE, [0, 1, 0], target_location=(1, 1)), "selected_units"),
        ("enemy selected", make_action(MOVE, [0, 3], target_location=(1, 1)), "selected_units"),
        ("dead selected", make_action(MOVE, [0, 2], target_location=(1, 1)), "selected_units"),
        ("nobody able", make_action(ATTACK_UNIT, [1], target_unit=3), "selected_units"),
        ("no target", {**atk, "target_unit": -1}, "target_unit"),
        ("missing target", {k: v for k, v in atk.items() if k != "target_unit"}, "target_unit"),
        ("malformed and illegal", {"action_type": MOVE, "selected_units": np.full(64, -1)}, "target_location"),
        ("own target", {**atk, "target_unit": 1}, "target_unit"),
        ("target out of range", {**atk, "target_unit": 600}, "target_unit"),
        ("padding target", {**atk, "target_unit": 20}, "target_unit"),
        ("dead target", {**atk, "target_unit": 6}, "target_unit"),
        ("unseen target", {**atk, "target_unit": 4}, "target_unit"),
        ("follow itself", {**fol, "target_unit": 1}, "target_unit"),
        ("location off grid", {**sel, "target_location": np.array([16, 0])}, "target_location"),
        ("negative location", {**sel, "target_location": np.array([0, -1])}, "target_location"),
        ("location shape", {**sel, "target_location": np.array([1, 2, 3])}, "target_location"),
        ("float location", {**sel, "target_location": np.array([1.0, 2.0])}, "target_location"),
        ("queued 2", {**sel, "queued": 2}, "queued"),
        ("queued float", {**sel, "queued": 0.0}, "queued"),
    ]


def _illegal_setup():
    """Rows 0..6 are slots 0..6: marine, medivac, tank (dead after the observation), zealot, zergling (unseen
    after the observation), zergling, zergling (dead after the observation); row 20 is padding."""
    engine = FakeEngine([*BATTLE[:3], ("zealot", 2, 14.0, 8.0), ("zergling", 2, 16.0, 8.0), *BATTLE[3:5]])
    _, rows, _ = observe(engine, 1)
    assert rows.tolist() == [0, 1, 2, 3, 4, 5, 6]
    engine.hidden.add(4)
    engine.state.alive[[2, 6]] = False
    return engine, rows


MALFORMED = {"not a dict", "unknown key", "missing action_type", "float action_type", "bool action_type",
             "short selection", "float selection", "missing target", "malformed and illegal", "location shape",
             "float location", "queued float"}  # fmt: skip


@pytest.mark.parametrize(("case", "action", "field"), _illegal_cases(), ids=[c[0] for c in _illegal_cases()])
def test_illegal_actions_raise_in_strict_mode_and_drop_in_lenient(case, action, field):
    """A well-formed action the game forbids is dropped by lenient mode; a malformed one raises in both modes."""
    engine, rows = _illegal_setup()
    with pytest.raises(IllegalActionError) as error:
        translate(action, rows, engine, 1, spec())
    assert error.value.field == field, str(error.value)
    if case in MALFORMED:
        assert isinstance(error.value, MalformedActionError)
        assert str(error.value).startswith(f"malformed action: {field}: ")
        with pytest.raises(MalformedActionError, match=re.escape(str(error.value))):
            translate_lenient(action, rows, engine, 1, spec())
        return
    assert type(error.value) is IllegalActionError
    assert str(error.value).startswith(f"illegal action: {field}: ")
    commands, reason = translate_lenient(action, rows, engine, 1, spec())
    assert commands == [] and reason == str(error.value)


def test_unavailable_action_type_and_target_layer():
    engine = battle()
    engine.state.alive[[0, 1]] = False
    _, rows, _ = observe(engine, 1)  # only the sieged tank is left
    with pytest.raises(IllegalActionError, match="action_type: move .* not available"):
        translate(make_action(MOVE, [0], target_location=(1, 1)), rows, engine, 1, spec())
    assert translate_lenient(make_action(MOVE, [0]), rows, engine, 1, spec())[1].startswith("illegal action")
    # zerglings cannot hit the (air) medivac; the roach cannot either
    engine = battle()
    _, rows, _ = observe(engine, 2)  # rows: 3, 4, 5, 6 own; then 0, 1, 2 by distance
    medivac_row = rows.tolist().index(1)
    with pytest.raises(IllegalActionError, match="selected_units: no selected unit can attack_unit.*air"):
        translate(make_action(ATTACK_UNIT, [0, 1, 3], target_unit=medivac_row), rows, engine, 2, spec())
    tank_row = rows.tolist().index(2)
    assert translate(make_action(ATTACK_UNIT, [0, 3], target_unit=tank_row), rows, engine, 2, spec()) == [
        Command("attack_unit", (3, 6), target_unit=2)
    ]


def test_lenient_passes_legal_actions_through():
    engine = battle()
    _, rows, _ = observe(engine, 1)
    assert translate_lenient(make_action(STOP, [0]), rows, engine, 1, spec()) == ([Command("stop", (0,))], None)


# --------------------------------------------------------------------------------------------- spec


def test_spec_describes_the_contract_and_its_dict_is_plain_json():
    sp = spec(max_units=64)
    assert sp.max_units == 64 and sp.unit_columns == UNIT_COLUMNS
    assert sp.scalars == SCALAR_NAMES and sp.max_selected_units == 64
    assert sp.location_resolution == RES and sp.map_size == (32.0, 16.0)
    assert [a.name for a in sp.action_types] == [a.name for a in ACTION_TYPES]
    move = sp.action_types[MOVE]
    assert move.arguments == ("selected_units", "target_location", "queued")
    assert (move.pysc2_function, move.pysc2_function_id, move.ability_id) == ("Move_pt", 13, 3794)
    assert (sp.action_types[ATTACK_UNIT].target, sp.action_types[FOLLOW].target) == (TargetRule.enemy,
                                                                                      TargetRule.other_unit)
    types = {t.name: t for t in sp.unit_types}
    assert {48, 51, 54, 32, 105, 9, 110, 107, 73, 74} <= set(sp.unit_type_ids)
    assert types["siege_tank_sieged"].abilities == ("stop", "attack_move", "attack_unit")
    assert "attack_unit" not in types["medivac"].abilities and "follow" in types["medivac"].abilities
    assert types["medivac"].is_air and not types["medivac"].hits_ground
    assert types["marine"].hits_air and not types["zealot"].hits_air
    plain = sp.to_dict()
    assert json.loads(json.dumps(plain)) == plain
    assert plain["action_types"][ATTACK_UNIT]["target"] == "enemy" and plain["map_size"] == [32.0, 16.0]
    with pytest.raises(ValueError, match="resolution"):
        skirmish_spec(MAP, resolution=0)
    with pytest.raises(ValueError, match="map_size"):
        skirmish_spec((0, 5))


def test_every_base_action_type_issues_its_command():
    assert len(COMMANDS) == NUM_ACTION_TYPES and COMMANDS[NO_OP] is None
    assert {COMMANDS[i] for i in range(1, NUM_ACTION_TYPES)} == set(COMMAND_KINDS)


# --------------------------------------------------------------------------------------------- with the engine


def test_engine_round_trip_orders_selection_cooldown_and_fog():
    from envs.skirmish.engine import Engine
    from envs.skirmish.scenario import load_scenario

    engine = Engine(load_scenario("3m"), fog=True)  # marines 12 apart, sight 9: the enemy is unseen
    sp = skirmish_spec((32.0, 32.0), max_units=16, resolution=32)
    obs, rows, _ = observe(engine, 1, max_units=16)
    assert rows.tolist() == [0, 1, 2] and not obs["available_actions"][ATTACK_UNIT]
    assert obs["units"][:3, C.unit_type].tolist() == [48] * 3
    # attack-move the first two marines to cell (22, 16) = map point (22.5, 16.5)
    (command,) = translate(make_action(ATTACK_MOVE, [0, 1], target_location=(22, 16)), rows, engine, 1, sp)
    assert command == Command("attack_move", (0, 1), target_pos=(22.5, 16.5))
    engine.issue(1, command)
    engine.advance(8)
    obs, rows, _ = observe(engine, 1, max_units=16)
    units = obs["units"]
    assert units[:3, C.is_selected].tolist() == [1, 1, 0]
    assert units[:3, C.order_length].tolist() == [1, 1, 0]
    assert units[:3, C.order_id_0].tolist() == [4, 4, 0]
    for _ in range(10):  # they walk into sight and start shooting
        engine.advance(8)
    obs, rows, _ = observe(engine, 1, max_units=16)
    assert obs["available_actions"][ATTACK_UNIT] and (obs["units"][rows.size - 1, C.alliance] == 4)
    assert set(rows[3:].tolist()) <= {3, 4, 5}
    assert (obs["units"][:3, C.weapon_cooldown] > 0).any()
    assert (obs["units"][3 : rows.size, C.weapon_cooldown] == 0).all()  # not reported for enemies


def test_random_actions_through_translate_never_break_the_engine():
    """Random (often illegal) actions in lenient mode: legal ones reach the engine, which accepts them all."""
    from envs.skirmish.engine import Engine
    from envs.skirmish.scenario import load_scenario

    rng = np.random.default_rng(0)
    engine = Engine(load_scenario("MMM"))
    sp = skirmish_spec((32.0, 32.0), max_units=32, resolution=16)
    legal = dropped = 0
    for _ in range(150):
        for player in (1, 2):
            obs, rows, _ = observe(engine, player, max_units=32)
            n_own = int((obs["units"][: rows.size, C.alliance] == 1).sum())
            k = int(rng.integers(1, 4))
            picks = rng.choice(max(n_own, 1), size=min(k, max(n_own, 1)), replace=False)
            if rng.random() < 0.2:
                picks = rng.integers(-2, 40, size=k)
            action = make_action(
                int(rng.integers(NUM_ACTION_TYPES)),
                picks,
                target_unit=int(rng.integers(-1, rows.size + 2)),
                target_location=tuple(rng.integers(-1, 17, size=2)),
                queued=int(rng.integers(2)),
            )
            commands, reason = translate_lenient(action, rows, engine, player, sp)
            assert len(commands) == (0 if reason or action["action_type"] == NO_OP else 1)
            legal += reason is None
            dropped += reason is not None
            for command in commands:
                engine.issue(player, command)
        engine.advance(8)
        if engine.done:
            break
    assert legal > 20 and dropped > 20


@pytest.mark.parametrize(
    ("counts", "max_units", "shares"),
    [
        ((64, 64), 64, (32, 32)),  # the 64v64 case: half each
        ((64, 64), 63, (32, 31)),  # an odd row goes to own
        ((100, 5), 64, (59, 5)),  # a small side keeps all its units, the other gets the rest
        ((5, 100), 64, (5, 59)),
        ((10, 20), 64, (10, 20)),  # everything fits
        ((70, 0), 64, (64, 0)),
        ((40, 40, 30), 64, (32, 32, 0)),  # neutral units get what both sides leave
        ((10, 20, 50), 64, (10, 20, 34)),
    ],
)
def test_row_shares_are_fair_between_own_and_enemy(counts, max_units, shares):
    from envs.contract.rows import row_shares

    assert row_shares(counts, max_units) == shares


def test_more_units_than_rows_share_them_so_both_sides_are_seen():
    """64v64_mixed at 64 rows: 32 own and 32 enemy rows (not 64 own and no enemy), 64 units dropped and reported;
    the nearest enemies and the own units nearest the enemy keep theirs, in the same rows for the same game."""
    from envs.skirmish.match import Match

    def play(steps: int) -> tuple[dict, list, dict, Match]:
        match = Match("64v64_mixed", seed=3, max_units=64)
        observations = match.reset()
        infos = {p: {"units_dropped": match.units_dropped[p]} for p in (1, 2)}
        for _ in range(steps):
            observations, _, _, _, infos = match.step({1: make_action(NO_OP), 2: make_action(NO_OP)})
        return observations, [match._rows[p].copy() for p in (1, 2)], infos, match

    observations, rows, infos, match = play(3)
    st = match.engine.state
    for player in (1, 2):
        alliance = observations[player]["units"][:, C.alliance].tolist()
        assert alliance == [1.0] * 32 + [4.0] * 32 and observations[player]["unit_mask"].all()
        assert infos[player]["units_dropped"] == 64
        assert observations[player]["scalars"][Scalar.enemy_army_count_visible] == 64  # scalars count every unit
        own_rows, enemy_rows = rows[player - 1][:32], rows[player - 1][32:]
        own_all = np.flatnonzero(st.alive & (st.owner == player))
        enemy_all = np.flatnonzero(st.alive & (st.owner == 3 - player))
        assert (np.diff(st.tag[own_rows]) > 0).all()  # own rows stay in tag order

        def d2(slots, centre):
            return ((st.pos[slots] - centre) ** 2).sum(axis=1)

        kept_enemy = d2(enemy_rows, st.pos[own_all].mean(axis=0))
        assert (np.diff(kept_enemy) >= 0).all()  # nearest first
        dropped_enemy = np.setdiff1d(enemy_all, enemy_rows)
        assert kept_enemy.max() <= d2(dropped_enemy, st.pos[own_all].mean(axis=0)).min()
        enemy_centre = st.pos[enemy_all].mean(axis=0)
        assert d2(own_rows, enemy_centre).max() <= d2(np.setdiff1d(own_all, own_rows), enemy_centre).min()
    again, rows_again, _, _ = play(3)
    for player in (1, 2):
        assert (rows_again[player - 1] == rows[player - 1]).all()
        assert (again[player]["units"] == observations[player]["units"]).all()
    _, _, infos, _ = play(0)
    assert infos[1]["units_dropped"] == infos[2]["units_dropped"] == 64
