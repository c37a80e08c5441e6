"""The gymnasium side of Skirmish: check_env, registered ids, vector envs, rendering, lenient mode, opponents
(bots, cheats, policies, self-play through Match) and ``pstar play``."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from PIL import Image

import envs.skirmish  # noqa: F401  (registers the ids)
from envs.contract.action import IllegalActionError, make_action
from envs.contract.catalogue import ATTACK_UNIT, MOVE, NO_OP
from envs.skirmish.env import SkirmishEnv
from envs.skirmish.match import Match
from envs.skirmish.render import render_rgb, write_gif, write_png_strip
from envs.skirmish.replay import load_replay
from envs.skirmish.scenario import scenario_names
from training.play_cli import main as play_main


def _attack_enemy(obs):
    """player's first own row attacks its first enemy row (rows: own first, then enemies)."""
    own = int((obs["units"][:, 1] == 1).sum())
    return make_action(ATTACK_UNIT, [0], target_unit=own)


@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_check_env_passes_without_warnings(render_mode):
    env = gym.make("Skirmish-3m-v0", render_mode=render_mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []
    env.close()


def test_registered_ids_and_max_units_defaults():
    ids = {f"Skirmish-{name}-v0" for name in scenario_names()} | {"Skirmish-v0"}
    assert ids <= set(gym.registry)
    assert gym.make("Skirmish-3m-v0").unwrapped.max_units == 64
    assert gym.make("Skirmish-mixed_256v256-v0").unwrapped.max_units == 512
    assert SkirmishEnv("3m").max_units == 512  # the class keeps the contract's default
    env = gym.make("Skirmish-v0", scenario="8m_vs_9m", opponent="easy", max_units=24)
    obs, _ = env.reset(seed=0)
    assert obs["units"].shape == (24, 46) and obs["unit_mask"].sum() == 17
    spec = env.unwrapped.skirmish_spec
    assert spec.max_units == 24 and spec.location_resolution == env.action_space["target_location"].nvec[0]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_envs_step(mode):
    venv = gym.make_vec("Skirmish-3m-v0", num_envs=2, vectorization_mode=mode)
    obs, _ = venv.reset(seed=0)
    assert obs["units"].shape == (2, 64, 46)
    venv.action_space.seed(0)
    for _ in range(40):  # long enough for some games to end and auto-reset
        obs, reward, terminated, truncated, info = venv.step(venv.action_space.sample())
        assert reward.shape == (2,) and obs["unit_mask"].shape == (2, 64)
        assert np.all(info["illegal_actions"] >= 0)
    venv.close()


def test_reset_seed_reproduces_the_game():
    def trajectory(env):
        obs, _ = env.reset(seed=7)
        out = [obs["units"].copy()]
        for _ in range(10):
            own = np.flatnonzero(obs["unit_mask"] & (obs["units"][:, 1] == 1))
            obs, *_ = env.step(make_action(MOVE, own, target_location=(40, 32)))
            out.append(obs["units"].copy())
        return np.stack(out)

    env = SkirmishEnv("3m", "hard", max_units=16)
    np.testing.assert_array_equal(trajectory(env), trajectory(SkirmishEnv("3m", "hard", max_units=16)))


def test_rgb_render_shows_units():
    env = gym.make("Skirmish-2s3z-v0", render_mode="rgb_array", render_size=(120, 160))
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8
    r, g, b = (frame[..., k].astype(int) for k in range(3))
    assert ((b > r + 60) & (b > g)).sum() > 20  # player 1's units (blue shades)
    assert ((r > b + 60) & (r > g + 60)).sum() > 20  # player 2's units (red shades)
    for _ in range(12):
        env.step(make_action(NO_OP))
    moved = env.render()
    assert not np.array_equal(frame, moved)
    with pytest.warns(UserWarning, match="render_mode"):
        assert SkirmishEnv("3m").render() is None


def test_render_keeps_aspect_and_writes_gif_and_strip(tmp_path):
    env = SkirmishEnv("zealots_vs_zerglings_corridor", "medium", max_units=64)
    env.reset(seed=0)
    frame = render_rgb(env.match.engine)
    assert frame.shape[1] > 5 * frame.shape[0]  # a 64 x 6 corridor stays long and thin
    frames = []
    for _ in range(3):
        frames.append(render_rgb(env.match.engine, (64, 96)))
        env.step(make_action(NO_OP))
    with Image.open(write_gif(frames, tmp_path / "a.gif", fps=5)) as gif:
        assert gif.n_frames == 3 and gif.size == (96, 64)
    with Image.open(write_png_strip(frames, tmp_path / "a.png", columns=2)) as png:
        assert png.size == (2 * 96 + 2, 2 * 64 + 2)
    with pytest.raises(ValueError, match="frame 1"):
        write_gif([frames[0], frames[0][:10]], tmp_path / "b.gif")


@pytest.mark.parametrize("lenient", [True, False])
def test_agent_output_tensors_step_the_env_and_batched_output_raises_in_both_modes(lenient, tmp_path):
    """One action of tensors (an Agent's sub-action) is read (and recorded) as it is; ``act``'s batched output, the
    ActOutput itself or a string raise one clear MalformedActionError, lenient or not, and play nothing."""
    import torch

    from agents.agent import Agent
    from agents.config import AgentConfig
    from envs.contract.action import MalformedActionError
    from training.policy import stack_observations

    env = SkirmishEnv("3m", "medium", max_units=16, lenient=lenient, record=True)
    obs, _ = env.reset(seed=0)
    agent = Agent(env.unwrapped.skirmish_spec, AgentConfig.small()).eval()
    with torch.no_grad():
        out = agent.act(stack_observations([obs]), agent.initial_state(1), generator=torch.Generator().manual_seed(0))
    state = env.match.engine.state_hash()
    for bad, text in [(out.action, "batched"), (out, "batched"), ("attack", "expected an action dict")]:
        with pytest.raises(MalformedActionError, match=text):
            env.step(bad)
        assert env.match.engine.state_hash() == state and env.match.steps == 0
    first = {key: value[0, 0] for key, value in out.action.items()}  # tensors: a 0-d type, [64] rows, [2] cell
    assert isinstance(first["selected_units"], torch.Tensor)
    obs, _, _, _, info = env.step(first)
    assert info["illegal_actions"] == 0 and env.match.steps == 1  # the agent's actions are legal by construction
    attack = {key: torch.as_tensor(value) for key, value in _attack_enemy(obs).items()}
    _, _, _, _, info = env.step([attack])
    assert info["illegal_actions"] == 0 and env.match.engine.state.attack_target[:3].max() >= 0
    replay = load_replay(env.save_replay(tmp_path / "tensors.skreplay"))  # recorded as numpy: re-simulates
    assert replay.replay().engine.state_hash() == env.match.engine.state_hash()


def test_lenient_counts_illegal_actions_and_strict_raises():
    env = SkirmishEnv("3m", "medium", max_units=16, lenient=True)
    obs, _ = env.reset(seed=0)
    enemy_row = int(obs["unit_mask"].sum()) - 1
    _, _, _, _, info = env.step(make_action(MOVE, [enemy_row], target_location=(1, 1)))
    assert info["illegal_actions"] == 1 and "enemy unit" in info["illegal_reasons"][0]
    _, _, _, _, info = env.step(_attack_enemy(obs))
    assert info["illegal_actions"] == 0
    strict = SkirmishEnv("3m", "medium", max_units=16)
    strict.reset(seed=0)
    with pytest.raises(IllegalActionError, match="enemy unit"):
        strict.step(make_action(MOVE, [enemy_row], target_location=(1, 1)))


def test_policy_opponent_and_episode_end():
    calls = []

    def opponent(obs, spec):
        calls.append(spec.max_units)
        return [_attack_enemy(obs), make_action(NO_OP)]

    env = SkirmishEnv("3m", opponent, max_units=16)
    obs, _ = env.reset(seed=1)
    total, done, steps = 0.0, False, 0
    while not done:
        obs, reward, terminated, truncated, info = env.step(make_action(NO_OP))
        total, done, steps = total + reward, terminated or truncated, steps + 1
    assert calls == [16] * steps
    assert info["winner"] in (0, 1, 2) and np.sign(total) == {0: np.sign(total), 1: 1, 2: -1}[info["winner"]]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(make_action(NO_OP))


def test_cheating_bot_opponents():
    env = SkirmishEnv("3m", "cheat_money", max_units=16)
    obs, _ = env.reset(seed=0)
    assert obs["unit_mask"].sum() == 3 + 4  # 25% extra units, rounded up
    fogged = SkirmishEnv("3m", "cheat_vision", max_units=16, fog=True)
    fogged.reset(seed=0)
    assert fogged.match.see_all == (2,) and fogged.match.fog


def test_random_scenarios_per_reset_and_saved_replay(tmp_path):
    env = SkirmishEnv("random", "medium", max_units=None, record=True)
    env.reset(seed=0)
    first = env.match.scenario.name
    env.reset(seed=1)
    assert env.match.scenario.name != first and env.max_units == 64
    for _ in range(5):
        env.step(env.action_space.sample() | {"action_type": NO_OP})
    replay = load_replay(env.save_replay(tmp_path / "env.skreplay"))
    assert replay.header.players == {1: "policy:agent", 2: "bot:medium"} and replay.header.steps == 5
    replay.verify()


def test_two_policies_through_match():
    """Self-play: two policies speak the same contract to one Match."""
    match = Match("8m", seed=0, max_units=32)
    obs = match.reset()
    for _ in range(200):
        obs, rewards, terminated, truncated, infos = match.step({p: _attack_enemy(obs[p]) for p in (1, 2)})
        assert rewards[1] == pytest.approx(-rewards[2])
        if terminated or truncated:
            break
    assert match.winner in (0, 1, 2) and infos[1]["winner"] == match.winner


def test_play_cli_writes_gif_and_png(tmp_path, capsys):
    gif, png, rep = tmp_path / "g.gif", tmp_path / "g.png", tmp_path / "g.skreplay"
    assert play_main(["--scenario", "3m", "--out", str(gif), "--save-replay", str(rep), "--size", "64", "64"]) == 0
    assert play_main(["--replay", str(rep), "--out", str(png), "--every", "5", "--size", "64", "64"]) == 0
    text = capsys.readouterr().out
    assert "wrote" in text and gif.stat().st_size > 0
    with Image.open(gif) as g:
        assert g.n_frames == load_replay(rep).header.steps + 1
    assert play_main(["--scenario", "3m", "--out", str(tmp_path / "x.mp4")]) == 2
