"""The output-adapter interface: build decoder queries, then cross-attend them to the latents."""

from __future__ import annotations

import torch
from torch import nn

from perceiver_io.adapters.base import AdaptedInput


class OutputAdapter(nn.Module):
    """Base class of decoders.

    ``build_queries(adapted, subsampled_points)`` returns the query array [B, M, num_query_channels]
    (from position encodings, from the inputs, or both); ``forward(queries, latents, query_mask,
    latent_mask)`` decodes it into outputs: ``query_mask`` [B, M] zeroes padding queries and
    ``latent_mask`` [B, N] hides keys (latents, or any key array a caller decodes from).
    Postprocessors, if any, run after ``forward``.
    """

    @property
    def num_query_channels(self) -> int:
        raise NotImplementedError

    def build_queries(
        self, adapted: AdaptedInput, subsampled_points: torch.Tensor | dict | None = None
    ) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def output_modality_sizes(
        self, adapted: AdaptedInput, subsampled_points: torch.Tensor | dict | None = None
    ) -> dict[str, int] | None:
        """Per-modality output counts that a postprocessor splits on (multimodal decoders override this)."""
        return adapted.modality_sizes

    def forward(
        self,
        queries: torch.Tensor,
        latents: torch.Tensor,
        query_mask: torch.Tensor | None = None,
        latent_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError
