"""MatchBatch and SkirmishVectorEnv: batched stepping gives exactly what stepping the games one by one gives
(gymnasium's SyncVectorEnv over SkirmishEnv is the reference), with gymnasium 1.x's vector conventions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import envs.skirmish  # noqa: F401  (registers the ids)
from envs.contract.action import IllegalActionError, make_action
from envs.contract.catalogue import ATTACK_MOVE, MOVE
from envs.skirmish.botgame import bot_match
from envs.skirmish.env import SkirmishEnv
from envs.skirmish.match import Match
from envs.skirmish.match_batch import MatchBatch
from envs.skirmish.vector_env import SkirmishVectorEnv


def _attack_move_all(obs, cell=(60, 32)):
    """All own rows attack-move to ``cell`` (a legal action while the player has units)."""
    own = np.flatnonzero(obs["unit_mask"] & (obs["units"][:, 1] == 1))
    return make_action(ATTACK_MOVE, own[:64], target_location=cell)


def _assert_same_step(got, want):
    """``got`` equals ``want`` exactly; observations keep the single env's dtypes (bool masks), where SyncVectorEnv
    stores MultiBinary values as the space's int8."""
    dtypes = {"units": "float32", "unit_mask": "bool", "scalars": "float32", "available_actions": "bool"}
    assert {k: v.dtype.name for k, v in got[0].items()} == dtypes
    want = ({k: v.astype(got[0][k].dtype) for k, v in want[0].items()}, *want[1:])
    names = ("obs", "reward", "terminated", "truncated", "info") if len(got) == 5 else ("obs", "info")
    for a, b, what in zip(got, want, names, strict=True):
        assert data_equivalence(a, b, exact=True), what


@pytest.mark.parametrize(("opponent", "engine"), [("easy", "single"), ("hard", "batched"), ("cheat_insane", "auto"),
                                                   ("cheat_insane", "batched")])  # fmt: skip
def test_vector_env_equals_sync_vector_env_of_single_envs(opponent, engine):
    """Same seeds and actions: identical observations, rewards, ends, infos and autoresets, over several games."""
    kwargs = dict(scenario="3m", opponent=opponent, max_units=None, lenient=True)
    batched = SkirmishVectorEnv(4, engine=engine, **kwargs)
    reference = SyncVectorEnv([lambda: SkirmishEnv(**kwargs) for _ in range(4)])
    _assert_same_step(batched.reset(seed=11), reference.reset(seed=11))
    batched.action_space.seed(5)
    ends = 0
    for _ in range(70):  # 3m games with random actions end in ~20 steps: several autoresets per sub-env
        action = batched.action_space.sample()
        got, want = batched.step(action), reference.step(action)
        _assert_same_step(got, want)
        assert batched.observation_space.contains(got[0])
        ends += int(np.count_nonzero(got[2] | got[3]))
    assert ends >= 4


@pytest.mark.parametrize("engine", ["single", "batched"])
def test_vector_env_takes_lists_of_actions_per_sub_env_and_strict_games(engine):
    """A sequence of per-sub-env actions (each a list, up to the budget) steps strict games like single envs do."""
    kwargs = dict(scenario="2s3z", opponent="medium", max_units=16)
    batched = SkirmishVectorEnv(3, engine=engine, **kwargs)
    singles = [SkirmishEnv(**kwargs) for _ in range(3)]
    obs, _ = batched.reset(seed=[4, 9, 4])
    single_obs = [env.reset(seed=seed)[0] for env, seed in zip(singles, (4, 9, 4), strict=True)]
    for step in range(12):
        actions = []
        for i in range(3):
            own = np.flatnonzero(obs["unit_mask"][i] & (obs["units"][i][:, 1] == 1))
            actions.append([make_action(MOVE, own[:1], target_location=(10 + step, 20)),
                            make_action(ATTACK_MOVE, own[1:], target_location=(40, 32))])  # fmt: skip
        obs, reward, terminated, truncated, info = batched.step(actions)
        for i, env in enumerate(singles):
            single_obs[i], r, te, tr, single_info = env.step(actions[i])
            assert data_equivalence({k: v[i] for k, v in obs.items()}, single_obs[i], exact=True)
            assert (reward[i], terminated[i], truncated[i]) == (r, te, tr)
            assert info["game_loop"][i] == single_info["game_loop"]
    np.testing.assert_array_equal(obs["units"][0], obs["units"][2])  # same seed, same actions: same game
    assert not np.array_equal(obs["units"][0], obs["units"][1])


def test_next_step_autoreset_ignores_the_action_and_returns_the_first_observation():
    venv = gym.make_vec("Skirmish-3m-v0", num_envs=2)
    assert isinstance(venv, SkirmishVectorEnv) and venv.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    obs, _ = venv.reset(seed=0)
    venv.action_space.seed(1)
    done = np.zeros(2, dtype=bool)
    while not done.any():
        obs, reward, terminated, truncated, info = venv.step(venv.action_space.sample())
        done = terminated | truncated
    ended = int(np.flatnonzero(done)[0])
    assert info["_winner"][ended] and info["winner"][ended] in (0, 1, 2)
    state = [env.np_random.bit_generator.state for env in venv.envs]
    one = venv.action_space.sample()
    other = {k: v.copy() for k, v in one.items()}
    other["action_type"][ended] = (other["action_type"][ended] + 1) % 7  # the ended env's action is ignored
    restarted = venv.step(one)
    assert restarted[1][ended] == 0.0 and not restarted[2][ended] and not restarted[3][ended]
    assert restarted[4]["game_loop"][ended] == 0 and not restarted[4].get("_winner", np.zeros(2, bool))[ended]
    assert restarted[0]["scalars"][ended][0] == 0.0  # game_loop scalar of a new game
    # the same again from the same point, with a different action for the ended env: the same result
    fresh = SkirmishVectorEnv(2, scenario="3m", max_units=None, lenient=True)
    fresh.reset(seed=0)
    fresh.action_space.seed(1)
    done = np.zeros(2, dtype=bool)
    while not done.any():
        *_, terminated, truncated, _ = fresh.step(fresh.action_space.sample())
        done = terminated | truncated
    assert [env.np_random.bit_generator.state for env in fresh.envs] == state
    fresh.action_space.sample()
    _assert_same_step(fresh.step(other), restarted)


def test_reset_seeds_each_sub_env_and_reproduces_trajectories():
    def trajectory(seed):
        venv = SkirmishVectorEnv(3, scenario="3m", opponent="hard", max_units=None, lenient=True)
        obs, _ = venv.reset(seed=seed)
        venv.action_space.seed(0)
        out = [obs["units"]]
        for _ in range(25):
            obs, reward, *_ = venv.step(venv.action_space.sample())
            out += [obs["units"], reward]
        return out

    assert data_equivalence(trajectory(3), trajectory(3), exact=True)
    assert not data_equivalence(trajectory(3), trajectory(4))
    venv = SkirmishVectorEnv(2, scenario="3m", max_units=None)
    venv.reset(seed=[7, 7])
    assert venv.envs[0].match.seed == venv.envs[1].match.seed
    with pytest.raises(ValueError, match="one seed per sub-env"):
        venv.reset(seed=[1, 2, 3])


def test_reset_mask_resets_only_the_masked_sub_envs():
    venv = SkirmishVectorEnv(2, scenario="3m", max_units=None, lenient=True)
    venv.reset(seed=0)
    venv.step([[_attack_move_all(o)] for o in (venv._obs[0], venv._obs[1])])
    obs, info = venv.reset(options={"reset_mask": np.array([True, False])})
    assert obs["scalars"][0][0] == 0.0 and obs["scalars"][1][0] == 8.0
    assert info["_game_loop"].tolist() == [True, False]
    with pytest.raises(ValueError, match="reset_mask"):
        venv.reset(options={"reset_mask": [True, False]})


def test_spaces_render_and_bad_input():
    venv = SkirmishVectorEnv(2, scenario="2s3z", max_units=16, render_mode="rgb_array", render_size=(40, 60))
    assert venv.single_observation_space["units"].shape == (16, 46)
    assert venv.observation_space["units"].shape == (2, 16, 46)
    assert venv.action_space["action_type"].shape == (2,)
    with pytest.raises(RuntimeError, match="before reset"):
        venv.step([None, None])
    obs, _ = venv.reset(seed=0)
    assert venv.observation_space.contains(obs)
    frames = venv.render()
    assert len(frames) == 2 and frames[0].shape == (40, 60, 3)
    with pytest.raises(ValueError, match="sequence of 2 per-sub-env actions"):
        venv.step([None])
    with pytest.raises(ValueError, match="num_envs"):
        SkirmishVectorEnv(0)
    venv.close()
    assert venv.closed


@pytest.mark.parametrize("engine", ["single", "batched"])
def test_match_batch_equals_single_matches_and_checks_every_game_before_playing(engine):
    def games():
        return [bot_match("2s3z", {1: "medium", 2: "hard"}, seed, max_units=16)[0] for seed in range(3)]

    def bots(seed):
        return bot_match("2s3z", {1: "medium", 2: "hard"}, seed, max_units=16)[1]

    singles, batched = games(), games()
    single_bots, batch_bots = [bots(s) for s in range(3)], [bots(s) for s in range(3)]
    batch = MatchBatch(3, engine=engine)
    for slot, match in enumerate(batched):
        assert batch.start(slot, match) is match.observations
    for _ in range(15):
        actions = {}
        for slot, match in enumerate(batched):
            if not match.engine.done:
                actions[slot] = {p: batch_bots[slot][p].act(match.observations[p], match.spec) for p in (1, 2)}
        results = batch.step(actions)
        for slot in actions:
            match = singles[slot]
            want = match.step({p: single_bots[slot][p].act(match.observations[p], match.spec) for p in (1, 2)})
            assert data_equivalence(results[slot], want, exact=True)
            assert batched[slot].engine.state_hash() == match.engine.state_hash()
    hashes = [m.engine.state_hash() for m in batched]
    legal = {1: _attack_move_all(batched[0].observations[1])}
    illegal = {1: make_action(MOVE, [15], target_location=(1, 1))}  # row 15 holds no unit
    with pytest.raises(IllegalActionError):
        batch.step({0: legal, 1: legal, 2: illegal})
    assert [m.engine.state_hash() for m in batched] == hashes  # nothing was issued or advanced
    batch.stop(1)
    with pytest.raises(ValueError, match="slot 1 has no game"):
        batch.step({1: {}})


def test_batched_match_batch_mixes_sizes_pauses_games_left_out_and_reloads_reset_matches():
    """Games of different sizes go to batched engines by size class; slots left out of a step pause; a match reset
    in its slot is loaded again; every game stays identical to its single match."""
    names = ["3m", "2s3z", "10v10_mixed", "3m"]

    def build():
        return [bot_match(name, {1: "hard", 2: "medium"}, seed, max_units=32) for seed, name in enumerate(names)]

    singles, batched = build(), build()
    batch = MatchBatch(len(names), engine="batched")
    for slot, (match, _) in enumerate(batched):
        batch.start(slot, match)
    assert [b.capacity for b in batch.engines] == [16, 32]  # 3m and 2s3z share one, 10v10_mixed gets its own
    rng = np.random.default_rng(0)
    for step in range(40):
        if step == 10:
            for match, _ in (singles[1], batched[1]):
                match.reset()
        chosen = [slot for slot in range(len(names)) if rng.random() < 0.7 and not batched[slot][0].engine.done]
        actions = {slot: {p: bots[p].act(match.observations[p], match.spec) for p in (1, 2)}
                   for slot, (match, bots) in ((s, batched[s]) for s in chosen)}  # fmt: skip
        results = batch.step(actions)
        for slot in chosen:
            match, bots = singles[slot]
            want = match.step({p: bots[p].act(match.observations[p], match.spec) for p in (1, 2)})
            assert data_equivalence(results[slot], want, exact=True)
        for (single, _), (played, _) in zip(singles, batched, strict=True):
            assert played.engine.state_hash() == single.engine.state_hash()
    assert batched[1][0].engine is batch.engines[0].game(1)
    with pytest.raises(ValueError, match="engine must be one of auto, batched, single"):
        MatchBatch(2, engine="gpu")


@pytest.mark.parametrize(("scenario", "levels", "fog"), [("10v10_mixed", {1: "hard", 2: "medium"}, False),
                                                         ("2s3z", {1: "cheat_vision", 2: "easy"}, True)])  # fmt: skip
def test_a_compiled_match_plays_exactly_as_a_numpy_match(scenario, levels, fog):
    """Match's default compiled engine (a one-game BatchedEngine from the first step on) gives the numpy Engine's
    steps, hashes, events and logged actions, through a reset, with fog and a cheating bot's see_all."""
    (compiled, c_bots), (numpy, n_bots) = (bot_match(scenario, levels, 3, max_units=32, fog=fog, record=True)
                                           for _ in range(2))  # fmt: skip
    numpy = Match(numpy.scenario, numpy.seed, max_units=32, fog=fog, see_all=numpy.see_all, record=True,
                  engine="numpy")  # fmt: skip
    assert data_equivalence(compiled.observations, numpy.observations, exact=True)
    for step in range(200):
        if step == 5:
            compiled.reset(), numpy.reset()
        if numpy.engine.done:
            break
        got = compiled.step({p: c_bots[p].act(compiled.observations[p], compiled.spec) for p in (1, 2)})
        want = numpy.step({p: n_bots[p].act(numpy.observations[p], numpy.spec) for p in (1, 2)})
        assert data_equivalence(got, want, exact=True)
        assert compiled.engine.state_hash() == numpy.engine.state_hash()
        assert compiled.engine.events == numpy.engine.events
    assert numpy.engine.done and compiled.winner == numpy.winner
    assert data_equivalence(compiled.actions_log, numpy.actions_log, exact=True)
    assert type(compiled.engine).__name__ == "GameView" and type(numpy.engine).__name__ == "Engine"
    with pytest.raises(ValueError, match="engine must be one of compiled, numpy"):
        Match("3m", engine="gpu")
