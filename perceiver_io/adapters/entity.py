"""Entity-set adapter: an unordered set of per-element feature vectors plus a validity mask."""

from __future__ import annotations

import torch

from perceiver_io.adapters.base import AdaptedInput, InputAdapter
from perceiver_io.checks import check_mask, check_tokens, float_input
from perceiver_io.linear import Linear


class EntitySetAdapter(InputAdapter):
    """Project per-element features [B, N, in_channels] to tokens [B, N, num_channels].

    No position encoding is added, so the encoder stays permutation-invariant over the set and the
    per-element decoder permutation-equivariant. Only the real rows are projected (gathered, so whatever padding
    holds, NaN included, reaches no token, weight or gradient, and its rows cost nothing); padding tokens are 0.
    A caller that has only the real rows' features can hand them over as they are (``rows``), and no padded
    array is ever built.
    """

    def __init__(self, in_channels: int, num_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self._num_channels = num_channels
        self.projection = Linear(in_channels, num_channels)

    @property
    def num_channels(self) -> int:
        return self._num_channels

    def forward(
        self, inputs: torch.Tensor, mask: torch.Tensor | None = None, rows: torch.Tensor | None = None, **_: object
    ) -> AdaptedInput:
        """``inputs`` [B, N, in_channels] and ``mask`` [B, N] (True for real elements); or, with ``rows`` (the
        flat indices into B x N of ``mask``'s True entries, in order), only the real elements' features
        [len(rows), in_channels]."""
        if rows is None:
            check_tokens("entity features", inputs, self.in_channels)
            inputs = float_input("entity features", inputs, self)
            mask = check_mask("entity mask", mask, inputs.shape[0], inputs.shape[1])
            if mask is None:
                tokens = self.projection(inputs)
                return AdaptedInput(tokens=tokens, mask=mask, without_pos=tokens, index_dims=(inputs.shape[1],))
            rows = mask.flatten().nonzero().squeeze(1)
            inputs = inputs.flatten(0, 1).index_select(0, rows)
        else:
            if mask is None or mask.dim() != 2 or inputs.dim() != 2 or inputs.shape[-1] != self.in_channels \
                    or rows.shape != inputs.shape[:1]:  # fmt: skip
                raise ValueError(f"entity rows must be [R, {self.in_channels}] features with R flat row indices "
                                 f"and a [batch, elements] mask, got {tuple(inputs.shape)} features, "
                                 f"{tuple(rows.shape)} indices, mask {None if mask is None else tuple(mask.shape)}")
            inputs = float_input("entity features", inputs, self)
            mask = check_mask("entity mask", mask, mask.shape[0], mask.shape[1])
        projected = self.projection(inputs)
        tokens = projected.new_zeros(mask.numel(), self._num_channels).index_copy(0, rows, projected)
        tokens = tokens.view(*mask.shape, self._num_channels)
        return AdaptedInput(tokens=tokens, mask=mask, without_pos=tokens, index_dims=(mask.shape[1],))
