"""The StarCraft II catalogue and spec: the base action types first, pysc2's general raw functions after."""

from __future__ import annotations

import importlib
import json

import pytest

pytest.importorskip("pysc2_evolved")

from pysc2_evolved.lib import actions as sc2_actions  # noqa: E402

from envs.contract.catalogue import ACTION_TYPES as BASE  # noqa: E402
from envs.contract.catalogue import Requirement, TargetRule  # noqa: E402
from envs.contract.spec import Spec  # noqa: E402
from envs.sc2 import extra  # noqa: E402
from envs.sc2.catalogue import catalogue, normalise_ability_name  # noqa: E402
from envs.sc2.spec import sc2_spec  # noqa: E402
from envs.skirmish.spec import skirmish_spec  # noqa: E402
from training.agent_choice import AgentChoice  # noqa: E402


def test_first_seven_are_the_base_types_with_the_same_raw_functions():
    cat = catalogue()
    for mine, theirs in zip(cat.action_types[: len(BASE)], BASE, strict=True):
        assert (mine.index, mine.name, mine.function_id, mine.arguments) == (
            theirs.index,
            theirs.name,
            theirs.function_id,
            theirs.arguments,
        )
        assert sc2_actions.RAW_FUNCTIONS[mine.function_id].name == theirs.function


def test_every_general_raw_command_has_exactly_one_action_type():
    cat = catalogue()
    general = [
        f
        for f in sc2_actions.RAW_FUNCTIONS
        if not f.general_id and f.function_type.__name__ in ("raw_cmd", "raw_cmd_pt", "raw_cmd_unit", "raw_autocast")
    ]
    issued = [a.function_id for a in cat.action_types if a.index]
    assert sorted(issued) == sorted(int(f.id) for f in general)
    assert [a.index for a in cat.action_types] == list(range(len(cat)))
    assert len(cat) == 1 + len(general)


def test_specific_functions_and_abilities_map_to_their_general_action_type():
    cat = catalogue()
    assert cat.function_index(sc2_actions.RAW_FUNCTIONS.Attack_Attack_pt.id) == cat.index("attack_move")
    gather_scv = sc2_actions.RAW_FUNCTIONS.Harvest_Gather_SCV_unit
    assert cat.action_types[cat.function_index(gather_scv.id)].function == "Harvest_Gather_unit"
    assert cat.ability_index(23, "point") == cat.index("attack_move")  # Attack_Attack -> Attack
    assert cat.ability_index(3674, "unit") == cat.index("attack_unit")
    assert cat.ability_index(3794, "unit") == cat.index("follow")
    assert cat.function_index(0) == 0 and cat.function_index(sc2_actions.RAW_FUNCTIONS.raw_move_camera.id) is None


def test_ability_names_match_across_spellings_and_targets():
    cat = catalogue()
    marine = cat.ability_name_index("TrainMarine", "none")
    assert cat.action_types[marine].function == "Train_Marine_quick"
    assert cat.ability_name_index("Train_Marine", "point") is None  # no point-targeted marine training
    assert cat.action_types[cat.ability_name_index("Build_Pylon", "point")].function == "Build_Pylon_pt"
    assert cat.ability_name_index("Move", "point") == cat.index("move")
    assert cat.ability_name_index("Move", "unit") == cat.index("follow")
    assert normalise_ability_name("Build_Supply Depot") == "buildsupplydepot"


def test_spec_shares_the_contract_with_skirmish_round_trips_and_builds_an_agent():
    spec = sc2_spec(max_units=32)
    reference = skirmish_spec((32.0, 32.0))
    for key in ("unit_columns", "scalars", "action_arguments", "max_selected_units", "alliance", "spec_version"):
        assert getattr(spec, key) == getattr(reference, key), key
    for mine, base in zip(spec.action_types, reference.action_types, strict=False):  # the seven base types
        assert (mine.name, mine.arguments, mine.target, mine.pysc2_function_id, mine.ability_id) == (
            base.name, base.arguments, base.target, base.pysc2_function_id, base.ability_id)  # fmt: skip
    assert spec.action_types[0].requires is Requirement.none
    assert all(a.requires is Requirement.any_unit for a in spec.action_types[1:])
    unit_targeted = [a for a in spec.action_types[len(BASE) :] if "target_unit" in a.arguments]
    assert unit_targeted and all(a.target is TargetRule.any_unit for a in unit_targeted)
    assert 48 in spec.unit_type_ids and 105 in spec.unit_type_ids  # Marine, Zergling
    assert Spec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    agent = AgentChoice().build(spec)
    assert agent.heads.table.num_action_types == len(catalogue())


def test_spec_rejects_bad_sizes():
    with pytest.raises(ValueError, match="max_units"):
        sc2_spec(max_units=0)
    with pytest.raises(ValueError, match="map_size"):
        sc2_spec((0.0, 10.0))


def test_missing_extra_names_the_extra(monkeypatch):
    real = importlib.import_module

    def refuse(name, *args):
        if name.startswith("pysc2_evolved"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(extra.importlib, "import_module", refuse)
    catalogue.cache_clear()
    try:
        with pytest.raises(extra.MissingExtraError, match=r"extra 'sc2'.*pysc2-evolved.*perceiver-star\[sc2\]"):
            catalogue()
    finally:
        catalogue.cache_clear()
