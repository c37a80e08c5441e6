"""Multimodal adapter: adapt each modality, pad to a common width, optionally mask, concatenate."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from perceiver_io.adapters.base import AdaptedInput, InputAdapter


class MultimodalAdapter(InputAdapter):
    """Run one adapter per modality and concatenate their tokens along the token axis in sorted key order.

    Every modality is padded to ``max(num_channels) + min_padding_size`` channels with a learned
    per-modality vector (``padding[mod]``). Each token of a modality listed in ``mask_probs`` is replaced,
    with that probability, by a learned per-modality mask token (``mask_tokens[mod]``); like HF/DeepMind,
    this happens in eval mode too, so ``mask_probs={"label": 1.0}`` always hides the label.
    """

    def __init__(
        self,
        modalities: Mapping[str, InputAdapter],
        min_padding_size: int = 2,
        mask_probs: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__()
        if not modalities:
            raise ValueError("MultimodalAdapter needs at least one modality")
        mask_probs = dict(mask_probs or {})
        unknown = sorted(set(mask_probs) - set(modalities))
        if unknown:
            raise ValueError(f"mask_probs names modalities {unknown} that are not among {sorted(modalities)}")
        for name, p in mask_probs.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"mask_probs[{name!r}] must be in [0, 1], got {p}")
        if min_padding_size < 0:
            raise ValueError(f"min_padding_size must be >= 0, got {min_padding_size}")
        self.modalities = nn.ModuleDict(dict(modalities))
        self.min_padding_size = min_padding_size
        self.mask_probs = mask_probs
        width = self.num_channels
        self.padding = nn.ParameterDict(
            {name: nn.Parameter(torch.randn(1, width - a.num_channels)) for name, a in modalities.items()}
        )
        self.mask_tokens = nn.ParameterDict(
            {name: nn.Parameter(torch.randn(1, width)) for name in mask_probs}
        )

    @property
    def num_channels(self) -> int:
        return max(a.num_channels for a in self.modalities.values()) + self.min_padding_size

    @property
    def modality_names(self) -> list[str]:
        """Modality keys in concatenation (sorted) order."""
        return sorted(self.modalities.keys())

    def _mask(self, name: str, tokens: torch.Tensor) -> torch.Tensor:
        p = self.mask_probs.get(name, 0.0)
        if p == 0.0:
            return tokens
        token = self.mask_tokens[name].to(tokens.dtype)
        hit = torch.bernoulli(torch.full(tokens.shape[:2], p, device=tokens.device)).bool()
        return torch.where(hit[..., None], token, tokens)

    def forward(self, inputs: Mapping[str, torch.Tensor], **_: object) -> AdaptedInput:
        """``inputs`` maps every modality name to that adapter's input tensor."""
        if not isinstance(inputs, Mapping):
            raise ValueError(
                f"multimodal inputs must be a dict with keys {self.modality_names}, got {type(inputs)}"
            )
        if set(inputs) != set(self.modalities):
            raise ValueError(f"multimodal inputs must have keys {self.modality_names}, got {sorted(inputs)}")
        tokens, masks, without_pos, sizes = [], [], {}, {}
        width = self.num_channels
        for name in self.modality_names:
            adapted = self.modalities[name](inputs[name])
            x = adapted.tokens
            batch, length, channels = x.shape
            pad = self.padding[name].to(x.dtype).expand(batch, length, width - channels)
            x = self._mask(name, torch.cat([x, pad], dim=-1))
            tokens.append(x)
            masks.append(adapted.mask)
            without_pos[name] = adapted.without_pos
            sizes[name] = length
        mask = None
        if any(m is not None for m in masks):
            mask = torch.cat(
                [
                    m if m is not None else torch.ones(t.shape[:2], dtype=torch.bool, device=t.device)
                    for m, t in zip(masks, tokens, strict=True)
                ],
                dim=1,
            )
        out = torch.cat(tokens, dim=1)
        return AdaptedInput(
            tokens=out, mask=mask, without_pos=without_pos, modality_sizes=sizes, index_dims=(out.shape[1],)
        )
