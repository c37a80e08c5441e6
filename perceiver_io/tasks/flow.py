"""Optical flow (Perceiver IO paper, Table 16): config presets, model factory and tiled inference."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from perceiver_io.adapters.flow import FlowAdapter
from perceiver_io.config import EncoderConfig
from perceiver_io.decoders.flow import FlowDecoder
from perceiver_io.model import PerceiverIO


def _paper_encoder() -> EncoderConfig:
    """The flow encoder of HF / DeepMind: 2048 x 512 latents, 24 self-attends, 16 self / 1 cross heads."""
    return EncoderConfig(
        num_latents=2048,
        d_latents=512,
        num_self_attends_per_block=24,
        num_self_attention_heads=16,
        num_cross_attention_heads=1,
    )


@dataclass
class OpticalFlowConfig:
    """Encoder sizes plus the flow task's fields; the model sees frames of exactly ``train_size``."""

    encoder: EncoderConfig = field(default_factory=_paper_encoder)
    train_size: tuple[int, int] = (368, 496)
    in_channels: int = 3
    patch_size: int = 3  # each pixel's k x k neighbourhood per frame; 3 in the paper and HF
    patch_projection_channels: int = 64
    num_bands: int = 64
    rescale_factor: float = 100.0
    decoder_num_heads: int = 1
    decoder_qk_channels: int | None = None
    decoder_v_channels: int | None = None
    decoder_widening_factor: int = 1
    decoder_use_query_residual: bool = False

    def __post_init__(self) -> None:
        self.train_size = (int(self.train_size[0]), int(self.train_size[1]))

    @classmethod
    def paper(cls, **overrides) -> OpticalFlowConfig:
        """HF's ``PerceiverForOpticalFlow`` and DeepMind's colab: 2048 x 512 latents, 24 self-attends."""
        return cls(**{"encoder": _paper_encoder(), **overrides})

    @classmethod
    def small(cls, **overrides) -> OpticalFlowConfig:
        """CPU-sized: 32 x 48 frames and a 32 x 64 latent array with 2 self-attention layers."""
        return cls(**{"encoder": EncoderConfig.small(), "train_size": (32, 48), **overrides})


def build_optical_flow(config: OpticalFlowConfig) -> PerceiverIO:
    """Two frames [B, 2, C, H, W] (raw or k x k-patched) at ``train_size`` -> flow [B, H, W, 2] (/ rescale)."""
    adapter = FlowAdapter(
        train_size=config.train_size,
        in_channels=config.in_channels,
        out_channels=config.patch_projection_channels,
        num_bands=config.num_bands,
        kernel_size=config.patch_size,
    )
    decoder = FlowDecoder(
        latent_dim=config.encoder.d_latents,
        query_channels=adapter.num_channels,
        output_image_shape=config.train_size,
        rescale_factor=config.rescale_factor,
        num_heads=config.decoder_num_heads,
        qk_channels=config.decoder_qk_channels,
        v_channels=config.decoder_v_channels,
        widening_factor=config.decoder_widening_factor,
        use_query_residual=config.decoder_use_query_residual,
        shape_for_attention=config.encoder.cross_attention_shape_for_attention,
        dropout=config.encoder.attention_dropout,
    )
    return PerceiverIO(config.encoder, input_adapter=adapter, decoder=decoder)


def tile_origins(size: int, tile: int, min_overlap: int = 20) -> list[int]:
    """Start offsets of ``tile``-long windows covering ``size``, evenly spread, overlaps >= ``min_overlap``.

    DeepMind's colab steps by ``tile - min_overlap`` and moves the last window flush with the border;
    spreading the same number of windows evenly keeps every overlap >= ``min_overlap`` as well.
    """
    if not 0 <= min_overlap < tile:
        raise ValueError(f"min_overlap must be in [0, {tile}), got {min_overlap}")
    if size < tile:
        raise ValueError(f"a frame side of {size} is smaller than the tile side {tile}; pad or resize frames")
    count = max(1, math.ceil((size - min_overlap) / (tile - min_overlap)))
    if count == 1:
        return [0]
    return [round(i * (size - tile) / (count - 1)) for i in range(count)]


def tiled_flow(
    model: Callable[[torch.Tensor], torch.Tensor],
    frames: torch.Tensor,
    tile_size: tuple[int, int] = (368, 496),
    min_overlap: int = 20,
) -> torch.Tensor:
    """Flow [B, H, W, 2] for frames [B, 2, C, H, W] larger than the model's ``tile_size``.

    The model runs on overlapping tiles and the tile predictions are averaged, each pixel weighted by its
    distance to the tile border (1 at the edge, growing inwards), as in DeepMind's optical-flow colab.
    """
    if frames.dim() != 5:
        raise ValueError(
            f"frames must have shape [batch, 2, channels, height, width], got {tuple(frames.shape)}"
        )
    height, width = frames.shape[-2:]
    th, tw = tile_size
    rows = tile_origins(height, th, min_overlap)
    cols = tile_origins(width, tw, min_overlap)
    ramp_y = torch.arange(th, device=frames.device, dtype=frames.dtype)
    ramp_x = torch.arange(tw, device=frames.device, dtype=frames.dtype)
    weight_y = torch.minimum(ramp_y + 1, th - ramp_y)
    weight_x = torch.minimum(ramp_x + 1, tw - ramp_x)
    weights = torch.minimum(weight_y[:, None], weight_x[None, :])[..., None]  # [th, tw, 1]
    total: torch.Tensor | None = None
    norm = torch.zeros(height, width, 1, device=frames.device, dtype=frames.dtype)
    for y in rows:
        for x in cols:
            flow = model(frames[..., y : y + th, x : x + tw])
            if total is None:
                total = flow.new_zeros(flow.shape[0], height, width, flow.shape[-1])
            total[:, y : y + th, x : x + tw] += flow * weights
            norm[y : y + th, x : x + tw] += weights
    return total / norm
