"""Sequence evaluation (the learner's unroll), partial teacher forcing and the exact per-head KL recorder."""

import pytest
import torch

from agents.agent import Agent
from agents.config import AgentConfig
from agents.heads.action_heads import HEADS
from agents.heads.distributions import kl_divergence, recording
from envs.skirmish.env import SkirmishEnv
from training.policy import AgentPolicy, stack_observations


def _rollout(agent: Agent, steps: int = 60, games: int = 2):
    envs = [SkirmishEnv("3m", "hard", max_units=64, lenient=True) for _ in range(games)]
    policy = AgentPolicy(agent, games, seed=0)
    obs = [env.reset(seed=i)[0] for i, env in enumerate(envs)]
    start = {k: v.clone() for k, v in policy.state.items()}
    frames, actions, firsts, log_probs = [], [], [], []
    for _ in range(steps):
        firsts.append(policy.first.clone())
        frames.append(stack_observations(obs))
        chosen, out = policy.step(obs)
        actions.append(out.action)
        log_probs.append(out.log_prob)
        obs = []
        for i, (env, action) in enumerate(zip(envs, chosen, strict=True)):
            o, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                o = env.reset()[0]
                policy.reset(i)
            obs.append(o)
    stack = lambda items: {k: torch.stack([d[k] for d in items]) for k in items[0]}  # noqa: E731
    return stack(frames), stack(actions), start, torch.stack(firsts), torch.stack(log_probs), policy.state


@pytest.mark.parametrize("encoder", ["perceiver", "transformer"])
def test_evaluate_sequence_equals_acting_step_by_step(encoder):
    torch.manual_seed(0)
    agent = Agent(SkirmishEnv("8m", max_units=64).skirmish_spec, AgentConfig.small(encoder)).eval()
    obs, action, start, first, log_probs, final = _rollout(agent)
    assert first[1:].any(), "the rollout should cross an episode boundary"
    with torch.no_grad():
        out = agent.evaluate_sequence(obs, action, start, first)
    total = torch.stack([out.log_probs[h] for h in HEADS]).sum(0)
    assert total.shape == first.shape and out.value.shape == first.shape
    torch.testing.assert_close(total, log_probs, atol=1e-4, rtol=0)
    for key in final:
        torch.testing.assert_close(out.state[key].float(), final[key].float(), atol=1e-5, rtol=0)


def test_partial_teacher_forcing_keeps_the_given_heads():
    torch.manual_seed(1)
    agent = Agent(SkirmishEnv("8m", max_units=64).skirmish_spec, AgentConfig.small()).eval()
    obs, action, start, first, _, _ = _rollout(agent, steps=4)
    step = {k: v[0] for k, v in obs.items()}
    forced = torch.full_like(action["action_type"][0], 4)  # attack_move: selection + location
    with torch.no_grad():
        out = agent.act(step, start, first[0], greedy=True, given={"action_type": forced})
    assert torch.equal(out.action["action_type"], forced)
    assert (out.action["selected_units"][:, 0] >= 0).all()


def test_recorded_kl_is_zero_for_the_same_policy_and_positive_otherwise():
    torch.manual_seed(2)
    spec = SkirmishEnv("8m", max_units=64).skirmish_spec
    agent, other = Agent(spec, AgentConfig.small()).eval(), Agent(spec, AgentConfig.small()).eval()
    obs, action, start, first, _, _ = _rollout(agent, steps=6)
    with torch.no_grad(), recording() as p:
        agent.evaluate_sequence(obs, action, start, first)
    with torch.no_grad(), recording() as same:
        agent.evaluate_sequence(obs, action, start, first)
    with torch.no_grad(), recording() as q:
        other.evaluate_sequence(obs, action, start, first)
    zero = kl_divergence(p, same)
    assert set(zero) == set(HEADS)
    assert all(float(v.abs().max()) < 1e-5 for v in zero.values())
    apart = kl_divergence(p, q)
    assert all(bool((v >= -1e-6).all()) for v in apart.values())
    assert float(apart["action_type"].mean()) > 0
    # unused arguments contribute nothing: no_op rows have no selection KL
    no_op = (action["action_type"] == 0).reshape(-1)
    assert torch.all(apart["selected_units"][no_op] == 0)
