"""Perceiver IO: input adapter -> encoder (latents) -> query decoder -> postprocessor."""

from __future__ import annotations

import torch
from torch import nn

from perceiver_io.adapters.base import AdaptedInput, InputAdapter
from perceiver_io.checks import check_mask, check_tokens, float_input
from perceiver_io.config import EncoderConfig
from perceiver_io.decoders.base import OutputAdapter
from perceiver_io.encoder import PerceiverEncoder


class PerceiverIO(nn.Module):
    """A Perceiver IO model assembled from parts.

    Without an input adapter the inputs must already be tokens [B, N, input_dim]. Without a decoder the
    model returns the latents. ``attention_mask`` [B, N] (1/True = real token) masks the encoder's
    cross-attention; an adapter may supply its own mask (e.g. entity sets), and the two are combined. Floating
    inputs and queries of another dtype are cast to the model's (``perceiver_io.checks``).
    """

    def __init__(
        self,
        encoder_config: EncoderConfig,
        input_adapter: InputAdapter | None = None,
        decoder: OutputAdapter | None = None,
        postprocessor: nn.Module | None = None,
        input_dim: int | None = None,
    ) -> None:
        super().__init__()
        if input_adapter is None and input_dim is None:
            raise ValueError("PerceiverIO needs an input_adapter or an input_dim for pre-tokenised inputs")
        self.input_adapter = input_adapter
        self.input_dim = input_adapter.num_channels if input_adapter is not None else int(input_dim)
        self.encoder = PerceiverEncoder(encoder_config, self.input_dim)
        self.decoder = decoder
        self.postprocessor = postprocessor

    def adapt(self, inputs, **adapter_kwargs) -> AdaptedInput:
        """Run the input adapter (or check pre-tokenised inputs)."""
        if self.input_adapter is not None:
            return self.input_adapter(inputs, **adapter_kwargs)
        check_tokens("inputs", inputs, self.input_dim)
        inputs = float_input("inputs", inputs, self)
        return AdaptedInput(tokens=inputs, index_dims=(inputs.shape[1],))

    def encode(
        self, inputs, attention_mask: torch.Tensor | None = None, **adapter_kwargs
    ) -> tuple[torch.Tensor, AdaptedInput]:
        """Inputs -> (latents [B, num_latents, d_latents], the adapted input)."""
        adapted = self.adapt(inputs, **adapter_kwargs)
        batch, length = adapted.tokens.shape[:2]
        mask = check_mask("attention_mask", attention_mask, batch, length)
        if adapted.mask is not None:
            mask = adapted.mask if mask is None else mask & adapted.mask
        adapted.mask = mask
        return self.encoder(adapted.tokens, mask), adapted

    def forward(
        self,
        inputs,
        attention_mask: torch.Tensor | None = None,
        subsampled_output_points: torch.Tensor | dict | None = None,
        queries: torch.Tensor | None = None,
        query_mask: torch.Tensor | None = None,
        **adapter_kwargs,
    ):
        """Encode and decode. ``queries`` overrides the decoder's own queries; ``query_mask`` zeroes rows."""
        latents, adapted = self.encode(inputs, attention_mask, **adapter_kwargs)
        if self.decoder is None:
            return latents
        if queries is None:
            queries = self.decoder.build_queries(adapted, subsampled_output_points)
        else:
            queries = float_input("queries", queries, self)
        if query_mask is not None:
            query_mask = check_mask("query_mask", query_mask, queries.shape[0], queries.shape[1])
        outputs = self.decoder(queries, latents, query_mask=query_mask)
        if self.postprocessor is not None:
            sizes = self.decoder.output_modality_sizes(adapted, subsampled_output_points)
            outputs = self.postprocessor(outputs, modality_sizes=sizes)
        return outputs
