"""The agent's core: an LSTM over time (AlphaStar: 3 layers of 384), or a memoryless MLP when switched off.

One step per call (the agent acts step by step), so the LSTM is a stack of ``LSTMCell`` layers, whose matmuls
``torch.utils.flop_counter`` counts on every device (it has no formula for the fused ``nn.LSTM`` kernels).
Its input is the concatenation of the embedded entity and the scalar encoding. The state is carried from step
to step as ``(h, c)``, each ``[B, num_layers, hidden]`` (batch first, so rollouts can store and slice it per
row), and zeroed on rows where ``first`` [B] marks an episode start, before the step. The disabled core's
state has ``num_layers = 0``.
"""

from __future__ import annotations

import torch
from torch import nn

from agents.config import CoreConfig

CoreState = tuple[torch.Tensor, torch.Tensor]


class Core(nn.Module):
    """[B, in_channels] + state -> [B, hidden] + new state."""

    def __init__(self, in_channels: int, config: CoreConfig | None = None) -> None:
        super().__init__()
        self.config = config or CoreConfig()
        self.in_channels = in_channels
        self.out_channels = self.config.hidden
        self.state_layers = self.config.num_layers if self.config.enabled else 0
        if self.config.enabled:
            sizes = [in_channels] + [self.config.hidden] * (self.config.num_layers - 1)
            self.layers = nn.ModuleList(nn.LSTMCell(size, self.config.hidden) for size in sizes)
        else:
            self.mlp = nn.Sequential(nn.Linear(in_channels, self.config.hidden), nn.ReLU())

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> CoreState:
        zeros = torch.zeros(batch_size, self.state_layers, self.config.hidden, device=device)
        return zeros, zeros.clone()

    def forward(
        self, x: torch.Tensor, state: CoreState, first: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, CoreState]:
        if x.dim() != 2 or x.shape[-1] != self.in_channels:
            raise ValueError(f"core input must have shape [batch, {self.in_channels}], got {tuple(x.shape)}")
        h, c = state
        expected = (x.shape[0], self.state_layers, self.config.hidden)
        if tuple(h.shape) != expected or tuple(c.shape) != expected:
            raise ValueError(f"core state must be two tensors of shape {expected}, got {tuple(h.shape)}")
        if first is not None:
            keep = (~first.bool()).to(h.dtype)[:, None, None]
            h, c = h * keep, c * keep
        if not self.config.enabled:
            return self.mlp(x), (h, c)
        hs, cs = [], []
        for i, layer in enumerate(self.layers):
            x, c_i = layer(x, (h[:, i], c[:, i]))
            hs.append(x)
            cs.append(c_i)
        return x, (torch.stack(hs, dim=1), torch.stack(cs, dim=1))
