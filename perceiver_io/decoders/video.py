"""Video autoencoding decoder: one query per output pixel of a (T, H, W) clip."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from perceiver_io.decoders.basic import BasicDecoder


class VideoAutoencodingDecoder(BasicDecoder):
    """A basic decoder over ``output_index_dims = (T, H, W)``; full outputs come back as [B, T, H, W, C].

    Subsampled decoding (some flat pixel indices only) returns [B, num_points, C].
    """

    def __init__(
        self, latent_dim: int, output_num_channels: int, output_shape: Sequence[int], **kwargs
    ) -> None:
        if len(output_shape) != 3:
            raise ValueError(f"output_shape must be (frames, height, width), got {tuple(output_shape)}")
        kwargs.setdefault("position_encoding", "fourier")
        super().__init__(latent_dim, output_num_channels, output_index_dims=tuple(output_shape), **kwargs)

    def forward(
        self,
        queries: torch.Tensor,
        latents: torch.Tensor,
        query_mask: torch.Tensor | None = None,
        latent_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        out = super().forward(queries, latents, query_mask, latent_mask)
        if out.shape[1] == math.prod(self.output_index_dims):
            return out.reshape(out.shape[0], *self.output_index_dims, out.shape[-1])
        return out
