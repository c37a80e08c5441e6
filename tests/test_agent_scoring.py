"""The learner's scoring path (``evaluate_sequence``: padding rows trimmed, vectorised teacher-forced heads) gives
the same log-probs, entropies, values, exact KL and gradients as acting step by step with every head forced
(``act(given=...)``, the per-step, per-selection-slot path actors sample with)."""

import pytest
import torch

from agents.agent import Agent
from agents.config import AgentConfig
from agents.heads.action_heads import HEADS
from agents.heads.distributions import RecordedDistribution, kl_divergence, recording
from envs.skirmish.env import SkirmishEnv
from training.policy import AgentPolicy, stack_observations

TEMPERATURE = 1.7  # above 1: bigger selections and more location picks from a fresh agent


@pytest.fixture(autouse=True)
def _small_ops(one_thread):
    """Every test here runs small batches."""


def _rollout(agent: Agent, scenario: str, steps: int, games: int = 3):
    """``steps`` steps of ``games`` games of ``scenario`` (64 unit rows: most are padding) against the hard bot."""
    envs = [SkirmishEnv(scenario, "hard", max_units=64, lenient=True) for _ in range(games)]
    policy = AgentPolicy(agent, games, seed=0, temperature=TEMPERATURE)
    obs = [env.reset(seed=i)[0] for i, env in enumerate(envs)]
    start = {k: v.clone() for k, v in policy.state.items()}
    frames, actions, firsts = [], [], []
    for _ in range(steps):
        firsts.append(policy.first.clone())
        frames.append(stack_observations(obs))
        chosen, out = policy.step(obs)
        actions.append(out.action)
        obs = []
        for i, (env, action) in enumerate(zip(envs, chosen, strict=True)):
            o, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                o = env.reset()[0]
                policy.reset(i)
            obs.append(o)
    stack = lambda items: {k: torch.stack([d[k] for d in items]) for k in items[0]}  # noqa: E731
    return stack(frames), stack(actions), start, torch.stack(firsts)


def _entropy(records: list[RecordedDistribution], head: str) -> torch.Tensor:
    """Summed entropy of one head's recorded (full-batch) distributions, 0 on inactive rows."""
    total = 0.0
    for r in records:
        if r.name == head:
            terms = r.log_p.exp() * r.log_p.masked_fill(~torch.isfinite(r.log_p), 0.0)  # no 0 * inf in backward
            total = total + torch.where(r.active, -terms.sum(-1), 0.0)
    return total


def _stepwise(agent: Agent, reference: Agent, obs, action, start, first):
    """Per step: total log-prob, per-head entropy and KL(reference || agent), value; time-major [T, B]."""
    state, ref_state = start, start
    log_prob, entropy, kl, value = [], {h: [] for h in HEADS}, {h: [] for h in HEADS}, []
    for t in range(first.shape[0]):
        step = {k: v[t] for k, v in obs.items()}
        given = {k: v[t] for k, v in action.items()}
        with recording() as current:
            out = agent.act(step, state, first[t], temperature=TEMPERATURE, given=given)
        with torch.no_grad(), recording() as ref:
            ref_state = reference.act(step, ref_state, first[t], temperature=TEMPERATURE, given=given).state
        for key in HEADS:
            assert torch.equal(out.action[key], given[key].to(out.action[key].dtype))  # nothing was sampled
        per_head = kl_divergence(ref, current)
        for head in HEADS:
            entropy[head].append(_entropy(current, head) + torch.zeros_like(out.log_prob))
            kl[head].append(per_head.get(head, torch.zeros_like(out.log_prob)))  # a head no row used
        log_prob.append(out.log_prob)
        value.append(out.value)
        state = out.state
    stack = torch.stack
    return stack(log_prob), {h: stack(v) for h, v in entropy.items()}, {h: stack(v) for h, v in kl.items()}, \
        stack(value)  # fmt: skip


def _sequence(agent: Agent, reference: Agent, obs, action, start, first):
    """The same four from ``evaluate_sequence`` (as the learner calls it)."""
    temperature = torch.full(first.shape, TEMPERATURE)
    with recording() as current:
        out = agent.evaluate_sequence(obs, action, start, first, temperature)
    with torch.no_grad(), recording() as ref:
        reference.evaluate_sequence(obs, action, start, first, temperature)
    log_prob = torch.stack([out.log_probs[h] for h in HEADS]).sum(0)
    flat = kl_divergence(ref, current)
    kl = {h: v.reshape(first.shape) for h, v in flat.items()}
    return log_prob, out.entropy, kl, out.value


def _objective(log_prob, entropy, kl, value) -> torch.Tensor:
    """A scalar touching every output, weighted so no term hides another."""
    weights = torch.linspace(0.5, 1.5, log_prob.numel()).reshape(log_prob.shape)
    total = (weights * log_prob).sum() + 0.5 * (weights * value).sum()
    for i, head in enumerate(HEADS):
        total = total + (0.1 + 0.05 * i) * entropy[head].sum() + (1.0 + 0.1 * i) * kl[head].sum()
    return total


@pytest.mark.parametrize(("encoder", "scenario", "budget"),
                         [("perceiver", "8m", 2), ("transformer", "2s3z", 2), ("perceiver", "3m", 1)])  # fmt: skip
def test_scoring_a_sequence_equals_acting_step_by_step_with_every_head_forced(encoder, scenario, budget):
    torch.manual_seed(0)
    spec = {**SkirmishEnv(scenario, max_units=64).skirmish_spec.to_dict(), "actions_per_step": budget}
    agent = Agent(spec, AgentConfig.small(encoder))
    reference = Agent(spec, AgentConfig.small(encoder)).eval()
    with torch.no_grad():
        obs, action, start, first = _rollout(agent.eval(), scenario, steps=24)
    agent.train()
    assert first[1:].any() or scenario != "3m", "3m should cross an episode boundary"
    selected = (action["selected_units"] >= 0).sum(-1)
    assert int(selected.max()) >= 3, "some selections should take several pointer steps"
    located = action["target_location"].abs().sum(-1) > 0
    assert located.any() and not located.all(), "some, not all, sub-actions should pick a location"

    expected = _stepwise(agent, reference, obs, action, start, first)
    expected_grads = torch.autograd.grad(_objective(*expected), list(agent.parameters()), allow_unused=True)
    got = _sequence(agent, reference, obs, action, start, first)
    got_grads = torch.autograd.grad(_objective(*got), list(agent.parameters()), allow_unused=True)

    torch.testing.assert_close(got[0], expected[0], atol=1e-4, rtol=1e-5)  # log-probs
    for head in HEADS:
        torch.testing.assert_close(got[1][head], expected[1][head], atol=1e-4, rtol=1e-5, msg=f"entropy {head}")
        torch.testing.assert_close(got[2][head], expected[2][head], atol=1e-5, rtol=1e-4, msg=f"KL {head}")
    assert float(sum(v.detach().sum() for v in got[2].values())) > 0  # the two policies differ
    torch.testing.assert_close(got[3], expected[3], atol=1e-5, rtol=1e-5)  # values
    names = [name for name, _ in agent.named_parameters()]
    # float noise relative to the largest gradient (a logit bias, whose true gradient is 0 by the softmax's shift
    # invariance, holds nothing but noise), plus 0.1% of each entry
    noise = 2e-5 * max(float(e.abs().max()) for e in expected_grads if e is not None)
    for name, g, e in zip(names, got_grads, expected_grads, strict=True):
        if e is None:
            assert g is None or not g.any(), name
            continue
        torch.testing.assert_close(g, e, atol=noise, rtol=1e-3, msg=f"gradient of {name}")


def _head_outputs_match(got, expected, params):
    """Same choice and outputs, and the same gradients of a scalar touching every output."""
    assert torch.equal(got.choice, expected.choice)
    for a, b in zip(got[1:], expected[1:], strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)

    def objective(out):
        return sum((0.3 + i) * t.float().sum() for i, t in enumerate(out[1:]) if t.requires_grad)

    if not isinstance(objective(got), torch.Tensor):  # nothing scored: no output depends on the weights
        if isinstance(objective(expected), torch.Tensor):
            grads = torch.autograd.grad(objective(expected), params, allow_unused=True)
            assert all(g is None or not g.any() for g in grads)
        return
    got_grads = torch.autograd.grad(objective(got), params, allow_unused=True)
    expected_grads = torch.autograd.grad(objective(expected), params, allow_unused=True)
    for g, e in zip(got_grads, expected_grads, strict=True):
        assert (g is None) == (e is None)
        if g is not None:
            torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("used_rows", ["some", "all", "none"])
def test_selection_scored_at_once_equals_the_pointer_loop(used_rows):
    from agents.heads import ArgumentTable, HeadsConfig, SelectedUnitsHead
    from agents.spec import AgentSpec
    from envs.skirmish.spec import skirmish_spec

    spec = AgentSpec.from_dict(skirmish_spec((32, 32), max_units=12, resolution=16))
    head = SelectedUnitsHead(20, ArgumentTable(spec), 5, HeadsConfig.small())
    g = torch.Generator().manual_seed(0)
    rows, n = 32, 9
    unit_mask = torch.rand(rows, n, generator=g) < 0.8
    selectable = unit_mask & (torch.rand(rows, n, generator=g) < 0.7)
    selectable[:, 0] = unit_mask[:, 0] = True  # something to pick on every row
    emb = torch.randn(rows, n, 20, generator=g) * unit_mask[..., None]
    ar = torch.randn(rows, 64, generator=g)
    types = torch.randint(spec.num_action_types, (rows,), generator=g)
    max_picks = torch.randint(1, 7, (rows,), generator=g)
    used = {"some": torch.rand(rows, generator=g) < 0.6, "all": torch.ones(rows, dtype=torch.bool),
            "none": torch.zeros(rows, dtype=torch.bool)}[used_rows]  # fmt: skip
    temperature = torch.rand(rows, generator=g) + 0.5
    inputs = (ar, emb, selectable, max_picks, types, used)
    with torch.no_grad():
        action = head(*inputs, temperature=temperature * 3, generator=g).choice  # some long selections
    if used_rows != "none":
        assert int((action >= 0).sum(-1).max()) == 5  # a full selection: no end step
    garbage = torch.randint(-1, n, action.shape, generator=g).sort(-1, descending=True).values  # never read
    action = torch.where(used[:, None], action, garbage)
    expected = head(*inputs, action=action, temperature=temperature)
    got = head.score(*inputs, action=action, temperature=temperature)
    _head_outputs_match(got, expected, list(head.parameters()))
    twice = action.clone()
    twice[used.nonzero()[:1].squeeze(-1), 1] = twice[used.nonzero()[:1].squeeze(-1), 0]
    if used_rows != "none":
        with pytest.raises(ValueError, match="selected_units: a teacher-forced choice is not allowed"):
            head.score(*inputs, action=twice, temperature=temperature)


@pytest.mark.parametrize("used_rows", ["some", "all", "none"])
def test_location_scored_on_the_used_rows_equals_scoring_every_row(used_rows):
    from agents.heads import HeadsConfig, LocationHead

    head = LocationHead(16, HeadsConfig.small())
    g = torch.Generator().manual_seed(1)
    rows = 24
    ar = torch.randn(rows, 64, generator=g)
    cells = torch.rand(rows, 256, generator=g) < 0.5
    used = {"some": torch.rand(rows, generator=g) < 0.5, "all": torch.ones(rows, dtype=torch.bool),
            "none": torch.zeros(rows, dtype=torch.bool)}[used_rows]  # fmt: skip
    with torch.no_grad():
        action = head(ar, cells, used, generator=g).choice
    temperature = torch.rand(rows, generator=g) + 0.5
    with recording() as every:
        expected = head(ar, cells, used, action=action, temperature=temperature)
    with recording() as compact:
        got = head.score(ar, cells, used, action=action, temperature=temperature)
    _head_outputs_match(got, expected, list(head.parameters()))
    assert [r.log_p.shape for r in compact] == ([(int(used.sum()), 256)] if used.any() else [])  # used rows only
    other = LocationHead(16, HeadsConfig.small())
    with torch.no_grad(), recording() as other_every:
        other(ar, cells, used, action=action, temperature=temperature)
    with torch.no_grad(), recording() as other_compact:
        other.score(ar, cells, used, action=action, temperature=temperature)
    nothing = torch.zeros(rows)
    torch.testing.assert_close(kl_divergence(other_compact, compact).get("target_location", nothing),
                               kl_divergence(other_every, every)["target_location"])  # fmt: skip
    if used_rows != "none":
        outside = action.clone()
        outside[used.nonzero()[0, 0]] = torch.tensor([16, 0])
        with pytest.raises(ValueError, match="target_location: a teacher-forced choice is not allowed"):
            head.score(ar, cells, used, action=outside, temperature=temperature)


def test_location_logits_in_phase_order_are_the_grid_logits_reordered():
    import dataclasses

    from agents.heads import HeadsConfig, LocationHead

    g = torch.Generator().manual_seed(2)
    x, y = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="xy")
    x, y = x.flatten(), y.flatten()  # of grid cells 0, 1, ..., 255
    for channels in [(16, 8), (4,), ()]:
        head = LocationHead(16, dataclasses.replace(HeadsConfig.small(), location_channels=channels))
        phase = head.phase_index(x, y)
        assert torch.equal(phase.sort().values, torch.arange(256))
        embedding = torch.randn(5, 64, generator=g)
        torch.testing.assert_close(head.logits(embedding, phase_order=True)[:, phase], head.logits(embedding))
        cells = torch.rand(5, 256, generator=g) < 0.5
        assert torch.equal(head.cells_in_phase_order(cells)[:, phase], cells)
