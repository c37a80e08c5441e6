"""Multimodal autoencoding (the paper's Kinetics task): video frames + audio + label through one latent array, with
per-modality queries, subsampled decoding while training and chunked decoding of whole clips for evaluation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from perceiver_io.tasks.multimodal import MultimodalAutoencoderConfig, build_multimodal_autoencoder
from perceiver_io.tasks.multimodal_chunks import autoencode_in_chunks
from training.config_io import CheckedConfig, ConfigError
from training.tasks.config import TrainConfig, _help, check_generated_or_folder
from training.tasks.data.clip_folder import ClipFolderDataset
from training.tasks.data.moving_shapes import MovingShapesClips
from training.tasks.pictures import save_image_grid
from training.tasks.task import Evaluation, Task

PRESETS = ("small", "paper")
MODALITIES = ("audio", "image", "label")
BASELINE_CLIPS = 256  # training clips averaged into the mean-clip baseline
PICTURE_CLIPS = 2


@dataclass
class ClipData(CheckedConfig):
    """Generated moving shapes with class tones, or clip folders (see ``training.tasks.data.clip_folder``)."""

    source: str = _help("generated (built-in moving shapes with tones) or folder", choices=("generated", "folder"),
                        default="generated")  # fmt: skip
    train_dir: str | None = _help("clip folder of training clips (manifest.csv, <clip>/frames|video.npy, audio.wav)",
                                  default=None)  # fmt: skip
    val_dir: str | None = _help("clip folder of held-out clips", default=None)
    sample_rate: int | None = _help("folder: resample audio to this rate (default: as stored)", at_least=1,
                                     default=None)  # fmt: skip
    num_train: int = _help("generated training clips", at_least=1, default=3000)
    num_val: int = _help("generated held-out clips", at_least=1, default=200)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_generated_or_folder(self.source, self.train_dir, self.val_dir)


@dataclass
class MultimodalTaskConfig(CheckedConfig):
    """``pstar task multimodal``: clips, the autoencoder (``MultimodalAutoencoderConfig``) and training."""

    data: ClipData = _help("the clips", default_factory=ClipData)
    model_preset: str = _help("small (CPU) or paper (16x224x224 video, 48 kHz audio, 700 classes)",
                              choices=PRESETS, default="small")  # fmt: skip
    model: dict[str, Any] = _help("overrides of MultimodalAutoencoderConfig, e.g. model.num_frames=8",
                                  default_factory=dict)  # fmt: skip
    loss_weights: dict[str, float] = _help(
        "loss weight per modality (video/audio MSE, label cross-entropy)",
        at_least=0,
        default_factory=lambda: {"audio": 1.0, "image": 1.0, "label": 0.1},
    )
    train_fraction: float = _help("share of video and audio outputs decoded per training step (subsampled)",
                                  above=0, at_most=1, default=0.25)  # fmt: skip
    train_label_mask_probability: float = _help(
        "chance the label input is masked while training (evaluation always masks it)", at_least=0, at_most=1,
        default=1.0,
    )
    eval_chunks: int = _help("evaluation decodes whole clips in this many chunks", at_least=1, default=4)
    train: TrainConfig = _help("optimisation and run settings", default_factory=TrainConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = sorted(set(self.loss_weights) - set(MODALITIES))
        if unknown:
            modalities = ", ".join(MODALITIES)
            raise ConfigError(f"unknown modality {unknown[0]!r}; modalities are {modalities}", "loss_weights")
        self.loss_weights = {m: float(self.loss_weights.get(m, 0.0)) for m in MODALITIES}


def psnr(mse: torch.Tensor, peak: float) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB of a mean squared error (per clip); pixels in [0, 1] and audio samples in
    [-1, 1] both use peak 1."""
    return 10.0 * torch.log10(peak**2 / mse.clamp_min(1e-12))


def _video_tokens(video: torch.Tensor) -> torch.Tensor:
    """[B, T, 3, H, W] -> [B, T*H*W, 3], the decoder's output order."""
    return video.permute(0, 1, 3, 4, 2).flatten(1, 3)


class MultimodalTask(Task):
    """Loss = weighted video MSE + audio MSE + label cross-entropy; metrics video/audio PSNR and label accuracy with
    the label input masked; baseline = the mean training clip (PSNR) and the majority class."""

    name = "multimodal"
    variant = "multimodal"
    primary_metric = "video_psnr"
    higher_is_better = True
    hf_architectures = ("PerceiverForMultimodalAutoencoding",)

    def preset(self) -> MultimodalAutoencoderConfig:
        return getattr(MultimodalAutoencoderConfig, self.config.model_preset)()

    def build_model(self, model_config: MultimodalAutoencoderConfig) -> nn.Module:
        return build_multimodal_autoencoder(model_config)

    def datasets(self, model_config: MultimodalAutoencoderConfig) -> tuple[Dataset, Dataset]:
        data, seed, c = self.config.data, self.config.train.seed, model_config
        self.model_config = model_config
        for name, count in (("image", math.prod(c.video_shape)), ("audio", c.audio_samples // c.samples_per_patch)):
            if count % self.config.eval_chunks:
                raise ConfigError(f"eval_chunks={self.config.eval_chunks} does not divide the {count} {name} outputs")
        if data.source == "generated":
            make = lambda n, s: MovingShapesClips(n, c.num_frames, c.image_size, c.audio_samples_per_frame,
                                                  c.num_classes, seed=s)  # fmt: skip
            train, val = make(data.num_train, seed), make(data.num_val, seed + 1_000_003)
        else:
            make = lambda root: ClipFolderDataset(root, c.num_frames, c.image_size, c.audio_samples_per_frame,
                                                  data.sample_rate)  # fmt: skip
            train, val = make(data.train_dir), make(data.val_dir)
            if val.classes != train.classes:
                raise ConfigError(f"the held-out clips' classes {val.classes} differ from the training clips' "
                                  f"{train.classes}; give both folders the same classes.txt")  # fmt: skip
        if len(train.classes) != c.num_classes:
            raise ConfigError(f"the data has {len(train.classes)} classes, the model num_classes={c.num_classes}")
        self.classes = list(train.classes)
        return train, val

    def _inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {
            "audio": batch["audio"],
            "image": batch["video"],
            "label": F.one_hot(batch["label"], self.model_config.num_classes).float(),
        }

    def loss(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        c, weights = self.model_config, self.config.loss_weights
        video_target = _video_tokens(batch["video"])
        patches = batch["audio"].reshape(len(batch["audio"]), -1, c.samples_per_patch)
        device = video_target.device
        points = {
            "image": torch.randperm(video_target.shape[1], device=device)[
                : max(1, round(self.config.train_fraction * video_target.shape[1]))
            ].sort().values,
            "audio": torch.randperm(patches.shape[1], device=device)[
                : max(1, round(self.config.train_fraction * patches.shape[1]))
            ].sort().values,
            "label": None,
        }
        adapter = model.input_adapter
        adapter.mask_probs["label"] = self.config.train_label_mask_probability
        out = model(self._inputs(batch), subsampled_output_points=points)
        terms = {
            "image": F.mse_loss(out["image"], video_target[:, points["image"]]),
            "audio": F.mse_loss(out["audio"], patches[:, points["audio"]].flatten(1)),
            "label": F.cross_entropy(out["label"], batch["label"]),
        }
        loss = sum(weights[m] * terms[m] for m in MODALITIES)
        return loss, {f"{m}_loss": v.item() for m, v in terms.items()}

    def evaluate(self, model: nn.Module, batches: Any) -> Evaluation:
        model.input_adapter.mask_probs["label"] = 1.0
        video_psnr, audio_psnr, correct, count = [], [], 0, 0
        shown: list[tuple[np.ndarray, np.ndarray]] = []
        for batch in batches:
            out = autoencode_in_chunks(model, self._inputs(batch), self.config.eval_chunks)
            video = batch["video"].permute(0, 1, 3, 4, 2)  # [B, T, H, W, 3]
            reconstruction = out["image"].reshape(video.shape).clamp(0.0, 1.0)
            video_psnr.append(psnr(((reconstruction - video) ** 2).flatten(1).mean(1), 1.0))
            audio_psnr.append(psnr(((out["audio"].clamp(-1, 1) - batch["audio"]) ** 2).mean(1), 1.0))
            correct += int((out["label"].argmax(-1) == batch["label"]).sum())
            count += len(batch["label"])
            for i in range(min(PICTURE_CLIPS - len(shown), len(video))):
                shown.append((video[i].cpu().numpy(), reconstruction[i].cpu().numpy()))
        metrics = {
            "video_psnr": torch.cat(video_psnr).mean().item(),
            "audio_psnr": torch.cat(audio_psnr).mean().item(),
            "label_accuracy": correct / count,
        }
        return Evaluation(metrics, {"shown": shown})

    def baseline(self, train: Dataset, val: Dataset, evaluation: Evaluation) -> dict[str, Any]:
        """Predicting the mean of the first training clips for every clip, and always the commonest class."""
        items = [train[i] for i in range(min(len(train), BASELINE_CLIPS))]
        mean_video = np.mean([item["video"] for item in items], axis=0)
        mean_audio = np.mean([item["audio"] for item in items], axis=0)
        majority = int(np.bincount([item["label"] for item in items]).argmax())
        video, audio, hits = [], [], 0
        for i in range(len(val)):
            item = val[i]
            video.append(float(psnr(torch.tensor(np.mean((item["video"] - mean_video) ** 2)), 1.0)))
            audio.append(float(psnr(torch.tensor(np.mean((item["audio"] - mean_audio) ** 2)), 1.0)))
            hits += int(item["label"] == majority)
        return {
            "name": f"mean of {len(items)} training clips; majority class",
            "video_psnr": float(np.mean(video)),
            "audio_psnr": float(np.mean(audio)),
            "label_accuracy": hits / len(val),
        }

    def picture(self, evaluation: Evaluation, path: Path) -> Path:
        rows = []
        for i, (video, reconstruction) in enumerate(evaluation.examples["shown"]):
            rows.append((f"clip {i} input", list(video)))
            rows.append((f"clip {i} output", list(reconstruction)))
        titles = [f"frame {t}" for t in range(len(rows[0][1]))]
        m = evaluation.metrics
        title = (f"multimodal autoencoding (label masked): video PSNR {m['video_psnr']:.1f} dB, "
                 f"audio PSNR {m['audio_psnr']:.1f} dB, label accuracy {m['label_accuracy']:.3f}")  # fmt: skip
        return save_image_grid(rows, path, titles, title)
