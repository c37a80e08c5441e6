"""The input-adapter interface: raw inputs of one modality -> a token array the encoder reads."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class AdaptedInput:
    """What an input adapter hands the encoder and the decoder.

    ``tokens`` [B, N, C] is the encoder's key/value array; ``mask`` [B, N] marks real tokens (None: all);
    ``without_pos`` is the same content before position features were added (a tensor, or a dict per
    modality) for decoders that concatenate it to their queries; ``modality_sizes`` gives each
    modality's token count in concatenation order for multimodal inputs.
    """

    tokens: torch.Tensor
    mask: torch.Tensor | None = None
    without_pos: torch.Tensor | dict[str, torch.Tensor] | None = None
    modality_sizes: dict[str, int] | None = None
    index_dims: tuple[int, ...] | None = None


class InputAdapter(nn.Module):
    """Base class: subclasses set ``num_channels`` and implement ``forward(inputs, **kwargs)``."""

    @property
    def num_channels(self) -> int:
        raise NotImplementedError

    def forward(self, inputs, **kwargs) -> AdaptedInput:  # pragma: no cover - interface
        raise NotImplementedError
