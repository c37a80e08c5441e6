"""Optical flow (the paper's flow task): two frames -> per-pixel flow with the flow patch adapter and flow decoder,
trained on generated pairs with known flow or on Sintel / FlyingChairs / Middlebury folders, scored by average
end-point error against OpenCV's Farneback flow on the same pairs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from perceiver_io.tasks.flow import OpticalFlowConfig, build_optical_flow, tiled_flow
from training.config_io import CheckedConfig, ConfigError
from training.tasks.config import TrainConfig, _help, check_generated_or_folder
from training.tasks.data.errors import DataError
from training.tasks.data.farneback import farneback_flow
from training.tasks.data.flow_colour import flow_to_colour
from training.tasks.data.flow_folder import LAYOUTS, FlowFolderDataset
from training.tasks.data.flow_pairs import GeneratedFlowPairs
from training.tasks.pictures import save_image_grid
from training.tasks.task import Evaluation, Task

PRESETS = ("small", "paper")
UNKNOWN = 1e9  # Middlebury marks unknown flow with values above this
PICTURE_PAIRS = 4


@dataclass
class FlowData(CheckedConfig):
    """Generated pairs with exact flow, or a folder of frame pairs with ``.flo`` ground truth."""

    source: str = _help("generated (built-in) or folder", choices=("generated", "folder"), default="generated")
    train_dir: str | None = _help("folder of training pairs (sintel, chairs or middlebury layout)", default=None)
    val_dir: str | None = _help("folder of held-out pairs (same layouts)", default=None)
    layout: str = _help("folder layout", choices=("auto", *LAYOUTS), default="auto")
    num_train: int = _help("generated training pairs", at_least=1, default=4000)
    num_val: int = _help("generated held-out pairs", at_least=1, default=64)
    max_translation: float = _help("generated: largest global and object shift (pixels)", at_least=0,
                                   default=3.0)  # fmt: skip
    max_rotation_deg: float = _help("generated: largest rotation (degrees)", at_least=0, default=5.0)
    max_scale: float = _help("generated: largest relative zoom", at_least=0, below=1, default=0.05)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_generated_or_folder(self.source, self.train_dir, self.val_dir)


@dataclass
class FlowTaskConfig(CheckedConfig):
    """``pstar task flow``: the data, the flow model (``perceiver_io.tasks.OpticalFlowConfig``) and training."""

    data: FlowData = _help("the frame pairs", default_factory=FlowData)
    model_preset: str = _help("small (32x48 frames, CPU) or paper (368x496, the HF/DeepMind sizes)", choices=PRESETS,
                              default="small")  # fmt: skip
    model: dict[str, Any] = _help("overrides of OpticalFlowConfig, e.g. model.encoder.num_latents=128",
                                  default_factory=dict)  # fmt: skip
    train: TrainConfig = _help("optimisation and run settings", default_factory=TrainConfig)


class _RandomCrops(Dataset):
    """Training crops of ``size`` from larger pairs (frames and flow cut together); equal sizes pass through."""

    def __init__(self, base: FlowFolderDataset, size: tuple[int, int]) -> None:
        self.base, self.size = base, size

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        frames, flow = self.base[index]
        (h, w), (th, tw) = flow.shape[:2], self.size
        if h < th or w < tw:
            img1, _, flo = self.base.pairs[index]
            raise DataError(flo, f"a {h}x{w} pair (frame {img1}) is smaller than the model's {th}x{tw} frames")
        y, x = (int(torch.randint(0, n + 1, ())) for n in (h - th, w - tw))
        return frames[..., y : y + th, x : x + tw], flow[y : y + th, x : x + tw]


class _Memo(Dataset):
    """Keeps generated pairs after their first use: rendering one costs tens of milliseconds, a training step less."""

    def __init__(self, base: Dataset) -> None:
        self.base = base
        self.items: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index not in self.items:
            self.items[index] = self.base[index]
        return self.items[index]


def _valid(flow: torch.Tensor) -> torch.Tensor:
    return torch.isfinite(flow).all(-1) & (flow.abs() < UNKNOWN).all(-1)


def end_point_errors(predicted: torch.Tensor, true: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-pixel Euclidean error [B, H, W], valid-pixel mask [B, H, W])."""
    valid = _valid(true)
    clean = torch.where(valid[..., None], true, torch.zeros_like(true))
    return torch.linalg.vector_norm(predicted - clean, dim=-1), valid


class FlowTask(Task):
    """Loss = mean end-point error; metrics EPE and the share of pixels within 1 and 3 px; baseline = Farneback."""

    name = "flow"
    variant = "flow"
    primary_metric = "epe"
    higher_is_better = False
    hf_architectures = ("PerceiverForOpticalFlow",)

    def preset(self) -> OpticalFlowConfig:
        return getattr(OpticalFlowConfig, self.config.model_preset)()

    def build_model(self, model_config: OpticalFlowConfig) -> nn.Module:
        return build_optical_flow(model_config)

    def datasets(self, model_config: OpticalFlowConfig) -> tuple[Dataset, Dataset]:
        data, size, seed = self.config.data, model_config.train_size, self.config.train.seed
        self.train_size = size
        if model_config.in_channels != 3:
            raise ConfigError("the flow data are RGB frames: model.in_channels must be 3")
        if data.source == "generated":
            motion = dict(max_translation=data.max_translation, max_rotation_deg=data.max_rotation_deg,
                          max_scale=data.max_scale)  # fmt: skip
            return (
                _Memo(GeneratedFlowPairs(data.num_train, size, seed=seed, **motion)),
                _Memo(GeneratedFlowPairs(data.num_val, size, seed=seed + 1_000_003, **motion)),
            )
        train = FlowFolderDataset(data.train_dir, data.layout)
        return _RandomCrops(train, size), FlowFolderDataset(data.val_dir, data.layout)

    def _predict(self, model: nn.Module, frames: torch.Tensor) -> torch.Tensor:
        """Flow for frames in [0, 1] at any size >= the model's (tiled, as DeepMind's colab, when larger)."""
        inputs = frames * 2.0 - 1.0
        if tuple(frames.shape[-2:]) == tuple(self.train_size):
            return model(inputs)
        return tiled_flow(model, inputs, tile_size=self.train_size)

    def loss(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        frames, flow = batch
        errors, valid = end_point_errors(self._predict(model, frames), flow)
        loss = errors[valid].mean()
        return loss, {"train_epe": loss.item()}

    def evaluate(self, model: nn.Module, batches: Any) -> Evaluation:
        total, within1, within3, count = 0.0, 0, 0, 0
        shown: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for frames, flow in batches:
            predicted = self._predict(model, frames)
            errors, valid = end_point_errors(predicted, flow)
            e = errors[valid]
            total += float(e.sum())
            within1 += int((e < 1.0).sum())
            within3 += int((e < 3.0).sum())
            count += int(valid.sum())
            for i in range(min(PICTURE_PAIRS - len(shown), len(frames))):
                shown.append((frames[i].cpu().numpy(), flow[i].cpu().numpy(), predicted[i].cpu().numpy()))
        metrics = {"epe": total / count, "within_1px": within1 / count, "within_3px": within3 / count}
        return Evaluation(metrics, {"shown": shown})

    def baseline(self, train: Dataset, val: Dataset, evaluation: Evaluation) -> dict[str, Any]:
        """OpenCV Farneback (its usual parameters) on the same held-out pairs, valid pixels only."""
        total, within1, count, started = 0.0, 0, 0, time.perf_counter()
        farneback_shown = []
        for i in range(len(val)):
            frames, flow = val[i]
            predicted = torch.from_numpy(farneback_flow(frames[0], frames[1]))
            errors, valid = end_point_errors(predicted[None], torch.as_tensor(flow)[None])
            total += float(errors[valid].sum())
            within1 += int((errors[valid] < 1.0).sum())
            count += int(valid.sum())
            if i < PICTURE_PAIRS:
                farneback_shown.append(predicted.numpy())
        evaluation.examples["farneback"] = farneback_shown
        epe = total / count
        return {
            "name": "OpenCV Farneback (pyr_scale 0.5, levels 3, winsize 15, iterations 3, poly_n 5, poly_sigma 1.2)",
            "epe": epe,
            "within_1px": within1 / count,
            "model_epe_ratio": evaluation.metrics["epe"] / epe,
            "seconds": round(time.perf_counter() - started, 2),
        }

    def picture(self, evaluation: Evaluation, path: Path) -> Path:
        rows = []
        farneback = evaluation.examples.get("farneback", [])
        for i, (frames, true, predicted) in enumerate(evaluation.examples["shown"]):
            valid = _valid(torch.as_tensor(true)).numpy()
            scale = float(np.linalg.norm(true[valid], axis=-1).max()) if valid.any() else 1.0
            images = [frames[0].transpose(1, 2, 0), frames[1].transpose(1, 2, 0), flow_to_colour(true, scale),
                      flow_to_colour(predicted, scale)]  # fmt: skip
            if i < len(farneback):
                images.append(flow_to_colour(farneback[i], scale))
            rows.append((f"pair {i}", images))
        titles = ["frame 1", "frame 2", "true flow", "Perceiver IO", "Farneback"]
        return save_image_grid(rows, path, titles, f"optical flow: held-out EPE {evaluation.metrics['epe']:.3f} px")
