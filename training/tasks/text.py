"""Byte-level text on one encoder: masked language modelling on raw UTF-8 bytes (no tokenizer), and sequence
classification, on plain text files / GLUE-style TSV or the built-in offline text."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from perceiver_io.tasks.text import MaskedLMConfig, TextClassifierConfig, build_masked_lm, build_text_classifier
from perceiver_io.tokenizer import CLS_ID, IGNORE_INDEX, MASK_ID, NUM_SPECIAL_TOKENS, PAD_ID, SEP_ID
from training.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from training.config_io import CheckedConfig, ConfigError, update
from training.tasks.config import TrainConfig, _help
from training.tasks.data.builtin_text import generated_sentiment, reference_corpus
from training.tasks.data.glue_tsv import GlueTSVDataset
from training.tasks.data.naive_bayes import NaiveBayes
from training.tasks.data.text_files import TextFileDataset
from training.tasks.pictures import confusion_matrix, save_confusion_matrix, save_text_panel
from training.tasks.task import Evaluation, Task

MODES = ("mlm", "classify")
# what an MLM and a classifier share (the adapter's byte and position embeddings, the latents and the encoder), by
# state-dict prefix and config size
SHARED_MODULES = ("input_adapter.", "encoder.")
SHARED_SIZES = ("encoder", "vocab_size", "max_position_embeddings", "d_model")
PRESETS = ("small", "paper")
EVAL_MASK_SEED = 1234  # held-out masking is the same at every evaluation, so the numbers compare


@dataclass
class TextData(CheckedConfig):
    """Built-in text, or files: plain text (``mlm``) / one GLUE-style TSV per split (``classify``)."""

    source: str = _help(
        "builtin (mlm: the Python reference topics shipped with CPython; classify: generated sentiment) or files",
        choices=("builtin", "files"),
        default="builtin",
    )
    train_files: list[str] = _help("mlm: text files or directories of *.txt; classify: one TSV", default_factory=list)
    val_files: list[str] = _help("held-out files, same kinds as train_files", default_factory=list)
    seq_len: int = _help("bytes per example (0: the model's max_position_embeddings)", at_least=0, default=0)
    text_columns: list[str] = _help("TSV columns holding the text (two for sentence pairs)",
                                    default_factory=lambda: ["sentence"])  # fmt: skip
    label_column: str = _help("TSV column holding the label", default="label")
    labels: list[str] | None = _help("label names in class order (default: as found in the training TSV)",
                                     default=None)  # fmt: skip
    num_train: int = _help("generated sentences for training (classify, builtin)", at_least=1, default=8000)
    num_val: int = _help("generated held-out sentences (classify, builtin)", at_least=1, default=1000)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.source == "files" and (not self.train_files or not self.val_files):
            raise ConfigError("files needs train_files and val_files", "source")


@dataclass
class TextTaskConfig(CheckedConfig):
    """``pstar task text``: ``mode=mlm`` (MaskedLMConfig) or ``mode=classify`` (TextClassifierConfig)."""

    mode: str = _help("mlm (masked byte modelling) or classify (sequence classification)", choices=MODES,
                      default="mlm")  # fmt: skip
    data: TextData = _help("the text", default_factory=TextData)
    mask_probability: float = _help("mlm: share of bytes masked (80% [MASK], 10% random byte, 10% kept)",
                                    above=0, below=1, default=0.15)  # fmt: skip
    model_preset: str = _help("small (CPU) or paper (the language Perceiver's sizes)", choices=PRESETS,
                              default="small")  # fmt: skip
    model: dict[str, Any] = _help("overrides of MaskedLMConfig / TextClassifierConfig, e.g. model.d_model=128",
                                  default_factory=dict)  # fmt: skip
    init_checkpoint: str | None = _help(
        "classify: a byte-MLM run (or checkpoint) whose byte and position embeddings, latents and encoder start the "
        "classifier, which takes the MLM's sizes (the paper's pre-train then fine-tune recipe); the decoder is new",
        default=None)  # fmt: skip
    train: TrainConfig = _help("optimisation and run settings", default_factory=TrainConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.init_checkpoint and self.mode != "classify":
            raise ConfigError("init_checkpoint starts a classifier from an MLM run: it needs mode=classify", "mode")


def mask_bytes(
    ids: torch.Tensor, real: torch.Tensor, probability: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT-style masking of byte ids: (inputs, labels) with labels = ``IGNORE_INDEX`` where nothing was masked.

    Of the chosen real positions 80% become [MASK], 10% a random byte and 10% stay; at least one per row is chosen.
    """
    draw = lambda: torch.rand(ids.shape, generator=generator, device=generator.device if generator else ids.device)
    chosen = (draw() < probability) & real
    first = real.float().argmax(dim=1)
    empty = ~chosen.any(dim=1)
    chosen[empty, first[empty]] = True
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE_INDEX))
    roll = draw()
    inputs = torch.where(chosen & (roll < 0.8), torch.full_like(ids, MASK_ID), ids)
    random_bytes = (draw() * 256).long().clamp(max=255) + NUM_SPECIAL_TOKENS
    return torch.where(chosen & (roll >= 0.8) & (roll < 0.9), random_bytes, inputs), labels


class _Windows(Dataset):
    """Byte windows as (ids, real) arrays padded to ``seq_len`` (byte b -> id b + 6)."""

    def __init__(self, base: TextFileDataset, seq_len: int) -> None:
        self.base, self.seq_len = base, seq_len

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        raw = np.asarray(self.base[index], dtype=np.int64)[: self.seq_len]
        ids = np.full(self.seq_len, PAD_ID, dtype=np.int64)
        ids[: len(raw)] = raw + NUM_SPECIAL_TOKENS
        return ids, np.arange(self.seq_len) < len(raw)


class _Sentences(Dataset):
    """In-memory (texts, label) pairs, the items :class:`GlueTSVDataset` also yields."""

    def __init__(self, rows: list[tuple[str, int]], labels: list[str]) -> None:
        self.rows, self.labels = rows, labels

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[tuple[str, ...], int]:
        text, label = self.rows[index]
        return (text,), int(label)


def encode_texts(texts: tuple[str, ...], max_length: int) -> list[int]:
    """``[CLS] a [SEP]`` or ``[CLS] a [SEP] b [SEP]`` as byte ids, each text cut so that the whole fits."""
    parts = [[b + NUM_SPECIAL_TOKENS for b in t.encode("utf-8")] for t in texts]
    room = max_length - 1 - len(parts)
    if room < len(parts):
        raise ConfigError(f"a sequence length of {max_length} cannot hold {len(parts)} texts and their separators")
    while sum(len(p) for p in parts) > room:  # trim the longest text first, as pair classifiers usually do
        longest = max(range(len(parts)), key=lambda i: len(parts[i]))
        parts[longest] = parts[longest][:-1]
    ids = [CLS_ID]
    for p in parts:
        ids.extend(p)
        ids.append(SEP_ID)
    return ids


class TextTask(Task):
    """MLM: masked-byte accuracy and bits per byte vs a unigram byte model. Classify: accuracy vs majority class."""

    name = "text"
    hf_architectures = ("PerceiverForMaskedLM", "PerceiverForSequenceClassification")

    def __init__(self, config: TextTaskConfig) -> None:
        super().__init__(config)
        self.mlm = config.mode == "mlm"
        self.variant = f"text_{config.mode}"
        self.primary_metric = "masked_accuracy" if self.mlm else "accuracy"
        self.higher_is_better = True
        self.labels: list[str] = []

    def preset(self) -> MaskedLMConfig | TextClassifierConfig:
        return getattr(MaskedLMConfig if self.mlm else TextClassifierConfig, self.config.model_preset)()

    def model_config(self) -> MaskedLMConfig | TextClassifierConfig:
        """For classification without ``model.num_classes`` the class count comes from the data; from an MLM run
        (``init_checkpoint``) the shared sizes are the MLM's."""
        config = super().model_config()
        if not self.mlm and "num_classes" not in self.config.model:
            config = replace(config, num_classes=len(self._classify_data()[0].labels))
        if self.config.init_checkpoint:
            mlm = self._pretrained()[1]
            shared = {name: getattr(mlm, name) for name in SHARED_SIZES}
            clashes = [f"model.{name}" for name in SHARED_SIZES if name in self.config.model
                       and getattr(config, name) != shared[name]]  # fmt: skip
            if clashes:
                raise ConfigError(f"{', '.join(clashes)} differ from the MLM run's ({self.config.init_checkpoint}), "
                                  "whose weights the classifier starts from; leave them out")  # fmt: skip
            config = replace(config, **shared)
        return config

    def _pretrained(self) -> tuple[Checkpoint, MaskedLMConfig]:
        """The MLM checkpoint ``init_checkpoint`` names and its model config (``CheckpointError`` otherwise)."""
        if getattr(self, "_pretrained_cache", None) is None:
            checkpoint = load_checkpoint(self.config.init_checkpoint)
            meta = checkpoint.meta
            mode = (meta.get("config") or {}).get("mode")
            if meta.get("task") != self.name or mode != "mlm":
                raise CheckpointError(checkpoint.path, f"is a {meta.get('task')!r} task checkpoint of mode {mode!r}; "
                                      "init_checkpoint takes a text mode=mlm run")  # fmt: skip
            recorded = meta.get("model_config")
            try:
                config = update(MaskedLMConfig.small(), recorded if isinstance(recorded, dict) else {}, "model_config")
            except ConfigError as error:
                raise CheckpointError(checkpoint.path, f"its model_config is not an MLM's ({error})") from error
            self._pretrained_cache = (checkpoint, config)
        return self._pretrained_cache

    def check_hf_config(self, model_config: Any, architecture: str) -> None:
        super().check_hf_config(model_config, architecture)
        wanted = "PerceiverForMaskedLM" if self.mlm else "PerceiverForSequenceClassification"
        if architecture != wanted:
            raise ConfigError(f"--from-hf: mode={self.config.mode} needs a {wanted}, not a {architecture}")

    def build_model(self, model_config: Any) -> nn.Module:
        if self.mlm:
            return build_masked_lm(model_config)
        model = build_text_classifier(model_config)
        if self.config.init_checkpoint:
            checkpoint = self._pretrained()[0]
            shared = {k: v for k, v in checkpoint.weights.items() if k.startswith(SHARED_MODULES)}
            own = model.state_dict()
            missing = sorted(k for k in own if k.startswith(SHARED_MODULES) and k not in shared)
            if missing:
                raise CheckpointError(checkpoint.path,
                                      f"lacks {missing[0]} (and {len(missing) - 1} more shared weights)")
            model.load_state_dict({**own, **shared})
            self.initialised_from = {"init_checkpoint": str(checkpoint.path), "step": checkpoint.step,
                                     "tensors": len(shared)}  # fmt: skip
        return model

    # -- data ----------------------------------------------------------------------------------------------
    def _seq_len(self, model_config: Any) -> int:
        limit = model_config.max_position_embeddings
        seq_len = self.config.data.seq_len or limit
        if seq_len > limit:
            raise ConfigError(f"data.seq_len={seq_len} exceeds the model's max_position_embeddings={limit}")
        return seq_len

    def _classify_data(self) -> tuple[Dataset, Dataset]:
        if getattr(self, "_classify_cache", None) is not None:
            return self._classify_cache
        data = self.config.data
        if data.source == "builtin":
            names = ["negative", "positive"]
            train: Any = _Sentences(generated_sentiment(data.num_train, seed=self.config.train.seed), names)
            val: Any = _Sentences(generated_sentiment(data.num_val, seed=self.config.train.seed + 1_000_003), names)
        else:
            if len(data.train_files) != 1 or len(data.val_files) != 1:
                raise ConfigError("classify reads one TSV per split: give one data.train_files and data.val_files")
            train = GlueTSVDataset(data.train_files[0], data.text_columns, data.label_column, data.labels)
            val = GlueTSVDataset(data.val_files[0], data.text_columns, data.label_column, train.labels)
        self._classify_cache = (train, val)
        return train, val

    def datasets(self, model_config: Any) -> tuple[Dataset, Dataset]:
        self.seq_len = self._seq_len(model_config)
        if not self.mlm:
            train, val = self._classify_data()
            self.labels = list(train.labels)
            if len(self.labels) != model_config.num_classes:
                raise ConfigError(f"the data has {len(self.labels)} labels ({', '.join(self.labels)}) but the "
                                  f"model has num_classes={model_config.num_classes}")  # fmt: skip
            return train, val
        data = self.config.data
        if data.source == "builtin":
            train_text = TextFileDataset.from_texts(reference_corpus("train"), self.seq_len)
            val_text = TextFileDataset.from_texts(reference_corpus("val"), self.seq_len)
        else:
            train_text = TextFileDataset(data.train_files, self.seq_len)
            val_text = TextFileDataset(data.val_files, self.seq_len)
        train_windows, val_windows = _Windows(train_text, self.seq_len), _Windows(val_text, self.seq_len)
        counts = np.zeros(256, dtype=np.int64)
        for i in range(len(train_text)):
            counts += np.bincount(np.asarray(train_text[i], dtype=np.int64), minlength=256)
        self.byte_counts = counts
        return train_windows, val_windows

    def collate(self, items: list[Any]) -> Any:
        if self.mlm:
            ids = torch.as_tensor(np.stack([i for i, _ in items]))
            real = torch.as_tensor(np.stack([r for _, r in items]))
            return ids, real
        encoded = [encode_texts(texts, self.seq_len) for texts, _ in items]
        length = max(len(e) for e in encoded)
        ids = torch.full((len(items), length), PAD_ID, dtype=torch.long)
        for row, e in enumerate(encoded):
            ids[row, : len(e)] = torch.tensor(e)
        return ids, ids != PAD_ID, torch.tensor([label for _, label in items], dtype=torch.long)

    def data_summary(self, train: Dataset, val: Dataset) -> dict[str, Any]:
        summary = super().data_summary(train, val)
        summary["seq_len"] = self.seq_len
        if self.mlm:
            summary["train_bytes"] = int(self.byte_counts.sum())
        else:
            summary["labels"] = self.labels
        return summary

    # -- training and evaluation ---------------------------------------------------------------------------
    def _mlm_logits(self, model: nn.Module, inputs: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        return model(inputs, attention_mask=real)[:, : inputs.shape[1]]

    def loss(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        if self.mlm:
            ids, real = batch
            inputs, labels = mask_bytes(ids, real, self.config.mask_probability)
            logits = self._mlm_logits(model, inputs, real)
            loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)
            hit = labels != IGNORE_INDEX
            accuracy = (logits.argmax(-1)[hit] == labels[hit]).float().mean().item()
            return loss, {"train_masked_accuracy": accuracy}
        ids, real, labels = batch
        logits = model(ids, attention_mask=real)
        return F.cross_entropy(logits, labels), {"train_accuracy": (logits.argmax(-1) == labels).float().mean().item()}

    def evaluate(self, model: nn.Module, batches: Any) -> Evaluation:
        return self._evaluate_mlm(model, batches) if self.mlm else self._evaluate_classify(model, batches)

    def _evaluate_mlm(self, model: nn.Module, batches: Any) -> Evaluation:
        generator = torch.Generator().manual_seed(EVAL_MASK_SEED)
        nll, correct, count = 0.0, 0, 0
        masked_labels: list[np.ndarray] = []
        sample = None
        for ids, real in batches:
            inputs, labels = mask_bytes(ids.cpu(), real.cpu(), self.config.mask_probability, generator)
            inputs, labels = inputs.to(ids.device), labels.to(ids.device)
            logits = self._mlm_logits(model, inputs, real)
            hit = labels != IGNORE_INDEX
            nll += F.cross_entropy(logits[hit], labels[hit], reduction="sum").item()
            predicted = logits.argmax(-1)
            correct += int((predicted[hit] == labels[hit]).sum())
            count += int(hit.sum())
            masked_labels.append((labels[hit] - NUM_SPECIAL_TOKENS).cpu().numpy())
            if sample is None:
                sample = (ids[0].cpu(), inputs[0].cpu(), predicted[0].cpu(), hit[0].cpu(), real[0].cpu())
        metrics = {"masked_accuracy": correct / count, "loss": nll / count, "bits_per_byte": nll / count / math.log(2)}
        return Evaluation(metrics, {"masked_labels": np.concatenate(masked_labels), "sample": sample})

    def _evaluate_classify(self, model: nn.Module, batches: Any) -> Evaluation:
        true, predicted, total = [], [], 0.0
        for ids, real, labels in batches:
            logits = model(ids, attention_mask=real)
            total += F.cross_entropy(logits, labels, reduction="sum").item()
            true.append(labels.cpu().numpy())
            predicted.append(logits.argmax(-1).cpu().numpy())
        true_all, predicted_all = np.concatenate(true), np.concatenate(predicted)
        metrics = {"accuracy": float(np.mean(true_all == predicted_all)), "loss": total / len(true_all)}
        return Evaluation(metrics, {"true": true_all, "predicted": predicted_all})

    def baseline(self, train: Dataset, val: Dataset, evaluation: Evaluation) -> dict[str, Any]:
        if not self.mlm:
            examples = [train[i] for i in range(len(train))]
            labels = np.asarray([label for _, label in examples])
            true = evaluation.examples["true"]
            majority = int(np.bincount(labels).argmax())
            bayes = NaiveBayes(len(self.labels)).fit([texts for texts, _ in examples], labels)
            predicted = bayes.predict([val[i][0] for i in range(len(val))])
            return {
                "name": "bag-of-words multinomial Naive Bayes (word order ignored)",
                "accuracy": float(np.mean(predicted == true)),
                "majority_class_accuracy": float(np.mean(true == majority)),
            }
        masked = evaluation.examples["masked_labels"]
        counts = self.byte_counts + 1  # add-one smoothing keeps unseen bytes finite
        log2p = np.log2(counts / counts.sum())
        return {
            "name": "unigram byte frequencies of the training text",
            "masked_accuracy": float(np.mean(masked == int(np.argmax(counts)))),
            "bits_per_byte": float(-np.mean(log2p[masked])),
        }

    def picture(self, evaluation: Evaluation, path: Path) -> Path:
        if not self.mlm:
            matrix = confusion_matrix(evaluation.examples["true"], evaluation.examples["predicted"], len(self.labels))
            title = f"text classification: held-out accuracy {evaluation.metrics['accuracy']:.3f}"
            return save_confusion_matrix(matrix, self.labels, path, title)
        ids, inputs, predicted, hit, real = evaluation.examples["sample"]
        width = 110
        rows = []
        for start in range(0, min(int(real.sum()), 3 * width), width):
            span = slice(start, start + width)
            rows += [("original", _bytes_text(ids[span])), ("masked", _bytes_text(inputs[span])),
                     ("predicted", _bytes_text(torch.where(hit[span], predicted[span], ids[span]))), ("", "")]
        title = f"byte MLM: held-out masked-byte accuracy {evaluation.metrics['masked_accuracy']:.3f}"
        return save_text_panel(rows[:-1], path, title)


def _bytes_text(ids: torch.Tensor) -> str:
    """Printable rendering of byte ids: [MASK] as an underscore, control/non-ASCII bytes as a middle dot."""
    chars = []
    for token in ids.tolist():
        byte = token - NUM_SPECIAL_TOKENS
        chars.append("_" if token == MASK_ID else chr(byte) if 32 <= byte < 127 else "·")
    return "".join(chars)
