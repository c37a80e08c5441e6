"""Sequence evaluation (the learner's unroll), partial teacher forcing, the exact per-head KL recorder, and the
actions of one step (up to the spec's budget, each conditioned on those before it, ended by a no_op)."""

import pytest
import torch

from agents.agent import Agent
from agents.config import AgentConfig
from agents.heads.action_heads import HEADS
from agents.heads.distributions import kl_divergence, recording
from envs.skirmish.env import SkirmishEnv
from training.policy import AgentPolicy, stack_observations


@pytest.fixture(autouse=True)
def _small_ops(one_thread):
    """Every test here runs small batches."""


def budget_spec(actions_per_step: int = 2) -> dict:
    """The 8m Skirmish spec with an action budget of ``actions_per_step``."""
    return {**SkirmishEnv("8m", max_units=64).skirmish_spec.to_dict(), "actions_per_step": actions_per_step}


def _rollout(agent: Agent, steps: int = 60, games: int = 2, temperature: float | None = None,
             core_window: int | None = None):
    envs = [SkirmishEnv("3m", "hard", max_units=64, lenient=True) for _ in range(games)]
    policy = AgentPolicy(agent, games, seed=0, temperature=temperature, core_window=core_window)
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


@pytest.mark.parametrize(("encoder", "budget", "temperature"),
                         [("perceiver", 1, None), ("transformer", 2, None), ("perceiver", 2, 0.7)])  # fmt: skip
def test_evaluate_sequence_equals_acting_step_by_step(encoder, budget, temperature):
    torch.manual_seed(0)
    agent = Agent(budget_spec(budget), AgentConfig.small(encoder)).eval()
    obs, action, start, first, log_probs, final = _rollout(agent, temperature=temperature)
    assert first[1:].any(), "the rollout should cross an episode boundary"
    assert action["action_type"].shape == (*first.shape, budget)
    with torch.no_grad():
        out = agent.evaluate_sequence(obs, action, start, first, temperature or 1.0)
    total = torch.stack([out.log_probs[h] for h in HEADS]).sum(0)
    assert total.shape == first.shape and out.value.shape == first.shape
    torch.testing.assert_close(total, log_probs, atol=1e-4, rtol=0)
    for key in final:
        torch.testing.assert_close(out.state[key].float(), final[key].float(), atol=1e-5, rtol=0)
    rows = torch.full(first.shape, temperature or 1.0)  # one temperature per row, all equal (as a learner gets them)
    mixed = rows.clone()
    mixed[0, 0] = 3.0  # one row at another temperature
    with torch.no_grad():
        assert torch.equal(agent.evaluate_sequence(obs, action, start, first, rows).log_probs["action_type"],
                           out.log_probs["action_type"])  # fmt: skip
        scored = agent.evaluate_sequence(obs, action, start, first, mixed).log_probs["action_type"]
    assert not torch.equal(scored[0, 0], out.log_probs["action_type"][0, 0])
    torch.testing.assert_close(scored.flatten()[1:], out.log_probs["action_type"].flatten()[1:])


def test_a_core_window_plays_as_truncated_bptt_scores_its_chunks():
    """Acting with ``core_window=W`` restarts the state every W steps of each game, counted from the game's start:
    what ``evaluate_sequence`` computes with ``first`` marked there (BC's chunks from the initial state)."""
    torch.manual_seed(4)
    agent = Agent(budget_spec(2), AgentConfig.small()).eval()
    window = 5
    obs, action, start, first, log_probs, _ = _rollout(agent, steps=40, core_window=window)
    assert first[1:].any(), "the rollout should cross an episode boundary"
    age = torch.zeros(first.shape[1], dtype=torch.long)
    chunked = torch.zeros_like(first)
    for t in range(first.shape[0]):
        age = torch.where(first[t], 0, age)
        chunked[t] = first[t] | (age % window == 0)
        age = age + 1
    assert (chunked & ~first).any()
    with torch.no_grad():
        windowed = agent.evaluate_sequence(obs, action, start, chunked)
        carried = agent.evaluate_sequence(obs, action, start, first)
    total = lambda out: torch.stack([out.log_probs[h] for h in HEADS]).sum(0)  # noqa: E731
    torch.testing.assert_close(total(windowed), log_probs, atol=1e-4, rtol=0)
    assert not torch.allclose(total(carried), log_probs, atol=1e-3)
    with pytest.raises(ValueError, match="core_window"):
        AgentPolicy(agent, 1, core_window=0)


def test_partial_teacher_forcing_keeps_the_given_heads():
    torch.manual_seed(1)
    agent = Agent(budget_spec(), AgentConfig.small()).eval()
    obs, action, start, first, _, _ = _rollout(agent, steps=4)
    step = {k: v[0] for k, v in obs.items()}
    forced = torch.full_like(action["action_type"][0], 4)  # attack_move: selection + location
    with torch.no_grad():
        out = agent.act(step, start, first[0], greedy=True, given={"action_type": forced})
    assert torch.equal(out.action["action_type"], forced)
    assert (out.action["selected_units"][..., 0] >= 0).all()  # every sub-action selects


def test_recorded_kl_is_zero_for_the_same_policy_and_positive_otherwise():
    torch.manual_seed(2)
    spec = budget_spec()
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
    # unused arguments contribute nothing: steps that send no action have no selection KL
    no_op = (action["action_type"][..., 0] == 0).reshape(-1)
    assert no_op.any() and torch.all(apart["selected_units"][no_op] == 0)


def test_a_step_sends_at_most_the_budget_and_nothing_after_a_no_op():
    torch.manual_seed(3)
    agent = Agent(budget_spec(2), AgentConfig.small()).eval()
    obs, action, start, first, _, _ = _rollout(agent, steps=16, temperature=2.0)
    kinds = action["action_type"]  # [T, B, 2]
    real = kinds != 0
    assert not (~real[..., 0] & real[..., 1]).any()  # the no_op ends the step
    assert real.all(-1).any() and (real[..., 0] & ~real[..., 1]).any() and (~real).all(-1).any()
    padding = ~real[..., 1]
    assert (action["selected_units"][..., 1, :][padding] == -1).all()
    assert (action["target_unit"][..., 1][padding] == -1).all()


def test_evaluate_of_a_step_is_its_log_prob_and_the_second_action_sees_the_first():
    torch.manual_seed(4)
    agent = Agent(budget_spec(2), AgentConfig.small()).eval()
    obs, action, start, first, _, _ = _rollout(agent, steps=3)
    step = {k: v[0] for k, v in obs.items()}
    types = {a["name"]: a["index"] for a in agent.spec.plain["action_types"]}
    batch = first.shape[1]

    def second_type_distribution(first_type: str):
        given = {"action_type": torch.tensor([[types[first_type], types["no_op"]]] * batch)}
        with torch.no_grad(), recording() as records:
            out = agent.act(step, start, first[0], greedy=True, given=given)
        kinds = [r for r in records if r.name == "action_type"]
        assert len(kinds) == 2 and kinds[0].active.all() and kinds[1].active.all()
        return kinds[0].log_p, kinds[1].log_p, out

    hold_first, hold_second, out = second_type_distribution("hold_position")
    stop_first, stop_second, _ = second_type_distribution("stop")
    torch.testing.assert_close(hold_first, stop_first)  # the same context for the first action
    assert not torch.allclose(hold_second, stop_second)  # the second is conditioned on the first
    assert (out.action["action_type"][:, 1] == types["no_op"]).all()
    with torch.no_grad():
        scored = agent.evaluate(step, out.action, start, first[0])
    torch.testing.assert_close(torch.stack(list(scored.log_probs.values())).sum(0), out.log_prob)


def test_an_unknown_action_type_ends_the_step_unscored():
    torch.manual_seed(5)
    agent = Agent(budget_spec(2), AgentConfig.small()).eval()
    obs, action, start, first, _, _ = _rollout(agent, steps=2, temperature=2.0)
    step = {k: v[0] for k, v in obs.items()}
    unknown = {k: v[0].clone() for k, v in action.items()}
    unknown["action_type"][:, 1] = -1  # e.g. one StarCraft II command: whether the step went on is not known
    with torch.no_grad(), recording() as records:
        out = agent.evaluate(step, unknown, start, first[0])
    first_type = next(r for r in records if r.name == "action_type")
    alone = first_type.log_p.gather(1, unknown["action_type"][:, :1]).squeeze(1)
    torch.testing.assert_close(out.log_probs["action_type"], alone)  # the first action's type only
    assert torch.equal(out.state["previous_action_type"], unknown["action_type"][:, 0])
