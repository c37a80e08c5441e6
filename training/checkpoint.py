"""Checkpoints: a directory holding ``model.safetensors``, optional ``optimizer.safetensors`` and ``meta.json``.

``meta.json`` carries the config, counters, library versions, RNG states and the optimizer's non-tensor state, so a
run resumes exactly. Nothing is ever unpickled. A checkpoint is written into a temporary directory that is renamed
into place, so a reader never sees half of one; ``keep_last`` prunes older ones of the same run.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

FORMAT = "perceiver-star-checkpoint"
FORMAT_VERSION = 1
META, MODEL, OPTIMIZER = "meta.json", "model.safetensors", "optimizer.safetensors"
_NAME = re.compile(r"^ckpt_(\d{9})$")


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or does not fit the model it is loaded into."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"checkpoint {path}: {problem}")
        self.path = Path(path)


def versions() -> dict[str, str]:
    """Library versions recorded with every checkpoint."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("perceiver-star")
    except PackageNotFoundError:
        ours = "source"
    return {"perceiver_star": ours, "torch": torch.__version__, "numpy": np.__version__,
            "python": sys.version.split()[0]}  # fmt: skip


def capture_rng() -> dict[str, Any]:
    """Python, numpy (legacy global) and torch RNG states as JSON-safe values."""
    np_state = np.random.get_state()  # noqa: NPY002 (code that uses the global RNG must resume exactly)
    return {
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state().tolist(),
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Undo :func:`capture_rng`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))


def _optimizer_split(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer state dict as (tensors for safetensors, the JSON-safe rest)."""
    tensors, plain = {}, {"param_groups": state["param_groups"], "state": {}}
    for index, values in state["state"].items():
        plain["state"][str(index)] = {}
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                plain["state"][str(index)][key] = value
    return tensors, plain


def _optimizer_join(tensors: dict[str, torch.Tensor], plain: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(k): dict(v) for k, v in plain["state"].items()}
    for name, tensor in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = tensor
    return {"state": state, "param_groups": plain["param_groups"]}


def checkpoint_name(step: int) -> str:
    return f"ckpt_{int(step):09d}"


def list_checkpoints(directory: str | Path) -> list[Path]:
    """The complete checkpoints in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.match(p.name) and (p / META).is_file()]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def latest_checkpoint(directory: str | Path) -> Path | None:
    found = list_checkpoints(directory)
    return found[-1] if found else None


def save_checkpoint(
    directory: str | Path,
    step: int,
    model: nn.Module | dict[str, torch.Tensor],
    meta: dict[str, Any],
    *,
    optimizer: torch.optim.Optimizer | None = None,
    rng: bool = True,
    keep_last: int | None = None,
) -> Path:
    """Write checkpoint ``ckpt_<step>`` under ``directory`` atomically; keep only the ``keep_last`` newest."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / checkpoint_name(step)
    state = model.state_dict() if isinstance(model, nn.Module) else model
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=directory))
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(tmp / MODEL))
        record = {"format": FORMAT, "format_version": FORMAT_VERSION, "step": int(step), "versions": versions(),
                  **meta}  # fmt: skip
        if optimizer is not None:
            tensors, plain = _optimizer_split(optimizer.state_dict())
            save_file(tensors, str(tmp / OPTIMIZER))
            record["optimizer"] = plain
        if rng:
            record["rng"] = capture_rng()
        (tmp / META).write_text(json.dumps(record, indent=1))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if keep_last is not None and keep_last > 0:
        for old in list_checkpoints(directory)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    return final


@dataclass
class Checkpoint:
    """A loaded checkpoint: its directory, ``meta`` (config, counters, ...) and the weights."""

    path: Path
    meta: dict[str, Any]
    weights: dict[str, torch.Tensor]

    @property
    def step(self) -> int:
        return int(self.meta["step"])

    def optimizer_state(self) -> dict[str, Any] | None:
        """The optimizer state dict to pass to ``Optimizer.load_state_dict`` (None if none was saved)."""
        if "optimizer" not in self.meta:
            return None
        try:
            tensors = load_file(str(self.path / OPTIMIZER))
        except (OSError, SafetensorError) as error:
            raise CheckpointError(self.path, f"{OPTIMIZER} is missing or corrupt ({error})") from error
        return _optimizer_join(tensors, self.meta["optimizer"])


def resolve(path: str | Path) -> Path:
    """A checkpoint directory from a checkpoint directory, its meta.json, or a run directory (its latest)."""
    path = Path(path)
    if path.is_file() and path.name in (META, MODEL):
        path = path.parent
    if path.is_dir() and not (path / META).is_file():
        latest = latest_checkpoint(path) or latest_checkpoint(path / "checkpoints")
        if latest is not None:
            return latest
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint (see :func:`resolve` for what ``path`` may be); raises ``CheckpointError``."""
    path = resolve(path)
    if not path.is_dir():
        raise CheckpointError(path, "not found (expected a checkpoint directory with meta.json and model.safetensors)")
    try:
        meta = json.loads((path / META).read_text())
    except OSError as error:
        raise CheckpointError(path, f"{META} cannot be read ({error.strerror or error})") from error
    except json.JSONDecodeError as error:
        raise CheckpointError(path, f"{META} is not valid JSON ({error})") from error
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(path, f"{META} is not a {FORMAT} file")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(path, f"format version {meta.get('format_version')}, expected {FORMAT_VERSION}")
    try:
        weights = load_file(str(path / MODEL))
    except (OSError, SafetensorError) as error:
        raise CheckpointError(path, f"{MODEL} is missing or corrupt ({error})") from error
    return Checkpoint(path, meta, weights)


def load_weights(module: nn.Module, weights: dict[str, torch.Tensor], source: str | Path) -> None:
    """Load ``weights`` into ``module``, or raise naming the first key that is missing, extra or mis-shaped."""
    expected = module.state_dict()
    for key, tensor in expected.items():
        if key not in weights:
            raise CheckpointError(source, f"key {key!r} (shape {list(tensor.shape)}) is missing from the checkpoint")
        if tuple(weights[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                source, f"key {key!r} has shape {list(weights[key].shape)} in the checkpoint, the model expects "
                f"{list(tensor.shape)} (was it saved from a different config?)")  # fmt: skip
    extra = [k for k in weights if k not in expected]
    if extra:
        raise CheckpointError(source, f"key {extra[0]!r} is not a parameter of the model (different config?)")
    module.load_state_dict(weights)
