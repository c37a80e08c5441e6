"""Space-to-depth: fold blocks of frames/pixels into channels (channels-last output)."""

from __future__ import annotations

import torch


def space_to_depth(frames: torch.Tensor, temporal_block_size: int = 1, spatial_block_size: int = 1) -> torch.Tensor:
    """[B, C, H, W] -> [B, H/s, W/s, s*s*C]; [B, T, C, H, W] -> [B, T/t, H/s, W/s, t*s*s*C].

    Channels are ordered (time offset, row offset, column offset, channel), as in DeepMind's code.
    """
    s, t = spatial_block_size, temporal_block_size
    if frames.dim() == 4:
        b, c, h, w = frames.shape
        if h % s or w % s:
            raise ValueError(f"image of shape {tuple(frames.shape)}: H and W must be divisible by {s}")
        x = frames.reshape(b, c, h // s, s, w // s, s).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(b, h // s, w // s, s * s * c)
    if frames.dim() == 5:
        b, n, c, h, w = frames.shape
        if n % t or h % s or w % s:
            raise ValueError(
                f"video of shape {tuple(frames.shape)}: T must be divisible by {t}, H and W by {s}"
            )
        x = frames.reshape(b, n // t, t, c, h // s, s, w // s, s).permute(0, 1, 4, 6, 2, 5, 7, 3)
        return x.reshape(b, n // t, h // s, w // s, t * s * s * c)
    raise ValueError(f"space_to_depth expects [B, C, H, W] or [B, T, C, H, W], got shape {tuple(frames.shape)}")
