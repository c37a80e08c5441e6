"""The one supervised trainer behind ``pstar task``: AdamW steps, evaluation, safetensors checkpoints, TensorBoard,
progress bars, and the run's result JSON and picture. Each task plugs in through :class:`training.tasks.task.Task`.
The run folder follows ``training.run_folder``; a non-finite loss stops the run before its optimizer step
(``training.divergence``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from perceiver_io.hf import import_pretrained
from training.checkpoint import (
    Checkpoint,
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from training.config_io import ConfigError, to_dict
from training.divergence import check_finite, probe
from training.logger import RunLogger
from training.run_folder import changed_settings, open_run
from training.schedule import lr_factor
from training.tasks.sampler import StepBatchSampler
from training.tasks.task import Evaluation, Task

RESULT_FILE = "result.json"
KIND = "task"  # the kind of a task trainer's checkpoints (the task's name is in meta["task"])


@dataclass
class TaskResult:
    """What a run produced: its directory, held-out metrics, baseline, result JSON, picture and last checkpoint."""

    run_dir: Path
    metrics: dict[str, float]
    baseline: dict[str, Any]
    result_path: Path
    picture: Path
    checkpoint: Path | None
    steps: int
    seconds: float


def to_device(batch: Any, device: torch.device) -> Any:
    """Tensors of a (nested) batch moved to ``device``; other values unchanged."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def _batches(loader: DataLoader, device: torch.device, progress: bool, label: str) -> Iterator[Any]:
    for batch in tqdm(loader, desc=label, leave=False, disable=not progress, dynamic_ncols=True):
        yield to_device(batch, device)


def evaluate(task: Task, model: nn.Module, val: Dataset, device: torch.device, progress: bool) -> Evaluation:
    """The task's held-out metrics, with the model in eval mode and no gradients (training mode restored)."""
    cfg = task.config.train
    loader = DataLoader(val, batch_size=cfg.eval_batch_size, shuffle=False, collate_fn=task.collate,
                        num_workers=cfg.num_workers)  # fmt: skip
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return task.evaluate(model, _batches(loader, device, progress, f"eval {task.name}"))
    finally:
        model.train(was_training)


def _task_checkpoint(task: Task, checkpoint: Checkpoint) -> Any:
    """The model config of a checkpoint of ``task`` (another kind or task raises ``CheckpointError``)."""
    if checkpoint.kind != KIND or checkpoint.meta.get("task") != task.name:
        what = f"{checkpoint.meta.get('task')!r} task" if checkpoint.kind == KIND else repr(checkpoint.kind)
        raise CheckpointError(checkpoint.path, f"is a {what} checkpoint, not a {task.name!r} task checkpoint")
    recorded = checkpoint.meta.get("model_config")
    if not isinstance(recorded, dict):
        raise CheckpointError(checkpoint.path, "meta.json has no 'model_config' mapping")
    try:
        return task.model_config_from_dict(recorded)
    except ConfigError as error:
        raise CheckpointError(checkpoint.path, f"its model_config does not fit this task ({error})") from error


def _initial_model(
    task: Task, checkpoint: str | Path | Checkpoint | None, from_hf: str | Path | None
) -> tuple[nn.Module, Any, dict[str, Any]]:
    """(model, model config, where its weights came from) for a fresh, checkpointed (a path, or the checkpoint a
    resume continues, whose model must be the configured one) or HF-imported run."""
    if checkpoint is not None and from_hf is not None:
        raise ConfigError("give either --checkpoint or --from-hf, not both")
    if from_hf is not None:
        try:
            imported = import_pretrained(from_hf)
        except (FileNotFoundError, ValueError) as error:
            raise ConfigError(f"--from-hf {from_hf}: {error}") from error
        task.check_hf_config(imported.config, imported.architecture)
        return imported.model, imported.config, {"from_hf": str(from_hf), "architecture": imported.architecture}
    if checkpoint is not None:
        loaded = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
        model_config = _task_checkpoint(task, loaded)
        if isinstance(checkpoint, Checkpoint):
            differences = changed_settings(task.describe(model_config), task.describe(task.model_config()))
            if differences:
                raise CheckpointError(loaded.path, f"its model differs from this run's (checkpoint -> run: "
                                      f"{'; '.join(differences)}); resume with the same model.* settings, or start "
                                      "a new run (another train.name=)")  # fmt: skip
        model = _build(task, model_config)
        load_weights(model, loaded.weights, loaded.path)
        return model, model_config, {"checkpoint": str(loaded.path), "checkpoint_step": loaded.step}
    model_config = task.model_config()
    model = _build(task, model_config)
    return model, model_config, task.initialised_from or {"init": "random", "seed": task.config.train.seed}


def _build(task: Task, model_config: Any) -> nn.Module:
    """The task's model; a config the model cannot be built from is a ``ConfigError`` naming the problem."""
    try:
        return task.build_model(model_config)
    except ValueError as error:
        raise ConfigError(f"model: {error}") from error


def _optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only (not on biases, norms, or 1-D embeddings/queries)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    rest = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)


def _write_result(run_dir: Path, record: dict[str, Any]) -> Path:
    path = run_dir / RESULT_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)
    return path


def run_task(
    task: Task,
    *,
    eval_only: bool = False,
    checkpoint: str | Path | None = None,
    from_hf: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TaskResult:
    """Train (or only evaluate) ``task``; write checkpoints, TensorBoard scalars, ``result.json`` and a picture."""
    started = time.perf_counter()
    cfg = task.config.train
    if eval_only and checkpoint is None and from_hf is None:
        raise ConfigError("--eval-only needs --checkpoint or --from-hf (there is nothing trained to evaluate)")
    if resume and (checkpoint is not None or from_hf is not None or eval_only):
        raise ConfigError("--resume continues a run's own checkpoints; it takes no --checkpoint/--from-hf/--eval-only")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device)

    folder = open_run(cfg.run_root, cfg.name, KIND, resume=resume, name_key="train.name",
                      prefix=f"task_{task.name}" + ("_eval" if eval_only else ""))  # fmt: skip
    run_dir, ckpt_dir, resumed = folder.path, folder.checkpoints, folder.resumed
    start_step = 0
    model, model_config, origin = _initial_model(task, resumed or checkpoint, from_hf)
    model.to(device)
    train, val = task.datasets(model_config)
    folder.write_config(task.config)
    parameters = sum(p.numel() for p in model.parameters())
    logger = RunLogger(run_dir)
    meta = {"task": task.name, "config": to_dict(task.config), "model_config": task.describe(model_config)}

    steps_done, last_ckpt, train_seconds = 0, None, 0.0
    try:
        if not eval_only:
            optimizer = _optimizer(model, cfg.learning_rate, cfg.weight_decay)
            if resumed is not None:
                resumed.restore(model, optimizer)  # the weights again (already in), the optimizer and the RNG
                start_step = resumed.step
            steps_done, last_ckpt, train_seconds = _train(
                task, model, optimizer, train, val, device, logger, ckpt_dir, meta, start_step, progress
            )
        evaluation = evaluate(task, model, val, device, progress)
        baseline = task.baseline(train, val, evaluation)
        logger.scalars({f"metrics/val/{k}": v for k, v in evaluation.metrics.items()}, steps_done)
        data = task.data_summary(train, val)  # after the run: it counts files found undecodable while loading
        logger.scalars({"data/skipped_files": sum(data["skipped"].values())}, steps_done)
        picture = task.picture(evaluation, run_dir / f"{task.name}.png")
    finally:
        logger.close()
    seconds = time.perf_counter() - started
    record = {
        "task": task.name,
        "variant": getattr(task, "variant", task.name),
        "mode": "eval" if eval_only else "train",
        "metrics": evaluation.metrics,
        "primary_metric": task.primary_metric,
        "higher_is_better": task.higher_is_better,
        "baseline": baseline,
        "steps": steps_done,
        "train_seconds": round(train_seconds, 2),
        "wall_seconds": round(seconds, 2),
        "threads": torch.get_num_threads(),
        "device": str(device),
        "parameters": parameters,
        "data": data,
        "weights": origin,
        "model_config": meta["model_config"],
        "checkpoint": str(last_ckpt) if last_ckpt else None,
        "picture": str(picture),
    }
    result_path = _write_result(run_dir, record)
    return TaskResult(run_dir, evaluation.metrics, baseline, result_path, picture, last_ckpt, steps_done, seconds)


def _train(
    task: Task,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train: Dataset,
    val: Dataset,
    device: torch.device,
    logger: RunLogger,
    ckpt_dir: Path,
    meta: dict[str, Any],
    start_step: int,
    progress: bool,
) -> tuple[int, Path | None, float]:
    """The optimisation loop; returns (steps done, last checkpoint, seconds spent in it)."""
    cfg = task.config.train
    sampler = StepBatchSampler(len(train), cfg.batch_size, cfg.steps, cfg.seed, start_step)
    loader = DataLoader(train, batch_sampler=sampler, collate_fn=task.collate, num_workers=cfg.num_workers)
    model.train()
    started = time.perf_counter()
    window_start, window_steps = started, 0
    last_ckpt: Path | None = None
    step = start_step
    bar = tqdm(total=cfg.steps, initial=start_step, desc=f"train {task.name}", disable=not progress,
               dynamic_ncols=True)  # fmt: skip
    try:
        for batch in loader:
            factor = lr_factor(step, cfg.steps, cfg.warmup_steps, cfg.schedule)
            for group in optimizer.param_groups:
                group["lr"] = cfg.learning_rate * factor
            batch = to_device(batch, device)
            loss, logs = task.loss(model, batch, step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm or float("inf"))
            check_finite(step + 1, {"loss": loss.detach(), "grad_norm": grad_norm})
            optimizer.step()
            step += 1
            window_steps += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}")
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.perf_counter()
                scalars = {"losses/train": loss.item(), "charts/learning_rate": cfg.learning_rate * factor,
                           "charts/steps_per_second": window_steps / max(now - window_start, 1e-9)}  # fmt: skip
                if cfg.max_grad_norm:
                    scalars["losses/grad_norm"] = float(grad_norm)
                scalars.update({f"losses/{k}": v for k, v in logs.items()})
                logger.scalars(scalars, step)
                window_start, window_steps = now, 0
            if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.steps:
                evaluation = evaluate(task, model, val, device, progress)
                logger.scalars({f"metrics/val/{k}": v for k, v in evaluation.metrics.items()}, step)
                bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in evaluation.metrics.items()))
            if step == cfg.steps or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0):
                probe(step, lambda: {"loss": task.loss(model, batch, step)[0]})  # noqa: B023 (called right here)
                last_ckpt = save_checkpoint(ckpt_dir, step, model, meta, kind=KIND, optimizer=optimizer,
                                            keep_last=cfg.keep_last or None)  # fmt: skip
    finally:
        bar.close()
    if last_ckpt is None:  # a resumed run that had already finished
        last_ckpt = latest_checkpoint(ckpt_dir)
    return step, last_ckpt, time.perf_counter() - started
