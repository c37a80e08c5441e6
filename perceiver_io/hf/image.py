"""HF ``PerceiverForImageClassification{Learned,Fourier,ConvProcessing}`` -> our image classifiers."""

from __future__ import annotations

import re

from perceiver_io.hf.config import HFConfig, encoder_config_from_hf
from perceiver_io.hf.keys import ENCODER_RULES, LAYER_RULES, decoder_rules
from perceiver_io.hf.loading import Converter
from perceiver_io.tasks.image import ImageClassifierConfig, build_image_classifier


def image_adapter_rules(ours: str, theirs: str) -> tuple[tuple[str, str], ...]:
    """Rules for an :class:`ImageAdapter` at ``ours`` (e.g. ``input_adapter.``) stored at HF's ``theirs``."""
    o = re.escape(ours)
    return (
        (rf"^{o}stem\.conv\.", f"{theirs}convnet.conv."),
        (rf"^{o}stem\.batch_norm\.", f"{theirs}convnet.batchnorm."),
        (rf"^{o}conv1x1\.", f"{theirs}convnet_1x1."),
        (rf"^{o}patch_projection\.", f"{theirs}conv_after_patches."),
        (rf"^{o}position_encoding\.embeddings$", f"{theirs}position_embeddings.position_embeddings"),
        (rf"^{o}position_projection\.", f"{theirs}positions_projection."),
    )


RULES: tuple[tuple[str, str], ...] = (
    *image_adapter_rules("input_adapter.", "perceiver.input_preprocessor."),
    *ENCODER_RULES,
    *decoder_rules("decoder.", "perceiver.decoder.decoder."),
    *LAYER_RULES,
)


def _config(preprocessing: str, cfg: HFConfig) -> ImageClassifierConfig:
    # HF fixes the rest: 3 input channels, 64 bands, 256 learned / 64 conv channels, 1-head decoder with a
    # query residual. Only the learned model reads config.image_size (its position table); the Fourier
    # resolutions are 224 (pixels) and 56 = 224 / 4 (conv stem).
    return ImageClassifierConfig(
        encoder=encoder_config_from_hf(cfg),
        preprocessing=preprocessing,
        image_size=cfg.image_size if preprocessing == "learned" else 224,
        num_classes=cfg.num_labels,
    )


def _converter(preprocessing: str) -> Converter:
    """The converter of the HF image classifier with the given preprocessing."""
    return Converter(
        config_from_hf=lambda cfg: _config(preprocessing, cfg), build=build_image_classifier, rules=RULES
    )


LEARNED = _converter("learned")
FOURIER = _converter("fourier")
CONV = _converter("conv")
