"""RL: learner losses, in-process and Ray actor runs, a killed actor replaced mid-run, checkpoints and resume."""

import copy
import logging

import numpy as np
import pytest
import torch

from envs.skirmish.bots import make_bot
from envs.skirmish.match_batch import MatchBatch
from envs.skirmish.scenario import SCENARIO_DIR, load_scenario
from training.agent_io import load_agent, save_agent
from training.checkpoint import list_checkpoints, load_checkpoint
from training.config_io import ConfigError, load_config
from training.rl.actor import RolloutWorker
from training.rl.cli import main as rl_main
from training.rl.config import RLConfig
from training.rl.games import new_game, step_games
from training.rl.learner import Learner, batch_trajectories
from training.rl.train import initial_agents, train_rl

TINY = ["envs_per_actor=2", "unroll_length=16", "scenarios=[3m]", "opponents.levels=[easy, medium]",
        "agent.preset=small", "learner_threads=1"]  # fmt: skip


def _cfg(tmp_path, *extra: str) -> RLConfig:
    return load_config(RLConfig, None, [*TINY, f"run_root={tmp_path}", *extra])


def _trajectory(cfg: RLConfig, agent) -> dict:
    from training.config_io import to_dict

    worker = RolloutWorker(0, agent.checkpoint_config(), to_dict(cfg), seed=3)
    return worker.rollout({k: v.numpy() for k, v in agent.state_dict().items()}, 0)


def test_trajectory_layout(tmp_path):
    cfg = _cfg(tmp_path)
    agent, _ = initial_agents(cfg)
    result = _trajectory(cfg, agent)
    traj = result["trajectory"]
    assert result["frames"] == 32
    assert traj["obs/units"].shape == (17, 2, 64, 46)  # T + 1 observations (bootstrap)
    assert agent.spec.actions_per_step == 2  # the default budget
    assert traj["action/selected_units"].shape == (16, 2, 2, 64)  # a step's sub-actions after the batch
    assert traj["action/action_type"].shape == traj["action/queued"].shape == (16, 2, 2)
    assert (traj["action/action_type"] != 0).all(-1).any()  # some steps use the whole budget
    assert traj["first"].shape == (17, 2) and traj["first"][0].all()
    assert traj["reward"].shape == traj["terminated"].shape == traj["behaviour_log_prob"].shape == (16, 2)
    assert traj["truncated"].shape == traj["truncation_value"].shape == traj["temperature"].shape == (16, 2)
    # an episode end at t is followed by a first observation at t + 1
    assert np.array_equal(traj["terminated"] | traj["truncated"], traj["first"][1:])
    assert not (traj["terminated"] & traj["truncated"]).any()
    assert (traj["truncation_value"][~traj["truncated"]] == 0).all()


def test_rollouts_count_the_units_left_out_of_observations(tmp_path, caplog):
    """64v64_mixed at 64 rows: each observation shares its rows and leaves 64 units out, counted per step and
    warned about once at start-up."""
    from training.scenario_fit import warn_if_rows_short

    cfg = _cfg(tmp_path, "scenarios=[64v64_mixed]", "unroll_length=4")
    agent, _ = initial_agents(cfg)
    result = _trajectory(cfg, agent)
    assert result["frames"] == 8 and result["units_dropped"] == 64 * 8  # no unit dies in the first 4 steps
    traj = result["trajectory"]
    assert (traj["obs/units"][..., 1] == 4).sum(-1).min() == 32  # every observation holds 32 enemy rows
    with caplog.at_level(logging.WARNING):
        assert warn_if_rows_short([load_scenario("64v64_mixed"), load_scenario("3m")], 64, "rl")
        assert not warn_if_rows_short([load_scenario("64v64_mixed")], 128, "rl")
    (record,) = caplog.records
    assert "rl: max_units=64 is below the unit count of 64v64_mixed (128 units)" in record.getMessage()


def test_games_are_built_as_before_the_one_builder():
    """Same RNG, same games as the actor's own match builder gave (measured before ``botgame.bot_match``; re-measure
    when the engine or the bots change on purpose; last: the action budget of 2 per step), on both engines, whose
    final states are equal. A medium bot plays the agent's side. (The outcomes and lengths are pinned, not the state
    hashes: one game's hash measured before differs on an AMD EPYC with AVX2 and no AVX-512, where its course does
    not; numpy's SIMD math can round differently from one CPU to another.)"""
    scenarios = [load_scenario("3m"), load_scenario("2s3z")]
    played = {}
    for engine in ("single", "batched"):
        played[engine] = []
        for seed, level in enumerate(["easy", "cheat_insane", "hard", "cheat_vision"]):
            side = 1 + seed % 2
            game = new_game(np.random.default_rng(seed), scenarios, 16, side, level, None, max_units=64, step_mul=8,
                            actions_per_step=2)
            agent, done = make_bot("medium", side, seed), False
            batch = MatchBatch(1, engine=engine)
            batch.start(0, game.match)
            while not done:
                (stepped,) = step_games(batch, [game], [agent.act(game.agent_obs, game.match.spec)])
                done = stepped.terminated or stepped.truncated
            played[engine].append((game.outcome(), game.length, game.match.engine.state_hash()))
            assert not game.match.lenient  # strict by default
    assert played["single"] == played["batched"]
    assert [p[:2] for p in played["single"]] == [("win", 67), ("loss", 19), ("loss", 80), ("loss", 60)]


def test_learner_update_kl_and_options(tmp_path):
    cfg = _cfg(tmp_path, "learner.upgo_cost=1.0", "learner.value_target=td_lambda", "learner.kl_cost=0.5")
    agent, _ = initial_agents(cfg)
    trajectory = _trajectory(cfg, agent)["trajectory"]
    learner = Learner(agent, copy.deepcopy(agent), cfg.learner)
    _, terms = learner.loss(batch_trajectories([trajectory], "cpu"))
    assert abs(terms["kl"]) < 1e-5  # the reference is the same policy
    assert abs(terms["importance_ratio"] - 1.0) < 1e-3  # on-policy
    before = [p.detach().clone() for p in agent.parameters()]
    terms = learner.update([trajectory], step=1)
    assert all(np.isfinite(v) for v in terms.values())
    assert {"policy", "value", "entropy", "kl", "upgo", "grad_norm"} <= set(terms)
    changed = sum(not torch.equal(a, b) for a, b in zip(before, agent.parameters(), strict=True))
    assert changed > 0.9 * len(before)
    # after the step the policy has moved away from the reference: the KL is now positive
    _, terms = learner.loss(batch_trajectories([trajectory], "cpu"))
    assert terms["kl"] > 1e-6


def test_inprocess_run_checkpoints_logs_and_is_deterministic(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = _cfg(tmp_path, "backend=inprocess", "num_actors=2", "total_frames=128", "checkpoint_every=2", "name=a")
    result = train_rl(cfg, progress=False)
    assert result.counters["frames"] == 128 and result.counters["updates"] == 4
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt.meta["kind"] == "rl" and ckpt.meta["counters"]["updates"] == 4
    assert (result.run_dir / "config.yaml").is_file()
    events = EventAccumulator(str(result.run_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"charts/SPS", "losses/policy", "losses/value", "charts/policy_lag"} <= tags
    assert {"charts/learner_seconds/forward", "charts/learner_seconds/backward"} <= tags
    assert events.Scalars("charts/illegal_actions_per_step")[-1].value == 0.0  # strict games
    assert events.Scalars("charts/units_dropped_per_step")[-1].value == 0.0  # 3m fits in 64 rows
    again = train_rl(
        load_config(
            RLConfig,
            None,
            [*TINY, f"run_root={tmp_path}", "backend=inprocess", "num_actors=2", "total_frames=128", "name=b"],
        ),
        progress=False,
    )
    first, _ = load_agent(result.checkpoint)
    second, _ = load_agent(again.checkpoint)
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_resume_skips_a_torn_checkpoint_and_continues_counters_optimizer_rng_and_league(tmp_path, caplog):
    cfg = _cfg(tmp_path, "backend=inprocess", "num_actors=1", "total_frames=128", "checkpoint_every=2",
               "keep_last=10", "opponents.league_fraction=0.5", "opponents.snapshot_every=1",
               "opponents.league_size=1", "name=run")  # fmt: skip
    full = train_rl(cfg, progress=False)
    checkpoints = full.run_dir / "checkpoints"
    assert [p.name for p in list_checkpoints(checkpoints)] == ["ckpt_000000002", "ckpt_000000004"]
    # the last league_size snapshots, and the one ckpt_2 plays against (a resume from it needs it)
    assert sorted(p.name for p in (full.run_dir / "league").iterdir()) == ["ckpt_000000002", "ckpt_000000004"]
    torn = checkpoints / "ckpt_000000004"
    (torn / "model.safetensors").write_bytes((torn / "model.safetensors").read_bytes()[:100])
    seen = {}

    def first_update(info):
        seen.setdefault("counters", info["counters"])

    with caplog.at_level(logging.WARNING, logger="pstar.checkpoint"):
        resumed = train_rl(cfg, resume=True, progress=False, on_update=first_update)
    assert f"skipping checkpoint {torn}: model.safetensors has 100 bytes" in caplog.text
    assert seen["counters"]["updates"] == 3 and seen["counters"]["frames"] == 96  # continues from ckpt_2
    assert resumed.counters == {**full.counters, "episodes": resumed.counters["episodes"]}
    checkpoint = load_checkpoint(resumed.checkpoint)
    assert checkpoint.meta["league"] == ["ckpt_000000004"]
    assert int(checkpoint.optimizer_state()["state"][0]["step"]) == 4  # Adam's step count carried over


def test_ray_actors_and_a_killed_actor_is_replaced(tmp_path, ray_session, caplog):
    cfg = _cfg(tmp_path, "backend=ray", "num_actors=2", "total_frames=256", "checkpoint_every=100", "name=ray")
    killed = []

    def kill_one(info):
        if info["counters"]["updates"] == 2 and not killed:
            backend = info["backend"]
            backend.ray.kill(backend.workers[0])
            killed.append(True)

    with caplog.at_level(logging.WARNING, logger="pstar.rl"):
        result = train_rl(cfg, progress=False, on_update=kill_one)
    assert killed and result.counters["worker_restarts"] >= 1
    assert result.counters["frames"] >= 256
    assert "rollout worker 0 is replaced" in caplog.text and "killed by `ray.kill`" in caplog.text
    assert load_checkpoint(result.checkpoint).meta["counters"]["worker_restarts"] >= 1


def test_config_and_cli_errors(tmp_path, capsys):
    with pytest.raises(ConfigError, match="unknown key 'learning_rate'; valid keys are: init_checkpoint"):
        load_config(RLConfig, None, ["learning_rate=1"])
    assert rl_main(["num_actor=3"]) == 2
    assert "unknown key 'num_actor'" in capsys.readouterr().err
    assert rl_main([f"run_root={tmp_path}", "init_checkpoint=" + str(tmp_path / "missing"), "backend=inprocess"]) == 2
    assert "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        rl_main(["--help"])
    assert exit_info.value.code == 0
    assert "learner.kl_cost" in capsys.readouterr().out


def test_actor_refuses_scenarios_on_another_map(tmp_path):
    from envs.skirmish.scenario import ScenarioError
    from training.config_io import to_dict

    cfg = _cfg(tmp_path)
    agent, _ = initial_agents(cfg)
    wrong = load_config(RLConfig, None, [*TINY, "scenarios=[3m, 64v64_mixed]"])
    with pytest.raises(ScenarioError, match="'64v64_mixed' has a 64x64 map but the agent was built for .*32x32"):
        RolloutWorker(0, agent.checkpoint_config(), to_dict(wrong), seed=0)


def _scored(agent, traj: dict, temperature) -> torch.Tensor:
    """The learner's log-probs of a trajectory's actions at ``temperature``."""
    batch = batch_trajectories([traj], torch.device("cpu"))
    steps = batch["first"].shape[0] - 1
    obs = {k: v[:steps] for k, v in batch["obs"].items()}
    with torch.no_grad():
        out = agent.evaluate_sequence(obs, batch["action"], batch["state"], batch["first"][:steps].bool(), temperature)
    return sum(out.log_probs.values())


def test_the_learner_scores_actions_at_the_temperature_they_were_sampled_at(tmp_path):
    cfg = _cfg(tmp_path, "temperature=0.7")
    agent, _ = initial_agents(cfg)
    traj = _trajectory(cfg, agent)["trajectory"]
    assert np.allclose(traj["temperature"], 0.7)
    behaviour = torch.from_numpy(traj["behaviour_log_prob"])
    torch.testing.assert_close(_scored(agent, traj, torch.from_numpy(traj["temperature"])), behaviour,
                               atol=2e-4, rtol=1e-4)  # fmt: skip
    assert (_scored(agent, traj, 1.0) - behaviour).abs().max() > 1e-2  # the heads' default would be biased


def test_a_time_limit_bootstraps_from_the_last_observation(tmp_path):
    short = tmp_path / "3m_short.yaml"
    short.write_text(SCENARIO_DIR.joinpath("3m.yaml").read_text().replace("480", "40"))
    cfg = _cfg(tmp_path, f"scenarios=[{short}]", "variants=0")
    agent, _ = initial_agents(cfg)
    traj = _trajectory(cfg, agent)["trajectory"]
    truncated = traj["truncated"]
    assert truncated.any() and not traj["terminated"][truncated].any()  # 5 steps of 8 loops: a draw by time
    assert (traj["truncation_value"][truncated] != 0).all() and (traj["truncation_value"][~truncated] == 0).all()
    learner = Learner(agent, None, cfg.learner)
    batch = batch_trajectories([traj], torch.device("cpu"))
    cut = copy.deepcopy(traj)
    cut["truncation_value"][:] = 0.0  # the same trajectory as if the time limit were a terminal state
    assert learner.loss(batch)[1]["value"] != learner.loss(batch_trajectories([cut], torch.device("cpu")))[1]["value"]


def test_checkpoint_every_0_checkpoints_only_at_the_end(tmp_path, capsys):
    argv = [*TINY, f"run_root={tmp_path}", "backend=inprocess", "num_actors=1", "total_frames=64", "checkpoint_every=0",
            "name=end", "--quiet"]  # fmt: skip
    assert rl_main(argv) == 0
    checkpoints = tmp_path / "end" / "checkpoints"
    assert [p.name for p in list_checkpoints(checkpoints)] == ["ckpt_000000002"]
    assert f"checkpoint: {checkpoints / 'ckpt_000000002'}" in capsys.readouterr().out


def test_resume_refuses_an_init_checkpoint_that_now_holds_other_weights(tmp_path):
    agent, _ = initial_agents(_cfg(tmp_path))
    save_agent(tmp_path / "bc", 1, agent, kind="bc", config={}, counters={})
    with torch.no_grad():
        next(agent.parameters()).add_(0.5)
    save_agent(tmp_path / "other", 1, agent, kind="bc", config={}, counters={})
    base = ["backend=inprocess", "num_actors=1", "checkpoint_every=1", "name=run"]
    first = train_rl(_cfg(tmp_path, *base, "total_frames=32", f"init_checkpoint={tmp_path / 'bc'}"), progress=False)
    assert load_checkpoint(first.checkpoint).meta["reference_sha256"]
    with pytest.raises(ConfigError, match="is not the KL reference run .* started from"):
        train_rl(_cfg(tmp_path, *base, "total_frames=64", f"init_checkpoint={tmp_path / 'other'}"), resume=True,
                 progress=False)  # fmt: skip
    again = train_rl(_cfg(tmp_path, *base, "total_frames=64", f"init_checkpoint={tmp_path / 'bc'}"), resume=True,
                     progress=False)  # fmt: skip
    assert again.counters["frames"] == 64


def test_rl_plays_full_games_against_the_full_game_bots(tmp_path):
    """``full_game=duel``: actors play full games (races drawn per game, the agent on both sides) against the
    full-game bot levels, the agent is built for the full game's spec, and updates run."""
    from envs.contract.columns import UnitColumn as C
    from envs.skirmish.economy.match import FullMatch
    from training.config_io import to_dict

    cfg = _cfg(tmp_path, "full_game=duel", "max_units=128", "opponents.levels=[very_easy, easy]", "lenient=true",
               "backend=inprocess", "num_actors=1", "total_frames=64", "unroll_length=8", "name=full")  # fmt: skip
    agent, reference = initial_agents(cfg)
    assert reference is None and len(agent.spec.action_types) == 48 and agent.spec.max_units == 128
    worker = RolloutWorker(0, agent.checkpoint_config(), to_dict(cfg), seed=5)
    assert all(isinstance(g.match, FullMatch) for g in worker.games) and [g.side for g in worker.games] == [1, 2]
    traj = worker.rollout({k: v.numpy() for k, v in agent.state_dict().items()}, 0)["trajectory"]
    assert traj["obs/units"].shape[:3] == (9, 2, 128) and traj["action/action_type"].shape == (8, 2, 2)
    assert (traj["obs/units"][..., C.owner] == 16).any(-1).all()  # the neutral resource rows are observed
    assert {g.opponent_name for g in worker.games} <= {"very_easy", "easy"}
    result = train_rl(cfg, progress=False)
    assert result.counters["updates"] == 4 and result.counters["frames"] == 64
    with pytest.raises(ConfigError, match="full_game"):
        _cfg(tmp_path, "full_game=nowhere")


def test_reward_shaping_adds_a_difference_of_army_and_worker_potentials(tmp_path):
    """``shaping.*``: each full-game step's reward gains discount * phi(s') - phi(s), phi the weighted army and
    worker supply read from the observations (no game ends in these steps, so that is the whole reward); phi of a
    state a game ended in is 0; battles refuse it."""
    from envs.contract.scalars import ECONOMY_SCALARS, NUM_SCALARS
    from training.config_io import to_dict
    from training.rl.shaping import ShapingConfig

    shaping = ShapingConfig(army=0.01, workers=0.002)
    scalars = np.zeros(NUM_SCALARS + len(ECONOMY_SCALARS), np.float32)
    scalars[NUM_SCALARS + 1], scalars[NUM_SCALARS + 2] = 6, 14  # food_army, food_workers
    assert shaping.potential(scalars) == pytest.approx(0.06 + 0.028)
    assert shaping.bonus(scalars, scalars, 0.5, terminated=False) == pytest.approx(-0.5 * 0.088)
    assert shaping.bonus(scalars, scalars, 0.5, terminated=True) == pytest.approx(-0.088)
    with pytest.raises(ValueError, match="full-game scalars"):
        shaping.potential(np.zeros(NUM_SCALARS, np.float32))
    cfg = _cfg(tmp_path, "full_game=duel", "max_units=128", "opponents.levels=[very_easy]", "lenient=true",
               "backend=inprocess", "num_actors=1", "unroll_length=12", "shaping.army=0.01", "shaping.workers=0.002",
               "learner.discount=0.9")  # fmt: skip
    agent, _ = initial_agents(cfg)
    worker = RolloutWorker(0, agent.checkpoint_config(), to_dict(cfg), seed=5)
    traj = worker.rollout({k: v.numpy() for k, v in agent.state_dict().items()}, 0)["trajectory"]
    assert not traj["terminated"].any() and not traj["truncated"].any()
    phi = 0.01 * traj["obs/scalars"][..., NUM_SCALARS + 1] + 0.002 * traj["obs/scalars"][..., NUM_SCALARS + 2]
    assert (phi > 0).all()
    np.testing.assert_allclose(traj["reward"], 0.9 * phi[1:] - phi[:-1], rtol=1e-5, atol=1e-7)
    with pytest.raises(ConfigError, match="shaping"):
        _cfg(tmp_path, "shaping.army=0.01")
