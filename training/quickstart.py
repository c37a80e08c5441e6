"""``pstar quickstart``: the main job at a small scale.

Until the RL pipeline lands this is the backbone demo: train a small byte-level Perceiver IO masked
language model on text every Python install carries (standard-library docstrings), log to TensorBoard,
save a safetensors checkpoint, and report masked-byte accuracy against a most-frequent-byte baseline.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import json
import time
from pathlib import Path

import torch
from safetensors.torch import save_model
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from perceiver_io.tasks.text import MaskedLMConfig, build_masked_lm
from perceiver_io.tokenizer import IGNORE_INDEX, NUM_SPECIAL_TOKENS, ByteTokenizer, mask_spans, random_mask

CORPUS_MODULES = ("argparse", "collections", "json", "logging", "pathlib", "random", "re", "string",
                  "textwrap", "unittest", "functools", "itertools", "dataclasses", "typing", "csv", "heapq")


def corpus_text() -> str:
    """English prose available offline: the docstrings of some standard-library modules."""
    docs = []
    for name in CORPUS_MODULES:
        module = importlib.import_module(name)
        docs.append(inspect.getdoc(module) or "")
        docs.extend(inspect.getdoc(obj) or "" for _, obj in inspect.getmembers(module)
                    if inspect.isclass(obj) or inspect.isfunction(obj))
    return "\n".join(d for d in docs if d)


def byte_windows(text: str, length: int) -> torch.Tensor:
    """Cut the corpus into [N, length] windows of byte ids wrapped in [CLS] ... [SEP]."""
    tokenizer = ByteTokenizer(model_max_length=length)
    ids = torch.tensor(tokenizer.encode(text, add_special_tokens=False))
    body = length - 2
    n = len(ids) // body
    windows = ids[: n * body].view(n, body)
    return torch.cat([torch.full((n, 1), tokenizer.cls_id), windows, torch.full((n, 1), tokenizer.sep_id)], dim=1)


def masked_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    seen = labels != IGNORE_INDEX
    return (logits.argmax(-1)[seen] == labels[seen]).float().mean().item()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pstar quickstart", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/quickstart"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    data = byte_windows(corpus_text(), args.seq_len)
    split = max(1, len(data) // 10)
    train, held_out = data[split:], data[:split]
    config = MaskedLMConfig.small(max_position_embeddings=args.seq_len)
    model = build_masked_lm(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    args.out.mkdir(parents=True, exist_ok=True)
    writer = SummaryWriter(str(args.out))
    print(f"corpus: {len(data)} windows of {args.seq_len} bytes; model: "
          f"{sum(p.numel() for p in model.parameters()):,} parameters")
    start = time.time()
    progress = tqdm(range(args.steps), desc="byte MLM", unit="step", mininterval=2.0)
    for step in progress:
        batch = train[torch.randint(len(train), (args.batch_size,))]
        inputs, labels = random_mask(batch)
        logits = model(inputs)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        writer.add_scalar("losses/mlm", loss.item(), step)
        if step % 20 == 0:
            progress.set_postfix(loss=f"{loss.item():.3f}")

    model.eval()
    with torch.no_grad():
        generator = torch.Generator().manual_seed(1)
        inputs, labels = random_mask(held_out, generator=generator)
        accuracy = masked_accuracy(model(inputs), labels)
        counts = torch.bincount(train.flatten(), minlength=config.vocab_size)
        counts[:NUM_SPECIAL_TOKENS] = 0
        baseline = (labels[labels != IGNORE_INDEX] == counts.argmax()).float().mean().item()
        tokenizer = ByteTokenizer(model_max_length=args.seq_len)
        sentence = "Return a new sorted list from the items in iterable."
        ids = torch.tensor([tokenizer.encode(sentence)])
        span = (15, 18)
        masked, _ = mask_spans(ids, [span])
        filled = torch.where(masked == tokenizer.mask_id, model(masked)[:, : ids.shape[1]].argmax(-1), masked)
    writer.add_scalar("eval/masked_byte_accuracy", accuracy, args.steps)
    writer.close()
    save_model(model, str(args.out / "model.safetensors"))
    result = {"steps": args.steps, "seconds": round(time.time() - start, 1), "held_out_masked_accuracy": accuracy,
              "most_frequent_byte_baseline": baseline, "config": dataclasses.asdict(config)}
    (args.out / "result.json").write_text(json.dumps(result, indent=2))
    print(f"held-out masked-byte accuracy {accuracy:.3f} (most-frequent-byte baseline {baseline:.3f})")
    print(f"fill-in: {tokenizer.decode(masked[0])!r}\n      -> {tokenizer.decode(filled[0])!r}")
    print(f"wrote {args.out}/model.safetensors, result.json and TensorBoard events in {result['seconds']} s")
    return 0
