"""A bare HF ``PerceiverModel`` (no preprocessor or decoder) maps onto our encoder over given tokens."""

from __future__ import annotations

from perceiver_io.hf.config import HFConfig, encoder_config_from_hf
from perceiver_io.hf.keys import LAYER_RULES
from perceiver_io.hf.loading import Converter
from perceiver_io.model import PerceiverIO


def _config(cfg: HFConfig) -> dict:
    return {"encoder": encoder_config_from_hf(cfg), "input_dim": cfg.d_model}


PERCEIVER_MODEL = Converter(
    config_from_hf=_config,
    build=lambda c: PerceiverIO(c["encoder"], input_dim=c["input_dim"]),
    rules=(
        (r"^encoder\.latents$", "embeddings.latents"),
        *LAYER_RULES,
    ),
)
