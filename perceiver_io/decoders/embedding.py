"""Tied output embedding: decoder outputs -> vocabulary logits through the input token embedding."""

from __future__ import annotations

import torch
from torch import nn

from perceiver_io.linear import linear


class EmbeddingDecoder(nn.Module):
    """Logits ``h @ E^T + bias`` where ``E`` is the input adapter's token embedding (tied, not copied), by
    ``perceiver_io.linear.linear`` (on CPU float32 the bias is added in the kernel, not by a copy before the matmul).

    The embedding module is referenced, not registered as a submodule: its weight stays one parameter
    owned by the input adapter, so state dicts hold it once (safetensors-safe) and only ``bias`` is ours.
    It is looked up at call time, so device/dtype moves and ``load_state_dict(assign=True)`` keep the tie.
    """

    def __init__(self, embedding: nn.Embedding) -> None:
        super().__init__()
        object.__setattr__(self, "_embedding", embedding)  # bypass nn.Module registration on purpose
        self.bias = nn.Parameter(torch.zeros(embedding.num_embeddings))

    @property
    def embedding(self) -> nn.Embedding:
        """The tied token embedding (owned by the input adapter)."""
        return self._embedding

    def forward(self, outputs: torch.Tensor, modality_sizes: dict[str, int] | None = None) -> torch.Tensor:
        """``outputs`` [B, M, d_model] -> logits [B, M, vocab_size]."""
        weight = self._embedding.weight
        if outputs.dim() != 3 or outputs.shape[-1] != weight.shape[1]:
            raise ValueError(
                f"embedding decoder inputs must have shape [batch, positions, {weight.shape[1]}], "
                f"got {tuple(outputs.shape)}"
            )
        return linear(outputs, weight, self.bias)  # the bias added in oneDNN's kernel on CPU float32

    def extra_repr(self) -> str:
        return f"tied to Embedding({self._embedding.num_embeddings}, {self._embedding.embedding_dim})"
