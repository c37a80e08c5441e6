"""Postprocessors: turn decoder outputs into task outputs (class logits, projected channels)."""

from __future__ import annotations

import torch
from torch import nn


class ClassificationPostprocessor(nn.Module):
    """Project the first output position to class logits [B, num_classes]."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(in_channels, num_classes)

    def forward(self, outputs: torch.Tensor, modality_sizes: dict[str, int] | None = None) -> torch.Tensor:
        return self.classifier(outputs)[:, 0, :]


class ProjectionPostprocessor(nn.Module):
    """Project every output position to ``out_channels`` (e.g. RGB values)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(in_channels, out_channels)

    def forward(self, outputs: torch.Tensor, modality_sizes: dict[str, int] | None = None) -> torch.Tensor:
        return self.classifier(outputs)
