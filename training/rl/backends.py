"""Where rollout workers run: in this process (unit tests, debugging) or as Ray actors (the default).

Both expose the same calls: ``broadcast(weights, version)`` (one ``ray.put`` per update), ``submit(i)`` (worker i
starts a rollout with the latest weights), ``next()`` (the next finished rollout) and ``set_league``; a league run
(several learners) broadcasts per ``owner``, submits each worker with its owner's weights and the opponents of its
next games, and hands agent members to every worker with ``set_members``.
The Ray backend watches its workers: a worker that dies (its process exits, it raises) or hangs (no result
within ``timeout_s``; its last heartbeat stack is logged) is killed, replaced by a fresh one and training goes on;
a worker's ``DivergedError`` (the weights it was sent give non-finite outputs) ends the run instead. ``resources``
(custom Ray resources, e.g. ``{"actors": 1}``) places the workers on the nodes that offer them; when a node is lost,
the loss is logged and, once no live node offers them any more, replacements go to any node. Each worker's node is
logged when it first reports and whenever it changes.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.divergence import DivergedError
from training.rl.actor import RolloutWorker

log = logging.getLogger("pstar.rl")
League = list[tuple[str, dict[str, np.ndarray]]]
Member = tuple[str, int, dict[str, np.ndarray]]  # a league run's agent member: name, version, weights


def worker_seed(seed: int, worker: int, incarnation: int) -> int:
    """A distinct seed per worker and per replacement of that worker."""
    return int(np.random.SeedSequence([seed, worker, incarnation]).generate_state(1)[0])


def make_backend(cfg: Any, agent: dict[str, Any], config: dict[str, Any], seed: int,
                 run_dir: Path) -> InProcessBackend | RayBackend:  # fmt: skip
    """The backend an ``RLConfig`` asks for (its heartbeats under ``run_dir``)."""
    if cfg.backend == "ray":
        return RayBackend(cfg.num_actors, agent, config, seed, address=cfg.address, timeout_s=cfg.actor_timeout_s,
                          heartbeat_dir=run_dir / "heartbeats", resources=cfg.actor_resources)  # fmt: skip
    return InProcessBackend(cfg.num_actors, agent, config, seed)


class InProcessBackend:
    """Workers are plain objects; ``next`` runs the oldest submitted rollout to completion (deterministic), with the
    weights broadcast before it was submitted, as a Ray actor gets them."""

    def __init__(self, num_workers: int, agent: dict[str, Any], config: dict[str, Any], seed: int) -> None:
        self.threads = torch.get_num_threads()  # workers set one thread for the process; the learner keeps its own
        self.workers = [RolloutWorker(i, agent, config, worker_seed(seed, i, 0)) for i in range(num_workers)]
        torch.set_num_threads(self.threads)
        self.queue: deque[tuple[int, dict[str, np.ndarray], int, list[str] | None]] = deque()
        self.weights: dict[str, tuple[dict[str, np.ndarray], int]] = {}  # owner -> weights, version
        self.restarts = 0

    def broadcast(self, weights: dict[str, np.ndarray], version: int, owner: str = "") -> None:
        # a copy, as ray.put makes one: the learner's arrays may be views of parameters it goes on updating
        self.weights[owner] = ({k: np.array(v) for k, v in weights.items()}, version)

    def submit(self, worker: int, owner: str = "", opponents: list[str] | None = None) -> None:
        self.queue.append((worker, *self.weights[owner], opponents))  # the weights of now, as a Ray actor gets them

    def next(self) -> tuple[int, dict[str, Any]]:
        worker, weights, version, opponents = self.queue.popleft()
        torch.set_num_threads(1)  # as a Ray actor would run it
        try:
            return worker, self.workers[worker].rollout(weights, version, opponents)
        finally:
            torch.set_num_threads(self.threads)

    def set_league(self, members: League) -> None:
        for worker in self.workers:
            worker.set_league(*members)

    def set_members(self, members: list[Member]) -> None:
        torch.set_num_threads(1)
        try:
            for worker in self.workers:
                worker.set_members(*members)
        finally:
            torch.set_num_threads(self.threads)

    def shutdown(self) -> None:
        self.workers = []


class RayBackend:
    """Workers are Ray actors (``num_cpus=1`` each); dead or hung ones are replaced (at most ``max_restarts``)."""

    def __init__(self, num_workers: int, agent: dict[str, Any], config: dict[str, Any], seed: int, *,
                 address: str | None = None, timeout_s: float = 120.0, heartbeat_dir: str | Path | None = None,
                 max_restarts: int | None = None, resources: dict[str, float] | None = None) -> None:  # fmt: skip
        from training.ray_runtime import start_ray

        # a local Ray holds every actor (one CPU each) even on a machine with fewer cores (they then share them)
        self.ray = start_ray(address, num_cpus=None if address else max(os.cpu_count() or 2, num_workers))
        self.remote = self.ray.remote(num_cpus=1)(RolloutWorker)
        cpus = int(self.ray.cluster_resources().get("CPU", 0))
        if cpus < num_workers:
            log.warning("Ray offers %d CPUs for %d rollout workers (one each): the others wait until one is free",
                        cpus, num_workers)  # fmt: skip
        self.resources = dict(resources or {})
        self.nodes: dict[int, str | None] = {}  # worker -> the node it last reported from
        self.lost: set[str] = set()  # nodes whose loss is logged
        self.agent, self.config, self.seed = agent, config, seed
        self.timeout_s = float(timeout_s)
        self.heartbeat_dir = Path(heartbeat_dir) if heartbeat_dir else None
        if self.heartbeat_dir is not None:
            self.heartbeat_dir.mkdir(parents=True, exist_ok=True)
        self.max_restarts = 10 * num_workers if max_restarts is None else max_restarts
        self.incarnations = [0] * num_workers
        self.league_refs: list[Any] = []
        self.member_refs: dict[str, Any] = {}  # a league run's agent members, the latest of each
        self.workers = [self._spawn(i) for i in range(num_workers)]
        self.pending: dict[Any, tuple[int, float]] = {}
        self.weights_refs: dict[str, tuple[Any, int]] = {}  # owner -> weights ref, version
        self.submitted: dict[int, tuple[str, list[str] | None]] = {}  # worker -> its last owner and opponents
        self.restarts = 0
        self.on_restart: Callable[[int, str], None] | None = None

    def _heartbeat(self, worker: int) -> Path | None:
        return None if self.heartbeat_dir is None else self.heartbeat_dir / f"worker_{worker}.txt"

    def _placement(self, worker: int) -> Any:
        """The actor class with the resources to ask for: ``resources`` while a live node offers them."""
        if not self.resources:
            return self.remote
        offered = self.ray.cluster_resources()
        if all(offered.get(name, 0) >= amount for name, amount in self.resources.items()):
            return self.remote.options(resources=self.resources)
        log.warning("no live Ray node offers the resources %s any more: rollout worker %d goes to any node",
                    self.resources, worker)  # fmt: skip
        return self.remote

    def _log_lost_nodes(self) -> None:
        for node in self.ray.nodes():
            if not node["Alive"] and node["NodeID"] not in self.lost:
                self.lost.add(node["NodeID"])
                log.warning("Ray node %s (%s) is lost; its rollout workers are replaced on the nodes left",
                            node["NodeID"][:12], node.get("NodeManagerAddress", "?"))  # fmt: skip

    def _spawn(self, worker: int) -> Any:
        seed = worker_seed(self.seed, worker, self.incarnations[worker])
        beat = self._heartbeat(worker)
        handle = self._placement(worker).remote(worker, self.agent, self.config, seed,
                                                None if beat is None else str(beat))  # fmt: skip
        if self.league_refs:
            handle.set_league.remote(*self.league_refs)
        if self.member_refs:
            handle.set_members.remote(*self.member_refs.values())
        return handle

    def broadcast(self, weights: dict[str, np.ndarray], version: int, owner: str = "") -> None:
        self.weights_refs[owner] = (self.ray.put(weights), version)

    def submit(self, worker: int, owner: str = "", opponents: list[str] | None = None) -> None:
        weights_ref, version = self.weights_refs[owner]
        ref = self.workers[worker].rollout.remote(weights_ref, version, opponents)
        self.pending[ref] = (worker, time.monotonic())
        self.submitted[worker] = (owner, opponents)

    def set_league(self, members: League) -> None:
        self.league_refs = [self.ray.put(member) for member in members]
        for worker in self.workers:
            worker.set_league.remote(*self.league_refs)

    def set_members(self, members: list[Member]) -> None:
        refs = [self.ray.put(member) for member in members]
        self.member_refs.update({member[0]: ref for member, ref in zip(members, refs, strict=True)})
        for worker in self.workers:
            worker.set_members.remote(*refs)

    def _replace(self, worker: int, reason: str) -> None:
        self.restarts += 1
        if self.restarts > self.max_restarts:
            raise RuntimeError(f"rollout workers failed {self.restarts} times (last: worker {worker}: {reason}); "
                               "giving up")  # fmt: skip
        log.warning("rollout worker %d is replaced: %s", worker, reason)
        self._log_lost_nodes()
        try:
            self.ray.kill(self.workers[worker], no_restart=True)
        except Exception:  # noqa: BLE001 (already dead is fine)
            pass
        self.incarnations[worker] += 1
        self.workers[worker] = self._spawn(worker)
        if self.on_restart is not None:
            self.on_restart(worker, reason)
        self.submit(worker, *self.submitted.get(worker, ("", None)))

    def _hung(self) -> None:
        now = time.monotonic()
        for ref, (worker, since) in list(self.pending.items()):
            if now - since > self.timeout_s:
                del self.pending[ref]
                beat = self._heartbeat(worker)
                stack = beat.read_text() if beat is not None and beat.is_file() else "(no heartbeat recorded)"
                self._replace(worker, f"no result for {now - since:.0f} s (timeout {self.timeout_s:g} s); its last "
                                      f"heartbeat and stack:\n{stack}")  # fmt: skip

    def next(self) -> tuple[int, dict[str, Any]]:
        from ray.exceptions import RayError

        while True:
            ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=1.0)
            if not ready:
                self._hung()
                continue
            worker, _ = self.pending.pop(ready[0])
            try:
                result = self.ray.get(ready[0])
            except RayError as error:
                if isinstance(getattr(error, "cause", None), DivergedError):
                    raise error.cause from None  # the learner diverged: a fresh worker would fail the same way
                self._replace(worker, f"it failed:\n{error}")
                continue
            node = result.get("node")
            if self.nodes.get(worker, "") != node:
                log.info("rollout worker %d runs on Ray node %s", worker, str(node)[:12])
                self.nodes[worker] = node
            return worker, result

    def shutdown(self) -> None:
        for worker in self.workers:
            try:
                self.ray.kill(worker, no_restart=True)
            except Exception:  # noqa: BLE001
                pass
        self.workers, self.pending = [], {}
