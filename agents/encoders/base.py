"""The entity-encoder interface: per-unit features and a validity mask -> per-unit and whole-set embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class EntityEncoderOutput:
    """``unit_embeddings`` [B, N, unit_dim] (padding rows exactly 0) and ``embedded_entity`` [B, entity_dim]."""

    unit_embeddings: torch.Tensor
    embedded_entity: torch.Tensor


class UnitMaxPool(nn.Module):
    """The channel-wise max over the real units of their embeddings -> Linear(entity_dim) -> ReLU, added to the set
    embedding (``unit_max_pool``). A mean (AlphaStar's, or the Perceiver's over its latents) dilutes what one unit
    has by the unit count; a max (PointNet's symmetric function) passes "some unit is so" (an idle producer, a
    structure going up) to the core in one step, which the economy's orders hang on."""

    def __init__(self, unit_dim: int, entity_dim: int) -> None:
        super().__init__()
        self.projection = nn.Linear(unit_dim, entity_dim)

    def forward(self, units: torch.Tensor) -> torch.Tensor:
        # units come out of a ReLU with padding rows at 0, so the max over all rows is the max over the real ones
        # (0 for an empty set)
        return torch.relu(self.projection(units.amax(dim=1)))


class EntityEncoder(nn.Module):
    """Base class: subclasses set ``in_channels``, ``unit_dim``, ``entity_dim`` (and ``unit_pool`` when their
    config's ``unit_max_pool`` is on) and implement ``encode``.

    ``forward`` checks shapes (one ValueError naming the expected shape) and zeroes padding rows, so every
    encoder satisfies the same contract and can be swapped by config.
    """

    in_channels: int
    unit_dim: int
    entity_dim: int

    def __init__(self) -> None:
        super().__init__()
        self.unit_pool: UnitMaxPool | None = None

    def forward(self, features: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor | None = None
                ) -> EntityEncoderOutput:  # fmt: skip
        """``features`` [B, N, in_channels] float, ``mask`` [B, N] (True for real units); or, with ``rows``, only
        the real units' features [R, in_channels] and their flat indices into B x N (``UnitFeaturizer(...,
        packed=True)``)."""
        if rows is not None:
            if features.dim() != 2 or features.shape[-1] != self.in_channels or rows.shape != features.shape[:1]:
                raise ValueError(f"packed entity features must have shape [rows, {self.in_channels}] with one index "
                                 f"per row, got {tuple(features.shape)} and {tuple(rows.shape)}")  # fmt: skip
        elif features.dim() != 3 or features.shape[-1] != self.in_channels:
            raise ValueError(
                f"entity features must have shape [batch, units, {self.in_channels}], got {tuple(features.shape)}"
            )
        elif tuple(mask.shape) != tuple(features.shape[:2]):
            raise ValueError(
                f"unit mask must have shape [batch, units] = {tuple(features.shape[:2])}, got {tuple(mask.shape)}"
            )
        mask = mask if mask.dtype == torch.bool else mask != 0
        units, entity = self.encode(features, mask, rows)
        units = units * mask[..., None].to(units.dtype)
        if self.unit_pool is not None:
            entity = entity + self.unit_pool(units)
        return EntityEncoderOutput(unit_embeddings=units, embedded_entity=entity)

    def encode(self, features: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor | None
               ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Per-unit embeddings [B, N, unit_dim] and the set embedding [B, entity_dim] (mask is bool; ``features``
        packed when ``rows`` is given, see ``forward``)."""
        raise NotImplementedError


def padded(features: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
    """``features`` as [B, N, C]: as given, or packed real rows (``rows``) scattered among zero padding rows."""
    if rows is None:
        return features
    out = features.new_zeros(mask.numel(), features.shape[-1]).index_copy(0, rows, features)
    return out.view(*mask.shape, features.shape[-1])


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` [B, N, C] over its real rows (``mask`` [B, N] bool); 0 for a set with no real row."""
    weights = mask.to(x.dtype)[..., None]
    return (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)
