"""The contract package: the typed spec's JSON form and its validation, the spaces' keys, and who imports whom."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import pytest

from envs.contract.arguments import ACTION_KEYS
from envs.contract.observation import OBS_KEYS
from envs.contract.spaces import contract_spaces
from envs.contract.spec import SPEC_VERSION, Spec, SpecError
from envs.skirmish.spec import skirmish_spec

ROOT = Path(__file__).resolve().parents[1]


def spec_dict() -> dict:
    return skirmish_spec((32.0, 24.0), max_units=16, resolution=8).to_dict()


def test_spec_round_trips_through_json():
    spec = skirmish_spec((32.0, 24.0), max_units=16, resolution=8)
    plain = json.loads(json.dumps(spec.to_dict()))
    assert Spec.from_dict(plain) == spec
    assert Spec.from_dict(plain).to_dict() == plain
    assert plain["spec_version"] == SPEC_VERSION and plain["unit_types"][0]["is_air"] in (True, False)


@pytest.mark.parametrize(
    "change, field, problem",
    [
        (lambda d: d.update(spec_version=SPEC_VERSION - 1), "spec_version", f"reads only version {SPEC_VERSION}"),
        (lambda d: d.pop("spec_version"), "spec_version", "version None"),
        (lambda d: d.pop("order_ids"), "order_ids", "missing"),
        (lambda d: d.update(max_units="16"), "max_units", "expected an int, got str"),
        (lambda d: d.update(map_size=[32.0]), "map_size", r"expected \[width, height\]"),
        (lambda d: d.update(extra=1), "extra", "unexpected key"),
        (lambda d: d["action_types"][5].update(target="friend"), "action_types[5].target", "one of none, enemy"),
        (lambda d: d["action_types"][2].pop("requires"), "action_types[2].requires", "missing"),
        (lambda d: d["unit_types"][0].update(is_air=1), "unit_types[0].is_air", "true or false"),
        (lambda d: d["action_types"][1].update(index=3), "action_types", "indexed 0..A-1"),
        (lambda d: d.update(max_units=0), "sizes", r"max_units must be an int in \[1, 1024\]"),
    ],
)
def test_from_dict_names_the_bad_field(change, field, problem):
    data = copy.deepcopy(spec_dict())
    change(data)
    with pytest.raises(SpecError, match=problem) as error:
        Spec.from_dict(data)
    assert error.value.field == field


def test_spaces_use_the_contract_keys():
    observation, action = contract_spaces(16, 7, 8)
    assert set(observation.spaces) == set(OBS_KEYS) and len(OBS_KEYS) == 4
    assert set(action.spaces) == set(ACTION_KEYS) and len(ACTION_KEYS) == 5


def imported_modules(folder: str) -> set[str]:
    """Every module the Python files under ``folder`` import (absolute imports, at any depth)."""
    found: set[str] = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("folder", ["envs/sc2", "envs/sc2replay"])
def test_starcraft_packages_import_nothing_from_skirmish(folder):
    assert not {m for m in imported_modules(folder) if m.startswith("envs.skirmish")}


def test_contract_depends_on_no_environment_and_every_environment_on_it():
    assert {m for m in imported_modules("envs/contract") if m.startswith("envs.")} <= {
        m for m in imported_modules("envs/contract") if m.startswith("envs.contract.")
    }
    for folder in ("envs/skirmish", "envs/sc2", "envs/sc2replay"):
        assert any(m.startswith("envs.contract.") for m in imported_modules(folder)), folder
