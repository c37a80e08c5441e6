"""The classical baseline for the flow task: OpenCV's Farneback dense flow, and the end-point error metric.

OpenCV's flow has our convention: ``prev(y, x) ~ next(y + flow[y, x, 1], x + flow[y, x, 0])``, i.e. channel 0 is
the horizontal displacement from frame 1 to frame 2. Defaults are the parameters of OpenCV's own samples.
"""

from __future__ import annotations

import cv2
import numpy as np

from training.tasks.data.flo import valid_mask

GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 luma, as cv2.cvtColor(RGB2GRAY)


def to_gray_u8(frame: np.ndarray) -> np.ndarray:
    """An RGB frame float [3, H, W] in [0, 1] as an 8-bit gray image [H, W]."""
    frame = np.asarray(frame, dtype=np.float64)
    if frame.ndim != 3 or frame.shape[0] != 3:
        raise ValueError(f"frame must have shape [3, H, W], got {list(frame.shape)}")
    gray = np.tensordot(GRAY_WEIGHTS, frame, axes=1)
    return np.clip(np.rint(gray * 255), 0, 255).astype(np.uint8)


def farneback_flow(
    frame1: np.ndarray,
    frame2: np.ndarray,
    *,
    pyr_scale: float = 0.5,
    levels: int = 3,
    winsize: int = 15,
    iterations: int = 3,
    poly_n: int = 5,
    poly_sigma: float = 1.2,
    flags: int = 0,
) -> np.ndarray:
    """Flow float32 [H, W, 2] (u, v) from frame1 to frame2, both float [3, H, W] in [0, 1]."""
    if np.shape(frame1) != np.shape(frame2):
        raise ValueError(f"frames must have the same shape, got {list(np.shape(frame1))} and {list(np.shape(frame2))}")
    prev, following = to_gray_u8(frame1), to_gray_u8(frame2)
    flow = cv2.calcOpticalFlowFarneback(
        prev, following, None, pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags
    )
    return np.asarray(flow, dtype=np.float32)


def end_point_error(pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean Euclidean distance between predicted and true flow [H, W, 2] over pixels with known true flow."""
    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true)
    if pred.shape != true.shape or pred.ndim != 3 or pred.shape[2] != 2:
        raise ValueError(f"pred and true must both have shape [H, W, 2], got {list(pred.shape)} and {list(true.shape)}")
    use = valid_mask(true)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != use.shape:
            raise ValueError(f"mask must have shape {list(use.shape)}, got {list(mask.shape)}")
        use &= mask
    if not use.any():
        raise ValueError("no pixel has known true flow inside the mask")
    error = np.linalg.norm(pred[use] - true[use].astype(np.float64), axis=-1)
    return float(error.mean())
