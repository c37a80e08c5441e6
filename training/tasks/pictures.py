"""The pictures of task runs: a confusion matrix, and labelled grids of images (frames, flow colour codings)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen first)
import numpy as np  # noqa: E402


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts [true class, predicted class]."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def save_confusion_matrix(matrix: np.ndarray, classes: Sequence[str], path: Path, title: str) -> Path:
    """A row-normalised confusion matrix with the counts written in the cells."""
    count = len(classes)
    size = max(4.0, 0.5 * count + 2.0)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    rows = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=float), where=rows > 0)
    ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(count), labels=list(classes), rotation=45, ha="right")
    ax.set_yticks(range(count), labels=list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if count <= 30:
        for i in range(count):
            for j in range(count):
                if matrix[i, j]:
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if shares[i, j] > 0.5 else "black")  # fmt: skip
    fig.tight_layout()
    return _save(fig, path)


def save_image_grid(rows: Sequence[tuple[str, Sequence[np.ndarray]]], path: Path, titles: Sequence[str] = (),
                    title: str = "") -> Path:  # fmt: skip
    """Rows of images (uint8 or float in [0, 1], [H, W, 3] or [H, W]), each row labelled on its left."""
    columns = max(len(images) for _, images in rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(1.6 * columns + 0.6, 1.6 * len(rows) + 0.4),
                             squeeze=False)  # fmt: skip
    for r, (label, images) in enumerate(rows):
        for c in range(columns):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images):
                image = np.asarray(images[c])
                ax.imshow(image if image.dtype == np.uint8 else np.clip(image, 0.0, 1.0),
                          cmap="gray" if image.ndim == 2 else None, interpolation="nearest")  # fmt: skip
            else:
                ax.axis("off")
            if r == 0 and c < len(titles):
                ax.set_title(titles[c], fontsize=8)
        axes[r][0].set_ylabel(label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def save_text_panel(lines: Sequence[tuple[str, str]], path: Path, title: str = "") -> Path:
    """Labelled lines of text in a monospaced font (the MLM run's original / masked / predicted bytes)."""
    fig, ax = plt.subplots(figsize=(12, 0.45 * len(lines) + 0.8))
    ax.axis("off")
    for i, (label, text) in enumerate(lines):
        y = 1.0 - (i + 0.5) / len(lines)
        ax.text(0.0, y, f"{label:>10}: {text}", family="monospace", fontsize=8, va="center", transform=ax.transAxes)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
