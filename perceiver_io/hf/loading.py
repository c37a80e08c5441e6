"""Import Hugging Face / DeepMind Perceiver checkpoints into our models with numerically equal outputs."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from perceiver_io.hf.config import HFConfig, read_hf_config
from perceiver_io.hf.keys import load_mapped_state_dict


@dataclass(frozen=True)
class Converter:
    """How one HF architecture maps onto ours: config translation, model builder and key rules."""

    config_from_hf: Callable[[HFConfig], Any]
    build: Callable[[Any], nn.Module]
    rules: Sequence[tuple[str, str]]
    ignore_source: Sequence[str] = field(default_factory=tuple)


# HF class name -> "module:attribute" of its Converter; modules load lazily.
ARCHITECTURES: dict[str, str] = {
    "PerceiverModel": "perceiver_io.hf.encoder:PERCEIVER_MODEL",
    "PerceiverForMaskedLM": "perceiver_io.hf.text:MASKED_LM",
    "PerceiverForSequenceClassification": "perceiver_io.hf.text:SEQUENCE_CLASSIFICATION",
    "PerceiverForImageClassificationLearned": "perceiver_io.hf.image:LEARNED",
    "PerceiverForImageClassificationFourier": "perceiver_io.hf.image:FOURIER",
    "PerceiverForImageClassificationConvProcessing": "perceiver_io.hf.image:CONV",
    "PerceiverForOpticalFlow": "perceiver_io.hf.flow:OPTICAL_FLOW",
    "PerceiverForMultimodalAutoencoding": "perceiver_io.hf.multimodal:MULTIMODAL_AUTOENCODING",
}


def converter_for(architecture: str) -> Converter:
    """The converter registered for an HF architecture name."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unsupported HF architecture {architecture!r}; supported: {sorted(ARCHITECTURES)}")
    module_name, attribute = ARCHITECTURES[architecture].split(":")
    return getattr(importlib.import_module(module_name), attribute)


@dataclass(frozen=True)
class HFImport:
    """An imported HF checkpoint: our model (eval mode), its task config and the HF architecture name."""

    model: nn.Module
    config: Any
    architecture: str


def import_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    hf_config: Any,
    architecture: str | None = None,
) -> HFImport:
    """Build our model for an HF state dict and its config (object, dict or config.json path); offline.

    ``architecture`` defaults to the config's ``architectures[0]``.
    """
    cfg = read_hf_config(hf_config)
    if architecture is None:
        if not cfg.architectures:
            raise ValueError("the HF config names no architecture; pass architecture='PerceiverFor...'")
        architecture = cfg.architectures[0]
    converter = converter_for(architecture)
    config = converter.config_from_hf(cfg)
    model = converter.build(config)
    load_mapped_state_dict(model, state_dict, converter.rules, converter.ignore_source)
    return HFImport(model.eval(), config, architecture)


def from_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    hf_config: Any,
    architecture: str | None = None,
) -> nn.Module:
    """Our model for an HF state dict and its config, in eval mode (see :func:`import_state_dict`)."""
    return import_state_dict(state_dict, hf_config, architecture).model


# Weight files of a ``save_pretrained`` directory, in the order they are looked for.
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def import_pretrained(path: str | Path, architecture: str | None = None) -> HFImport:
    """Import a ``save_pretrained`` directory (config.json + model.safetensors or pytorch_model.bin), or one weight
    file with config.json beside it; no network and no transformers needed."""
    path = Path(path)
    if path.is_dir():
        weights = next((path / name for name in WEIGHT_FILES if (path / name).is_file()), None)
        if weights is None:
            raise FileNotFoundError(f"HF checkpoint {path}: no {' or '.join(WEIGHT_FILES)} in the directory")
        folder = path
    else:
        weights, folder = path, path.parent
    config = folder / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"HF checkpoint {path}: expected its config.json at {config}")
    return import_state_dict(load_state_dict_file(weights), config, architecture)


def from_huggingface(hf_model: nn.Module) -> nn.Module:
    """Our equivalent of a transformers Perceiver model, with its weights copied (eval mode)."""
    architecture = type(hf_model).__name__
    if architecture == "PerceiverModel" and (
        hf_model.input_preprocessor is not None or hf_model.decoder is not None
    ):
        raise ValueError("only a bare PerceiverModel (no preprocessor/decoder) maps onto an encoder; "
                         "use one of the PerceiverFor... task models")
    return from_state_dict(hf_model.state_dict(), hf_model.config, architecture)


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint file safely: safetensors, or a torch file with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file: one clear error
        raise ValueError(f"cannot read checkpoint {path}: expected a safetensors or torch state dict ({exc})") from exc
