"""Input checks that turn a wrong tensor into one ValueError naming what was expected, and the dtype rule.

Dtype rule (every public entry point: the input adapters, ``PerceiverIO``, ``Perceiver``, ``PerceiverEncoder``):
a floating input of any dtype (float64 from numpy, half, bfloat16) is cast to the model's dtype (its parameters',
float32 unless the model was converted), since the model computes in its own dtype either way; a tensor that is not
floating (ints, bools: except the text adapter's token ids, integers in [0, vocab_size)) raises one ValueError
naming the argument, and so does anything that is not a torch.Tensor (a numpy array: ``torch.from_numpy`` it).
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn


def check_tensor(name: str, x: Any) -> None:
    """Require a torch.Tensor (numpy arrays are not converted: which device and dtype is the caller's choice)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__} (torch.from_numpy converts a numpy "
                         "array)")  # fmt: skip


def check_tokens(name: str, x: torch.Tensor, channels: int | None = None) -> None:
    """Require a [batch, tokens, channels] tensor, optionally with a given channel count."""
    check_tensor(name, x)
    if x.dim() != 3:
        raise ValueError(
            f"{name} must have shape [batch, tokens, {channels if channels is not None else 'channels'}], "
            f"got a rank-{x.dim()} tensor of shape {tuple(x.shape)}"
        )
    if channels is not None and x.shape[-1] != channels:
        raise ValueError(
            f"{name} must have shape [batch, tokens, {channels}], got {tuple(x.shape)} "
            f"({x.shape[-1]} channels instead of {channels})"
        )


def check_mask(name: str, mask: torch.Tensor | None, batch: int, length: int) -> torch.Tensor | None:
    """Require a [batch, length] mask and return it as bool (1/0 and float masks are accepted)."""
    if mask is None:
        return None
    if tuple(mask.shape) != (batch, length):
        raise ValueError(f"{name} must have shape [batch, tokens] = ({batch}, {length}), got {tuple(mask.shape)}")
    return mask if mask.dtype == torch.bool else mask != 0


def check_rank(name: str, x: torch.Tensor, ranks: tuple[int, ...], layout: str) -> None:
    """Require ``x`` to have one of ``ranks`` dimensions, describing the expected ``layout``."""
    check_tensor(name, x)
    if x.dim() not in ranks:
        raise ValueError(f"{name} must have shape {layout}, got a rank-{x.dim()} tensor of shape {tuple(x.shape)}")


def check_token_ids(name: str, ids: Any, vocab_size: int) -> None:
    """Require integer token ids [batch, tokens] in [0, ``vocab_size``) (one cheap min/max on the happy path)."""
    check_tensor(name, ids)
    if ids.dim() != 2 or ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise ValueError(f"{name} must be integer token ids of shape [batch, tokens], got {ids.dtype} "
                         f"{tuple(ids.shape)}")  # fmt: skip
    if ids.numel() and bool((ids.min() < 0) | (ids.max() >= vocab_size)):
        bad = ((ids < 0) | (ids >= vocab_size)).nonzero()[0].tolist()
        raise ValueError(f"{name} must be token ids in [0, {vocab_size}) (the vocabulary), got "
                         f"{ids[tuple(bad)].item()} at {bad}")  # fmt: skip


def model_dtype(module: nn.Module) -> torch.dtype:
    """The dtype ``module`` computes in: its first floating parameter's or buffer's, else torch's default."""
    for tensor in itertools.chain(module.parameters(), module.buffers()):  # lazily: usually the first one answers
        if tensor.dtype.is_floating_point:
            return tensor.dtype
    return torch.get_default_dtype()


def float_input(name: str, x: Any, module: nn.Module) -> torch.Tensor:
    """``x`` cast to ``module``'s dtype (see the module docstring); one ValueError naming ``name`` if it is not a
    floating-point tensor."""
    dtype = model_dtype(module)
    check_tensor(name, x)
    if not x.dtype.is_floating_point:
        raise ValueError(f"{name} must be a floating-point tensor (cast to the model's {dtype}), got {x.dtype}")
    return x if x.dtype == dtype else x.to(dtype)
