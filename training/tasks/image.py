"""Image classification (the paper's ImageNet task) with any of its three input adapters, on an ImageFolder tree or
the built-in generated shapes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, Subset, default_collate

from perceiver_io.tasks.image import ImageClassifierConfig, build_image_classifier
from training.config_io import CheckedConfig, ConfigError
from training.tasks.config import TrainConfig, _help
from training.tasks.data.errors import DataError
from training.tasks.data.image_folder import ImageFolderDataset
from training.tasks.data.shapes import SHAPES, ShapesDataset
from training.tasks.pictures import confusion_matrix, save_confusion_matrix
from training.tasks.task import Evaluation, Task

PRESETS = ("small", "paper")


@dataclass
class ImageData(CheckedConfig):
    """Where the images come from: the generated shapes, or ImageFolder trees (``root/<class>/<image>``)."""

    source: str = _help("shapes (built-in, generated) or folder", choices=("shapes", "folder"), default="shapes")
    train_dir: str | None = _help("ImageFolder root of the training images (source=folder)", default=None)
    val_dir: str | None = _help("ImageFolder root of the held-out images (default: val_fraction of train_dir)",
                                default=None)  # fmt: skip
    val_fraction: float = _help("share of train_dir held out when there is no val_dir", above=0, below=1,
                                default=0.1)  # fmt: skip
    num_train: int = _help("generated training images (source=shapes)", at_least=1, default=5000)
    num_val: int = _help("generated held-out images (source=shapes)", at_least=1, default=1000)
    mean: tuple[float, float, float] = _help("per-channel mean subtracted from [0, 1] pixels",
                                             default=(0.5, 0.5, 0.5))  # fmt: skip
    std: tuple[float, float, float] = _help("per-channel std dividing [0, 1] pixels", above=0, default=(0.5, 0.5, 0.5))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.source == "folder" and not self.train_dir:
            raise ConfigError("folder needs train_dir (an ImageFolder root: <class>/<image files>)", "source")


@dataclass
class ImageTaskConfig(CheckedConfig):
    """``pstar task image``: the data, the classifier (``perceiver_io.tasks.ImageClassifierConfig``) and training."""

    data: ImageData = _help("the images", default_factory=ImageData)
    model_preset: str = _help("small (32 px, CPU) or paper (224 px ImageNet sizes)", choices=PRESETS, default="small")
    model: dict[str, Any] = _help(
        "overrides of ImageClassifierConfig, e.g. model.preprocessing=conv, model.encoder.num_latents=64",
        default_factory=dict,
    )
    label_smoothing: float = _help("cross-entropy label smoothing (the paper's ImageNet runs: 0.1)", at_least=0,
                                   below=1, default=0.1)  # fmt: skip
    train: TrainConfig = _help("optimisation and run settings", default_factory=TrainConfig)


class _Normalised(Dataset):
    """Pixels in [0, 1] -> (x - mean) / std, the model's input scale."""

    def __init__(self, base: Dataset, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.base = base
        self.mean = np.asarray(mean, dtype=np.float32)[:, None, None]
        self.std = np.asarray(std, dtype=np.float32)[:, None, None]
        self.classes = _classes(base)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int] | None:
        item = self.base[index]
        if item is None:  # an image that cannot be decoded (skipped and counted by ImageFolderDataset)
            return None
        image, label = item
        return (image - self.mean) / self.std, int(label)


def _classes(dataset: Dataset) -> list[str]:
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return list(dataset.classes)


def _split(dataset: ImageFolderDataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """A seeded random hold-out of ``fraction`` of the images (at least one on each side)."""
    order = np.random.default_rng(seed).permutation(len(dataset))
    held = min(len(dataset) - 1, max(1, round(fraction * len(dataset))))
    if held < 1:
        raise DataError(dataset.root, "needs at least 2 images to hold some out (or give data.val_dir)")
    return Subset(dataset, order[held:].tolist()), Subset(dataset, order[:held].tolist())


class ImageTask(Task):
    """Cross-entropy classification; held-out top-1 accuracy and a confusion matrix; baseline = majority class."""

    name = "image"
    primary_metric = "accuracy"
    higher_is_better = True
    hf_architectures = (
        "PerceiverForImageClassificationLearned",
        "PerceiverForImageClassificationFourier",
        "PerceiverForImageClassificationConvProcessing",
    )

    def preset(self) -> ImageClassifierConfig:
        return getattr(ImageClassifierConfig, self.config.model_preset)()

    def model_config(self) -> ImageClassifierConfig:
        """With folder data and no ``model.num_classes``, the class count is the number of class folders."""
        config = super().model_config()
        data = self.config.data
        if data.source == "folder" and "num_classes" not in self.config.model:
            root = Path(data.train_dir)
            if root.is_dir():
                config = replace(config, num_classes=len([p for p in root.iterdir() if p.is_dir()]) or 1)
        return config

    def build_model(self, model_config: ImageClassifierConfig) -> nn.Module:
        return build_image_classifier(model_config)

    def datasets(self, model_config: ImageClassifierConfig) -> tuple[Dataset, Dataset]:
        data, size, seed = self.config.data, model_config.image_size, self.config.train.seed
        self.variant = f"image_{model_config.preprocessing}"
        if data.source == "shapes":
            if model_config.in_channels != 3:
                raise ConfigError("the generated shapes are RGB: model.in_channels must be 3")
            if not 2 <= model_config.num_classes <= len(SHAPES):
                raise ConfigError(f"the generated shapes have 2 to {len(SHAPES)} classes, the model has num_classes="
                                  f"{model_config.num_classes} (set model.num_classes, or data.source=folder)")
            train: Dataset = ShapesDataset(data.num_train, size, model_config.num_classes, seed=seed)
            val: Dataset = ShapesDataset(data.num_val, size, model_config.num_classes, seed=seed + 1_000_003)
        else:
            full = ImageFolderDataset(data.train_dir, size, model_config.in_channels)
            if data.val_dir:
                train, val = full, ImageFolderDataset(data.val_dir, size, model_config.in_channels, full.classes)
            else:
                train, val = _split(full, data.val_fraction, seed)
        classes = _classes(train)
        if len(classes) != model_config.num_classes:
            raise ConfigError(
                f"the data has {len(classes)} classes ({', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''}) "
                f"but the model has num_classes={model_config.num_classes}"
            )
        self.classes = classes
        return _Normalised(train, data.mean, data.std), _Normalised(val, data.mean, data.std)

    def collate(self, items: list[Any]) -> Any:
        """A batch of the items that could be decoded (an ImageFolder item is None for a file that cannot be)."""
        kept = [item for item in items if item is not None]
        if not kept:
            where = self.config.data.train_dir
            raise DataError(where, f"none of the {len(items)} images of a batch (from here or val_dir) can be decoded")
        return default_collate(kept)

    def loss(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        images, labels = batch
        logits = model(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.config.label_smoothing)
        accuracy = (logits.argmax(-1) == labels).float().mean().item()
        return loss, {"train_accuracy": accuracy}

    def evaluate(self, model: nn.Module, batches: Any) -> Evaluation:
        true, predicted, total_loss = [], [], 0.0
        for images, labels in batches:
            logits = model(images)
            total_loss += F.cross_entropy(logits, labels, reduction="sum").item()
            true.append(labels.cpu().numpy())
            predicted.append(logits.argmax(-1).cpu().numpy())
        true_all, predicted_all = np.concatenate(true), np.concatenate(predicted)
        metrics = {"accuracy": float(np.mean(true_all == predicted_all)), "loss": total_loss / len(true_all)}
        return Evaluation(metrics, {"true": true_all, "predicted": predicted_all})

    def baseline(self, train: Dataset, val: Dataset, evaluation: Evaluation) -> dict[str, Any]:
        """Always answering the commonest training class."""
        labels = np.asarray([_label(train, i) for i in range(len(train))])
        majority = int(np.bincount(labels).argmax())
        return {"name": "majority class", "accuracy": float(np.mean(evaluation.examples["true"] == majority))}

    def picture(self, evaluation: Evaluation, path: Path) -> Path:
        matrix = confusion_matrix(evaluation.examples["true"], evaluation.examples["predicted"], len(self.classes))
        accuracy = evaluation.metrics["accuracy"]
        return save_confusion_matrix(matrix, self.classes, path, f"{self.variant}: held-out accuracy {accuracy:.3f}")


def _label(dataset: Dataset, index: int) -> int:
    """The label of one item without decoding its image where the dataset lists its samples."""
    base = dataset.base if isinstance(dataset, _Normalised) else dataset
    while isinstance(base, Subset):
        index, base = base.indices[index], base.dataset
    if hasattr(base, "samples"):
        return int(base.samples[index][1])
    if hasattr(base, "label"):
        return int(base.label(index))
    return int(base[index][1])
