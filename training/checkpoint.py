"""Checkpoints: a directory holding ``model.safetensors``, optional ``optimizer.safetensors`` and ``meta.json``.

``meta.json`` carries the config, counters, library versions, RNG states, the optimizer's non-tensor state and a
manifest of the tensor files (bytes, sha256), so a run resumes exactly. Nothing is ever unpickled. A checkpoint is
written and fsynced in a temporary directory that is renamed into place; re-saving a step keeps the old copy
findable until the new one is in. A checkpoint is *complete* when its meta.json parses and every file it lists has
the recorded size and a safetensors header spanning it; ``latest_checkpoint`` skips torn ones with a warning, and
pruning (``keep_last``) only counts complete ones. The sha256 is checked when a file is loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import shutil
import sys
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import nn

FORMAT = "perceiver-star-checkpoint"
FORMAT_VERSION = 2  # 2: meta.json lists its files with bytes and sha256
META, MODEL, OPTIMIZER = "meta.json", "model.safetensors", "optimizer.safetensors"
REPLACED = ".replaced"  # the old copy of a step being re-saved, found (after the new one) until it is removed
_NAME = re.compile(rf"^ckpt_(\d{{9}})({re.escape(REPLACED)})?$")
log = logging.getLogger("pstar.checkpoint")


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or does not fit the model it is loaded into."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"checkpoint {path}: {problem}")
        self.path = Path(path)
        self.problem = problem


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


def _order(path: Path) -> tuple[int, int]:
    """Sort key: the step, then a replaced copy before the checkpoint that replaces it."""
    match = _NAME.match(path.name)
    return int(match.group(1)), 0 if match.group(2) else 1


def _candidates(directory: str | Path) -> list[Path]:
    """Every checkpoint directory in ``directory``, complete or not, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.iterdir() if _NAME.match(p.name) and p.is_dir()), key=_order)


def list_checkpoints(directory: str | Path) -> list[Path]:
    """The complete checkpoints in ``directory``, oldest first."""
    return [p for p in _candidates(directory) if checkpoint_problem(p) is None]


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The newest complete checkpoint in ``directory``; each newer, torn one is skipped with a warning naming it."""
    for path in reversed(_candidates(directory)):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        log.warning("skipping checkpoint %s: %s; falling back to an older one", path, problem)
    return None


def prune(directory: str | Path, keep_last: int, keep: Collection[str] = ()) -> None:
    """Delete the checkpoints (complete or torn) older than the ``keep_last`` newest complete ones, except those
    named in ``keep``; a complete checkpoint among the newest ``keep_last`` is never deleted."""
    complete = list_checkpoints(directory)
    if keep_last < 1 or len(complete) <= keep_last:
        return
    oldest_kept = _order(complete[-keep_last])
    for path in _candidates(directory):
        if _order(path) < oldest_kept and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path: Path, data: bytes) -> dict[str, Any]:
    """Write ``data`` to ``path`` and fsync it; returns its manifest entry (bytes, sha256)."""
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _move_into_place(tmp: Path, final: Path) -> None:
    """Rename the written ``tmp`` to ``final``; an existing ``final`` stays findable (as ``<final>.replaced``) until
    the new one is in, so a crash at any moment leaves a complete checkpoint of the step."""
    replaced = final.with_name(final.name + REPLACED)
    _fsync_directory(tmp)
    if final.exists():
        if replaced.exists():  # left by an interrupted re-save; ``final`` superseded it
            shutil.rmtree(replaced)
        os.replace(final, replaced)
        _fsync_directory(final.parent)
    os.replace(tmp, final)
    _fsync_directory(final.parent)
    shutil.rmtree(replaced, ignore_errors=True)


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
        files = {MODEL: _write(tmp / MODEL, save({k: v.detach().cpu().contiguous() for k, v in state.items()}))}
        record = {"format": FORMAT, "format_version": FORMAT_VERSION, "step": int(step), "versions": versions(),
                  **meta}  # fmt: skip
        if optimizer is not None:
            tensors, plain = _optimizer_split(optimizer.state_dict())
            files[OPTIMIZER] = _write(tmp / OPTIMIZER, save(tensors))
            record["optimizer"] = plain
        if rng:
            record["rng"] = capture_rng()
        record["files"] = files
        _write(tmp / META, json.dumps(record, indent=1).encode())
        _move_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if keep_last is not None:
        prune(directory, keep_last)
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
        entry = self.meta["files"].get(OPTIMIZER)
        if entry is None:
            raise CheckpointError(self.path, f"{META} has an optimizer state but does not list {OPTIMIZER}")
        return _optimizer_join(_read_tensors(self.path, OPTIMIZER, entry), self.meta["optimizer"])


def read_meta(path: str | Path) -> dict[str, Any]:
    """The meta.json of checkpoint ``path``, checked to be this format's and to list its files."""
    path = Path(path)
    try:
        meta = json.loads((path / META).read_text())
    except FileNotFoundError as error:
        raise CheckpointError(path, f"{META} is missing") from error
    except OSError as error:
        raise CheckpointError(path, f"{META} cannot be read ({error.strerror or error})") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(path, f"{META} is not valid JSON ({error})") from error
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(path, f"{META} is not a {FORMAT} file")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(path, f"format version {meta.get('format_version')}, expected {FORMAT_VERSION}")
    files = meta.get("files")
    valid = isinstance(files, dict) and MODEL in files and all(
        isinstance(e, dict) and isinstance(e.get("bytes"), int) and isinstance(e.get("sha256"), str)
        for e in files.values())  # fmt: skip
    if not valid:
        raise CheckpointError(path, f"{META} does not list {MODEL} (and its other files) with bytes and sha256")
    return meta


def _check_file(path: Path, name: str, entry: dict[str, Any]) -> None:
    """Raise unless file ``name`` has its recorded size and a safetensors header whose tensors end at its end."""
    try:
        size = (path / name).stat().st_size
        with open(path / name, "rb") as file:
            length = int.from_bytes(file.read(8), "little")
            header = file.read(min(length, max(size - 8, 0)))
    except FileNotFoundError as error:
        raise CheckpointError(path, f"{name} is missing") from error
    except OSError as error:
        raise CheckpointError(path, f"{name} cannot be read ({error.strerror or error})") from error
    if size != entry["bytes"]:
        raise CheckpointError(path, f"{name} has {size} bytes, {META} records {entry['bytes']} (truncated?)")
    try:
        tensors = json.loads(header)
        end = max((v["data_offsets"][1] for k, v in tensors.items() if k != "__metadata__"), default=0)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
        raise CheckpointError(path, f"{name} has no readable safetensors header") from error
    if 8 + length + end != size:
        raise CheckpointError(path, f"{name}'s safetensors header does not match its size")


def checkpoint_problem(path: str | Path) -> str | None:
    """Why checkpoint ``path`` is incomplete (a torn write, a missing or truncated file, a bad meta.json), or None.

    Cheap: reads meta.json and each tensor file's header, not the tensors."""
    try:
        _checked_meta(Path(path))
    except CheckpointError as error:
        return error.problem
    return None


def _checked_meta(path: Path) -> dict[str, Any]:
    meta = read_meta(path)
    for name, entry in meta["files"].items():
        _check_file(path, name, entry)
    return meta


def _read_tensors(path: Path, name: str, entry: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The tensors of file ``name``, after checking its sha256 against the manifest entry."""
    try:
        data = (path / name).read_bytes()
    except OSError as error:
        raise CheckpointError(path, f"{name} is missing or unreadable ({error.strerror or error})") from error
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise CheckpointError(path, f"{name} does not match the sha256 recorded in {META} (corrupt)")
    try:
        return load(data)
    except SafetensorError as error:
        raise CheckpointError(path, f"{name} is corrupt ({error})") from error


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
    meta = _checked_meta(path)
    return Checkpoint(path, meta, _read_tensors(path, MODEL, meta["files"][MODEL]))


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
