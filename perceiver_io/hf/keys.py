"""Map our parameter names to Hugging Face's and copy a state dict with strict, named checks."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import torch
from torch import nn

# Layer internals: our module names -> HF's PerceiverLayer names. Our names are unique to the layers,
# so these substitutions are safe on any full key.
LAYER_RULES: tuple[tuple[str, str], ...] = (
    (r"\.q_norm\.", ".attention.self.layernorm1."),
    (r"\.kv_norm\.", ".attention.self.layernorm2."),
    (r"(self_attends\.\d+)\.norm\.", r"\1.attention.self.layernorm1."),
    (r"\.attention\.q_proj\.", ".attention.self.query."),
    (r"\.attention\.k_proj\.", ".attention.self.key."),
    (r"\.attention\.v_proj\.", ".attention.self.value."),
    (r"\.attention\.out_proj\.", ".attention.output.dense."),
    (r"\.mlp_norm\.", ".layernorm."),
    (r"\.mlp\.fc1\.", ".mlp.dense1."),
    (r"\.mlp\.fc2\.", ".mlp.dense2."),
)

# The encoder inside a task model (our ``encoder.*`` -> HF's ``perceiver.{embeddings,encoder}.*``).
ENCODER_RULES: tuple[tuple[str, str], ...] = (
    (r"^encoder\.latents$", "perceiver.embeddings.latents"),
    (r"^encoder\.", "perceiver.encoder."),
)


def decoder_rules(ours: str, theirs: str) -> tuple[tuple[str, str], ...]:
    """Rules for a BasicDecoder-like module at ``ours`` (e.g. ``decoder.``) stored at HF's ``theirs``."""
    o = re.escape(ours)
    return (
        (rf"^{o}query_encoding\.embeddings$", f"{theirs}output_position_encodings.position_embeddings"),
        (rf"^{o}query_projection\.", f"{theirs}positions_projection."),
        (rf"^{o}cross_attention\.", f"{theirs}decoding_cross_attention."),
        (rf"^{o}final_layer\.", f"{theirs}final_layer."),
    )


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model: missing, unexpected or mis-shaped keys."""


def rename(key: str, rules: Sequence[tuple[str, str]]) -> str:
    """Apply every substitution rule, in order, to one key."""
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


def load_mapped_state_dict(
    model: nn.Module,
    source: Mapping[str, torch.Tensor],
    rules: Sequence[tuple[str, str]],
    ignore_source: Sequence[str] = (),
) -> None:
    """Copy ``source`` (HF-named) into ``model`` through ``rules``; raise one error listing every mismatch.

    ``ignore_source`` lists regexes of source keys that have no counterpart by design (e.g. tied weights).
    """
    target = model.state_dict()
    mapping = {ours: rename(ours, rules) for ours in target}
    problems: list[str] = []
    used: set[str] = set()
    loaded: dict[str, torch.Tensor] = {}
    for ours, theirs in mapping.items():
        expected = tuple(target[ours].shape)
        if theirs not in source:
            problems.append(f"missing key {theirs!r} (model expects shape {expected}, checkpoint has none)")
            continue
        used.add(theirs)
        got = tuple(source[theirs].shape)
        if got != expected:
            problems.append(f"key {theirs!r} has shape {got} in the checkpoint but the model expects {expected}")
            continue
        loaded[ours] = source[theirs]
    ignored = [re.compile(p) for p in ignore_source]
    for theirs in source:
        if theirs not in used and not any(p.search(theirs) for p in ignored):
            problems.append(
                f"unexpected key {theirs!r} with shape {tuple(source[theirs].shape)} (the model has no such parameter)"
            )
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise CheckpointMismatchError(f"checkpoint does not match the model:\n  {shown}{more}")
    model.load_state_dict(loaded, strict=True)
