"""Read a Hugging Face ``PerceiverConfig`` (object, dict or config.json) without needing transformers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from perceiver_io.config import EncoderConfig

# Defaults of transformers' PerceiverConfig, used when a config.json omits a field.
HF_DEFAULTS: dict[str, Any] = {
    "num_latents": 256,
    "d_latents": 1280,
    "d_model": 768,
    "num_blocks": 1,
    "num_self_attends_per_block": 26,
    "num_self_attention_heads": 8,
    "num_cross_attention_heads": 8,
    "qk_channels": None,
    "v_channels": None,
    "cross_attention_shape_for_attention": "kv",
    "self_attention_widening_factor": 1,
    "cross_attention_widening_factor": 1,
    "hidden_act": "gelu",
    "attention_probs_dropout_prob": 0.1,
    "use_query_residual": True,
    "vocab_size": 262,
    "max_position_embeddings": 2048,
    "image_size": 56,
    "train_size": [368, 496],
    "num_frames": 16,
    "audio_samples_per_frame": 1920,
    "samples_per_patch": 16,
    "output_shape": [1, 16, 224, 224],
    "output_num_channels": 512,
    "_label_trainable_num_channels": 1024,
    "num_labels": 2,
}


class HFConfig:
    """Attribute view of an HF Perceiver config with HF's defaults filled in."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = {**HF_DEFAULTS, **values}
        if "id2label" in values and "num_labels" not in values:
            self._values["num_labels"] = len(values["id2label"])

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"HF Perceiver config has no field {name!r}") from None

    @property
    def architectures(self) -> list[str]:
        return list(self._values.get("architectures") or [])


def read_hf_config(config: Any) -> HFConfig:
    """Accept a transformers config, a dict, or a path to config.json."""
    if isinstance(config, HFConfig):
        return config
    if isinstance(config, str | Path):
        path = Path(config)
        try:
            values = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read HF config {path}: expected a JSON object ({exc})") from exc
        return HFConfig(values)
    if isinstance(config, dict):
        return HFConfig(config)
    if hasattr(config, "to_dict"):
        values = config.to_dict()
        values["num_labels"] = getattr(config, "num_labels", values.get("num_labels", 2))
        values["_label_trainable_num_channels"] = getattr(config, "_label_trainable_num_channels", 1024)
        return HFConfig(values)
    raise TypeError(f"expected an HF PerceiverConfig, dict or config.json path, got {type(config).__name__}")


def encoder_config_from_hf(cfg: HFConfig) -> EncoderConfig:
    """The encoder part of an HF config, in eval semantics (attention dropout as configured)."""
    if cfg.hidden_act != "gelu":
        raise ValueError(f"only hidden_act='gelu' (exact GELU) is supported, got {cfg.hidden_act!r}")
    return EncoderConfig(
        num_latents=cfg.num_latents,
        d_latents=cfg.d_latents,
        num_blocks=cfg.num_blocks,
        num_self_attends_per_block=cfg.num_self_attends_per_block,
        num_self_attention_heads=cfg.num_self_attention_heads,
        num_cross_attention_heads=cfg.num_cross_attention_heads,
        qk_channels=cfg.qk_channels,
        v_channels=cfg.v_channels,
        cross_attention_shape_for_attention=cfg.cross_attention_shape_for_attention,
        self_attention_widening_factor=cfg.self_attention_widening_factor,
        cross_attention_widening_factor=cfg.cross_attention_widening_factor,
        use_query_residual=cfg.use_query_residual,
        attention_dropout=float(cfg.attention_probs_dropout_prob),
    )
