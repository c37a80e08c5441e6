"""The ``pstar`` command line: every subcommand answers --help and takes the common flags, errors have one prefix;
every shipped preset loads into its config."""

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from training.bc.config import BCConfig
from training.cli import main
from training.config_io import load_config
from training.dagger import DAggerConfig
from training.eval.config import EvalConfig
from training.quickstart import QuickstartConfig
from training.rl.config import RLConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SUBCOMMANDS = ["quickstart", "replays", "bc", "rl", "eval", "eval-full", "dagger", "play", "bots"]


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: pstar" in capsys.readouterr().out


# every subcommand (and sub-subcommand): its arguments, a bad input, and the one-line error it must give
BAD_INPUTS = {
    "quickstart": (["rl.learner.kl_cots=1"], "unknown key 'kl_cots'"),
    "replays record": (["--p1", "godlike"], "godlike"),
    "replays info": ([], "the following arguments are required: files"),  # argparse's own error
    "play": (["--out", "game.txt"], "--out must end in .gif or .png"),
    "bots ladder": (["--processes", "0"], "argument --processes: expected an integer >= 1, got 0"),
    "bots full-ladder": (["--processes", "0"], "argument --processes: expected an integer >= 1, got 0"),
    "replays record-full": (["--p1", "godlike"], "unknown full-game bot level 'godlike'"),
    "eval-full": (["bot:hard", "--levels", "godlike"], "unknown full-game level(s) ['godlike']"),
    "bc": (["bogus=1"], "unknown key 'bogus'"),
    "dagger": (["bogus=1"], "unknown key 'bogus'"),
    "rl": (["bogus=1"], "unknown key 'bogus'"),
    "eval": (["bot:hard", "bogus=1"], "unknown key 'bogus'"),
    "task image": (["bogus=1"], "unknown key 'bogus'"),
    "bench": (["no_such_benchmark"], "expected NAME, one of"),
}


@pytest.fixture
def pstar_log_level():
    logger = logging.getLogger("pstar")
    level = logger.level
    yield logger
    logger.setLevel(level)


@pytest.mark.parametrize("command", list(BAD_INPUTS))
@pytest.mark.parametrize(("flags", "level"), [(["--quiet"], logging.WARNING),
                                              (["--no-progress", "--log-level", "debug"], logging.DEBUG)])  # fmt: skip
def test_every_subcommand_takes_the_common_flags_and_errors_alike(command, flags, level, capsys, pstar_log_level):
    argv, problem = BAD_INPUTS[command]
    try:
        status = main([*command.split(), *flags, *argv])
    except SystemExit as exit_info:  # argparse's own errors
        status = exit_info.code
    err = capsys.readouterr().err
    assert status == 2
    assert f"pstar {command}: error: " in err and problem in err, err
    if "argument" not in problem:  # the flags were parsed and applied before the input was found bad
        assert pstar_log_level.level == level


@pytest.mark.parametrize("command", ["quickstart", "bc", "dagger", "rl", "eval", "task image"])
def test_config_overrides_may_come_before_and_after_flags(command, capsys):
    # `pstar bc --config X replays=[r] -q name=n --resume`: the keys after the flag are overrides too
    before = {"eval": ["bot:hard", "seed=1"], "task image": ["label_smoothing=0.1"]}.get(command, ["seed=1"])
    status = main([*command.split(), *before, "--quiet", "bogus=1"])
    err = capsys.readouterr().err
    assert status == 2 and "unknown key 'bogus'" in err and "unrecognized arguments" not in err, err


def test_task_image_with_more_classes_than_the_shapes_is_one_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # was a raw ValueError from the shapes generator (model_preset=paper: 1000 classes)
    assert main(["task", "image", "--quiet", "train.steps=1", "model.num_classes=11"]) == 2
    assert "the generated shapes have 2 to 10 classes, the model has num_classes=11" in capsys.readouterr().err


@pytest.mark.parametrize("command", [c for c in BAD_INPUTS if c != "bench"])  # bench NAME --help: the script's
def test_every_subcommand_lists_the_common_flags_in_its_help(command, capsys):
    with pytest.raises(SystemExit):
        main([*command.split(), "--help"])
    out = capsys.readouterr().out
    assert all(flag in out for flag in ("--quiet", "--no-progress", "--log-level")), command


def test_top_level_help_lists_the_subcommands():
    out = subprocess.run([sys.executable, "-m", "training.cli", "--help"], capture_output=True, text=True, check=True)
    for command in [*SUBCOMMANDS, "bench"]:
        assert command in out.stdout


@pytest.mark.parametrize(
    ("name", "cls"),
    [("quickstart", QuickstartConfig), ("full", QuickstartConfig), ("bc", BCConfig), ("rl", RLConfig),
     ("eval", EvalConfig), ("bc_expert", BCConfig), ("rl_expert", RLConfig), ("eval_expert", EvalConfig),
     ("bc_full", BCConfig), ("dagger_full", DAggerConfig), ("sil_full", BCConfig), ("rl_full", RLConfig)],
)  # fmt: skip
def test_presets_load(name, cls):
    cfg = load_config(cls, CONFIGS / f"{name}.yaml")
    assert isinstance(cfg, cls)
