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
from training.policy import AgentPolicy


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


@pytest.mark.parametrize("name", ["pio", "transformer"])
def test_the_shipped_agents_load_by_name_and_play_a_strict_game(name, tmp_path, capsys):
    agent, checkpoint = load_agent(f"pretrained:{name}")
    assert agent.config.entity_encoder.kind == ("perceiver" if name == "pio" else "transformer")
    card = pretrained.card(name)
    assert card["step"] == checkpoint.step and card["eval"][0]["levels"]["very_hard"]["games"] >= 200
    assert pstar(["play", "--scenario", "3m", "--p1", f"pretrained:{name}", "--p2", "very_hard", "--out",
                  str(tmp_path / "g.png"), "--every", "10"]) == 0  # fmt: skip
    assert f"pretrained:{name} vs bot:very_hard" in capsys.readouterr().out


def test_a_card_keeps_an_eval_full_report_in_the_eval_reports_terms():
    row = {"win": 3, "draw": 1, "loss": 6, "games": 10, "win_rate": 0.3, "ci95": [0.1, 0.6]}
    report = {"player": "runs/K", "map": "duel", "seed": 51000, "greedy": False, "temperature": None,
              "core_window": None, "greedy_arguments": False, "levels": {"easy": row}}  # fmt: skip
    summary = pretrained.eval_summary(report)
    assert summary["map"] == "duel" and summary["seed"] == 51000 and summary["greedy_arguments"] is False
    assert summary["levels"]["easy"] == {"wins": 3, "draws": 1, "losses": 6, "games": 10, "win_rate": 0.3,
                                         "ci95": [0.1, 0.6]}  # fmt: skip


def test_the_shipped_full_game_agent_loads_by_name_with_its_card():
    agent, checkpoint = load_agent("pretrained:full_pio")
    assert agent.config.entity_encoder.kind == "perceiver" and agent.spec.max_units == 512
    assert len(agent.spec.action_types) == 48 and "Build_Pylon_pt" in [a.name for a in agent.spec.action_types]
    card = pretrained.card("full_pio")
    assert card["step"] == checkpoint.step and card["eval"][0]["map"] == "duel"
    assert all(card["eval"][0]["levels"][level]["games"] >= 60 for level in ("very_easy", "easy"))


@pytest.mark.slow
def test_the_shipped_full_game_agent_plays_the_opening_of_a_full_game():
    """``pretrained:full_pio`` against very_easy trains workers and orders its first supply structure within the first
    150 steps (the bots' opening orders both by step 30)."""
    from envs.skirmish.economy.bot import FullGameBot
    from envs.skirmish.economy.match import FullMatch

    agent, _ = load_agent("pretrained:full_pio")
    names = [a.name for a in agent.spec.action_types]
    for races, worker, supply in ((("terran", "zerg"), "Train_SCV", "Build_SupplyDepot"),
                                  (("protoss", "terran"), "Train_Probe", "Build_Pylon")):  # fmt: skip
        match = FullMatch("duel", races, seed=4, max_units=512, resolution=agent.spec.location_resolution, lenient=True)
        bot = FullGameBot("very_easy", match.game, 2, seed=9)
        policy = AgentPolicy(agent, 1, seed=4)
        sent = []
        for _ in range(150):
            actions = policy.step([match.observations[1]])[0][0]
            sent += [names[a["action_type"]] for a in actions]
            match.step({1: actions, 2: bot.act(match.observed[2], match.spec)})
        assert {worker, supply} <= {name.rsplit("_", 1)[0] for name in sent}, (races, sorted(set(sent)))
