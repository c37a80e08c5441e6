"""Behaviour cloning: teacher-forced negative log-likelihood of the replays' actions, per head, weighted.

``train_bc`` builds (or reuses) the sequence cache, builds the agent from the data's spec, and runs ``steps`` Adam
steps on batches of sequences streamed from the cache; every ``eval_every`` steps and at the end it measures the
held-out metrics (``training.bc.metrics``), and it checkpoints every ``checkpoint_every`` steps and at the end.
``resume`` continues the run directory's latest checkpoint: weights, optimizer, counters, RNG, and the data order
(the stream skips the batches already consumed); ``init_checkpoint`` starts a new run from an agent checkpoint's
weights (fine-tuning; DAgger's iterations, ``training.bc.labels``). Under ``torchrun`` (``WORLD_SIZE`` > 1) each
process trains on its own shards through DistributedDataParallel (gloo on CPU, nccl on GPU); rank 0 alone evaluates,
logs and checkpoints. The run folder follows ``training.run_folder`` (rank 0 applies it); a non-finite loss or
gradient stops the run before its optimizer step (``training.divergence``), on every rank.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from agents.agent import Agent, AgentState
from agents.heads.action_heads import HEADS
from training.agent_choice import report_agent
from training.agent_io import check_same_agent, read_agent_checkpoint, save_agent
from training.bc.config import BCConfig
from training.bc.dataset import BCData, BuildSettings, prepare_data
from training.bc.game_stream import GameStream
from training.bc.metrics import evaluate_bc, production_types
from training.bc.shards import HEAD_MASK, Batch, SequenceStream, batches, collate, split_obs_action
from training.checkpoint import Checkpoint, CheckpointError, checkpoint_name, load_checkpoint, load_weights
from training.config_io import ConfigError, to_dict
from training.divergence import check_finite, probe
from training.logger import RunLogger
from training.run_folder import RunFolder, open_run
from training.schedule import lr_factor

EVAL_BATCH = 64  # held-out sequences per evaluation batch


@dataclass
class BCResult:
    """What a run produced: its directory, final checkpoint (rank 0; None on other ranks), final held-out metrics
    (``"<head>/<name>"``, plus ``loss``, the last logged training loss), data counts (incl. skipped replays by
    reason) and wall-clock seconds."""

    run_dir: Path
    checkpoint: Path | None
    metrics: dict[str, float]
    data: dict[str, Any]
    seconds: float
    steps: int


class BCObjective(nn.Module):
    """The loss as a module, so DistributedDataParallel sees the forward it must synchronise gradients for.

    ``forward(batch, state)`` -> (weighted loss, unweighted per-head NLL): each head's negative teacher-forced
    log-likelihood, summed over a step's sub-actions (its actions, then the no_op that ends it), averaged over the
    batch's valid steps (heads an action does not use, or its ``head_mask`` leaves out, contribute 0); in the loss a
    step whose labels order production weighs ``production_weight``, the others 1. The sequences
    start from ``state`` (None: the agent's initial state, truncated BPTT; see ``training.bc.dataset``); the state
    they end in is kept, detached, as ``final_state`` (where ``recurrent_state=carry`` starts the next batch).
    """

    def __init__(self, agent: Agent, head_weights: dict[str, float], production_weight: float = 1.0) -> None:
        super().__init__()
        self.agent = agent
        self.head_weights = {head: float(head_weights.get(head, 1.0)) for head in HEADS}
        self.production_weight = float(production_weight)
        production = torch.cat([production_types(agent.spec), torch.tensor([False])])  # [-1]: padding
        self.register_buffer("production", production, persistent=False)
        self.final_state: AgentState | None = None

    def forward(self, batch: Batch, state: AgentState | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        obs, action = split_obs_action(batch)
        valid = batch["valid"].float()
        if state is None:
            state = self.agent.initial_state(valid.shape[1], valid.device)
        out = self.agent.evaluate_sequence(obs, action, state, batch["first"])
        self.final_state = {key: value.detach() for key, value in out.state.items()}
        count = valid.sum().clamp(min=1.0)
        taught = valid.bool()[..., None] & batch[HEAD_MASK].bool()  # where() keeps an untaught -inf out of the sum
        steps = {head: torch.where(taught[..., i], out.log_probs[head], 0.0) for i, head in enumerate(HEADS)}
        nll = {head: -value.sum() / count for head, value in steps.items()}
        if self.production_weight == 1.0:
            loss = sum(self.head_weights[head] * nll[head] for head in HEADS)
        else:  # keyframes: a step with a production label weighs production_weight
            kinds = action["action_type"].long()
            keyframe = self.production[torch.where(kinds >= 0, kinds, -1)].any(-1)
            weight = torch.where(keyframe, self.production_weight, 1.0)
            loss = sum(-self.head_weights[head] * (weight * steps[head]).sum() / count for head in HEADS)
        return loss, {head: value.detach() for head, value in nll.items()}


@dataclass(frozen=True)
class Process:
    """This process's place in a torchrun job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def start_process_group(device: str) -> Process:
    """Join the torchrun job when ``WORLD_SIZE`` > 1 (gloo, or nccl for CUDA), else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Process()
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    dist.init_process_group("nccl" if cuda else "gloo")
    return Process(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def resolve_device(name: str, process: Process) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but CUDA is not available (use device=auto or cpu)")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", process.local_rank)


def shared_run_folder(cfg: BCConfig, process: Process, resume: bool) -> RunFolder:
    """The run folder, opened by rank 0 (``training.run_folder``'s rule); the other ranks get its path, the
    checkpoint to resume (which each loads) or rank 0's refusal, so every rank goes on or stops alike."""
    folder, refusal = None, None
    if process.main:
        try:
            folder = open_run(cfg.run_root, cfg.name, "bc", resume=resume)
        except (ConfigError, CheckpointError) as error:
            refusal = error
    if process.world > 1:
        resumed = folder.resumed.path if folder is not None and folder.resumed is not None else None
        shared = [(folder and str(folder.path), resumed and str(resumed), refusal and str(refusal))]
        dist.broadcast_object_list(shared, src=0)
        path, resumed, refused = shared[0]
        if not process.main:
            if refused is not None:
                raise ConfigError(refused)
            return RunFolder(Path(path), "bc", load_checkpoint(resumed, optimizer=True) if resumed else None)
    if refusal is not None:
        raise refusal
    return folder


def _named(loss: torch.Tensor, nll: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The objective's output as the guard's terms: ``total`` and each head's NLL."""
    return {"total": loss, **nll}


def _barrier(process: Process) -> None:
    if process.world > 1:
        dist.barrier()


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (the global RNG, captured in checkpoints, is seeded too)
    torch.manual_seed(seed)


def _load_data(cfg: BCConfig, process: Process, progress: bool) -> BCData:
    """Rank 0 builds the cache when missing; the others wait, then open it."""
    settings = BuildSettings(cfg.players, cfg.sequence_length, cfg.max_units, cfg.resolution,
                             cfg.label_repeat_window, cfg.agent.heads.idle_producers)
    data = None
    if process.main:
        data = prepare_data(cfg.replays, settings, cfg.cache_dir, workers=cfg.num_workers, progress=progress)
    _barrier(process)
    return data or prepare_data(cfg.replays, settings, cfg.cache_dir, build=False, progress=False)


def _resume(checkpoint: Checkpoint, agent: Agent, optimizer: torch.optim.Optimizer, data: BCData) -> dict[str, int]:
    """Load a bc checkpoint into ``agent`` and ``optimizer`` and restore the RNG; returns its counters."""
    check_same_agent(checkpoint, agent)
    checkpoint.restore(agent, optimizer)
    recorded = checkpoint.meta.get("data")
    if not isinstance(recorded, dict) or recorded.get("cache_key") != data.key:
        tqdm.write(f"bc: warning: resuming {checkpoint.path} on different data (the replays or settings changed)")
    return checkpoint.counters


def _start_from(reference: str, agent: Agent) -> None:
    """Load the weights of agent checkpoint ``reference`` into ``agent`` (which must be the same agent; its frame
    and ``heads.idle_producers`` may differ, and it may add the scalar inputs of ``agent_io.GROWABLE``, e.g.
    ``agent.scalar.unit_counts=true``)."""
    checkpoint = read_agent_checkpoint(reference)
    added = check_same_agent(checkpoint, agent, acting_may_differ=True, may_grow=True)
    load_weights(agent, checkpoint.weights, checkpoint.path, absent=added)


def train_bc(cfg: BCConfig, resume: bool = False, progress: bool = True) -> BCResult:
    """Run behaviour cloning as ``cfg`` says (see the module doc); in-process unless launched by torchrun."""
    started, threads = time.perf_counter(), torch.get_num_threads()
    process = start_process_group(cfg.device)
    try:
        trainer = BCTrainer(cfg, resume, progress and process.main, process)
        return trainer.run(started)
    finally:
        torch.set_num_threads(threads)  # ``cfg.threads`` holds for this run only
        if process.world > 1:
            dist.destroy_process_group()


class BCTrainer:
    """One process's part of a run: the data, agent, optimizer and loader; rank 0 also logs and checkpoints."""

    def __init__(self, cfg: BCConfig, resume: bool, progress: bool, process: Process) -> None:
        self.cfg, self.progress, self.process = cfg, progress, process
        self.device = resolve_device(cfg.device, process)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.folder = shared_run_folder(cfg, process, resume)
        self.run_dir = self.folder.path
        self.data = _load_data(cfg, process, progress)
        train_ids, val_ids = self.data.split(cfg.val_fraction, cfg.seed, cfg.val_replays, cfg.train_replays)
        self.train_ids, self.prior = train_ids, None  # the prior: found at the first evaluation (a pass over shards)
        self.train_items, self.val_items = self.data.items(train_ids), self.data.items(val_ids)
        self.train_games, self.val_games = self.data.games(train_ids), self.data.games(val_ids)
        self.carry = cfg.recurrent_state == "carry"
        # carry: each reader's state after its latest batch; the reader of batch k is k % readers (per process)
        self.carried: list[AgentState | None] = [None] * max(cfg.num_workers, 1)
        self.counts = self.data.counts(cfg.val_fraction, cfg.seed, cfg.val_replays, cfg.train_replays)

        if self.data.spec.get("env") == "sc2" and cfg.agent.frame == "own_side":
            raise ConfigError("agent.frame=own_side reflects player 2's view across the spec's 256-wide frame, and "
                              "StarCraft II maps are smaller and not mirrored: set agent.frame=map for .SC2Replay data "
                              "(configs/bc_sc2.yaml does)")  # fmt: skip
        _seed_everything(cfg.seed)
        self.agent = cfg.agent.build(self.data.spec).to(self.device)
        self.optimizer = torch.optim.AdamW(self.agent.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        resumed = self.folder.resumed
        if resumed is None and cfg.init_checkpoint:
            _start_from(cfg.init_checkpoint, self.agent)
        counters = _resume(resumed, self.agent, self.optimizer, self.data) if resumed is not None else {}
        self.step, self.samples = int(counters.get("step", 0)), int(counters.get("samples", 0))
        if resumed is not None and self.step >= cfg.steps:
            raise ConfigError(f"run {self.run_dir} is at step {self.step} already; steps={cfg.steps} leaves nothing to "
                              "train (raise steps= to continue it)")  # fmt: skip
        self.objective = BCObjective(self.agent, cfg.head_weights, cfg.production_weight).to(self.device)
        self.model: nn.Module = self.objective
        self.last_batch: Batch | None = None  # the latest training batch (the guard probes saved weights on it)
        self.last_state: AgentState | None = None  # and the state it started from
        if process.world > 1:  # find_unused_parameters: the value head, and heads no action in a batch uses
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.model, device_ids=ids, find_unused_parameters=True)
        self.metrics: dict[str, float] = {}
        self.logger = RunLogger(self.run_dir) if process.main else None

    def loader(self) -> DataLoader:
        """Training batches from the step reached on (the stream skips the batches already consumed)."""
        if self.carry:
            stream = GameStream(self.data.load, self.train_games, rows=self.cfg.batch_size, seed=self.cfg.seed,
                                rank=self.process.rank, world=self.process.world, skip_batches=self.step)  # fmt: skip
            return DataLoader(stream, batch_size=self.cfg.batch_size, collate_fn=collate,
                              num_workers=self.cfg.num_workers, pin_memory=self.device.type == "cuda")  # fmt: skip
        stream = SequenceStream(
            self.data.load,
            self.train_items,
            batch_size=self.cfg.batch_size,
            seed=self.cfg.seed,
            rank=self.process.rank,
            world=self.process.world,
            buffer=self.cfg.shuffle_buffer,
            skip_batches=self.step,
        )
        return DataLoader(
            stream,
            batch_size=self.cfg.batch_size,
            collate_fn=collate,
            num_workers=self.cfg.num_workers,
            pin_memory=self.device.type == "cuda",
        )

    def train_step(self, batch: Batch) -> dict[str, float]:
        """One optimizer step; returns the loss terms, the gradient norm and the batch's valid samples."""
        batch = {key: value.to(self.device, non_blocking=True) for key, value in batch.items()}
        self.last_batch = batch
        for group in self.optimizer.param_groups:  # (a function of the step, so a resumed run follows it too)
            group["lr"] = self.cfg.learning_rate * lr_factor(self.step, self.cfg.steps, self.cfg.warmup_steps,
                                                             self.cfg.schedule)  # fmt: skip
        reader = self.step % len(self.carried)
        self.last_state = self.carried[reader] if self.carry else None
        loss, nll = self.model(batch, self.last_state)
        if self.carry:
            self.carried[reader] = self.objective.final_state
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip = self.cfg.max_grad_norm if self.cfg.max_grad_norm > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.agent.parameters(), clip)
        terms = self._terms({**_named(loss.detach(), nll), "grad_norm": grad_norm})
        check_finite(self.step + 1, terms)
        self.optimizer.step()
        self.step += 1
        valid = int(batch["valid"].sum())
        self.samples += valid
        return {**terms, "samples": valid}

    def _terms(self, terms: dict[str, torch.Tensor]) -> dict[str, float]:
        """The loss terms and gradient norm as floats: this rank's, or under DDP their mean over the ranks (so a
        non-finite value on any rank stops every rank at the same step)."""
        values = torch.stack([value.detach().float().reshape(()) for value in terms.values()])
        if self.process.world > 1:
            dist.all_reduce(values)
            values /= self.process.world
        return dict(zip(terms, values.tolist(), strict=True))

    def evaluate(self) -> None:
        """Held-out metrics to TensorBoard (rank 0)."""
        started = time.perf_counter()
        if self.prior is None:
            self.prior = self.data.commonest_type(self.train_ids)
        if self.carry:  # whole games, in order, the state carried between a row's sequences
            rows = min(EVAL_BATCH, len(self.val_games))
            stream = GameStream(self.data.load, self.val_games, rows=rows, seed=0, epochs=1, shuffle=False)
            data, total = DataLoader(stream, batch_size=rows, collate_fn=collate), None
        else:
            data = batches(self.data.load, self.val_items, EVAL_BATCH)
            total = -(-sum(len(p) for _, p in self.val_items) // EVAL_BATCH)
        self.metrics = evaluate_bc(self.agent, data, radius=self.cfg.location_radius, device=self.device,
                                   progress=self.progress, total=total, carry=self.carry,
                                   prior=self.prior)  # fmt: skip
        self.logger.scalars({f"metrics/{name}": value for name, value in self.metrics.items()}, self.step)
        self.logger.scalar("charts/eval_seconds", time.perf_counter() - started, self.step)
        self.logger.flush()

    def save(self) -> Path:
        """A checkpoint of the agent, optimizer, counters, RNG, data counts and the latest metrics (rank 0), once
        the weights give a finite loss on the latest batch."""
        if self.last_batch is not None:
            probe(self.step, lambda: _named(*self.objective(self.last_batch, self.last_state)))
        counters = {
            "step": self.step,
            "sequences": self.step * self.cfg.batch_size * self.process.world,
            "samples": self.samples,
        }
        return save_agent(
            self.folder.checkpoints,
            self.step,
            self.agent,
            kind="bc",
            config=to_dict(self.cfg),
            counters=counters,
            optimizer=self.optimizer,
            keep_last=self.cfg.keep_last or None,
            extra={"data": self.counts, "metrics": self.metrics},
        )

    def run(self, started: float) -> BCResult:
        try:
            return self._run(started)
        finally:
            if self.logger is not None:
                self.logger.close()

    def _run(self, started: float) -> BCResult:
        cfg, logger, main = self.cfg, self.logger, self.process.main
        if main:
            self.folder.write_config(cfg)
            logger.text("config", "```\n" + yaml.safe_dump(to_dict(cfg), sort_keys=False) + "```", self.step)
            logger.text("data", "```\n" + json.dumps(self.counts, indent=1) + "```", self.step)
            logger.text("agent", report_agent(self.agent, self.run_dir, echo=self.progress), self.step)
        checkpoint, evaluated, last_loss = None, None, float("nan")
        window: dict[str, float] = defaultdict(float)
        window_start = time.perf_counter()
        bar = tqdm(
            total=cfg.steps,
            initial=min(self.step, cfg.steps),
            desc="bc",
            unit="step",
            disable=not self.progress,
            mininterval=1.0,
        )
        with contextlib.closing(bar):
            batch_iter = iter(self.loader())
            self.model.train()
            while self.step < cfg.steps:
                for name, value in self.train_step(next(batch_iter)).items():
                    window[name] += value
                window["steps"] += 1
                bar.update(1)
                if not main:
                    continue
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    means = {name: window[name] / window["steps"] for name in (*HEADS, "total", "grad_norm")}
                    last_loss = means["total"]
                    rate = window["samples"] * self.process.world / max(time.perf_counter() - window_start, 1e-9)
                    logger.scalars({f"losses/{name}": means[name] for name in (*HEADS, "total")}, self.step)
                    logger.scalars({"charts/SPS": rate, "charts/grad_norm": means["grad_norm"],
                                    "charts/learning_rate": self.optimizer.param_groups[0]["lr"]}, self.step)
                    bar.set_postfix(loss=f"{last_loss:.3f}", sps=f"{rate:.0f}")
                    window.clear()
                    window_start = time.perf_counter()
                paused = time.perf_counter()  # evaluation and checkpoint time stays out of the SPS window
                if self.val_items and cfg.eval_every and self.step % cfg.eval_every == 0:
                    self.evaluate()
                    evaluated = self.step
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    checkpoint = self.save()
                window_start += time.perf_counter() - paused
        if main:
            if self.val_items and evaluated != self.step:
                self.evaluate()
            if checkpoint is None or checkpoint.name != checkpoint_name(self.step):
                checkpoint = self.save()
        if self.process.world > 1:
            print(
                f"bc rank {self.process.rank}/{self.process.world}: {self.step} steps, {self.samples} valid samples",
                flush=True,
            )
            _barrier(self.process)
        seconds = time.perf_counter() - started
        return BCResult(self.run_dir, checkpoint, {**self.metrics, "loss": last_loss}, self.counts, seconds, self.step)
