"""One-hot label adapter: a class vector becomes a single input token."""

from __future__ import annotations

import torch

from perceiver_io.adapters.base import AdaptedInput, InputAdapter
from perceiver_io.checks import float_input


class OneHotAdapter(InputAdapter):
    """[B, num_classes] one-hot (or soft) labels -> one token [B, 1, num_classes], no position features."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    @property
    def num_channels(self) -> int:
        return self.num_classes

    def forward(self, inputs: torch.Tensor, **_: object) -> AdaptedInput:
        if inputs.dim() != 2 or inputs.shape[1] != self.num_classes:
            raise ValueError(f"labels must have shape [batch, {self.num_classes}], got {tuple(inputs.shape)}")
        tokens = float_input("labels", inputs, self)[:, None, :]
        return AdaptedInput(tokens=tokens, without_pos=tokens, index_dims=(1,))
