"""HF ``PerceiverForMaskedLM`` and ``PerceiverForSequenceClassification`` onto our text task models."""

from __future__ import annotations

from perceiver_io.hf.config import HFConfig, encoder_config_from_hf
from perceiver_io.hf.keys import ENCODER_RULES, LAYER_RULES, decoder_rules
from perceiver_io.hf.loading import Converter
from perceiver_io.tasks.text import (
    MaskedLMConfig,
    TextClassifierConfig,
    build_masked_lm,
    build_text_classifier,
)

# Our text adapter -> HF's PerceiverTextPreprocessor.
_ADAPTER_RULES: tuple[tuple[str, str], ...] = (
    (r"^input_adapter\.token_embedding\.", "perceiver.input_preprocessor.embeddings."),
    (r"^input_adapter\.position_embedding\.", "perceiver.input_preprocessor.position_embeddings."),
)


def _masked_lm_config(cfg: HFConfig) -> MaskedLMConfig:
    """HF hard-codes the MLM decoder: 8 heads, qk 8 * 32, v = d_model, no query residual."""
    return MaskedLMConfig(
        encoder=encoder_config_from_hf(cfg),
        vocab_size=cfg.vocab_size,
        max_position_embeddings=cfg.max_position_embeddings,
        d_model=cfg.d_model,
        decoder_num_heads=8,
        decoder_qk_channels=8 * 32,
        decoder_v_channels=cfg.d_model,
        decoder_widening_factor=1,
        decoder_use_query_residual=False,
    )


def _classifier_config(cfg: HFConfig) -> TextClassifierConfig:
    """HF's classification head: one trainable d_latents query, 1 head, query residual on."""
    return TextClassifierConfig(
        encoder=encoder_config_from_hf(cfg),
        vocab_size=cfg.vocab_size,
        max_position_embeddings=cfg.max_position_embeddings,
        d_model=cfg.d_model,
        num_classes=cfg.num_labels,
        decoder_num_heads=1,
        decoder_qk_channels=None,
        decoder_v_channels=None,
        decoder_widening_factor=1,
        decoder_use_query_residual=True,
    )


MASKED_LM = Converter(
    config_from_hf=_masked_lm_config,
    build=build_masked_lm,
    rules=(
        *_ADAPTER_RULES,
        *ENCODER_RULES,
        *decoder_rules("decoder.", "perceiver.decoder."),
        (r"^postprocessor\.bias$", "embedding_decoder.bias"),
        *LAYER_RULES,
    ),
)

SEQUENCE_CLASSIFICATION = Converter(
    config_from_hf=_classifier_config,
    build=build_text_classifier,
    rules=(
        *_ADAPTER_RULES,
        *ENCODER_RULES,
        *decoder_rules("decoder.", "perceiver.decoder.decoder."),
        *LAYER_RULES,
    ),
)
