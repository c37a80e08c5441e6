"""Optical-flow input adapter: two frames -> per-pixel 3x3 neighbourhoods -> one token per pixel.

Each pixel of each frame is described by its 3x3xC neighbourhood (zero padded at the border, TF "SAME"),
ordered (row offset, column offset, channel) as in DeepMind's ``patches_for_flow`` and Hugging Face's
flow test. The two frames' patches are stacked along channels (2 x 27 = 54 for RGB), projected by a
linear layer and concatenated with 2-D Fourier position features.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from perceiver_io.adapters.base import AdaptedInput, InputAdapter
from perceiver_io.adapters.image import ImageAdapter
from perceiver_io.checks import float_input


def extract_patches(frames: torch.Tensor, kernel_size: int = 3) -> torch.Tensor:
    """[..., C, H, W] -> [..., k*k*C, H, W]: each pixel's k x k neighbourhood with zero "SAME" padding.

    Channel ``(dy * k + dx) * C + c`` holds channel ``c`` of the pixel offset by ``(dy - k//2, dx - k//2)``.
    """
    if frames.dim() < 3:
        raise ValueError(f"frames must have shape [..., C, H, W], got shape {tuple(frames.shape)}")
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
    height, width = frames.shape[-2:]
    before = (kernel_size - 1) // 2
    after = kernel_size - 1 - before
    padded = F.pad(frames, (before, after, before, after))
    offsets = [(dy, dx) for dy in range(kernel_size) for dx in range(kernel_size)]
    shifted = [padded[..., dy : dy + height, dx : dx + width] for dy, dx in offsets]
    return torch.stack(shifted, dim=-4).flatten(-4, -3)


class FlowAdapter(InputAdapter):
    """Two frames [B, 2, C, H, W] (raw, or already patched with k*k*C channels) -> tokens [B, H*W, D].

    ``D = out_channels + 2 + 4 * num_bands`` (64 + 258 = 322 at the paper size). Raw frames are turned
    into 3x3 patches first; patched input (what Hugging Face's ``PerceiverForOpticalFlow`` takes) is used
    as given.
    """

    def __init__(
        self,
        train_size: Sequence[int] = (368, 496),
        in_channels: int = 3,
        out_channels: int = 64,
        num_bands: int = 64,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.kernel_size = kernel_size
        self.patch_channels = kernel_size * kernel_size * in_channels
        self.image = ImageAdapter(
            prep_type="patches",
            in_channels=self.patch_channels,
            out_channels=out_channels,
            spatial_downsample=1,
            temporal_downsample=2,
            position_encoding="fourier",
            position_encoding_kwargs=dict(
                num_bands=num_bands, max_resolution=tuple(train_size), concat_pos=True, sine_only=False
            ),
            concat_or_add_pos="concat",
            conv_after_patching=True,
            conv_after_patching_in_channels=2 * self.patch_channels,
        )

    @property
    def num_channels(self) -> int:
        return self.image.num_channels

    def forward(self, inputs: torch.Tensor, **_: object) -> AdaptedInput:
        """``inputs`` [B, 2, C, H, W] with C = in_channels (raw frames) or k*k*in_channels (patches)."""
        expected = f"[batch, 2, {self.in_channels} or {self.patch_channels}, height, width]"
        if inputs.dim() != 5 or inputs.shape[1] != 2:
            raise ValueError(f"flow inputs must have shape {expected}, got {tuple(inputs.shape)}")
        inputs = float_input("flow inputs", inputs, self)
        channels = inputs.shape[2]
        if channels == self.patch_channels:
            patches = inputs
        elif channels == self.in_channels:
            patches = extract_patches(inputs, self.kernel_size)
        else:
            raise ValueError(f"flow inputs must have shape {expected}, got {tuple(inputs.shape)}")
        return self.image(patches)
