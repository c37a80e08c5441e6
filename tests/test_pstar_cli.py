"""The ``pstar`` command line: every subcommand answers --help; every shipped preset loads into its config."""

import subprocess
import sys
from pathlib import Path

import pytest

from training.bc.config import BCConfig
from training.cli import main
from training.config_io import load_config
from training.eval.config import EvalConfig
from training.quickstart import QuickstartConfig
from training.rl.config import RLConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SUBCOMMANDS = ["quickstart", "replays", "bc", "rl", "eval", "play", "bots"]


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: pstar" in capsys.readouterr().out


def test_top_level_help_lists_the_subcommands():
    out = subprocess.run([sys.executable, "-m", "training.cli", "--help"], capture_output=True, text=True, check=True)
    for command in [*SUBCOMMANDS, "bench"]:
        assert command in out.stdout


@pytest.mark.parametrize(
    ("name", "cls"),
    [("quickstart", QuickstartConfig), ("full", QuickstartConfig), ("bc", BCConfig), ("rl", RLConfig),
     ("eval", EvalConfig)],
)  # fmt: skip
def test_presets_load(name, cls):
    cfg = load_config(cls, CONFIGS / f"{name}.yaml")
    assert isinstance(cfg, cls)


def test_quickstart_config_errors(capsys):
    assert main(["quickstart", "rl.learner.kl_cots=1"]) == 2
    assert "unknown key 'kl_cots'" in capsys.readouterr().err
