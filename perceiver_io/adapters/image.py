"""Image and video input adapter: pixels, patches or conv features, plus position features per token."""

from __future__ import annotations

import math

import torch
from torch import nn

from perceiver_io.adapters.base import AdaptedInput, InputAdapter
from perceiver_io.adapters.conv_stem import ConvStem
from perceiver_io.adapters.space_to_depth import space_to_depth
from perceiver_io.checks import float_input
from perceiver_io.position_encoding import FourierPositionEncoding, build_position_encoding

PREP_TYPES = ("conv", "conv1x1", "patches", "pixels")
POSITION_ENCODINGS = ("fourier", "trainable", "none")


class ImageAdapter(InputAdapter):
    """Turn images [B, C, H, W] or videos [B, T, C, H, W] (NCHW) into tokens [B, N, C'] on a position grid.

    ``prep_type`` picks the content features of each token:

    - ``conv``: :class:`ConvStem` (4x downsampling, so ``spatial_downsample`` must be 4; HF passes 1 and
      ignores it). A 224 image gives 55x55 tokens as in HF; DeepMind's ``SAME`` max-pool gives 56x56.
    - ``conv1x1``: a 1x1 convolution to ``out_channels`` with stride ``spatial_downsample``.
    - ``patches``: space-to-depth blocks of ``temporal_downsample x s x s`` pixels; a time axis left with
      one step is dropped; ``conv_after_patching`` adds a Linear to ``out_channels``.
    - ``pixels``: raw pixels, keeping every ``s``-th row/column (and ``t``-th frame). HF slices the
      batch and channel axes of 4-D inputs instead (a bug that only matters when ``s > 1``).

    Position features (``fourier`` over the token grid, ``trainable`` table, or ``none``), optionally
    projected (``project_pos_dim`` in ``position_encoding_kwargs``), are concatenated or added.
    ``without_pos`` holds the content tokens and ``index_dims`` the token grid.
    """

    def __init__(
        self,
        prep_type: str = "conv",
        in_channels: int = 3,
        out_channels: int = 64,
        spatial_downsample: int = 4,
        temporal_downsample: int = 1,
        position_encoding: str = "fourier",
        position_encoding_kwargs: dict | None = None,
        concat_or_add_pos: str = "concat",
        conv_after_patching: bool = False,
        conv_after_patching_in_channels: int = 54,
    ) -> None:
        super().__init__()
        if prep_type not in PREP_TYPES:
            raise ValueError(f"prep_type must be one of {PREP_TYPES}, got {prep_type!r}")
        if position_encoding not in POSITION_ENCODINGS:
            raise ValueError(
                f"position_encoding must be one of {POSITION_ENCODINGS}, got {position_encoding!r}"
            )
        if concat_or_add_pos not in ("concat", "add"):
            raise ValueError(f"concat_or_add_pos must be 'concat' or 'add', got {concat_or_add_pos!r}")
        if spatial_downsample < 1 or temporal_downsample < 1:
            raise ValueError("spatial_downsample and temporal_downsample must be >= 1")
        if prep_type in ("conv", "conv1x1") and temporal_downsample != 1:
            raise ValueError(
                f"prep_type {prep_type!r} does not downsample in time: temporal_downsample must be 1"
            )
        self.prep_type = prep_type
        self.in_channels = in_channels
        self.spatial_downsample = spatial_downsample
        self.temporal_downsample = temporal_downsample
        self.concat_or_add_pos = concat_or_add_pos

        if prep_type == "conv":
            if spatial_downsample != 4:
                raise ValueError(
                    f"the conv stem downsamples by 4: spatial_downsample must be 4, got {spatial_downsample}"
                )
            self.stem = ConvStem(in_channels, out_channels)
            content = out_channels
        elif prep_type == "conv1x1":
            self.conv1x1 = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=spatial_downsample)
            content = out_channels
        elif prep_type == "patches":
            self.patch_projection: nn.Module = nn.Identity()
            content = in_channels * spatial_downsample**2 * temporal_downsample
            if conv_after_patching:
                if conv_after_patching_in_channels != content:
                    raise ValueError(
                        f"conv_after_patching_in_channels ({conv_after_patching_in_channels}) must equal"
                        f" in_channels * spatial_downsample**2 * temporal_downsample ({content})"
                    )
                self.patch_projection = nn.Linear(content, out_channels)
                content = out_channels
        else:
            content = in_channels
        self.content_channels = content

        self.position_encoding: nn.Module | None = None
        self.position_projection: nn.Module | None = None
        pos_channels = 0
        if position_encoding != "none":
            kwargs = dict(position_encoding_kwargs or {})
            encoding, projection = build_position_encoding(position_encoding, **kwargs)
            self.position_encoding, self.position_projection = encoding, projection
            project = kwargs.get("project_pos_dim", -1)
            pos_channels = project if project > 0 else self.position_encoding.num_channels
            if concat_or_add_pos == "add" and pos_channels != content:
                raise ValueError(
                    f"adding position features needs equal widths: content has {content} channels, "
                    f"positions have {pos_channels}"
                )
        self._num_channels = content + pos_channels if concat_or_add_pos == "concat" else content

    @property
    def num_channels(self) -> int:
        return self._num_channels

    def _check(self, inputs: torch.Tensor) -> None:
        ranks = (4,) if self.prep_type in ("conv", "conv1x1") else (4, 5)
        layout = "[B, C, H, W]" if ranks == (4,) else "[B, C, H, W] or [B, T, C, H, W]"
        if inputs.dim() not in ranks:
            raise ValueError(
                f"{self.prep_type!r} image adapter expects {layout} with C={self.in_channels}, "
                f"got shape {tuple(inputs.shape)}"
            )
        channels = inputs.shape[-3]
        if channels != self.in_channels:
            raise ValueError(
                f"image adapter expects {layout} with C={self.in_channels}, got shape {tuple(inputs.shape)} "
                f"({channels} channels)"
            )
        if self.prep_type in ("patches", "pixels") and inputs.dim() == 4 and self.temporal_downsample != 1:
            raise ValueError(
                f"temporal_downsample={self.temporal_downsample} needs videos [B, T, C, H, W], "
                f"got shape {tuple(inputs.shape)}"
            )
        if self.prep_type == "conv" and min(inputs.shape[-2:]) < 5:
            raise ValueError(
                f"the conv stem needs images of at least 5x5 pixels, got shape {tuple(inputs.shape)}"
            )

    def _content(self, inputs: torch.Tensor) -> torch.Tensor:
        """Content features on the token grid, channels last: [B, *index_dims, content_channels]."""
        s, t = self.spatial_downsample, self.temporal_downsample
        if self.prep_type == "patches":
            grid = space_to_depth(inputs, temporal_block_size=t, spatial_block_size=s)
            if grid.dim() == 5 and grid.shape[1] == 1:
                grid = grid.squeeze(1)
            return self.patch_projection(grid)
        if self.prep_type == "conv":
            grid = self.stem(inputs)
        elif self.prep_type == "conv1x1":
            grid = self.conv1x1(inputs)
        elif inputs.dim() == 4:
            grid = inputs[..., ::s, ::s]
        else:
            grid = inputs[:, ::t, :, ::s, ::s]
        return grid.movedim(-3, -1)

    def _positions(
        self, index_dims: tuple[int, ...], batch: int, like: torch.Tensor, resize: bool
    ) -> torch.Tensor:
        """Position features [B, prod(index_dims), C_pos] for the token grid."""
        encoding = self.position_encoding
        if isinstance(encoding, FourierPositionEncoding):
            if len(encoding.max_resolution) != len(index_dims):
                raise ValueError(
                    f"the Fourier encoding is {len(encoding.max_resolution)}-D (max_resolution "
                    f"{encoding.max_resolution}) but the token grid {index_dims} is {len(index_dims)}-D"
                )
            pos = encoding(index_dims, batch, device=like.device, dtype=like.dtype)
        else:
            if resize:
                if len(index_dims) != 2:
                    raise ValueError(f"resize_pos_encoding needs a 2-D token grid, got {index_dims}")
                pos = encoding(batch, resize_to=index_dims)
            else:
                pos = encoding(batch)
            if pos.shape[1] != math.prod(index_dims):
                raise ValueError(
                    f"the trainable position table has {pos.shape[1]} positions but the input gives a token "
                    f"grid {index_dims} = {math.prod(index_dims)} tokens; pass resize_pos_encoding=True "
                    "for another size"
                )
        return self.position_projection(pos)

    def forward(
        self,
        inputs: torch.Tensor,
        resize_pos_encoding: bool = False,
        interpolate_pos_encoding: bool = False,
        **_: object,
    ) -> AdaptedInput:
        """Tokens for ``inputs``; ``resize_pos_encoding`` (HF: ``interpolate_pos_encoding``) resamples a
        trainable 2-D table to the input's token grid."""
        self._check(inputs)
        inputs = float_input("image inputs", inputs, self)
        grid = self._content(inputs)
        batch, index_dims = grid.shape[0], tuple(grid.shape[1:-1])
        content = grid.reshape(batch, -1, grid.shape[-1])
        if self.position_encoding is None:
            tokens = content
        else:
            pos = self._positions(index_dims, batch, content, resize_pos_encoding or interpolate_pos_encoding)
            concat = self.concat_or_add_pos == "concat"
            tokens = torch.cat([content, pos], dim=-1) if concat else content + pos
        return AdaptedInput(tokens=tokens, without_pos=content, index_dims=index_dims)
