"""Classification decoders: one learned query reads the latents (Perceiver IO), or a latent mean (Perceiver)."""

from __future__ import annotations

import torch
from torch import nn

from perceiver_io.decoders.basic import BasicDecoder


class ClassificationDecoder(BasicDecoder):
    """A basic decoder with a single output position; returns logits [B, num_classes]."""

    def __init__(self, latent_dim: int, num_classes: int, **kwargs) -> None:
        kwargs.setdefault("position_encoding_kwargs", {"index_dims": 1, "num_channels": latent_dim})
        kwargs.setdefault("num_channels", latent_dim)
        super().__init__(latent_dim, output_num_channels=num_classes, output_index_dims=1, **kwargs)

    def forward(
        self,
        queries: torch.Tensor,
        latents: torch.Tensor,
        query_mask: torch.Tensor | None = None,
        latent_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return super().forward(queries, latents, query_mask, latent_mask)[:, 0]


class ProjectionDecoder(nn.Module):
    """No cross-attention: average the latents and project them to class logits (the original Perceiver)."""

    def __init__(self, latent_dim: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(latent_dim, num_classes)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.classifier(latents.mean(dim=1))
