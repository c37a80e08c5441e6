"""What one supervised task tells the shared trainer: its model, data, loss, evaluation, baseline and picture."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, Subset, default_collate

from training.config_io import ConfigError, to_dict, update


@dataclass
class Evaluation:
    """Held-out metrics plus whatever the task's picture is drawn from (kept in memory, not in the JSON)."""

    metrics: dict[str, float]
    examples: dict[str, Any] = field(default_factory=dict)


class Task(ABC):
    """One supervised task on the Perceiver IO backbone; :func:`training.tasks.trainer.run_task` drives it.

    ``config`` is the task's run config dataclass; it has ``model_preset``, ``model`` (overrides of the
    perceiver_io task config) and ``train`` (a :class:`training.tasks.config.TrainConfig`).
    """

    name: str
    primary_metric: str
    higher_is_better: bool
    hf_architectures: tuple[str, ...]
    # where ``build_model`` took weights from besides a random start (e.g. a pre-trained run), for the run's record
    initialised_from: dict[str, Any] | None = None

    def __init__(self, config: Any) -> None:
        self.config = config

    # -- model ---------------------------------------------------------------------------------------------
    @abstractmethod
    def preset(self) -> Any:
        """The perceiver_io task config of ``config.model_preset`` (before the ``model.*`` overrides)."""

    def model_config(self) -> Any:
        """The preset with the ``model.*`` overrides applied; a wrong key raises ``ConfigError``."""
        return update(self.preset(), self.config.model, "model")

    def model_config_from_dict(self, data: dict[str, Any]) -> Any:
        """Rebuild the model config recorded in a checkpoint."""
        return update(self.preset(), data, "checkpoint model_config")

    @abstractmethod
    def build_model(self, model_config: Any) -> nn.Module:
        """The Perceiver IO for ``model_config``."""

    def check_hf_config(self, model_config: Any, architecture: str) -> None:
        """Raise ``ConfigError`` if an imported HF model cannot serve this task's run."""
        if architecture not in self.hf_architectures:
            raise ConfigError(
                f"--from-hf: the checkpoint is a {architecture}; "
                f"the {self.name} task takes {', '.join(self.hf_architectures)}"
            )

    # -- data ----------------------------------------------------------------------------------------------
    @abstractmethod
    def datasets(self, model_config: Any) -> tuple[Dataset, Dataset]:
        """(train, held-out) datasets shaped for ``model_config``; bad files raise ``DataError``."""

    def collate(self, items: list[Any]) -> Any:
        """A batch from dataset items (numpy arrays become tensors)."""
        return default_collate(items)

    def data_summary(self, train: Dataset, val: Dataset) -> dict[str, Any]:
        """What the run read: sizes, classes, skipped files (recorded in the result JSON); a folder read once for
        both splits is counted once."""
        summary: dict[str, Any] = {"train_examples": len(train), "val_examples": len(val)}
        skipped: dict[str, int] = {}
        for source in {id(source): source for source in map(_source, (train, val))}.values():
            for reason, count in getattr(source, "skipped", {}).items():
                skipped[reason] = skipped.get(reason, 0) + count
        summary["skipped"] = skipped
        return summary

    # -- training and evaluation ---------------------------------------------------------------------------
    @abstractmethod
    def loss(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """(scalar loss to minimise, named training scalars) for one batch already on the model's device."""

    @abstractmethod
    def evaluate(self, model: nn.Module, batches: Any) -> Evaluation:
        """Metrics over the held-out batches (an iterable, already on the device); the model is in eval mode."""

    def baseline(self, train: Dataset, val: Dataset, evaluation: Evaluation) -> dict[str, Any]:
        """The named baseline of this task measured on the same held-out data ({} when there is none)."""
        return {}

    @abstractmethod
    def picture(self, evaluation: Evaluation, path: Path) -> Path:
        """Draw the run's picture (confusion matrix, flow images, frames) to ``path`` (a .png)."""

    def describe(self, model_config: Any) -> dict[str, Any]:
        """The model config as recorded in checkpoints and the result JSON."""
        return to_dict(model_config)


def _source(dataset: Dataset) -> Dataset:
    """The dataset that read the files under the task's wrappers (``base``) and ``Subset`` splits."""
    while isinstance(dataset, Subset) or hasattr(dataset, "base"):
        dataset = dataset.dataset if isinstance(dataset, Subset) else dataset.base
    return dataset
