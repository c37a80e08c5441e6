"""Byte-level text models: masked language modelling and sequence classification (HF-compatible wiring)."""

from __future__ import annotations

from dataclasses import dataclass, field

from perceiver_io.adapters.text import TextAdapter
from perceiver_io.config import EncoderConfig
from perceiver_io.decoders.basic import BasicDecoder
from perceiver_io.decoders.classification import ClassificationDecoder
from perceiver_io.decoders.embedding import EmbeddingDecoder
from perceiver_io.model import PerceiverIO
from perceiver_io.tokenizer import VOCAB_SIZE


def _language_encoder() -> EncoderConfig:
    """The language Perceiver IO encoder: 256 x 1280 latents, 26 self-attends, 8/8 heads, qk 256 / v 1280."""
    return EncoderConfig(qk_channels=256, v_channels=1280)


def _small_encoder() -> EncoderConfig:
    return EncoderConfig.small(num_cross_attention_heads=2)


@dataclass
class MaskedLMConfig:
    """Byte MLM: text adapter (``d_model``), encoder, ``max_position_embeddings`` learned decoder queries
    and a tied embedding decoder. ``decoder_v_channels=None`` means ``d_model`` (HF's wiring)."""

    encoder: EncoderConfig = field(default_factory=_language_encoder)
    vocab_size: int = VOCAB_SIZE
    max_position_embeddings: int = 2048
    d_model: int = 768
    decoder_num_heads: int = 8
    decoder_qk_channels: int | None = 256
    decoder_v_channels: int | None = None
    decoder_widening_factor: int = 1
    decoder_use_query_residual: bool = False

    @classmethod
    def paper(cls, **overrides) -> MaskedLMConfig:
        """HF's ``deepmind/language-perceiver`` size (201,108,230 parameters)."""
        return cls(**overrides)

    @classmethod
    def small(cls, **overrides) -> MaskedLMConfig:
        """A CPU-friendly MLM: 64-wide embeddings, 256 positions, the small encoder."""
        base = dict(
            encoder=_small_encoder(),
            max_position_embeddings=256,
            d_model=64,
            decoder_num_heads=4,
            decoder_qk_channels=64,
        )
        return cls(**{**base, **overrides})


@dataclass
class TextClassifierConfig:
    """Sequence classification: text adapter, encoder and one learned (1, d_latents) query decoding
    ``num_classes`` logits (HF's ``PerceiverForSequenceClassification`` wiring)."""

    encoder: EncoderConfig = field(default_factory=_language_encoder)
    vocab_size: int = VOCAB_SIZE
    max_position_embeddings: int = 2048
    d_model: int = 768
    num_classes: int = 2
    decoder_num_heads: int = 1
    decoder_qk_channels: int | None = None
    decoder_v_channels: int | None = None
    decoder_widening_factor: int = 1
    decoder_use_query_residual: bool = True

    @classmethod
    def paper(cls, **overrides) -> TextClassifierConfig:
        """The language Perceiver IO encoder with HF's classification head."""
        return cls(**overrides)

    @classmethod
    def small(cls, **overrides) -> TextClassifierConfig:
        """A CPU-friendly classifier: 64-wide embeddings, 256 positions, the small encoder."""
        base = dict(encoder=_small_encoder(), max_position_embeddings=256, d_model=64)
        return cls(**{**base, **overrides})


def build_masked_lm(config: MaskedLMConfig) -> PerceiverIO:
    """ids [B, N] -> byte logits [B, max_position_embeddings, vocab_size] (every position is decoded)."""
    adapter = TextAdapter(config.vocab_size, config.max_position_embeddings, config.d_model)
    positions = config.max_position_embeddings
    decoder = BasicDecoder(
        latent_dim=config.encoder.d_latents,
        output_num_channels=config.d_model,
        output_index_dims=positions,
        num_channels=config.d_model,
        position_encoding="trainable",
        position_encoding_kwargs={"index_dims": positions, "num_channels": config.d_model},
        num_heads=config.decoder_num_heads,
        qk_channels=config.decoder_qk_channels,
        v_channels=config.d_model if config.decoder_v_channels is None else config.decoder_v_channels,
        widening_factor=config.decoder_widening_factor,
        use_query_residual=config.decoder_use_query_residual,
        final_project=False,
        dropout=config.encoder.attention_dropout,
    )
    return PerceiverIO(
        config.encoder,
        input_adapter=adapter,
        decoder=decoder,
        postprocessor=EmbeddingDecoder(adapter.token_embedding),
    )


def build_text_classifier(config: TextClassifierConfig) -> PerceiverIO:
    """ids [B, N] -> class logits [B, num_classes]."""
    d_latents = config.encoder.d_latents
    decoder = ClassificationDecoder(
        d_latents,
        config.num_classes,
        num_channels=d_latents,
        position_encoding_kwargs={"index_dims": 1, "num_channels": d_latents},
        num_heads=config.decoder_num_heads,
        qk_channels=config.decoder_qk_channels,
        v_channels=config.decoder_v_channels,
        widening_factor=config.decoder_widening_factor,
        use_query_residual=config.decoder_use_query_residual,
        dropout=config.encoder.attention_dropout,
    )
    adapter = TextAdapter(config.vocab_size, config.max_position_embeddings, config.d_model)
    return PerceiverIO(config.encoder, input_adapter=adapter, decoder=decoder)
