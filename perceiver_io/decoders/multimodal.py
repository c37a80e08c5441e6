"""Multimodal decoding: per-modality queries, padded and concatenated, read the latents in one attention."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from perceiver_io.adapters.base import AdaptedInput
from perceiver_io.decoders.base import OutputAdapter
from perceiver_io.decoders.basic import BasicDecoder
from perceiver_io.position_encoding import FourierPositionEncoding


def split_by_modality(x: torch.Tensor, sizes: Mapping[str, int]) -> dict[str, torch.Tensor]:
    """Cut [B, N, ...] along axis 1 into per-modality parts, taking the modalities in sorted key order."""
    total = sum(sizes.values())
    if x.shape[1] != total:
        raise ValueError(
            f"expected {total} positions on axis 1 (modality sizes {dict(sizes)}), got shape {tuple(x.shape)}"
        )
    parts, start = {}, 0
    for name in sorted(sizes):
        parts[name] = x[:, start : start + sizes[name]]
        start += sizes[name]
    return parts


class MultimodalDecoder(OutputAdapter):
    """Decode several modalities at once.

    Each modality's ``BasicDecoder`` (``queries_only=True``) builds its queries, which are padded with a
    learned per-modality vector to ``max(query channels) + min_padding_size`` and concatenated in sorted
    key order; one shared cross-attention (``shared``) decodes them all. ``subsampled_points`` maps a
    modality to the flat output indices to decode (absent or None: all of them). Fourier queries of all
    points use the coordinates ``-1 + 2 i / n`` that HF/DeepMind's chunked (subsampled) decoding uses,
    so one-shot and chunked decoding agree.
    """

    def __init__(
        self,
        latent_dim: int,
        modalities: Mapping[str, BasicDecoder],
        output_num_channels: int,
        min_padding_size: int = 2,
        num_heads: int = 1,
        qk_channels: int | None = None,
        v_channels: int | None = None,
        widening_factor: int = 1,
        use_query_residual: bool = False,
        final_project: bool = True,
        dropout: float = 0.0,
        shape_for_attention: str = "kv",
    ) -> None:
        super().__init__()
        if not modalities:
            raise ValueError("MultimodalDecoder needs at least one modality decoder")
        for name, decoder in modalities.items():
            if decoder.output_index_dims is None:
                raise ValueError(f"the {name!r} decoder needs output_index_dims to build its queries")
        self.modalities = nn.ModuleDict(dict(modalities))
        self.min_padding_size = min_padding_size
        width = self.num_query_channels
        self.padding = nn.ParameterDict(
            {
                name: nn.Parameter(torch.randn(1, width - d.num_query_channels))
                for name, d in modalities.items()
            }
        )
        self.shared = BasicDecoder(
            latent_dim,
            output_num_channels,
            num_channels=width,
            position_encoding="none",
            num_heads=num_heads,
            qk_channels=qk_channels,
            v_channels=v_channels,
            widening_factor=widening_factor,
            use_query_residual=use_query_residual,
            final_project=final_project,
            dropout=dropout,
            shape_for_attention=shape_for_attention,
        )

    @property
    def num_query_channels(self) -> int:
        return max(d.num_query_channels for d in self.modalities.values()) + self.min_padding_size

    def _points(self, subsampled_points: Mapping | None) -> dict[str, torch.Tensor | None]:
        if subsampled_points is None:
            subsampled_points = {}
        if not isinstance(subsampled_points, Mapping):
            raise ValueError(
                "subsampled_output_points must be a dict {modality: flat indices} for multimodal decoding"
            )
        unknown = sorted(set(subsampled_points) - set(self.modalities))
        if unknown:
            raise ValueError(f"subsampled_output_points names {unknown}, not among {sorted(self.modalities)}")
        points = {}
        for name, decoder in self.modalities.items():
            p = subsampled_points.get(name)
            full = math.prod(decoder.output_index_dims)
            if p is None and full > 1 and isinstance(decoder.query_encoding, FourierPositionEncoding):
                p = torch.arange(full)
            points[name] = None if p is None else torch.as_tensor(p).reshape(-1)
        return points

    def build_queries(self, adapted: AdaptedInput, subsampled_points: Mapping | None = None) -> torch.Tensor:
        if adapted.modality_sizes is None:
            raise ValueError(
                "multimodal decoding needs the adapter's modality_sizes (use a MultimodalAdapter)"
            )
        points = self._points(subsampled_points)
        tokens = split_by_modality(adapted.tokens, adapted.modality_sizes)
        without_pos = adapted.without_pos if isinstance(adapted.without_pos, Mapping) else {}
        width = self.num_query_channels
        queries = []
        for name in sorted(self.modalities):
            part = AdaptedInput(tokens=tokens[name], without_pos=without_pos.get(name))
            q = self.modalities[name].build_queries(part, points[name])
            q = q.reshape(q.shape[0], -1, q.shape[-1])
            pad = self.padding[name].to(q.dtype).expand(q.shape[0], q.shape[1], width - q.shape[-1])
            queries.append(torch.cat([q, pad], dim=-1))
        return torch.cat(queries, dim=1)

    def output_modality_sizes(
        self, adapted: AdaptedInput, subsampled_points: Mapping | None = None
    ) -> dict[str, int]:
        """Outputs per modality: the number of subsampled points, or the decoder's full output count."""
        sizes = {}
        for name, p in self._points(subsampled_points).items():
            full = math.prod(self.modalities[name].output_index_dims)
            sizes[name] = full if p is None or full == 1 else p.numel()
        return sizes

    def forward(
        self,
        queries: torch.Tensor,
        latents: torch.Tensor,
        query_mask: torch.Tensor | None = None,
        latent_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.shared(queries, latents, query_mask, latent_mask)


class MultimodalPostprocessor(nn.Module):
    """Split decoder outputs by modality (sorted order) and run each modality's postprocessor -> dict."""

    def __init__(self, modalities: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.modalities = nn.ModuleDict(dict(modalities))

    def forward(
        self, outputs: torch.Tensor, modality_sizes: Mapping[str, int] | None = None
    ) -> dict[str, torch.Tensor]:
        if modality_sizes is None:
            raise ValueError("the multimodal postprocessor needs modality_sizes to split the outputs")
        if set(modality_sizes) != set(self.modalities):
            raise ValueError(
                f"modality_sizes has keys {sorted(modality_sizes)}, expected {sorted(self.modalities)}"
            )
        parts = split_by_modality(outputs, modality_sizes)
        return {name: self.modalities[name](parts[name]) for name in sorted(self.modalities)}
