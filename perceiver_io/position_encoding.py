"""Position encodings: Fourier features (the HF/DeepMind formula) and trainable embeddings.

Fourier features of a position ``p`` in [-1, 1]^d are ``[p (optional), sin(pi f p_d), cos(pi f p_d)]``
with frequencies ``f = linspace(1, max_resolution_d / 2, num_bands)``, ordered dimension-major
(all bands of dim 0, then dim 1, ...), all sines before all cosines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def linear_positions(index_dims: Sequence[int], device: torch.device | None = None) -> torch.Tensor:
    """Grid of coordinates in [-1, 1] per axis (``ij`` order): shape ``[*index_dims, len(index_dims)]``."""
    axes = [torch.linspace(-1.0, 1.0, int(n), dtype=torch.float32, device=device) for n in index_dims]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)


def fourier_features(
    pos: torch.Tensor,
    num_bands: int,
    max_resolution: Sequence[int],
    concat_pos: bool = True,
    sine_only: bool = False,
) -> torch.Tensor:
    """Fourier features of positions ``pos`` [..., N, d] -> [..., N, C]; positions may differ per sample."""
    freqs = torch.stack(
        [torch.linspace(1.0, res / 2, num_bands, device=pos.device, dtype=pos.dtype) for res in max_resolution]
    )  # [d, K]
    scaled = (pos[..., :, None] * freqs).flatten(-2)  # [..., N, d*K], dimension-major
    angles = math.pi * scaled
    feats = [torch.sin(angles)] if sine_only else [torch.sin(angles), torch.cos(angles)]
    if concat_pos:
        feats.insert(0, pos)
    return torch.cat(feats, dim=-1)


class FourierPositionEncoding(nn.Module):
    """Fixed Fourier position features over an index grid (or over given positions in [-1, 1])."""

    def __init__(
        self,
        num_bands: int,
        max_resolution: Sequence[int],
        concat_pos: bool = True,
        sine_only: bool = False,
    ) -> None:
        super().__init__()
        self.num_bands = num_bands
        self.max_resolution = tuple(int(r) for r in max_resolution)
        self.concat_pos = concat_pos
        self.sine_only = sine_only

    @property
    def num_channels(self) -> int:
        d = len(self.max_resolution)
        return d * self.num_bands * (1 if self.sine_only else 2) + (d if self.concat_pos else 0)

    def forward(
        self,
        index_dims: Sequence[int],
        batch_size: int,
        pos: torch.Tensor | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Features [B, prod(index_dims), C] for the grid ``index_dims``, or for ``pos`` [B, N, d]."""
        if pos is None:
            pos = linear_positions(index_dims, device=device).reshape(1, -1, len(index_dims))
        elif pos.shape[-1] != len(self.max_resolution):
            raise ValueError(
                f"positions must have {len(self.max_resolution)} coordinates per point, got shape {tuple(pos.shape)}"
            )
        feats = fourier_features(pos.float(), self.num_bands, self.max_resolution, self.concat_pos, self.sine_only)
        return feats.to(dtype).expand(batch_size, -1, -1)


class TrainablePositionEncoding(nn.Module):
    """A learned [prod(index_dims), C] table, bicubically resizable to a new 2-D resolution."""

    def __init__(self, index_dims: int | Sequence[int], num_channels: int = 128) -> None:
        super().__init__()
        dims = (index_dims,) if isinstance(index_dims, int) else tuple(index_dims)
        self.index_dims = dims
        self.embeddings = nn.Parameter(torch.randn(math.prod(dims), num_channels) * 0.02)

    @property
    def num_channels(self) -> int:
        return self.embeddings.shape[1]

    def resized(self, height: int, width: int) -> torch.Tensor:
        """The table resampled (bicubic) to ``height x width`` positions, e.g. for larger images."""
        n, c = self.embeddings.shape
        side = math.isqrt(n)
        if len(self.index_dims) == 2:
            h0, w0 = self.index_dims
        elif side * side == n:
            h0 = w0 = side
        else:
            raise ValueError(f"cannot resize a {n}-position table with index dims {self.index_dims} to 2-D")
        if (h0, w0) == (height, width):
            return self.embeddings
        grid = self.embeddings.reshape(1, h0, w0, c).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(height, width), mode="bicubic", align_corners=False)
        return grid.reshape(c, height * width).t()

    def forward(self, batch_size: int, resize_to: tuple[int, int] | None = None) -> torch.Tensor:
        """The table broadcast to [batch_size, N, C], resized first when ``resize_to=(h, w)`` is given."""
        table = self.embeddings if resize_to is None else self.resized(*resize_to)
        return table.expand(batch_size, -1, -1)


def build_position_encoding(
    kind: str,
    *,
    index_dims: int | Sequence[int] | None = None,
    num_channels: int = 128,
    num_bands: int = 64,
    max_resolution: Sequence[int] = (224, 224),
    concat_pos: bool = True,
    sine_only: bool = False,
    project_pos_dim: int = -1,
) -> tuple[nn.Module, nn.Module]:
    """Build a ``trainable`` or ``fourier`` encoding and its optional linear projection (else Identity)."""
    if kind == "trainable":
        if index_dims is None:
            raise ValueError("a trainable position encoding needs index_dims")
        encoding: nn.Module = TrainablePositionEncoding(index_dims, num_channels)
    elif kind == "fourier":
        encoding = FourierPositionEncoding(num_bands, max_resolution, concat_pos, sine_only)
    else:
        raise ValueError(f"unknown position encoding {kind!r}; expected 'trainable' or 'fourier'")
    projection: nn.Module = (
        nn.Linear(encoding.num_channels, project_pos_dim) if project_pos_dim > 0 else nn.Identity()
    )
    return encoding, projection
