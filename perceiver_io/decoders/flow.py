"""Optical-flow decoder: every input token queries the latents for its pixel's 2-D displacement.

The model predicts flow divided by ``rescale_factor`` (100) inside the network, as Hugging Face and
DeepMind do. DeepMind's colab multiplies the model output by a further ``FLOW_SCALE_FACTOR`` (20) to get
pixels; that factor is applied outside the model with :func:`flow_to_pixels`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from perceiver_io.adapters.base import AdaptedInput
from perceiver_io.checks import check_tokens
from perceiver_io.decoders.basic import BasicDecoder

# DeepMind's colab scales the network output by this factor to get flow in pixels.
FLOW_SCALE_FACTOR = 20.0


def flow_to_pixels(flow: torch.Tensor, scale: float = FLOW_SCALE_FACTOR) -> torch.Tensor:
    """Model output [..., 2] -> flow in pixels, as DeepMind's colab post-processes it (x 20)."""
    return flow * scale


class FlowDecoder(BasicDecoder):
    """Queries are the adapter's tokens themselves (one per pixel); outputs are [B, H, W, 2] flow.

    A basic decoder without position-encoding queries (1 head, no query residual by default); its
    output is divided by ``rescale_factor`` and reshaped to ``output_image_shape``.
    """

    def __init__(
        self,
        latent_dim: int,
        query_channels: int,
        output_image_shape: Sequence[int],
        output_num_channels: int = 2,
        rescale_factor: float = 100.0,
        num_heads: int = 1,
        qk_channels: int | None = None,
        v_channels: int | None = None,
        widening_factor: int = 1,
        use_query_residual: bool = False,
        shape_for_attention: str = "kv",
        dropout: float = 0.0,
    ) -> None:
        if len(output_image_shape) != 2:
            raise ValueError(f"output_image_shape must be (height, width), got {tuple(output_image_shape)}")
        super().__init__(
            latent_dim,
            output_num_channels,
            output_index_dims=tuple(int(n) for n in output_image_shape),
            num_channels=query_channels,
            position_encoding="none",
            num_heads=num_heads,
            qk_channels=qk_channels,
            v_channels=v_channels,
            widening_factor=widening_factor,
            use_query_residual=use_query_residual,
            dropout=dropout,
            shape_for_attention=shape_for_attention,
        )
        self.output_image_shape = self.output_index_dims
        self.query_channels = query_channels
        self.rescale_factor = rescale_factor

    def build_queries(
        self, adapted: AdaptedInput, subsampled_points: torch.Tensor | dict | None = None
    ) -> torch.Tensor:
        """The adapter's tokens (with position features) are the queries; subsampling is not supported."""
        if subsampled_points is not None:
            raise ValueError(
                "the optical-flow decoder predicts every pixel and does not support "
                "subsampled_output_points; decode a smaller frame (or tiles) instead"
            )
        return adapted.tokens

    def forward(
        self,
        queries: torch.Tensor,
        latents: torch.Tensor,
        query_mask: torch.Tensor | None = None,
        latent_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``queries`` [B, H*W, query_channels], ``latents`` [B, N, latent_dim] -> flow [B, H, W, 2]."""
        check_tokens("flow decoder queries", queries, self.query_channels)
        height, width = self.output_image_shape
        if queries.shape[1] != height * width:
            raise ValueError(
                f"flow decoder queries must have shape [batch, {height}*{width}, {self.query_channels}] "
                f"(one per pixel of a {height}x{width} frame), got {tuple(queries.shape)}; "
                "use tiled inference for frames of another size"
            )
        out = super().forward(queries, latents, query_mask, latent_mask)
        out = out / self.rescale_factor
        return out.reshape(queries.shape[0], height, width, out.shape[-1])
