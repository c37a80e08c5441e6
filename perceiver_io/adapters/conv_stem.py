"""Convolutional image stem: a 7x7 stride-2 convolution and a 3x3 stride-2 max-pool (4x downsampling)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvStem(nn.Module):
    """Conv 7x7 / stride 2 (no bias) -> BatchNorm -> ReLU -> MaxPool 3x3 / stride 2, as in HF's ``conv`` prep.

    Padding follows Hugging Face, not TensorFlow: the convolution pads 3 pixels on every side (TF ``SAME``
    would pad 2 before and 3 after on even sizes) and the max-pool does not pad, so a 224x224 image gives
    112x112 and then 55x55. DeepMind's original max-pools with ``SAME`` padding and gets 56x56.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 64) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=7, stride=2, padding=3, bias=False)
        self.batch_norm = nn.BatchNorm2d(out_channels)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2)

    @staticmethod
    def output_size(height: int, width: int) -> tuple[int, int]:
        """The feature-map size for an input of ``height x width`` (224 -> 55)."""

        def one(n: int) -> int:
            n = (n + 2 * 3 - 7) // 2 + 1
            return (n - 3) // 2 + 1

        return one(height), one(width)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """[B, C, H, W] -> [B, out_channels, H', W'] with ``(H', W') = output_size(H, W)``."""
        return self.pool(F.relu(self.batch_norm(self.conv(images))))
