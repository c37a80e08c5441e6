"""Shipped agents by name (``training.pretrained``) and ``pstar play`` with agents."""

from __future__ import annotations

import json

import pytest
import torch

from envs.skirmish.spec import skirmish_spec
from training import pretrained
from training.agent_choice import AgentChoice
from training.agent_io import load_agent, save_agent
from training.checkpoint import CheckpointError
from training.cli import main as pstar


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run holding one untrained small agent for 32x32 maps at step 77, with its optimizer state."""
    run = tmp_path_factory.mktemp("pretrained_run")
    torch.manual_seed(0)
    agent = AgentChoice().build(skirmish_spec((32, 32), max_units=64))
    optimizer = torch.optim.Adam(agent.parameters())
    agent.zero_grad()
    save_agent(run / "checkpoints", 77, agent, kind="bc", config={"steps": 77}, counters={"step": 77},
               optimizer=optimizer)  # fmt: skip
    return run


@pytest.fixture
def shipped(tmp_path, monkeypatch, run_dir):
    """``run_dir``'s agent exported as pretrained:pio into a temporary package folder."""
    monkeypatch.setattr(pretrained, "DIRECTORY", tmp_path / "pretrained")
    eval_json = tmp_path / "eval.json"
    result = {"wins": 1, "draws": 0, "losses": 1, "games": 2, "win_rate": 0.5, "ci95": [0.09, 0.91]}
    eval_json.write_text(json.dumps({"scenarios": ["3m"], "games_per_level": 2, "levels": {"very_hard": result}}))
    argv = ["pretrained", "export", str(run_dir), "pio", "--eval", str(eval_json), "--lineage", "BC 77 steps"]
    assert pstar(argv) == 0
    return tmp_path / "pretrained" / "pio"


def test_export_keeps_the_weights_and_drops_optimizer_and_rng(shipped, run_dir):
    (checkpoint,) = [p for p in shipped.iterdir() if p.is_dir()]
    assert sorted(p.name for p in checkpoint.iterdir()) == ["meta.json", "model.safetensors"]
    meta = json.loads((checkpoint / "meta.json").read_text())
    assert "rng" not in meta and "optimizer" not in meta and meta["config"] == {"steps": 77}
    card = json.loads((shipped / pretrained.CARD).read_text())
    assert card["step"] == 77 and card["kind"] == "bc" and card["eval"][0]["levels"]["very_hard"]["win_rate"] == 0.5
    assert card["parameters"] > 0 and card["lineage"] == "BC 77 steps"
    ours, _ = load_agent("pretrained:pio")
    theirs, _ = load_agent(run_dir)
    for (name, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_a_pretrained_agent_plays_in_eval_by_name(shipped, tmp_path, capsys):
    out = tmp_path / "eval_out"
    code = pstar(["eval", "pretrained:pio", "levels=[very_easy]", "scenarios=[3m]", "games=2", "backend=inprocess",
                  "workers=1", f"out_dir={out}", "--no-progress"])  # fmt: skip
    assert code == 0
    assert json.loads((out / "eval.json").read_text())["player"] == "pretrained:pio"


def test_unknown_or_missing_pretrained_names_are_one_clear_error(tmp_path, monkeypatch):
    with pytest.raises(CheckpointError, match="unknown pretrained agent 'nope'; expected one of pretrained:pio"):
        load_agent("pretrained:nope")
    monkeypatch.setattr(pretrained, "DIRECTORY", tmp_path)
    with pytest.raises(CheckpointError, match="missing from this install"):
        load_agent("pretrained:transformer")
    assert pstar(["play", "--p1", "pretrained:transformer", "--out", str(tmp_path / "g.gif")]) == 1


def test_play_renders_an_agent_against_a_bot_and_saves_a_replay_that_re_simulates(run_dir, tmp_path, capsys):
    gif, replay = tmp_path / "g.gif", tmp_path / "g.skreplay"
    assert pstar(["play", "--scenario", "3m", "--p1", "very_hard", "--p2", str(run_dir), "--out", str(gif),
                  "--save-replay", str(replay)]) == 0  # fmt: skip
    played = capsys.readouterr().out
    assert f"3m: bot:very_hard vs {run_dir}:" in played and gif.stat().st_size > 0
    assert pstar(["play", "--replay", str(replay), "--out", str(tmp_path / "g.png"), "--every", "5"]) == 0
    replayed = capsys.readouterr().out
    assert played.split("; wrote")[0] == replayed.split("; wrote")[0]  # same players, winner and length


@pytest.mark.parametrize("name", list(pretrained.NAMES))
def test_the_shipped_agents_load_by_name_and_play_a_strict_game(name, tmp_path, capsys):
    agent, checkpoint = load_agent(f"pretrained:{name}")
    assert agent.config.entity_encoder.kind == ("perceiver" if name == "pio" else "transformer")
    card = pretrained.card(name)
    assert card["step"] == checkpoint.step and card["eval"][0]["levels"]["very_hard"]["games"] >= 200
    assert pstar(["play", "--scenario", "3m", "--p1", f"pretrained:{name}", "--p2", "very_hard", "--out",
                  str(tmp_path / "g.png"), "--every", "10"]) == 0  # fmt: skip
    assert f"pretrained:{name} vs bot:very_hard" in capsys.readouterr().out
