"""League training (``pstar rl league...``): learners freeze snapshots that join the league, exploiters restart
from the start's weights, every game reaches the payoff, the reports are written, a resume loads the league and
every learner exactly, and the same run works with its actors on Ray."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from training.checkpoint import checkpoint_name, load_checkpoint
from training.config_io import ConfigError, load_config
from training.league import League
from training.rl.config import RLConfig
from training.rl.league_learner import Learners
from training.rl.league_train import _resume
from training.rl.train import initial_agents, train_rl

TINY = ["envs_per_actor=2", "unroll_length=16", "scenarios=[3m]", "opponents.levels=[very_easy, easy]",
        "agent.preset=small", "learner_threads=1", "num_actors=3", "league.snapshot_every=2",
        "league.snapshot_min_updates=1"]  # fmt: skip


def _cfg(tmp_path, *extra: str) -> RLConfig:
    return load_config(RLConfig, None, [*TINY, f"run_root={tmp_path}", *extra])


def test_a_league_run_freezes_snapshots_resets_exploiters_and_reports(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = _cfg(tmp_path, "backend=inprocess", "total_frames=192", "checkpoint_every=4", "name=league")
    start = {k: v.clone() for k, v in initial_agents(cfg)[0].state_dict().items()}
    frozen, episodes, stale = [], [], []

    def watch(info):
        episodes.extend(info["episodes"])
        stale.append(info["stale"])
        if info["frozen"] is not None:
            weights = info["weights"]  # what the learner's actors get next
            restarted = all(np.array_equal(weights[k], v.numpy()) for k, v in start.items())
            frozen.append((info["frozen"].snapshot, info["frozen"].reset, restarted))
            league = info["league"]
            if info["frozen"].reset:  # another player from now on: no record, the starting rating
                assert league.elo[info["learner"]] == 1000.0
                assert all(league.payoff.games(info["learner"], m) == 0 for m in league.players)

    result = train_rl(cfg, progress=False, on_update=watch)
    assert result.counters["frames"] == 192  # the main agent's 6 updates (the exploiters' frames come on top)
    by_name = {name: (reset, restarted) for name, reset, restarted in frozen}
    assert [by_name[f"main_0@{k}"] for k in (1, 2, 3)] == [(False, False)] * 3  # every 2 of its updates
    assert by_name["main_exploiter_0@0"] == (True, True)  # then back at the start's weights
    assert all(reset == restarted for reset, restarted in by_name.values())
    # the rollout its actor was given before a restart played the old weights: dropped, one per restart (the last
    # restart's may not have come back before the end)
    assert 1 <= stale[-1] <= sum(reset for reset, _ in by_name.values())
    state = load_checkpoint(result.checkpoint).meta["learner_counters"]
    assert result.counters["updates"] == sum(c["updates"] for c in state.values())
    league_dir = result.run_dir / "league"
    assert {p.name for p in league_dir.iterdir()} == {"main_0@0", *by_name}  # every snapshot kept on disk
    state = load_checkpoint(result.checkpoint).meta["league_state"]
    assert state["games"] == len(episodes) > 0 and {p["name"] for p in state["players"]} >= set(by_name)
    assert (result.run_dir / "learners" / "main_exploiter_0" / checkpoint_name(result.counters["updates"])).is_dir()
    markdown = (result.run_dir / "payoff.md").read_text()
    assert "| player | Elo | main_0 | main_exploiter_0 | league_exploiter_0 | bot:very_easy | bot:easy |" in markdown
    assert Image.open(result.run_dir / "payoff.png").size[0] > 400
    events = EventAccumulator(str(result.run_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"league/elo/main_0", "league/elo/bot:easy", "main_0/losses/policy", "main_exploiter_0/losses/value",
            "charts/SPS"} <= tags  # fmt: skip
    assert any(t.startswith("league/worst_case_win_rate/main_0") for t in tags)


def test_a_resumed_league_loads_the_league_and_every_learner_exactly(tmp_path, caplog):
    cfg = _cfg(tmp_path, "backend=inprocess", "total_frames=96", "checkpoint_every=3", "keep_last=5", "name=run")
    first = train_rl(cfg, progress=False)
    last = load_checkpoint(first.checkpoint, optimizer=True)
    assert last.step == 7  # the main agent's 3 updates (96 frames) and 2 of each exploiter
    league = League(cfg.league, cfg.opponents.levels)
    agent, _ = initial_agents(cfg)
    weights = {k: v.numpy() for k, v in agent.state_dict().items()}
    learners = Learners(league.learners(), agent.checkpoint_config(), weights, None, cfg.learner, torch.device("cpu"),
                        1)
    (first.run_dir / "league" / "main_0@9").mkdir()  # as if frozen after the checkpoint
    with caplog.at_level(logging.WARNING, logger="pstar.rl"):
        counters = _resume(first.run_dir, last, league, learners)
    assert league.state_dict() == last.meta["league_state"]
    assert "removing snapshot" in caplog.text and not (first.run_dir / "league" / "main_0@9").exists()
    assert counters == last.meta["learner_counters"]
    assert [counters[n]["updates"] for n in league.learners()] == [3, 2, 2] and counters["main_0"]["frames"] == 96
    exploiter = load_checkpoint(first.run_dir / "learners" / "league_exploiter_0" / checkpoint_name(7))
    for name, value in learners.call("league_exploiter_0", "weights").items():
        assert np.array_equal(value, exploiter.weights[name].numpy())
    with pytest.raises(ConfigError, match="leaves nothing to train"):
        train_rl(cfg, resume=True, progress=False)
    more = load_config(RLConfig, None, [*TINY, f"run_root={tmp_path}", "backend=inprocess", "total_frames=160",
                                        "checkpoint_every=3", "keep_last=5", "name=run"])  # fmt: skip
    resumed = train_rl(more, resume=True, progress=False)
    assert resumed.counters["frames"] == 160 and resumed.counters["updates"] == 11  # main 2 more, exploiters 1 more


@pytest.mark.slow
def test_a_league_run_with_its_actors_on_ray(tmp_path, ray_session):
    """Two learners, an actor each (the test session's Ray has 2 CPUs): snapshots reach the Ray actors as members."""
    cfg = _cfg(tmp_path, "backend=ray", "num_actors=2", "league.league_exploiters=0", "total_frames=384",
               "checkpoint_every=0", "name=ray")  # fmt: skip
    played = set()
    result = train_rl(cfg, progress=False,
                      on_update=lambda info: played.update(e["opponent"] for e in info["episodes"]))
    assert result.counters["frames"] == 384 and (result.run_dir / "league" / "main_0@1").is_dir()
    state = load_checkpoint(result.checkpoint).meta["league_state"]
    assert state["games"] > 0 and played <= {p["name"] for p in state["players"]}
    assert played - {"bot:very_easy", "bot:easy"}  # agent members (snapshots, main_0) reached the Ray actors


def test_league_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="league: a league run plays its own snapshots"):
        _cfg(tmp_path, "opponents.league_fraction=0.5")
    with pytest.raises(ConfigError, match="num_actors: 2 actors for 3 learners"):
        _cfg(tmp_path, "num_actors=2")
