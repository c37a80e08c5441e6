"""Text adapter: token ids -> learned token embeddings plus learned absolute position embeddings."""

from __future__ import annotations

import torch
from torch import nn

from perceiver_io.adapters.base import AdaptedInput, InputAdapter
from perceiver_io.checks import check_token_ids


class TextAdapter(InputAdapter):
    """Embed ids [B, N] as ``token_embedding(ids) + position_embedding(0 .. N-1)``, N <= max positions.

    ``without_pos`` is the token embedding alone; ``token_embedding`` is also the tied output embedding of
    the masked-language-model decoder.
    """

    def __init__(
        self, vocab_size: int = 262, max_position_embeddings: int = 2048, d_model: int = 768
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position_embedding = nn.Embedding(max_position_embeddings, d_model)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.02)

    @property
    def num_channels(self) -> int:
        return self.token_embedding.embedding_dim

    def forward(self, inputs: torch.Tensor, **_: object) -> AdaptedInput:
        """``inputs``: integer token ids [batch, tokens]."""
        check_token_ids("text inputs", inputs, self.token_embedding.num_embeddings)
        length = inputs.shape[1]
        if length > self.max_position_embeddings:
            raise ValueError(
                f"text inputs must have shape [batch, tokens] with tokens <= max_position_embeddings "
                f"({self.max_position_embeddings}), got {tuple(inputs.shape)}"
            )
        without_pos = self.token_embedding(inputs)
        positions = self.position_embedding(torch.arange(length, device=inputs.device))
        return AdaptedInput(tokens=without_pos + positions, without_pos=without_pos, index_dims=(length,))
