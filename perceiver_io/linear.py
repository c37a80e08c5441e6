"""``Linear``: ``nn.Linear`` whose CPU float32 matmul adds the bias (and a residual, and, for ``linear_gelu`` without
autograd, the exact GELU) inside oneDNN's kernel instead of in extra passes over the output.

``F.linear`` with a bias on a CPU copies the broadcast bias into the output and has the matmul accumulate onto it
(two more passes over an output as large as the Perceiver's [B * latents, C] arrays); oneDNN's linear adds it as the
output is written, with the same values. [32768, 64] x [64, 64], one core: 3.0 -> 2.0 ms; with the GELU
4.0 -> 2.6 ms; with a residual 2.9 (fused, then added) -> 2.3 ms. Elsewhere (another device or dtype, autocast, a
build without oneDNN) it is ``F.linear`` [+ the residual]. With autograd, the backward is ``F.linear``'s own: the
input's and the weight's gradients by matmul, the bias's as the sum over rows, the residual's the output's.
``FLOP_FORMULAS`` gives ``torch.utils.flop_counter`` the fused kernel's cost (its matmul's, as it counts
``F.linear``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

_FUSED = getattr(torch.ops.mkldnn, "_linear_pointwise", None) if torch.backends.mkldnn.is_available() else None


def _fused(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> bool:
    """Whether oneDNN's fused linear computes ``x``'s linear map: CPU float32 throughout, no autocast."""
    return (
        _FUSED is not None
        and bias is not None
        and x.device.type == "cpu"
        and x.dtype == weight.dtype == bias.dtype == torch.float32
        and not torch.is_autocast_enabled("cpu")
    )


def _linear_flops(x_shape: torch.Size, weight_shape: torch.Size, *args: Any, **kwargs: Any) -> int:
    return 2 * math.prod(x_shape[:-1]) * x_shape[-1] * weight_shape[0]


FLOP_FORMULAS = {} if _FUSED is None else {_FUSED: _linear_flops}  # a ``FlopCounterMode`` custom_mapping


def _kernel(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, residual: torch.Tensor | None) -> torch.Tensor:
    return _FUSED(x, weight, bias, "none", [], "") if residual is None else _FUSED.binary(x, residual, weight, bias,
                                                                                       "add")  # fmt: skip


class _FusedLinear(torch.autograd.Function):
    """``F.linear(x, weight, bias) [+ residual]`` computed by oneDNN (bias and residual added in the kernel), with
    ``F.linear``'s backward (and the residual's: the output's gradient)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                residual: torch.Tensor | None) -> torch.Tensor:  # fmt: skip
        ctx.save_for_backward(x, weight)
        return _kernel(x, weight, bias, residual)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        rows = grad.reshape(-1, grad.shape[-1])
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = (rows @ weight).view(x.shape)
        if ctx.needs_input_grad[1]:
            grad_weight = rows.t() @ x.reshape(-1, x.shape[-1])
        if ctx.needs_input_grad[2]:
            grad_bias = rows.sum(0)
        return grad_x, grad_weight, grad_bias, grad if ctx.needs_input_grad[3] else None


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
           residual: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """``F.linear(x, weight, bias) [+ residual]`` (``residual`` shaped as the output), fused on CPU float32 (see
    the module docstring)."""
    if not _fused(x, weight, bias) or (residual is not None and (residual.dtype != x.dtype
                                                                 or residual.shape[:-1] != x.shape[:-1])):  # fmt: skip
        out = F.linear(x, weight, bias)
        return out if residual is None else out + residual
    tensors = (x, weight, bias) if residual is None else (x, weight, bias, residual)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return _FusedLinear.apply(x, weight, bias, residual)
    return _kernel(x, weight, bias, residual)


def linear_gelu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                approximate: str = "none") -> torch.Tensor:  # fmt: skip
    """``F.gelu(F.linear(x, weight, bias), approximate=approximate)``, one fused kernel on CPU float32 without
    autograd."""
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad or
                                              (bias is not None and bias.requires_grad))  # fmt: skip
    if needs_grad or not _fused(x, weight, bias):
        return F.gelu(linear(x, weight, bias), approximate=approximate)
    return _FUSED(x, weight, bias, "gelu", [], approximate)


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters and state dict) computed by ``linear``; ``residual`` is added to its output."""

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        return linear(x, self.weight, self.bias, residual)
