"""The basic Perceiver IO decoder: position-encoding queries (optionally with the inputs) read the latents."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from perceiver_io.adapters.base import AdaptedInput
from perceiver_io.decoders.base import OutputAdapter
from perceiver_io.layers import CrossAttentionLayer
from perceiver_io.position_encoding import FourierPositionEncoding, build_position_encoding


class BasicDecoder(OutputAdapter):
    """Queries from a trainable or Fourier position encoding over ``output_index_dims``.

    ``concat_preprocessed_input`` prepends the adapter's ``without_pos`` content to the queries;
    ``subsampled_points`` (flat indices into ``output_index_dims``) decode only those outputs;
    ``queries_only`` builds the queries but no attention (a per-modality part of a multimodal decoder).
    ``position_encoding="none"`` expects queries from elsewhere (``num_channels`` wide).
    ``shape_for_attention`` sizes the default qk width as in the encoder (HF passes its config's value).
    As in HF/DeepMind, subsampled Fourier queries sit at ``-1 + 2 i / n`` (a half-open grid) while the
    full grid is ``linspace(-1, 1, n)``; decode in chunks of subsampled points for consistent outputs.
    """

    def __init__(
        self,
        latent_dim: int,
        output_num_channels: int,
        output_index_dims: int | Sequence[int] | None = None,
        num_channels: int = 128,
        position_encoding: str = "trainable",
        position_encoding_kwargs: dict | None = None,
        num_heads: int = 1,
        qk_channels: int | None = None,
        v_channels: int | None = None,
        widening_factor: int = 1,
        use_query_residual: bool = False,
        concat_preprocessed_input: bool = False,
        final_project: bool = True,
        queries_only: bool = False,
        dropout: float = 0.0,
        shape_for_attention: str = "kv",
    ) -> None:
        super().__init__()
        if isinstance(output_index_dims, int):
            output_index_dims = (output_index_dims,)
        self.output_index_dims = tuple(output_index_dims) if output_index_dims is not None else None
        self.output_num_channels = output_num_channels
        self.num_channels = num_channels
        self.position_encoding_type = position_encoding
        self.concat_preprocessed_input = concat_preprocessed_input
        self.queries_only = queries_only
        self.query_encoding: nn.Module | None = None
        self.query_projection: nn.Module | None = None
        kwargs = dict(position_encoding_kwargs or {})
        self._project_pos_dim = kwargs.get("project_pos_dim", -1)
        if position_encoding != "none":
            self.query_encoding, self.query_projection = build_position_encoding(position_encoding, **kwargs)
        if not queries_only:
            self.cross_attention = CrossAttentionLayer(
                q_dim=num_channels,
                kv_dim=latent_dim,
                num_heads=num_heads,
                qk_channels=qk_channels,
                v_channels=v_channels,
                widening_factor=widening_factor,
                use_query_residual=use_query_residual,
                dropout=dropout,
                shape_for_attention=shape_for_attention,
            )
            self.final_layer = nn.Linear(num_channels, output_num_channels) if final_project else nn.Identity()

    @property
    def num_query_channels(self) -> int:
        if self.queries_only:
            if self.query_encoding is None:
                raise ValueError("a decoder with position_encoding='none' has no query channels of its own")
            return self._project_pos_dim if self._project_pos_dim > 0 else self.query_encoding.num_channels
        return self.num_channels

    def _positions(self, points: torch.Tensor, batch_size: int) -> torch.Tensor:
        """Flat output indices -> coordinates in [-1, 1) per output axis, [B, P, d]."""
        coords = torch.stack(torch.unravel_index(points.long(), self.output_index_dims), dim=-1).float()
        dims = torch.tensor(self.output_index_dims, dtype=torch.float32, device=coords.device)
        return (-1.0 + 2.0 * coords / dims).expand(batch_size, -1, -1)

    def build_queries(
        self, adapted: AdaptedInput, subsampled_points: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.query_encoding is None:
            raise ValueError("this decoder takes its queries from the caller (position_encoding='none')")
        tokens = adapted.tokens
        batch = tokens.shape[0]
        if self.output_index_dims is None:
            raise ValueError("output_index_dims must be set to build position-encoding queries")
        if isinstance(self.query_encoding, FourierPositionEncoding):
            pos = None if subsampled_points is None else self._positions(subsampled_points.to(tokens.device), batch)
            queries = self.query_encoding(
                self.output_index_dims, batch, pos=pos, device=tokens.device, dtype=tokens.dtype
            )
        else:
            queries = self.query_encoding(batch)
            if subsampled_points is not None and queries.shape[1] == math.prod(self.output_index_dims) > 1:
                queries = queries[:, subsampled_points.to(tokens.device).long()]
        queries = self.query_projection(queries)
        if self.concat_preprocessed_input:
            if adapted.without_pos is None:
                raise ValueError("concat_preprocessed_input needs the adapter's inputs without positions")
            queries = torch.cat([adapted.without_pos, queries], dim=-1)
        return queries

    def forward(
        self,
        queries: torch.Tensor,
        latents: torch.Tensor,
        query_mask: torch.Tensor | None = None,
        latent_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.queries_only:
            raise RuntimeError("a queries_only decoder only builds queries; decode with the shared decoder")
        return self.final_layer(self.cross_attention(queries, latents, kv_mask=latent_mask, q_mask=query_mask))
