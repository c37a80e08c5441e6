"""Return estimators: V-trace against hand-computed numbers and the paper's sum formula, UPGO, TD(lambda)."""

import math
import re

import pytest
import torch

from training.rl.returns import td_lambda_returns, upgo_returns, vtrace


def random_inputs(t=7, b=4, dtype=torch.float64):
    """Random trajectories whose discounts are 0.9 or, with probability 0.25, 0 (an episode end)."""
    discounts = torch.where(torch.rand(t, b) < 0.25, 0.0, 0.9).to(dtype)
    return dict(
        discounts=discounts,
        rewards=torch.randn(t, b, dtype=dtype),
        values=torch.randn(t, b, dtype=dtype),
        bootstrap_value=torch.randn(b, dtype=dtype),
    )


def discounted_return(rewards, discounts, bootstrap_value):
    """Monte-Carlo return bootstrapped at the end: sum_k (prod_{i<k} d_i) r_k + (prod_i d_i) V(x_T), per step."""
    t_len, b_len = rewards.shape
    out = torch.zeros_like(rewards)
    for b in range(b_len):
        for s in range(t_len):
            total, scale = 0.0, 1.0
            for k in range(s, t_len):
                total += scale * rewards[k, b].item()
                scale *= discounts[k, b].item()
            out[s, b] = total + scale * bootstrap_value[b].item()
    return out


def reference_vtrace(log_rhos, discounts, rewards, values, bootstrap_value, rho_bar, pg_rho_bar, c_bar, lambda_):
    """The paper's eq. (1) written out term by term: v_s = V(x_s) + sum_{t>=s} (prod_{i<t} discount_i c_i) delta_t V."""
    t_len, b_len = values.shape
    rhos = log_rhos.exp()
    v = torch.cat([values, bootstrap_value[None]])
    vs = torch.zeros_like(values)
    pg = torch.zeros_like(values)
    for b in range(b_len):
        for s in range(t_len):
            total, trace = 0.0, 1.0
            for t in range(s, t_len):
                rho = min(rho_bar, rhos[t, b].item())
                delta = rho * (rewards[t, b].item() + discounts[t, b].item() * v[t + 1, b].item() - v[t, b].item())
                total += trace * delta
                trace *= discounts[t, b].item() * lambda_ * min(c_bar, rhos[t, b].item())
            vs[s, b] = v[s, b].item() + total
    for b in range(b_len):
        for s in range(t_len):
            v_next = vs[s + 1, b].item() if s + 1 < t_len else bootstrap_value[b].item()
            rho = min(pg_rho_bar, rhos[s, b].item())
            pg[s, b] = rho * (rewards[s, b].item() + discounts[s, b].item() * v_next - values[s, b].item())
    return vs, pg


def test_vtrace_hand_computed():
    # rhos = [2.0, 0.5, 1.5]; rho_bar = 1 -> clipped rhos [1, 0.5, 1]; c_bar = 0.8 -> c = [0.8, 0.5, 0.8];
    # pg_rho_bar = 1.2 -> pg rhos [1.2, 0.5, 1.2]. Discount 0.5 everywhere, V = [1, 2, 3], V(x_3) = 4, r = [1, 1, 2].
    # delta_t = rho_t (r_t + 0.5 V_{t+1} - V_t):
    #   delta_2 = 1   * (2 + 0.5*4 - 3) = 1
    #   delta_1 = 0.5 * (1 + 0.5*3 - 2) = 0.25
    #   delta_0 = 1   * (1 + 0.5*2 - 1) = 1
    # v_t - V_t = delta_t + 0.5 c_t (v_{t+1} - V_{t+1}):
    #   t=2: 1                        -> v_2 = 4
    #   t=1: 0.25 + 0.5*0.5*1 = 0.5   -> v_1 = 2.5
    #   t=0: 1 + 0.5*0.8*0.5 = 1.2    -> v_0 = 2.2
    # advantages pg_rho_t (r_t + 0.5 v_{t+1} - V_t):
    #   t=0: 1.2 * (1 + 0.5*2.5 - 1) = 1.5
    #   t=1: 0.5 * (1 + 0.5*4 - 2) = 0.5
    #   t=2: 1.2 * (2 + 0.5*4 - 3) = 1.2
    out = vtrace(
        log_rhos=torch.tensor([[2.0], [0.5], [1.5]]).log(),
        discounts=torch.full((3, 1), 0.5),
        rewards=torch.tensor([[1.0], [1.0], [2.0]]),
        values=torch.tensor([[1.0], [2.0], [3.0]]),
        bootstrap_value=torch.tensor([4.0]),
        clip_rho_threshold=1.0,
        clip_pg_rho_threshold=1.2,
        clip_c_threshold=0.8,
    )
    torch.testing.assert_close(out.vs, torch.tensor([[2.2], [2.5], [4.0]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(out.pg_advantages, torch.tensor([[1.5], [0.5], [1.2]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(out.clipped_rhos, torch.tensor([[1.0], [0.5], [1.0]]), atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "rho_bar, pg_rho_bar, c_bar, lambda_",
    [(1.0, 1.0, 1.0, 1.0), (1.5, 0.7, 0.9, 0.8), (None, None, None, 1.0)],
)
def test_vtrace_matches_sum_formula_reference(rho_bar, pg_rho_bar, c_bar, lambda_):
    inputs = random_inputs(t=7, b=4)
    assert (inputs["discounts"] == 0).any()
    log_rhos = torch.randn(7, 4, dtype=torch.float64)
    out = vtrace(
        log_rhos,
        **inputs,
        clip_rho_threshold=rho_bar,
        clip_pg_rho_threshold=pg_rho_bar,
        clip_c_threshold=c_bar,
        lambda_=lambda_,
    )
    bars = [math.inf if x is None else x for x in (rho_bar, pg_rho_bar, c_bar)]
    vs, pg = reference_vtrace(log_rhos, *inputs.values(), *bars, lambda_)
    torch.testing.assert_close(out.vs, vs)
    torch.testing.assert_close(out.pg_advantages, pg)
    torch.testing.assert_close(out.clipped_rhos, log_rhos.exp().clamp(max=bars[0]))


def test_on_policy_vtrace_is_the_n_step_return_and_td_lambda():
    inputs = random_inputs()
    log_rhos = torch.zeros(7, 4, dtype=torch.float64)
    out = vtrace(log_rhos, **inputs)
    expected = discounted_return(inputs["rewards"], inputs["discounts"], inputs["bootstrap_value"])
    torch.testing.assert_close(out.vs, expected)
    v_next = torch.cat([out.vs[1:], inputs["bootstrap_value"][None]])
    torch.testing.assert_close(out.pg_advantages, inputs["rewards"] + inputs["discounts"] * v_next - inputs["values"])

    out = vtrace(log_rhos, **inputs, lambda_=0.7)
    torch.testing.assert_close(out.vs, td_lambda_returns(**inputs, lambda_=0.7))


def test_zero_discount_cuts_the_trace():
    inputs = random_inputs(t=6, b=3)
    inputs["discounts"] = torch.full((6, 3), 0.9, dtype=torch.float64)
    inputs["discounts"][2] = 0.0  # every episode ends after step 2
    log_rhos = torch.randn(6, 3, dtype=torch.float64)
    before = vtrace(log_rhos, **inputs, clip_rho_threshold=None, clip_c_threshold=None)

    changed = {k: v.clone() for k, v in inputs.items()}
    changed["values"][3:] += 100 * torch.randn(3, 3, dtype=torch.float64)
    changed["rewards"][3:] += 100 * torch.randn(3, 3, dtype=torch.float64)
    changed["bootstrap_value"] += 100
    log_rhos_changed = log_rhos.clone()
    log_rhos_changed[3:] += 2.0
    after = vtrace(log_rhos_changed, **changed, clip_rho_threshold=None, clip_c_threshold=None)

    torch.testing.assert_close(after.vs[:3], before.vs[:3])
    torch.testing.assert_close(after.pg_advantages[:3], before.pg_advantages[:3])
    assert not torch.allclose(after.vs[3:], before.vs[3:])


def test_upgo_hand_computed():
    # Column 0: r = [1, 0, 1, 1], discounts = [1, 1, 0.5, 1], V = [0, 5, 0, 0], V(x_4) = 2.
    #   Q_t = r_t + d_t V_{t+1}: Q_1 = 0 + 0 = 0, Q_2 = 1 + 0.5*0 = 1, Q_3 = 1 + 2 = 3.
    #   G_3 = 1 + 2 = 3                                   (last step bootstraps from V(x_4))
    #   G_2 = 1 + 0.5 * G_3 = 2.5                          (Q_3 = 3 >= V_3 = 0: take the return)
    #   G_1 = 0 + 1 * G_2 = 2.5                            (Q_2 = 1 >= V_2 = 0: take the return)
    #   G_0 = 1 + 1 * V_1 = 6                              (Q_1 = 0 <  V_1 = 5: bootstrap from V)
    # Column 1: r = 0, discounts = 1, V = [0, 0, 0, 10], V(x_4) = 1.
    #   G_3 = 0 + 1 = 1; Q_3 = 1 < V_3 = 10 -> G_2 = 0 + V_3 = 10;
    #   Q_2 = 0 + 10 >= V_2 = 0 -> G_1 = G_2 = 10; Q_1 = 0 >= V_1 = 0 (a tie takes the return) -> G_0 = 10.
    rewards = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    discounts = torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.5, 1.0], [1.0, 1.0]])
    values = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 0.0], [0.0, 10.0]])
    returns = upgo_returns(rewards, discounts, values, torch.tensor([2.0, 1.0]))
    expected = torch.tensor([[6.0, 10.0], [2.5, 10.0], [2.5, 10.0], [3.0, 1.0]])
    torch.testing.assert_close(returns, expected, atol=1e-6, rtol=0)


def test_td_lambda_extremes():
    inputs = random_inputs()
    v_next = torch.cat([inputs["values"][1:], inputs["bootstrap_value"][None]])
    one_step = inputs["rewards"] + inputs["discounts"] * v_next
    torch.testing.assert_close(td_lambda_returns(**inputs, lambda_=0.0), one_step)
    monte_carlo = discounted_return(inputs["rewards"], inputs["discounts"], inputs["bootstrap_value"])
    torch.testing.assert_close(td_lambda_returns(**inputs, lambda_=1.0), monte_carlo)


def test_outputs_are_detached():
    inputs = {k: v.requires_grad_() for k, v in random_inputs().items()}
    log_rhos = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)
    outputs = [*vtrace(log_rhos, **inputs), upgo_returns(**inputs), td_lambda_returns(**inputs, lambda_=0.9)]
    assert not any(x.requires_grad for x in outputs)


def test_shape_errors_name_the_argument():
    values, bootstrap = torch.zeros(5, 3), torch.zeros(3)
    with pytest.raises(ValueError, match=re.escape("rewards: expected [T, B] = [5, 3], got [5, 4]")):
        td_lambda_returns(torch.zeros(5, 4), torch.ones(5, 3), values, bootstrap, 0.9)
    with pytest.raises(ValueError, match=re.escape("log_rhos: expected [T, B] = [5, 3], got [4, 3]")):
        vtrace(torch.zeros(4, 3), torch.ones(5, 3), torch.zeros(5, 3), values, bootstrap)
    with pytest.raises(ValueError, match=re.escape("bootstrap_value: expected [B] = [3], got [1, 3]")):
        upgo_returns(torch.zeros(5, 3), torch.ones(5, 3), values, bootstrap[None])
    with pytest.raises(ValueError, match=re.escape("values: expected [T, B] with T >= 1, got [5]")):
        upgo_returns(torch.zeros(5, 3), torch.ones(5, 3), torch.zeros(5), bootstrap)
