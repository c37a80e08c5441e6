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


class AudioPostprocessor(nn.Module):
    """Project each output patch to ``samples_per_patch`` samples and flatten to a waveform [B, samples]."""

    def __init__(self, in_channels: int, samples_per_patch: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(in_channels, samples_per_patch)

    def forward(self, outputs: torch.Tensor, modality_sizes: dict[str, int] | None = None) -> torch.Tensor:
        return self.classifier(outputs).reshape(outputs.shape[0], -1)
