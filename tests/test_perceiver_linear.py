"""perceiver_io's fused linear: the values and gradients of ``F.linear`` (and of a GELU after it, or of a residual
added to it) wherever it runs fused, ``F.linear`` itself where it cannot (another dtype, autocast), and its FLOPs
counted as ``F.linear``'s."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from perceiver_io.layers import MLP
from perceiver_io.linear import FLOP_FORMULAS, Linear, linear, linear_gelu


@pytest.mark.parametrize("shape", [(64, 32, 24), (5, 24), (1, 7, 24)])
def test_linear_gives_f_linear_values_and_gradients(shape):
    torch.manual_seed(0)
    x = torch.randn(*shape, requires_grad=True)
    weight, bias = torch.randn(16, 24, requires_grad=True), torch.randn(16, requires_grad=True)
    grad = torch.randn(*shape[:-1], 16)
    expected = F.linear(x, weight, bias)
    got = linear(x, weight, bias)
    torch.testing.assert_close(got, expected)
    for a, b in zip(torch.autograd.grad(got, (x, weight, bias), grad),
                    torch.autograd.grad(expected, (x, weight, bias), grad), strict=True):  # fmt: skip
        torch.testing.assert_close(a, b)
    with torch.no_grad():
        torch.testing.assert_close(linear(x, weight, bias), expected)
        for approximate in ("none", "tanh"):
            torch.testing.assert_close(linear_gelu(x, weight, bias, approximate),
                                       F.gelu(expected, approximate=approximate))  # fmt: skip


def test_a_residual_is_added_with_its_gradient():
    torch.manual_seed(1)
    x, residual = torch.randn(6, 5, 24, requires_grad=True), torch.randn(6, 5, 16, requires_grad=True)
    weight, bias = torch.randn(16, 24, requires_grad=True), torch.randn(16, requires_grad=True)
    grad = torch.randn(6, 5, 16)
    inputs = (x, weight, bias, residual)
    expected = F.linear(x, weight, bias) + residual
    got = linear(x, weight, bias, residual)
    torch.testing.assert_close(got, expected)
    for a, b in zip(torch.autograd.grad(got, inputs, grad), torch.autograd.grad(expected, inputs, grad), strict=True):
        torch.testing.assert_close(a, b)
    shared = torch.randn(1, 5, 16).expand(6, -1, -1)  # one row set broadcast over the batch
    layer = Linear(24, 16)
    torch.testing.assert_close(layer(x, shared), F.linear(x, layer.weight, layer.bias) + shared)
    torch.testing.assert_close(layer(x, shared[:1]), F.linear(x, layer.weight, layer.bias) + shared[:1])  # broadcast


def test_strided_and_broadcast_inputs():
    weight, bias = torch.randn(8, 12), torch.randn(8)
    for x in (torch.randn(3, 12, 5).transpose(1, 2), torch.randn(1, 5, 12).expand(4, -1, -1)):
        torch.testing.assert_close(linear(x, weight, bias), F.linear(x, weight, bias))


def test_other_dtypes_and_autocast_run_f_linear():
    layer = Linear(6, 4).double()
    x = torch.randn(3, 6, dtype=torch.float64)
    assert linear(x, layer.weight, layer.bias).dtype == torch.float64
    torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))
    layer = Linear(6, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer(torch.randn(3, 6)).dtype == torch.bfloat16  # autocast applies, as to nn.Linear
    assert Linear(6, 4, bias=False)(torch.randn(3, 6)).shape == (3, 4)


def test_mlp_applies_its_gelu_setting_and_flops_are_counted():
    mlp = MLP(8, widening_factor=2)
    x = torch.randn(2, 3, 8)
    plain = mlp.fc2(mlp.act(mlp.fc1(x)))
    torch.testing.assert_close(mlp(x), plain)
    mlp.act.approximate = "tanh"
    with torch.no_grad():
        hidden = F.gelu(F.linear(x, mlp.fc1.weight, mlp.fc1.bias), approximate="tanh")
        torch.testing.assert_close(mlp(x), F.linear(hidden, mlp.fc2.weight, mlp.fc2.bias))
    with FlopCounterMode(display=False, custom_mapping=FLOP_FORMULAS) as counter:
        mlp(x)
    assert counter.get_total_flops() == 2 * 6 * 8 * 16 * 2  # both matmuls, as F.linear counts them
