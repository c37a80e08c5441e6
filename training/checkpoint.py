"""Checkpoints: a directory holding ``model.safetensors``, optional ``optimizer.safetensors`` and ``meta.json``.

``meta.json`` names the checkpoint's kind (the job that wrote it: bc, rl, rl-snapshot, task) and carries the config,
counters, library versions, RNG states, the optimizer's non-tensor state, a manifest of the tensor files (bytes,
sha256) and its own sha256 (over its canonical JSON without that field), so a run resumes exactly and a changed
byte anywhere reads as corruption. Nothing is ever unpickled. A checkpoint is written and fsynced in a hidden
temporary directory (``.ckpt_<step>.<host>.<pid>.<random>``, folders and files readable under the umask) that is
renamed into place; re-saving a step keeps the old copy findable until the new one is in; the temporary directories
of a writer on this host that died mid-save are removed at the next save or prune.

A checkpoint is *complete* when its meta.json checks out and every file it lists has the recorded size and a
safetensors header spanning it (cheap, no tensor read: ``latest_checkpoint`` and pruning skip torn ones); it
*loads* when, besides, every file it reads matches its sha256 and the weights are finite (``load_checkpoint``).
Loading a run directory gives its newest checkpoint that loads (``load_latest``), warning about each newer one
skipped. Every problem is a ``CheckpointError`` naming the checkpoint.
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
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import nn

from training.scratch import remove_dead_scratch, scratch_dir

FORMAT = "perceiver-star-checkpoint"
FORMAT_VERSION = 3  # 3: meta.json names its kind and carries its own sha256; 2: its files with bytes and sha256
META, MODEL, OPTIMIZER = "meta.json", "model.safetensors", "optimizer.safetensors"
CHECKPOINTS = "checkpoints"  # a run directory's checkpoint folder
META_SHA256 = "meta_sha256"  # meta.json's own checksum
MAX_META_BYTES = 64 << 20  # far above any real meta.json (RNG states and config: ~100 KB); bounds a crafted one
MAX_STEP = 10**9  # checkpoint names hold nine digits
_MAX_COUNTER = 2**63  # a counter beyond int64 is crafted
REPLACED = ".replaced"  # the old copy of a step being re-saved, found (after the new one) until it is removed
CORRUPT, DIVERGED = ".corrupt", ".diverged"  # suffixes of checkpoints set aside (kept, never loaded or counted)
_NAME = re.compile(rf"^ckpt_(\d{{9}})({re.escape(REPLACED)})?$")
_RESERVED = ("format", "format_version", "kind", "step", "versions", "optimizer", "rng", "files", META_SHA256)
log = logging.getLogger("pstar.checkpoint")


def _is_checkpoint_name(name: str) -> bool:
    """The scratch directories a checkpoint save leaves are named after the checkpoint (``ckpt_<step>``)."""
    return _NAME.match(name) is not None


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


def _rng_problem(state: Any) -> str | None:
    """Why ``state`` cannot be restored, or None (tried for real, then the current RNG states are put back)."""
    python = state.get("python") if isinstance(state, dict) else None
    if isinstance(python, list) and len(python) == 3 and not isinstance(python[2], float | None):
        return "its rng state cannot be restored (python's gauss entry is not a number)"
    current = capture_rng()
    try:
        restore_rng(state)
    except (TypeError, ValueError, KeyError, IndexError, OverflowError, RuntimeError) as error:
        return f"its rng state cannot be restored ({type(error).__name__}: {error})"
    finally:
        restore_rng(current)
    return None


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
    if not 0 <= int(step) < MAX_STEP:
        raise ValueError(f"checkpoint step {step} is outside 0..{MAX_STEP - 1} (the names hold nine digits)")
    return f"ckpt_{int(step):09d}"


def _order(path: Path) -> tuple[int, int]:
    """Sort key: the step, then a replaced copy before the checkpoint that replaces it."""
    match = _NAME.match(path.name)
    return int(match.group(1)), 0 if match.group(2) else 1


def checkpoint_dirs(directory: str | Path) -> list[Path]:
    """Every checkpoint directory in ``directory``, complete or not, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.iterdir() if _NAME.match(p.name) and p.is_dir()), key=_order)


def list_checkpoints(directory: str | Path) -> list[Path]:
    """The complete checkpoints in ``directory``, oldest first."""
    return [p for p in checkpoint_dirs(directory) if checkpoint_problem(p) is None]


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The newest complete checkpoint in ``directory``; each newer, torn one is skipped with a warning naming it."""
    for path in reversed(checkpoint_dirs(directory)):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        log.warning("skipping checkpoint %s: %s; falling back to an older one", path, problem)
    return None


def prune(directory: str | Path, keep_last: int, keep: Collection[str] = ()) -> None:
    """Delete the checkpoints (complete or torn) older than the ``keep_last`` newest complete ones, except those
    named in ``keep``; a complete checkpoint among the newest ``keep_last`` is never deleted. Dead writers'
    temporary directories go too."""
    remove_dead_scratch(Path(directory), _is_checkpoint_name)
    complete = list_checkpoints(directory)
    if keep_last < 1 or len(complete) <= keep_last:
        return
    oldest_kept = _order(complete[-keep_last])
    for path in checkpoint_dirs(directory):
        if _order(path) < oldest_kept and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def set_aside(directory: str | Path, first_step: int, suffix: str, why: str) -> list[Path]:
    """Rename every checkpoint (complete or torn) of step ``first_step`` or later to ``<name><suffix>``: kept for
    inspection, but no longer found, loaded, counted or pruned (a newer one would outrank a resumed run's new
    checkpoints and have them pruned); one set aside before under that name keeps it (the new one gets ``.2``,
    ``.3``, ...). ``why`` is logged; returns the new paths."""
    moved = []
    for path in checkpoint_dirs(directory):
        if _order(path)[0] >= first_step:
            target, count = path.with_name(path.name + suffix), 1
            while target.exists():
                count += 1
                target = path.with_name(f"{path.name}{suffix}.{count}")
            os.replace(path, target)
            log.warning("set aside checkpoint %s as %s: %s", path, target.name, why)
            moved.append(target)
    return moved


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


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


def _meta_digest(meta: dict[str, Any]) -> str | None:
    """The sha256 of ``meta``'s canonical JSON without its own checksum (None if it cannot be encoded)."""
    try:
        return hashlib.sha256(_canonical({k: v for k, v in meta.items() if k != META_SHA256})).hexdigest()
    except (RecursionError, ValueError, TypeError):
        return None


def save_checkpoint(
    directory: str | Path,
    step: int,
    model: nn.Module | dict[str, torch.Tensor],
    meta: dict[str, Any],
    *,
    kind: str,
    optimizer: torch.optim.Optimizer | None = None,
    rng: bool = True,
    keep_last: int | None = None,
) -> Path:
    """Write checkpoint ``ckpt_<step>`` of ``kind`` under ``directory`` atomically; keep only the ``keep_last``
    newest. ``meta`` may not use the keys this module writes (format, kind, step, files, ...)."""
    clash = [key for key in meta if key in _RESERVED]
    if clash:
        raise ValueError(f"save_checkpoint: meta key {clash[0]!r} is reserved for the checkpoint format")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    remove_dead_scratch(directory, _is_checkpoint_name)
    final = directory / checkpoint_name(step)
    state = model.state_dict() if isinstance(model, nn.Module) else model
    tmp = scratch_dir(final)
    try:
        files = {MODEL: _write(tmp / MODEL, save({k: v.detach().cpu().contiguous() for k, v in state.items()}))}
        record = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, "step": int(step),
                  "versions": versions(), **meta}  # fmt: skip
        if optimizer is not None:
            tensors, plain = _optimizer_split(optimizer.state_dict())
            files[OPTIMIZER] = _write(tmp / OPTIMIZER, save(tensors))
            record["optimizer"] = plain
        if rng:
            record["rng"] = capture_rng()
        record["files"] = files
        record = json.loads(json.dumps(record))  # as a reader will see it (tuples as lists, keys as strings)
        record[META_SHA256] = _meta_digest(record)
        _write(tmp / META, json.dumps(record, indent=1).encode())
        _move_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if keep_last is not None:
        prune(directory, keep_last)
    return final


def _is_int(value: Any, high: int = _MAX_COUNTER) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < high


def _schema_problem(meta: dict[str, Any]) -> str | None:
    """What in a (checksummed) meta.json this module cannot use, or None: a crafted file fails here, not later."""
    if not isinstance(meta.get("kind"), str) or not meta["kind"]:
        return "'kind' is missing or not a name"
    if not _is_int(meta.get("step"), MAX_STEP):
        return f"'step' is {meta.get('step')!r:.40}, expected an integer from 0 to {MAX_STEP - 1}"
    files = meta.get("files")
    if not isinstance(files, dict) or MODEL not in files or set(files) - {MODEL, OPTIMIZER}:
        return f"'files' must list {MODEL} (and optionally {OPTIMIZER}), nothing else"
    for name, entry in files.items():
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if not _is_int(entry.get("bytes") if isinstance(entry, dict) else None) or not (
            isinstance(digest, str) and re.fullmatch("[0-9a-f]{64}", digest)
        ):
            return f"'files' lists {name} without its bytes and sha256"
    optimizer = meta.get("optimizer")
    if (optimizer is not None) != (OPTIMIZER in files):
        return f"an optimizer state needs {OPTIMIZER} listed in 'files', and the other way round"
    if optimizer is not None:
        groups, state = (optimizer.get("param_groups"), optimizer.get("state")) if isinstance(optimizer, dict) else (
            None, None)
        if not isinstance(groups, list) or not all(
            isinstance(g, dict) and isinstance(g.get("params"), list) and all(_is_int(i) for i in g["params"])
            for g in groups
        ):
            return "'optimizer.param_groups' is not a list of groups with integer params"
        if not isinstance(state, dict) or not all(k.isdigit() and isinstance(v, dict) for k, v in state.items()):
            return "'optimizer.state' is not a mapping of parameter indices to states"
    counters = meta.get("counters", {})
    if not isinstance(counters, dict) or not all(_is_int(v) for v in counters.values()):
        return "'counters' is not a mapping of names to integers >= 0 that fit in 64 bits"
    return _rng_problem(meta["rng"]) if "rng" in meta else None


def read_meta(path: str | Path) -> dict[str, Any]:
    """The meta.json of checkpoint ``path``, checked: this format and version, its own sha256, and the entries
    this module reads (kind, step, files, optimizer, counters, rng)."""
    path = Path(path)
    try:
        with open(path / META, "rb") as file:
            data = file.read(MAX_META_BYTES + 1)
    except FileNotFoundError as error:
        raise CheckpointError(path, f"{META} is missing") from error
    except OSError as error:
        raise CheckpointError(path, f"{META} cannot be read ({error.strerror or error})") from error
    if len(data) > MAX_META_BYTES:
        raise CheckpointError(path, f"{META} is larger than {MAX_META_BYTES >> 20} MiB (not a checkpoint's)")
    try:
        meta = json.loads(data)
    except RecursionError as error:
        raise CheckpointError(path, f"{META} is nested too deeply to be a checkpoint's") from error
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, an integer too long to convert
        raise CheckpointError(path, f"{META} is not valid JSON ({error})") from error
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(path, f"{META} is not a {FORMAT} file")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(path, f"checkpoint format version {version!r}, this version of perceiver-star "
                              f"reads {FORMAT_VERSION} only (retrain, or load it with the version that wrote "
                              "it)")  # fmt: skip
    if meta.get(META_SHA256) != _meta_digest(meta):
        raise CheckpointError(path, f"{META} does not match the sha256 it records (corrupt)")
    problem = _schema_problem(meta)
    if problem is not None:
        raise CheckpointError(path, f"{META}: {problem}")
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
        spans = 8 + length + end == size
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as error:
        raise CheckpointError(path, f"{name} has no readable safetensors header") from error
    if not spans:
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
    except (SafetensorError, ValueError, TypeError, RuntimeError, OverflowError) as error:
        raise CheckpointError(path, f"{name} is corrupt ({error})") from error


def _check_finite(path: Path, weights: dict[str, torch.Tensor]) -> None:
    bad = [k for k, v in weights.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(path, f"{MODEL} holds non-finite values in {len(bad)} of {len(weights)} tensors "
                              f"(first: {bad[0]!r}); it was saved from a diverged run")  # fmt: skip


@dataclass
class Checkpoint:
    """A loaded checkpoint: its directory, ``meta`` (kind, config, counters, ...) and the weights (the optimizer's
    tensors too when loaded for a resume)."""

    path: Path
    meta: dict[str, Any]
    weights: dict[str, torch.Tensor]
    optimizer_tensors: dict[str, torch.Tensor] | None = None

    @property
    def step(self) -> int:
        return int(self.meta["step"])

    @property
    def kind(self) -> str:
        return str(self.meta["kind"])

    @property
    def counters(self) -> dict[str, int]:
        return dict(self.meta.get("counters", {}))

    def optimizer_state(self) -> dict[str, Any] | None:
        """The optimizer state dict to pass to ``Optimizer.load_state_dict`` (None if none was saved)."""
        if "optimizer" not in self.meta:
            return None
        tensors = self.optimizer_tensors
        if tensors is None:
            tensors = _read_tensors(self.path, OPTIMIZER, self.meta["files"][OPTIMIZER])
        try:
            return _optimizer_join(tensors, self.meta["optimizer"])
        except (ValueError, TypeError, AttributeError) as error:
            raise CheckpointError(self.path, f"its optimizer state is malformed ({error})") from error

    def restore(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Everything a resume takes from the checkpoint: the weights into ``model``, the optimizer state into
        ``optimizer`` (if both exist) and the RNG states; whatever does not fit raises ``CheckpointError``.

        The optimizer keeps the settings it was built with (learning rate, weight decay, betas, ...): its moments
        and step counts come from the checkpoint, so ``--resume learning_rate=...`` trains at the new rate."""
        load_weights(model, self.weights, self.path)
        state = self.optimizer_state() if optimizer is not None else None
        if state is not None:
            configured = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
            try:
                optimizer.load_state_dict(state)
            except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as error:
                raise CheckpointError(self.path, f"its optimizer state does not fit this model ({error})") from error
            for group, settings in zip(optimizer.param_groups, configured, strict=True):
                group.update(settings)
        if "rng" in self.meta:
            restore_rng(self.meta["rng"])


def _load(path: Path, optimizer: bool) -> Checkpoint:
    meta = _checked_meta(path)
    weights = _read_tensors(path, MODEL, meta["files"][MODEL])
    _check_finite(path, weights)
    tensors = _read_tensors(path, OPTIMIZER, meta["files"][OPTIMIZER]) if optimizer and "optimizer" in meta else None
    return Checkpoint(path, meta, weights, tensors)


def load_latest(directory: str | Path, *, optimizer: bool = False) -> Checkpoint | None:
    """The newest checkpoint in ``directory`` that loads (every file it reads matching its sha256; with
    ``optimizer``, the optimizer's tensors too), each newer one skipped with a warning naming it; None if none
    loads."""
    for path in reversed(checkpoint_dirs(directory)):
        try:
            return _load(path, optimizer)
        except CheckpointError as error:
            log.warning("skipping checkpoint %s: %s; falling back to an older one", path, error.problem)
    return None


def load_checkpoint(path: str | Path, *, optimizer: bool = False) -> Checkpoint:
    """Read a checkpoint directory (or its meta.json or model.safetensors), or the newest checkpoint that loads in
    a run directory or its ``checkpoints/`` (see :func:`load_latest`); raises ``CheckpointError``."""
    path = Path(path)
    if path.is_file() and path.name in (META, MODEL, OPTIMIZER):
        path = path.parent
    if not path.is_dir():
        raise CheckpointError(path, "not found (expected a checkpoint directory with meta.json and model.safetensors)")
    if (path / META).exists():
        return _load(path, optimizer)
    for directory in (path, path / CHECKPOINTS):
        if checkpoint_dirs(directory):
            latest = load_latest(directory, optimizer=optimizer)
            if latest is None:
                raise CheckpointError(directory, "none of its checkpoints loads (each is named in a warning)")
            return latest
    raise CheckpointError(path, f"holds no checkpoint (expected a checkpoint directory with {META} and {MODEL}, "
                          f"or a run directory with {CHECKPOINTS}/)")  # fmt: skip


def load_weights(
    module: nn.Module, weights: dict[str, torch.Tensor], source: str | Path, absent: Collection[str] = ()
) -> None:
    """Load ``weights`` into ``module``, or raise naming the first key that is missing, extra or mis-shaped; the keys
    in ``absent`` may be missing (they keep the module's values: a grown agent's new weights)."""
    expected = module.state_dict()
    for key, tensor in expected.items():
        if key in absent and key not in weights:
            continue
        if key not in weights:
            raise CheckpointError(source, f"key {key!r} (shape {list(tensor.shape)}) is missing from the checkpoint")
        if tuple(weights[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                source, f"key {key!r} has shape {list(weights[key].shape)} in the checkpoint, the model expects "
                f"{list(tensor.shape)} (was it saved from a different config?)")  # fmt: skip
    extra = [k for k in weights if k not in expected]
    if extra:
        raise CheckpointError(source, f"key {extra[0]!r} is not a parameter of the model (different config?)")
    try:
        module.load_state_dict(weights, strict=not absent)
    except RuntimeError as error:  # e.g. a tensor of a type the parameter cannot take
        raise CheckpointError(source, f"its weights do not load into the model ({error})") from error
