"""Shape checks that turn a wrong tensor into one ValueError naming what was expected."""

from __future__ import annotations

import torch


def check_tokens(name: str, x: torch.Tensor, channels: int | None = None) -> None:
    """Require a [batch, tokens, channels] tensor, optionally with a given channel count."""
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
    if x.dim() not in ranks:
        raise ValueError(f"{name} must have shape {layout}, got a rank-{x.dim()} tensor of shape {tuple(x.shape)}")
