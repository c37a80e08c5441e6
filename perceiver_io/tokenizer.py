"""Byte-level tokenizer of the Perceiver IO language model: UTF-8 bytes shifted past six special ids.

Ids 0-5 are ``[PAD] [BOS] [EOS] [MASK] [CLS] [SEP]``; byte ``b`` has id ``b + 6`` (vocabulary 262).
Encoding wraps a text in ``[CLS] ... [SEP]`` by default, as Hugging Face's ``PerceiverTokenizer`` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

PAD_ID, BOS_ID, EOS_ID, MASK_ID, CLS_ID, SEP_ID = range(6)
SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[BOS]", "[EOS]", "[MASK]", "[CLS]", "[SEP]")
NUM_SPECIAL_TOKENS = len(SPECIAL_TOKENS)
VOCAB_SIZE = 256 + NUM_SPECIAL_TOKENS
IGNORE_INDEX = -100  # label of positions the MLM loss skips (torch's cross-entropy default)


class ByteTokenizer:
    """Text <-> byte ids, with padding, truncation and attention masks for batches."""

    vocab_size: int = VOCAB_SIZE
    pad_id: int = PAD_ID
    mask_id: int = MASK_ID
    cls_id: int = CLS_ID
    sep_id: int = SEP_ID

    def __init__(self, model_max_length: int = 2048, add_special_tokens: bool = True) -> None:
        if model_max_length < (2 if add_special_tokens else 1):
            raise ValueError(f"model_max_length must leave room for tokens, got {model_max_length}")
        self.model_max_length = model_max_length
        self.add_special_tokens = add_special_tokens

    def encode(
        self, text: str, add_special_tokens: bool | None = None, max_length: int | None = None
    ) -> list[int]:
        """Ids of one text; ``max_length`` truncates the bytes so that the result (with specials) fits."""
        special = self.add_special_tokens if add_special_tokens is None else add_special_tokens
        ids = [byte + NUM_SPECIAL_TOKENS for byte in text.encode("utf-8")]
        if max_length is not None:
            room = max_length - (2 if special else 0)
            if room < 0:
                raise ValueError(f"max_length={max_length} cannot hold the [CLS] and [SEP] tokens")
            ids = ids[:room]
        return [CLS_ID, *ids, SEP_ID] if special else ids

    def batch_encode(
        self,
        texts: str | Sequence[str],
        padding: str = "longest",
        max_length: int | None = None,
        truncation: bool = False,
        add_special_tokens: bool | None = None,
    ) -> dict[str, torch.Tensor]:
        """Encode texts into ``input_ids`` and ``attention_mask`` [B, N] (long; 1 = real token).

        ``padding="longest"`` pads to the longest text, ``"max_length"`` to ``max_length`` (default
        ``model_max_length``); padding goes on the right. ``truncation`` cuts texts to ``max_length``.
        """
        if isinstance(texts, str):
            texts = [texts]
        if padding not in ("longest", "max_length"):
            raise ValueError(f"padding must be 'longest' or 'max_length', got {padding!r}")
        limit = self.model_max_length if max_length is None else max_length
        encoded = [self.encode(t, add_special_tokens, limit if truncation else None) for t in texts]
        longest = max((len(ids) for ids in encoded), default=0)
        length = limit if padding == "max_length" else longest
        if longest > length:
            raise ValueError(
                f"a text has {longest} tokens but padding='max_length' allows {length}; pass truncation=True"
            )
        input_ids = torch.full((len(encoded), length), PAD_ID, dtype=torch.long)
        attention_mask = torch.zeros((len(encoded), length), dtype=torch.long)
        for row, ids in enumerate(encoded):
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, : len(ids)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    __call__ = batch_encode

    def decode(self, ids: Sequence[int] | torch.Tensor, skip_special_tokens: bool = True) -> str:
        """Ids -> text; special ids are dropped (or written as ``[CLS]`` etc.), bad UTF-8 becomes U+FFFD."""
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1:
                raise ValueError(f"decode expects ids of shape [tokens], got {tuple(ids.shape)}")
            ids = ids.tolist()
        out = bytearray()
        for i in ids:
            if not 0 <= i < VOCAB_SIZE:
                raise ValueError(f"token id {i} is outside the byte vocabulary [0, {VOCAB_SIZE})")
            if i >= NUM_SPECIAL_TOKENS:
                out.append(i - NUM_SPECIAL_TOKENS)
            elif not skip_special_tokens:
                out += SPECIAL_TOKENS[i].encode("utf-8")
        return out.decode("utf-8", errors="replace")

    def batch_decode(
        self, ids: torch.Tensor | Sequence[Sequence[int]], skip_special_tokens: bool = True
    ) -> list[str]:
        """Decode every row of [B, N] ids."""
        if isinstance(ids, torch.Tensor) and ids.dim() != 2:
            raise ValueError(f"batch_decode expects ids of shape [batch, tokens], got {tuple(ids.shape)}")
        return [self.decode(row, skip_special_tokens) for row in ids]


def apply_mask(
    input_ids: torch.Tensor, positions: torch.Tensor, replacement: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace ``positions`` (bool, same shape) by ``[MASK]`` (or ``replacement`` ids).

    Returns ``(masked_ids, labels)``: labels hold the original ids at masked positions, -100 elsewhere.
    """
    if positions.shape != input_ids.shape or positions.dtype != torch.bool:
        raise ValueError(
            f"mask positions must be a bool tensor of shape {tuple(input_ids.shape)}, "
            f"got {positions.dtype} {tuple(positions.shape)}"
        )
    fill = torch.full_like(input_ids, MASK_ID) if replacement is None else replacement
    masked = torch.where(positions, fill, input_ids)
    labels = torch.where(positions, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    return masked, labels


def mask_spans(
    input_ids: torch.Tensor, spans: Sequence[tuple[int, int]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask token positions ``[start, end)`` of every row (with ``[CLS]`` first, text byte k is at k + 1)."""
    length = input_ids.shape[-1]
    positions = torch.zeros_like(input_ids, dtype=torch.bool)
    for start, end in spans:
        if not 0 <= start <= end <= length:
            raise ValueError(f"span ({start}, {end}) is outside the {length} token positions")
        positions[..., start:end] = True
    return apply_mask(input_ids, positions)


def random_mask(
    input_ids: torch.Tensor,
    probability: float = 0.15,
    mask_fraction: float = 0.8,
    random_fraction: float = 0.1,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT-style MLM corruption: pick byte tokens with ``probability`` (specials and padding never).

    Of the picked tokens, ``mask_fraction`` become ``[MASK]``, ``random_fraction`` a random byte and the
    rest stay unchanged; all picked tokens get labels. Returns ``(corrupted_ids, labels)``.
    """
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be in [0, 1], got {probability}")
    if mask_fraction < 0 or random_fraction < 0 or mask_fraction + random_fraction > 1.0:
        raise ValueError("mask_fraction and random_fraction must be >= 0 and sum to at most 1")
    device = input_ids.device

    def uniform() -> torch.Tensor:
        return torch.rand(input_ids.shape, generator=generator, device=device)

    picked = (uniform() < probability) & (input_ids >= NUM_SPECIAL_TOKENS)
    draw = uniform()
    random_bytes = torch.randint(
        NUM_SPECIAL_TOKENS, VOCAB_SIZE, input_ids.shape, generator=generator, device=device
    ).to(input_ids.dtype)
    replacement = torch.where(draw < mask_fraction, torch.full_like(input_ids, MASK_ID), input_ids)
    replacement = torch.where(
        (draw >= mask_fraction) & (draw < mask_fraction + random_fraction), random_bytes, replacement
    )
    return apply_mask(input_ids, picked, replacement)
