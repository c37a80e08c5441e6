"""The RL loop: actors play (in-process or on Ray), the learner updates, weights go back with one put per update.

Counters (frames, updates, episodes, worker restarts), optimiser and RNG state are checkpointed with the weights,
so ``resume`` continues the run where it stopped (actors start fresh games on resume). League snapshots on disk:
the last ``opponents.league_size`` and those a kept checkpoint names (a resume from it loads them). TensorBoard scalars:
``charts/episodic_return``, ``charts/episodic_length``, ``charts/win_rate`` and ``charts/win_rate/<opponent>``
(over the last 100 games), ``charts/SPS``, ``charts/policy_lag``, ``charts/illegal_actions_per_step`` (0 in strict
games, where an illegal action stops the run), ``charts/units_dropped_per_step`` (units in view that got no row:
``max_units`` below the scenario's units; warned about at start-up), ``charts/learner_samples_per_s`` and
``charts/learner_seconds/<phase>`` (the learner's update by phase), ``losses/*``. The run folder follows
``training.run_folder``; a non-finite loss stops the run in the learner before its weights change or reach an actor
(``training.divergence``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from agents.agent import Agent
from envs.skirmish.scenario import load_scenario
from envs.skirmish.spec import skirmish_spec
from training.agent_choice import AgentChoice, report_agent
from training.agent_io import build_agent, check_same_agent, load_agent, save_agent
from training.checkpoint import (
    DIVERGED,
    Checkpoint,
    CheckpointError,
    checkpoint_name,
    list_checkpoints,
    prune,
    read_meta,
    set_aside,
)
from training.config_io import ConfigError, to_dict
from training.divergence import DivergedError
from training.logger import RunLogger
from training.rl.backends import make_backend
from training.rl.config import RLConfig
from training.rl.learner import Learner, learner_device
from training.run_folder import open_run
from training.scenario_fit import fitting_scenarios, warn_if_rows_short

log = logging.getLogger("pstar.rl")
WINDOW = 100
SNAPSHOT_NAME = re.compile(r"ckpt_\d{9}")  # a league snapshot's folder under the run's league/


@dataclass
class RLResult:
    """What a run produced: its directory, last checkpoint, counters, recent win rates and wall time."""

    run_dir: Path
    checkpoint: Path
    counters: dict[str, int]
    win_rate: dict[str, float]
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def initial_agents(cfg: RLConfig) -> tuple[Agent, Agent | None]:
    """The agent to train and the frozen KL reference: both from ``init_checkpoint`` (whose agent ``cfg.agent``,
    if given, must match), or a fresh ``cfg.agent`` alone."""
    if cfg.init_checkpoint:
        agent, checkpoint = load_agent(cfg.init_checkpoint)  # an agent checkpoint: bc, rl or an rl-snapshot
        differences = cfg.agent.differences(agent.config) if cfg.agent is not None else []
        if differences:
            raise ConfigError(
                f"agent: init_checkpoint {cfg.init_checkpoint} holds another agent (checkpoint vs config: "
                f"{'; '.join(differences)}); leave agent.* unset to train the checkpoint's agent"
            )
        return agent, build_agent(checkpoint).eval()
    if cfg.full_game:
        from envs.skirmish.economy.maps import load_map
        from envs.skirmish.economy.spec import full_game_spec

        game_map = load_map(cfg.full_game)
        spec = full_game_spec((game_map.width, game_map.height), max_units=cfg.max_units,
                              actions_per_step=cfg.actions_per_step)  # fmt: skip
    else:
        first = load_scenario(cfg.scenarios[0])
        spec = skirmish_spec((first.map_width, first.map_height), max_units=cfg.max_units)
    return (cfg.agent or AgentChoice()).build(spec), None


def weights_digest(module: torch.nn.Module) -> str:
    """SHA-256 over a module's state dict (names and bytes, in order): names the KL reference a run started from,
    so a resume whose ``init_checkpoint`` now holds other weights is refused instead of anchoring elsewhere."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class RecentGames:
    """Recent episodes: returns, lengths and outcomes overall and per opponent."""

    def __init__(self) -> None:
        self.recent: deque[dict[str, Any]] = deque(maxlen=WINDOW)
        self.by_opponent: dict[str, deque[str]] = defaultdict(lambda: deque(maxlen=WINDOW))

    def add(self, episode: dict[str, Any]) -> None:
        self.recent.append(episode)
        self.by_opponent[episode["opponent"]].append(episode["outcome"])

    def win_rates(self) -> dict[str, float]:
        rates = {name: float(np.mean([o == "win" for o in outcomes])) for name, outcomes in self.by_opponent.items()}
        if self.recent:
            rates["all"] = float(np.mean([e["outcome"] == "win" for e in self.recent]))
        return rates


def _league_names(checkpoint: Path, meta: dict[str, Any]) -> list[str]:
    """The league snapshots (``ckpt_<update>`` under the run's ``league/``) a checkpoint's meta names."""
    names = meta.get("league", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and SNAPSHOT_NAME.fullmatch(n) for n in names):
        raise CheckpointError(checkpoint, f"meta.json's 'league' is not a list of snapshot names: {names!r:.200}")
    return names


def _resumable_league(ckpt_dir: Path) -> set[str]:
    """The league snapshots the run's complete checkpoints name: a resume from any of them needs them on disk."""
    return {name for path in list_checkpoints(ckpt_dir) for name in _league_names(path, read_meta(path))}


def _resume(checkpoint: Checkpoint, learner: Learner, run_dir: Path) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Load an rl checkpoint into the learner (weights, optimizer, RNG); returns the league it played against."""
    check_same_agent(checkpoint, learner.agent)
    checkpoint.restore(learner.agent, learner.optimizer)
    league = []
    for name in _league_names(checkpoint.path, checkpoint.meta):
        snapshot, _ = load_agent(run_dir / "league" / name)
        league.append((name, {k: v.numpy() for k, v in snapshot.state_dict().items()}))
    return league


def train_rl(
    cfg: RLConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    on_update: Callable[[dict[str, Any]], None] | None = None,
) -> RLResult:
    """Run RL to ``cfg.total_frames``; ``on_update(info)`` is called after every update (info has the backend). A
    config with a ``league`` trains the league instead (``training.rl.league_train``)."""
    if cfg.league is not None:
        from training.rl.league_train import train_league

        return train_league(cfg, resume=resume, progress=progress, on_update=on_update)
    start = time.perf_counter()
    device = learner_device(cfg.device)  # before anything is made: cuda asked for on a machine without it fails here
    folder = open_run(cfg.run_root, cfg.name, "rl", resume=resume)
    run_dir, ckpt_dir = folder.path, folder.checkpoints
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)  # noqa: NPY002 (global RNG for any code that uses it; restored on resume)
    threads = cfg.learner_threads or max(1, (os.cpu_count() or 1) - (cfg.num_actors if cfg.backend == "ray" else 0))
    torch.set_num_threads(threads)
    agent, reference = initial_agents(cfg)
    reference_digest = weights_digest(reference) if reference is not None else None
    if not cfg.full_game:  # (a full game's rows: max_units, resources last)
        warn_if_rows_short(fitting_scenarios(cfg.scenarios, None), cfg.max_units, "rl")
    learner = Learner(agent, reference, cfg.learner, device)
    counters = {"updates": 0, "frames": 0, "episodes": 0, "worker_restarts": 0}
    league: list[tuple[str, dict[str, np.ndarray]]] = []
    last = folder.resumed
    if last is not None:
        recorded = last.meta.get("reference_sha256", reference_digest)  # absent before it was recorded: not checked
        if recorded != reference_digest:
            raise ConfigError(f"{cfg.init_checkpoint or 'no init_checkpoint'} is not the KL reference run {run_dir} "
                              f"started from (weights sha256 {str(reference_digest)[:12]}, recorded "
                              f"{str(recorded)[:12]}); pass the checkpoint it started from",
                              "init_checkpoint")  # fmt: skip
        league = _resume(last, learner, run_dir)
        counters.update({k: v for k, v in last.counters.items() if k in counters})
        log.info("resumed from %s at update %d, %d frames", last.path, counters["updates"], counters["frames"])
        if counters["frames"] >= cfg.total_frames:
            raise ConfigError(f"run {run_dir} has played {counters['frames']} frames already; total_frames="
                              f"{cfg.total_frames} leaves nothing to train (raise total_frames= to continue it)")
    cfg = dataclasses.replace(cfg, agent=AgentChoice.from_config(agent.config))  # the record holds the sizes
    folder.write_config(cfg)
    agent_record = report_agent(learner.agent, run_dir, echo=progress)
    config_dict, agent_dict = to_dict(cfg), agent.checkpoint_config()
    seed = cfg.seed + 1_000_003 * counters["updates"]  # fresh actor games after a resume
    backend = make_backend(cfg, agent_dict, config_dict, seed, run_dir)
    if league:
        backend.set_league(league)
    backend.broadcast(learner.weights(), counters["updates"])
    for worker in range(cfg.num_actors):
        backend.submit(worker)
    stats, history = RecentGames(), []
    logger = RunLogger(run_dir)
    logger.text("agent", agent_record, counters["updates"])
    bar = tqdm(total=cfg.total_frames, initial=min(counters["frames"], cfg.total_frames), unit="frame",
               desc="rl", disable=not progress)  # fmt: skip
    checkpoint_path, saved_at = (last.path, counters["updates"]) if last is not None else (None, None)
    frames_at_start, clock = counters["frames"], time.perf_counter()
    restarts_before = counters["worker_restarts"]

    def save() -> Path:
        return save_agent(
            ckpt_dir,
            counters["updates"],
            learner.agent,
            kind="rl",
            config=config_dict,
            counters=dict(counters),
            optimizer=learner.optimizer,
            keep_last=cfg.keep_last,
            extra={"league": [name for name, _ in league], "init_checkpoint": cfg.init_checkpoint,
                   "reference_sha256": reference_digest},
        )

    try:
        while counters["frames"] < cfg.total_frames:
            worker, result = backend.next()
            backend.submit(worker)  # keep the actor busy while the learner updates (V-trace corrects the lag)
            terms = learner.update([result["trajectory"]], step=counters["updates"] + 1)
            counters["updates"] += 1
            counters["frames"] += result["frames"]
            counters["episodes"] += len(result["episodes"])
            counters["worker_restarts"] = restarts_before + backend.restarts
            backend.broadcast(learner.weights(), counters["updates"])
            for episode in result["episodes"]:
                stats.add(episode)
            step = counters["frames"]
            sps = (counters["frames"] - frames_at_start) / max(time.perf_counter() - clock, 1e-9)
            record = {f"losses/{k}": v for k, v in terms.items() if k not in ("seconds", "samples")}
            record.update({f"charts/learner_seconds/{phase}": v for phase, v in learner.phase_seconds.items()})
            record.update({"charts/SPS": sps, "charts/policy_lag": counters["updates"] - 1 - result["version"],
                           "charts/learner_samples_per_s": terms["samples"] / max(terms["seconds"], 1e-9),
                           "charts/worker_restarts": backend.restarts,
                           "charts/illegal_actions_per_step": result["illegal_actions"] / result["frames"],
                           "charts/units_dropped_per_step": result["units_dropped"] / result["frames"]})  # fmt: skip
            if result["episodes"]:
                record["charts/episodic_return"] = float(np.mean([e["return"] for e in result["episodes"]]))
                record["charts/episodic_length"] = float(np.mean([e["length"] for e in result["episodes"]]))
            rates = stats.win_rates()
            record.update({("charts/win_rate" if k == "all" else f"charts/win_rate/{k}"): v for k, v in rates.items()})
            if counters["updates"] % cfg.log_every == 0:
                logger.scalars(record, step)
            history.append({"frames": step, **{k: v for k, v in record.items() if isinstance(v, float | int)}})
            bar.update(min(result["frames"], max(0, cfg.total_frames - bar.n)))
            bar.set_postfix(win=f"{rates.get('all', 0.0):.2f}", sps=f"{sps:.0f}")
            opponents = cfg.opponents
            if opponents.league_fraction > 0 and counters["updates"] % opponents.snapshot_every == 0:
                name = checkpoint_name(counters["updates"])
                save_agent(run_dir / "league", counters["updates"], learner.agent, kind="rl-snapshot",
                           config=config_dict, counters=dict(counters))  # fmt: skip
                league.append((name, learner.weights()))
                league = league[-opponents.league_size :]
                needed = {name for name, _ in league} | _resumable_league(ckpt_dir)
                prune(run_dir / "league", opponents.league_size, keep=needed)
                backend.set_league(league)
            if cfg.checkpoint_every and counters["updates"] % cfg.checkpoint_every == 0:
                checkpoint_path, saved_at = save(), counters["updates"]
            if on_update is not None:
                on_update({"counters": dict(counters), "backend": backend, "terms": terms, "run_dir": run_dir})
        if saved_at != counters["updates"]:
            checkpoint_path = save()
    except DivergedError as error:  # from an actor: checkpoints of the diverged update on hold its weights
        set_aside(ckpt_dir, error.step, DIVERGED, f"holds the weights of update {error.step} on, which diverged")
        raise
    finally:
        bar.close()
        logger.close()
        backend.shutdown()
    return RLResult(run_dir, checkpoint_path, dict(counters), stats.win_rates(), time.perf_counter() - start,
                    history)  # fmt: skip
