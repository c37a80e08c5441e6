"""Every command's run config: each bounded field rejects a value outside its bounds, built from keys or directly,
with one error naming the dotted key, the value and what is accepted; numeric fields all declare their bounds."""

from __future__ import annotations

import dataclasses
import re
import typing

import pytest

from training.agent_choice import AgentChoice
from training.bc.config import BCConfig
from training.config_io import Accepts, CheckedConfig, ConfigError, load_config
from training.eval.config import EvalConfig
from training.quickstart import QuickstartConfig
from training.rl.config import RLConfig
from training.tasks.cli import TASKS, _load

COMMANDS = [BCConfig, RLConfig, EvalConfig, QuickstartConfig, *(_load(name)[0] for name in TASKS)]
UNBOUNDED = {"ImageData.mean"}  # numeric fields any value of which means something


def _sections(config: object, prefix: str = "") -> typing.Iterator[tuple[str, object]]:
    """(dotted prefix, instance) of ``config`` and every nested run-config section (the agent's own sizes aside)."""
    yield prefix, config
    if isinstance(config, AgentChoice):
        return
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            yield from _sections(value, f"{prefix}{f.name}.")


def _outside(accepts: Accepts, default: object) -> list[object]:
    """Values ``accepts`` refuses (beyond each bound, or not a choice), of the field's kind (one item of a list, a
    tuple or a dict)."""
    if accepts.choices is not None:
        bad: list[object] = ["bogus"]
    else:
        bad = [accepts.above, accepts.below]
        bad += [None if accepts.at_least is None else accepts.at_least - 1,
                None if accepts.at_most is None else accepts.at_most + 1]  # fmt: skip
    bad = [value for value in bad if value is not None]
    if isinstance(default, dict):
        return [{next(iter(default), "key"): value} for value in bad]  # (an empty default: any key)
    if isinstance(default, list | tuple):
        return [[*default[1:], value] for value in bad]
    return bad


def _bounded_fields() -> list[tuple[type, str, str, Accepts, object]]:
    rows = []
    for command in COMMANDS:
        for prefix, section in _sections(command()):
            for f in dataclasses.fields(section):
                if f.metadata.get("accepts") is not None:
                    rows.append((command, prefix, f.name, f.metadata["accepts"], getattr(section, f.name)))
    return rows


BOUNDED = _bounded_fields()


@pytest.mark.parametrize(
    ("command", "prefix", "name", "accepts", "default"),
    BOUNDED,
    ids=[f"{c.__name__}.{p}{n}" for c, p, n, *_ in BOUNDED],
)
def test_a_value_out_of_bounds_is_one_error_naming_the_key(command, prefix, name, accepts, default):
    section = command()
    for part in prefix.split(".")[:-1]:
        section = getattr(section, part)
    key = re.escape(f"{command.__name__}.{prefix}{name}")
    for bad in _outside(accepts, default):
        with pytest.raises(ConfigError, match=rf"^{key}(\[\d+\]|\.\w+)?: expected .*{re.escape(str(accepts))}, got"):
            load_config(command, None, [f"{prefix}{name}={bad}"])
        with pytest.raises(ConfigError, match=rf"^{re.escape(name)}(\[\d+\]|\.\w+)?: expected"):  # built directly
            dataclasses.replace(section, **{name: bad})


def test_every_numeric_field_of_every_command_is_bounded():
    missing = []
    for command in COMMANDS:
        for _, section in _sections(command()):
            assert isinstance(section, CheckedConfig), f"{type(section).__name__} is not a CheckedConfig"
            hints = typing.get_type_hints(type(section))
            for f in dataclasses.fields(section):
                numeric = {int, float} & set(typing.get_args(hints[f.name]) or (hints[f.name],))
                named = f"{type(section).__name__}.{f.name}"
                if numeric and f.metadata.get("accepts") is None and named not in UNBOUNDED:
                    missing.append(named)
    assert not missing


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("learner_threads=-2", "RLConfig.learner_threads: expected an integer >= 0, got -2"),
        ("actor_timeout_s=-1", "RLConfig.actor_timeout_s: expected a number > 0, got -1.0"),
        ("keep_last=-1", "RLConfig.keep_last: expected an integer >= 0, got -1"),
        ("checkpoint_every=-1", "RLConfig.checkpoint_every: expected an integer >= 0, got -1"),
        ("log_every=0", "RLConfig.log_every: expected an integer >= 1, got 0"),
        ("opponents.levels=[easy, godlike]", "RLConfig.opponents.levels[1]: expected one of very_easy, "),
        ("learner.discount=1.5", "RLConfig.learner.discount: expected a number in (0, 1], got 1.5"),
    ],
)
def test_rl_cases_of_the_issue_are_one_line_errors(override, message, capsys):
    from training.rl.cli import main

    assert main([override, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pstar rl: error: {message}") and len(err.splitlines()) == 1


def test_values_inside_the_bounds_and_their_documented_zeros_are_accepted():
    zeros = ["checkpoint_every=0", "keep_last=0", "learner_threads=0", "variants=0", "learner.discount=1",
             "temperature=null", "opponents.league_fraction=1"]  # fmt: skip
    cfg = load_config(RLConfig, None, zeros)
    assert (cfg.checkpoint_every, cfg.keep_last, cfg.learner.discount, cfg.temperature) == (0, 0, 1.0, None)
    bc = load_config(BCConfig, None, ["players=1", "val_fraction=0", "eval_every=0", "max_grad_norm=0"])
    assert bc.players == "1" and bc.val_fraction == 0.0
