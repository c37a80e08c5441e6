"""Perceiver IO backbone: attention, encoder, position encodings, input/output adapters, task models."""

from perceiver_io.adapters.base import AdaptedInput, InputAdapter
from perceiver_io.attention import MultiHeadAttention
from perceiver_io.config import EncoderConfig
from perceiver_io.decoders.base import OutputAdapter
from perceiver_io.encoder import PerceiverEncoder
from perceiver_io.layers import MLP, CrossAttentionLayer, SelfAttentionLayer
from perceiver_io.model import PerceiverIO
from perceiver_io.perceiver import Perceiver, PerceiverConfig
from perceiver_io.position_encoding import FourierPositionEncoding, TrainablePositionEncoding, fourier_features

__all__ = [
    "MLP",
    "AdaptedInput",
    "CrossAttentionLayer",
    "EncoderConfig",
    "FourierPositionEncoding",
    "InputAdapter",
    "MultiHeadAttention",
    "OutputAdapter",
    "Perceiver",
    "PerceiverConfig",
    "PerceiverEncoder",
    "PerceiverIO",
    "SelfAttentionLayer",
    "TrainablePositionEncoding",
    "fourier_features",
]
