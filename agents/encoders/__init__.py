"""Entity encoders (Perceiver IO and AlphaStar's Transformer) behind one interface, chosen by config kind."""

from __future__ import annotations

from agents.config import EntityEncoderConfig, PerceiverEntityEncoderConfig, TransformerEntityEncoderConfig
from agents.encoders.base import EntityEncoder, EntityEncoderOutput
from agents.encoders.perceiver import PerceiverEntityEncoder
from agents.encoders.transformer import TransformerEntityEncoder

__all__ = [
    "EntityEncoder",
    "EntityEncoderOutput",
    "PerceiverEntityEncoder",
    "TransformerEntityEncoder",
    "build_entity_encoder",
]


def build_entity_encoder(config: EntityEncoderConfig, in_channels: int) -> EntityEncoder:
    """The encoder of ``config.kind`` ("perceiver" | "transformer") reading ``in_channels`` features per unit."""
    if isinstance(config, PerceiverEntityEncoderConfig):
        return PerceiverEntityEncoder(config, in_channels)
    if isinstance(config, TransformerEntityEncoderConfig):
        return TransformerEntityEncoder(config, in_channels)
    raise ValueError(f"unknown entity encoder config {type(config).__name__} (kind {getattr(config, 'kind', None)!r})")
