"""Autoencode a whole clip by decoding its outputs in chunks of subsampled points (memory-bounded)."""

from __future__ import annotations

import math

import torch

from perceiver_io.decoders.multimodal import MultimodalDecoder, split_by_modality
from perceiver_io.model import PerceiverIO


def autoencode_in_chunks(
    model: PerceiverIO,
    inputs: dict[str, torch.Tensor],
    num_chunks: int,
    attention_mask: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Encode once, then decode every multi-output modality in ``num_chunks`` consecutive index ranges.

    Chunk outputs are concatenated, and reshaped to the decoder's ``output_index_dims`` when those have
    several axes (video [B, T, H, W, 3]); single-output modalities (the label) come from the first chunk.
    The paper decodes 16x224x224 video and 1920 audio patches in 128 chunks.
    """
    decoder = model.decoder
    if not isinstance(decoder, MultimodalDecoder):
        raise ValueError("chunked autoencoding needs a model whose decoder is a MultimodalDecoder")
    if num_chunks < 1:
        raise ValueError(f"num_chunks must be >= 1, got {num_chunks}")
    dims = {name: d.output_index_dims for name, d in decoder.modalities.items()}
    chunked = {name: math.prod(d) for name, d in dims.items() if math.prod(d) > 1}
    for name, count in chunked.items():
        if count % num_chunks:
            raise ValueError(f"{name!r} has {count} outputs, which {num_chunks} chunks do not divide evenly")
    latents, adapted = model.encode(inputs, attention_mask)
    pieces: dict[str, list[torch.Tensor]] = {name: [] for name in dims}
    for i in range(num_chunks):
        points = {}
        for name, count in chunked.items():
            size = count // num_chunks
            points[name] = torch.arange(i * size, (i + 1) * size, device=latents.device)
        outputs = decoder(decoder.build_queries(adapted, points), latents)
        sizes = decoder.output_modality_sizes(adapted, points)
        parts = (
            model.postprocessor(outputs, sizes)
            if model.postprocessor is not None
            else split_by_modality(outputs, sizes)
        )
        for name, part in parts.items():
            if name in chunked or i == 0:
                pieces[name].append(part)
    result = {}
    for name, chunks in pieces.items():
        x = torch.cat(chunks, dim=1) if name in chunked else chunks[0]
        if name in chunked and len(dims[name]) > 1 and x.shape[1] == chunked[name]:
            x = x.reshape(x.shape[0], *dims[name], *x.shape[2:])
        result[name] = x
    return result
