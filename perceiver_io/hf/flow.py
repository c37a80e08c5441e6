"""HF ``PerceiverForOpticalFlow`` -> our optical-flow Perceiver IO (patch projection, encoder, decoder)."""

from __future__ import annotations

from perceiver_io.hf.config import HFConfig, encoder_config_from_hf
from perceiver_io.hf.keys import ENCODER_RULES, LAYER_RULES, decoder_rules
from perceiver_io.hf.loading import Converter
from perceiver_io.tasks.flow import OpticalFlowConfig, build_optical_flow


def _config(cfg: HFConfig) -> OpticalFlowConfig:
    # HF fixes everything else (64 bands, Linear 54 -> 64, 1-head decoder without query residual).
    return OpticalFlowConfig(encoder=encoder_config_from_hf(cfg), train_size=tuple(cfg.train_size))


OPTICAL_FLOW = Converter(
    config_from_hf=_config,
    build=build_optical_flow,
    rules=(
        (r"^input_adapter\.image\.patch_projection\.", "perceiver.input_preprocessor.conv_after_patches."),
        *ENCODER_RULES,
        *decoder_rules("decoder.", "perceiver.decoder.decoder."),
        *LAYER_RULES,
    ),
)
