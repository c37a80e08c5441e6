"""Off-policy return estimators for the learner: V-trace, UPGO and TD(lambda).

All tensors are time-major, ``[T, B]``, with ``bootstrap_value`` ``[B]`` standing for ``V(x_T)``.
``discounts[t]`` is the discount applied after step ``t`` (zero where the episode ends there), so a
zero discount cuts every trace. The results are regression and policy-gradient *targets*: they are
computed without autograd and returned detached, even when the inputs require grad.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class VTraceReturns(NamedTuple):
    """V-trace value targets, policy-gradient advantages and the rho-clipped importance weights, all ``[T, B]``."""

    vs: Tensor
    pg_advantages: Tensor
    clipped_rhos: Tensor


def _check_shapes(values: Tensor, bootstrap_value: Tensor, **time_major: Tensor) -> None:
    """Raise ValueError unless ``values`` is ``[T, B]`` (T >= 1), every ``time_major`` tensor matches it and
    ``bootstrap_value`` is ``[B]``."""
    if values.dim() != 2 or values.shape[0] == 0:
        raise ValueError(f"values: expected [T, B] with T >= 1, got {list(values.shape)}")
    t, b = values.shape
    for name, x in time_major.items():
        if x.shape != (t, b):
            raise ValueError(f"{name}: expected [T, B] = [{t}, {b}], got {list(x.shape)}")
    if bootstrap_value.shape != (b,):
        raise ValueError(f"bootstrap_value: expected [B] = [{b}], got {list(bootstrap_value.shape)}")


def _clip(x: Tensor, threshold: float | None) -> Tensor:
    """``min(threshold, x)``, or ``x`` itself when ``threshold`` is None."""
    return x if threshold is None else torch.clamp(x, max=threshold)


def _next_values(values: Tensor, bootstrap_value: Tensor) -> Tensor:
    """``V(x_{t+1})`` for every step: values shifted one step left with ``bootstrap_value`` appended."""
    return torch.cat([values[1:], bootstrap_value.unsqueeze(0)], dim=0)


@torch.no_grad()
def vtrace(
    log_rhos: Tensor,
    discounts: Tensor,
    rewards: Tensor,
    values: Tensor,
    bootstrap_value: Tensor,
    *,
    clip_rho_threshold: float | None = 1.0,
    clip_pg_rho_threshold: float | None = 1.0,
    clip_c_threshold: float | None = 1.0,
    lambda_: float = 1.0,
) -> VTraceReturns:
    """V-trace targets (IMPALA, Espeholt et al. 2018, eq. 1) with ``c_t = lambda_ * min(c_bar, rho_t)`` and
    advantages ``min(rho_bar_pg, rho_t) * (r_t + discount_t * v_{t+1} - V(x_t))``, where ``v_T = bootstrap_value``."""
    _check_shapes(values, bootstrap_value, log_rhos=log_rhos, discounts=discounts, rewards=rewards)
    rhos = torch.exp(log_rhos)
    clipped_rhos = _clip(rhos, clip_rho_threshold)
    cs = lambda_ * _clip(rhos, clip_c_threshold)
    deltas = clipped_rhos * (rewards + discounts * _next_values(values, bootstrap_value) - values)

    # v_t - V(x_t) = delta_t + discount_t * c_t * (v_{t+1} - V(x_{t+1})), and v_T - V(x_T) = 0.
    correction = torch.zeros_like(deltas[0])
    corrections = []
    for t in reversed(range(values.shape[0])):
        correction = deltas[t] + discounts[t] * cs[t] * correction
        corrections.append(correction)
    vs = values + torch.stack(corrections[::-1])

    pg_rhos = _clip(rhos, clip_pg_rho_threshold)
    pg_advantages = pg_rhos * (rewards + discounts * _next_values(vs, bootstrap_value) - values)
    return VTraceReturns(vs=vs, pg_advantages=pg_advantages, clipped_rhos=clipped_rhos)


@torch.no_grad()
def upgo_returns(rewards: Tensor, discounts: Tensor, values: Tensor, bootstrap_value: Tensor) -> Tensor:
    """UPGO returns (AlphaStar, Vinyals et al. 2019): ``G_t = r_t + discount_t * (G_{t+1} if Q_{t+1} >= V(x_{t+1})
    else V(x_{t+1}))`` with ``Q_t = r_t + discount_t * V(x_{t+1})`` from the given values and ``G_T = V(x_T)``."""
    _check_shapes(values, bootstrap_value, rewards=rewards, discounts=discounts)
    q = rewards + discounts * _next_values(values, bootstrap_value)
    target = bootstrap_value  # what step t bootstraps from: G_{t+1} or V(x_{t+1}); at t = T-1 that is V(x_T)
    returns = []
    for t in reversed(range(values.shape[0])):
        g = rewards[t] + discounts[t] * target
        returns.append(g)
        target = torch.where(q[t] >= values[t], g, values[t])
    return torch.stack(returns[::-1])


@torch.no_grad()
def td_lambda_returns(
    rewards: Tensor, discounts: Tensor, values: Tensor, bootstrap_value: Tensor, lambda_: float
) -> Tensor:
    """TD(lambda) returns ``G_t = r_t + discount_t * ((1 - lambda) * V(x_{t+1}) + lambda * G_{t+1})`` with
    ``G_T = V(x_T) = bootstrap_value``."""
    _check_shapes(values, bootstrap_value, rewards=rewards, discounts=discounts)
    next_values = _next_values(values, bootstrap_value)
    g = bootstrap_value
    returns = []
    for t in reversed(range(values.shape[0])):
        g = rewards[t] + discounts[t] * ((1 - lambda_) * next_values[t] + lambda_ * g)
        returns.append(g)
    return torch.stack(returns[::-1])
