"""Byte tokenizer, text adapter, tied embedding decoder and the text task models (HF parity)."""

import copy

import pytest
import torch
from safetensors.torch import load_file, save_file

from perceiver_io.adapters.text import TextAdapter
from perceiver_io.config import EncoderConfig
from perceiver_io.hf import CheckpointMismatchError, from_huggingface, from_state_dict
from perceiver_io.tasks.text import (
    MaskedLMConfig,
    TextClassifierConfig,
    build_masked_lm,
    build_text_classifier,
)
from perceiver_io.tokenizer import (
    CLS_ID,
    IGNORE_INDEX,
    MASK_ID,
    NUM_SPECIAL_TOKENS,
    ByteTokenizer,
    mask_spans,
    random_mask,
)

transformers = pytest.importorskip("transformers")

TEXTS = ["hello world", "Grüße, 世界! 🤖", "", "This is an incomplete sentence where some words are missing."]


@pytest.fixture(scope="module")
def hf_tokenizer():
    return transformers.PerceiverTokenizer()


# ----------------------------------------------------------------------------------------------- tokenizer


def test_tokenizer_ids_equal_hf(hf_tokenizer):
    tok = ByteTokenizer()
    for text in TEXTS:
        assert tok.encode(text) == hf_tokenizer(text)["input_ids"]
        bare = hf_tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tok.encode(text, add_special_tokens=False) == bare
    for kwargs in (
        dict(padding="longest"),
        dict(padding="max_length", max_length=16, truncation=True),
        dict(padding="max_length", max_length=2, truncation=True),
    ):
        ours = tok.batch_encode(TEXTS, **kwargs)
        theirs = hf_tokenizer(TEXTS, return_tensors="pt", **kwargs)
        assert torch.equal(ours["input_ids"], theirs["input_ids"]), kwargs
        assert torch.equal(ours["attention_mask"], theirs["attention_mask"]), kwargs
    full = tok(["hi"], padding="max_length")
    assert full["input_ids"].shape == (1, 2048) and full["attention_mask"].sum() == 4


def test_tokenizer_decode_round_trip_and_equals_hf(hf_tokenizer):
    tok = ByteTokenizer()
    batch = tok.batch_encode(TEXTS)
    assert tok.batch_decode(batch["input_ids"]) == TEXTS
    for text in TEXTS:
        ids = tok.encode(text)
        assert tok.decode(ids) == text == hf_tokenizer.decode(ids, skip_special_tokens=True)
        assert tok.decode(ids, skip_special_tokens=False) == hf_tokenizer.decode(ids)
    # A multi-byte character cut in half is not valid UTF-8: it decodes to U+FFFD, like HF.
    cut = tok.encode("世")[:-2]
    assert tok.decode(cut) == "\ufffd" == hf_tokenizer.decode(cut, skip_special_tokens=True)
    assert tok.decode([MASK_ID, CLS_ID, 110], skip_special_tokens=False) == "[MASK][CLS]h"


def test_tokenizer_errors():
    tok = ByteTokenizer()
    with pytest.raises(ValueError, match="vocabulary"):
        tok.decode([262])
    with pytest.raises(ValueError, match="truncation"):
        tok.batch_encode(["a long text"], padding="max_length", max_length=4)
    with pytest.raises(ValueError, match="padding"):
        tok.batch_encode(["x"], padding="left")
    with pytest.raises(ValueError, match=r"\[batch, tokens\]"):
        tok.batch_decode(torch.zeros(3, dtype=torch.long))


def test_mask_spans_matches_hf_example():
    tok = ByteTokenizer()
    text = "This is an incomplete sentence where some words are missing."
    ids = tok.batch_encode([text], padding="max_length")["input_ids"]
    masked, labels = mask_spans(ids, [(52, 61)])
    assert (masked[0, 52:61] == MASK_ID).all()
    assert torch.equal(masked[0, :52], ids[0, :52]) and torch.equal(masked[0, 61:], ids[0, 61:])
    assert tok.decode(labels[0, 52:61]) == " missing."
    assert (labels[0, :52] == IGNORE_INDEX).all() and (labels[0, 61:] == IGNORE_INDEX).all()
    with pytest.raises(ValueError, match="span"):
        mask_spans(ids, [(10, 3000)])


def test_random_mask_only_touches_bytes_and_labels_them():
    tok = ByteTokenizer()
    batch = tok.batch_encode(["abcdefgh" * 40, "short"], padding="longest")
    ids = batch["input_ids"]
    is_byte = ids >= NUM_SPECIAL_TOKENS
    everything, labels = random_mask(ids, probability=1.0, mask_fraction=1.0, random_fraction=0.0)
    assert (everything[is_byte] == MASK_ID).all() and torch.equal(everything[~is_byte], ids[~is_byte])
    assert torch.equal(labels[is_byte], ids[is_byte]) and (labels[~is_byte] == IGNORE_INDEX).all()

    big = torch.randint(NUM_SPECIAL_TOKENS, 262, (64, 256))
    gen = torch.Generator().manual_seed(3)
    corrupted, labels = random_mask(big, probability=0.15, generator=gen)
    picked = labels != IGNORE_INDEX
    assert abs(picked.float().mean().item() - 0.15) < 0.01
    assert torch.equal(labels[picked], big[picked]) and torch.equal(corrupted[~picked], big[~picked])
    as_mask = (corrupted[picked] == MASK_ID).float().mean().item()
    assert abs(as_mask - 0.8) < 0.03
    again, _ = random_mask(big, probability=0.15, generator=torch.Generator().manual_seed(3))
    assert torch.equal(again, corrupted)
    with pytest.raises(ValueError, match="probability"):
        random_mask(big, probability=1.5)


# ------------------------------------------------------------------------------------------------ adapter


def test_text_adapter_shapes_and_errors():
    adapter = TextAdapter(vocab_size=262, max_position_embeddings=8, d_model=16)
    ids = torch.randint(0, 262, (2, 5))
    out = adapter(ids)
    assert out.tokens.shape == (2, 5, 16) and out.index_dims == (5,) and adapter.num_channels == 16
    torch.testing.assert_close(out.without_pos, adapter.token_embedding(ids))
    positions = adapter.position_embedding.weight[:5].expand(2, -1, -1)
    torch.testing.assert_close(out.tokens - out.without_pos, positions)
    with pytest.raises(ValueError, match=r"\[batch, tokens\]"):
        adapter(ids[0])
    with pytest.raises(ValueError, match="integer token ids"):
        adapter(ids.float())
    with pytest.raises(ValueError, match="max_position_embeddings"):
        adapter(torch.zeros(1, 9, dtype=torch.long))


# ------------------------------------------------------------------------------------------------- models


def test_masked_lm_always_decodes_every_position():
    model = build_masked_lm(MaskedLMConfig.small(max_position_embeddings=10)).eval()
    logits = model(torch.randint(0, 262, (1, 5)))
    assert logits.shape == (1, 10, 262)
    classifier = build_text_classifier(TextClassifierConfig.small(num_classes=3))
    assert classifier(torch.ones(2, 7, dtype=torch.long)).shape == (2, 3)


def test_masked_input_equals_truncated_input():
    model = build_masked_lm(MaskedLMConfig.small()).eval()
    tok = ByteTokenizer()
    batch = tok.batch_encode(["short", "a much longer second text"], padding="max_length", max_length=40)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        latents, _ = model.encode(ids, attention_mask=mask)
        logits = model(ids, attention_mask=mask)
        for row in range(2):
            n = int(mask[row].sum())
            alone, _ = model.encode(ids[row : row + 1, :n])
            torch.testing.assert_close(latents[row : row + 1], alone, atol=1e-5, rtol=1e-5)
            alone_logits = model(ids[row : row + 1, :n])
            torch.testing.assert_close(logits[row : row + 1], alone_logits, atol=1e-5, rtol=1e-5)


def test_embedding_decoder_is_tied_not_copied(tmp_path):
    model = build_masked_lm(MaskedLMConfig.small())
    weight = model.input_adapter.token_embedding.weight
    assert model.postprocessor.embedding.weight is weight
    keys = list(model.state_dict())
    assert [k for k in keys if "embedding" in k and k.startswith("postprocessor")] == []
    assert "postprocessor.bias" in keys and "input_adapter.token_embedding.weight" in keys
    assert sum(p.numel() for p in model.parameters()) == sum(t.numel() for t in model.state_dict().values())

    ids = torch.randint(0, 262, (2, 6))
    # Gradient reaches the shared weight both through the inputs and through the output projection.
    model(ids).logsumexp(-1).sum().backward()
    unused_rows = torch.ones(262, dtype=torch.bool)
    unused_rows[ids.unique()] = False
    assert weight.grad[unused_rows].abs().sum() > 0

    model.eval()
    path = tmp_path / "mlm.safetensors"
    save_file(model.state_dict(), str(path))
    fresh = build_masked_lm(MaskedLMConfig.small()).eval()
    fresh.load_state_dict(load_file(str(path)))
    with torch.no_grad():
        torch.testing.assert_close(fresh(ids), model(ids), atol=0, rtol=0)
        assigned = build_masked_lm(MaskedLMConfig.small()).eval()
        assigned.load_state_dict(load_file(str(path)), assign=True)
        torch.testing.assert_close(assigned(ids), model(ids), atol=0, rtol=0)
        copied = copy.deepcopy(model)
        assert copied.postprocessor.embedding is copied.input_adapter.token_embedding
        # Changing the input embedding changes the output projection (one tensor, two uses).
        before = fresh(ids)
        fresh.input_adapter.token_embedding.weight[200].add_(1.0)
        assert not torch.allclose(fresh(ids)[..., 200], before[..., 200])


# ---------------------------------------------------------------------------------------------- HF parity

SMALL_HF = dict(
    num_latents=8, d_latents=32, d_model=16, num_self_attends_per_block=2, num_self_attention_heads=2,
    num_cross_attention_heads=1, max_position_embeddings=12, num_labels=3,
)
HF_VARIANTS = {
    "default": {},
    "heads_qk_v_blocks_no_residual": dict(
        num_self_attention_heads=4, num_cross_attention_heads=2, qk_channels=16, v_channels=32, num_blocks=2,
        use_query_residual=False,
    ),
    "q_shaped_cross_attention_widening": dict(
        num_cross_attention_heads=4, cross_attention_shape_for_attention="q",
        self_attention_widening_factor=2, cross_attention_widening_factor=3,
    ),
}


def _randomised(hf_class, **overrides):
    """An HF model with every parameter redrawn (LayerNorms included) so parity is not trivially small."""
    model = hf_class(transformers.PerceiverConfig(**{**SMALL_HF, **overrides})).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    return model


@pytest.mark.parametrize("variant", list(HF_VARIANTS))
@pytest.mark.parametrize("arch", ["PerceiverForMaskedLM", "PerceiverForSequenceClassification"])
def test_hf_parity(arch, variant):
    hf = _randomised(getattr(transformers, arch), **HF_VARIANTS[variant])
    ours = from_huggingface(hf)
    assert not ours.training
    ids = torch.randint(0, 262, (3, 9))
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[1, 5:] = 0
    mask[2, 2:] = 0
    with torch.no_grad():
        for attention_mask in (None, mask):
            expected = hf(inputs=ids, attention_mask=attention_mask).logits
            got = ours(ids, attention_mask=attention_mask)
            assert got.shape == expected.shape
            assert (got - expected).abs().max().item() <= 1e-5, (arch, variant, attention_mask is not None)


def test_hf_masked_lm_shape_rule_and_state_dict_loading():
    hf = _randomised(transformers.PerceiverForMaskedLM, max_position_embeddings=10)
    ids = torch.randint(0, 262, (1, 5))
    with torch.no_grad():
        assert hf(inputs=ids).logits.shape == (1, 10, 262)
        config = {**hf.config.to_dict(), "architectures": ["PerceiverForMaskedLM"]}
        ours = from_state_dict(hf.state_dict(), config)
        torch.testing.assert_close(ours(ids), hf(inputs=ids).logits, atol=1e-5, rtol=0)
    broken = {k: v for k, v in hf.state_dict().items() if k != "embedding_decoder.bias"}
    with pytest.raises(CheckpointMismatchError, match="embedding_decoder.bias"):
        from_state_dict(broken, config)


def test_paper_parameter_counts_equal_hf():
    def count(model):
        return sum(p.numel() for p in model.parameters())

    hf_config = transformers.PerceiverConfig(qk_channels=256, v_channels=1280)  # deepmind/language-perceiver
    with torch.device("meta"):
        mlm = build_masked_lm(MaskedLMConfig.paper())
        classifier = build_text_classifier(TextClassifierConfig.paper(num_classes=hf_config.num_labels))
        hf_mlm = transformers.PerceiverForMaskedLM(hf_config)
        hf_classifier = transformers.PerceiverForSequenceClassification(hf_config)
    assert count(mlm) == count(hf_mlm) == 201_108_230
    assert count(classifier) == count(hf_classifier)
    assert MaskedLMConfig.paper().encoder == EncoderConfig(qk_channels=256, v_channels=1280)
