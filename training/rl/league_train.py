"""League training (``pstar rl league.main_exploiters=1 ...``): every learner of a ``training.league.League`` trained
by V-trace from the same start (the BC checkpoint, also every learner's KL reference), its actors' opponents drawn
by the league's matchmaking, every finished game reported to its payoff.

The learners run in their own processes (``training.rl.league_learner``: Ray actors on the driver's node, or in the
driver with ``backend=inprocess``), one update of each at a time, side by side. The actors (``num_actors``, dealt
to the learners in turn) play each learner's games with its latest weights against the opponents the league drew
for it: bot levels, frozen snapshots, or the main agents' current weights (refreshed after each of their updates).
When a learner's rule says so its weights freeze as a snapshot under ``league/<learner>@<k>/`` (never pruned:
snapshots are members for good), and an exploiter due for a reset restarts from the start's weights with a fresh
optimiser. ``total_frames`` counts the main agents' frames (the exploiters' come on top), so a league run compares
with a plain run at equal frames of the agent that is kept.

Checkpoints (every ``checkpoint_every`` updates of all learners together): each learner under
``learners/<learner>/ckpt_<step>`` and then the first main agent under
``checkpoints/`` with the league's state in its meta (written last, so a checkpoint there has all the others); a
resume loads all of them at that step and removes snapshots frozen after it. TensorBoard: ``<learner>/losses/*``,
``<learner>/win_rate/<member>`` (the payoff), ``league/elo/<member>``, ``league/worst_case_win_rate/<main agent>``,
``charts/SPS``. ``payoff.md`` and ``payoff.png`` are rewritten at every checkpoint.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from training.agent_choice import AgentChoice, report_agent
from training.agent_io import load_agent, save_agent
from training.checkpoint import CORRUPT, Checkpoint, CheckpointError, checkpoint_name, set_aside
from training.config_io import ConfigError, to_dict
from training.league import League
from training.logger import RunLogger
from training.rl.backends import make_backend
from training.rl.config import RLConfig
from training.rl.league_learner import Learners
from training.rl.league_report import write_payoff
from training.rl.learner import learner_device, numpy_weights
from training.rl.train import RecentGames, RLResult, initial_agents, weights_digest
from training.run_folder import open_run

log = logging.getLogger("pstar.rl")
RESULTS = {"win": 1, "draw": 0, "loss": -1}  # a game's outcome for the learner, as the payoff counts it


def _resume(run_dir: Path, last: Checkpoint, league: League, learners: Learners) -> dict[str, dict[str, int]]:
    """Load every learner and the league at ``last``'s step; returns the learners' counters. Learner checkpoints
    newer than the step are set aside, snapshots frozen after it removed."""
    league.load_state_dict(last.meta["league_state"])
    for name in league.learners():
        if name == league.of_role("main")[0]:
            path = last.path
        else:
            set_aside(run_dir / "learners" / name, last.step + 1, CORRUPT, f"newer than the league's {last.path}")
            path = run_dir / "learners" / name / checkpoint_name(last.step)
        if not path.is_dir():
            raise CheckpointError(path, f"is missing: the league checkpoint {last.path} needs {name}'s at its step")
        learners.call(name, "restore", str(path))
    known = set(league.of_role("snapshot"))
    for folder in sorted((run_dir / "league").iterdir()) if (run_dir / "league").is_dir() else []:
        if folder.is_dir() and folder.name not in known:  # frozen after the checkpoint: the resumed league lacks it
            log.warning("removing snapshot %s: frozen after the checkpoint the run resumes from", folder)
            shutil.rmtree(folder)
    return {name: dict(counts) for name, counts in last.meta["learner_counters"].items()}


def train_league(
    cfg: RLConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    on_update: Callable[[dict[str, Any]], None] | None = None,
) -> RLResult:
    """Train the league of ``cfg.league`` until its main agents have played ``cfg.total_frames`` frames."""
    start = time.perf_counter()
    device = learner_device(cfg.device)
    folder = open_run(cfg.run_root, cfg.name, "rl", resume=resume)
    run_dir, ckpt_dir = folder.path, folder.checkpoints
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)  # noqa: NPY002 (as train_rl)
    initial, reference = initial_agents(cfg)
    reference_digest = weights_digest(reference) if reference is not None else None
    last = folder.resumed
    if last is not None and "league_state" not in last.meta:
        raise CheckpointError(last.path, "holds no league state: it is not a league run's checkpoint")
    if last is not None and last.meta.get("reference_sha256", reference_digest) != reference_digest:
        raise ConfigError(f"{cfg.init_checkpoint or 'no init_checkpoint'} is not the start run {run_dir} began "
                          "from; pass the checkpoint it started from", "init_checkpoint")  # fmt: skip
    league = League(cfg.league, cfg.opponents.levels)
    mains, order = league.of_role("main"), league.learners()
    cfg = dataclasses.replace(cfg, agent=AgentChoice.from_config(initial.config))
    folder.write_config(cfg)
    config_dict, agent_dict = to_dict(cfg), initial.checkpoint_config()
    counters = {name: {"updates": 0, "frames": 0, "episodes": 0} for name in order}
    total_steps = last.step if last is not None else 0
    backend = make_backend(cfg, agent_dict, config_dict, cfg.seed + 1_000_003 * total_steps, run_dir)
    learners: Learners | None = None
    logger: RunLogger | None = None
    bar: tqdm | None = None
    try:
        local = cfg.backend == "ray" and cfg.address is None  # (actors then take cores of this machine)
        threads = cfg.learner_threads or max(1, ((os.cpu_count() or 1) - cfg.num_actors * local) // len(order))
        frozen_reference = numpy_weights(reference) if reference is not None else None
        learners = Learners(order, agent_dict, numpy_weights(initial), frozen_reference, cfg.learner, device, threads,
                            getattr(backend, "ray", None))  # fmt: skip
        if last is not None:
            counters = _resume(run_dir, last, league, learners)
            if sum(counters[m]["frames"] for m in mains) >= cfg.total_frames:
                raise ConfigError(f"run {run_dir}'s main agents have played "
                                  f"{sum(counters[m]['frames'] for m in mains)} frames already; total_frames="
                                  f"{cfg.total_frames} leaves nothing to train (raise total_frames= to continue "
                                  "it)")  # fmt: skip
            log.info("resumed league %s at step %d: %s", run_dir, last.step,
                     ", ".join(f"{n} {c['updates']} updates" for n, c in counters.items()))  # fmt: skip
        else:
            for snapshot in league.of_role("snapshot"):  # the main agents' starting weights, the first members
                save_agent(run_dir / "league" / snapshot, 0, initial, kind="rl-snapshot", config=config_dict,
                           counters={}, rng=False)  # fmt: skip
        logger = RunLogger(run_dir)
        logger.text("agent", report_agent(initial, run_dir, echo=progress), 0)
        owners = [order[i % len(order)] for i in range(cfg.num_actors)]
        current = {name: learners.call(name, "weights") for name in order}
        snapshots = [(name, 0, numpy_weights(load_agent(run_dir / "league" / name)[0]))
                     for name in league.of_role("snapshot")]  # fmt: skip
        backend.set_members(snapshots + [(m, counters[m]["updates"], current[m]) for m in mains])
        for name in order:
            backend.broadcast(current[name], counters[name]["updates"], owner=name)
        for worker, owner in enumerate(owners):
            backend.submit(worker, owner, [league.opponent(owner) for _ in range(cfg.envs_per_actor)])
        recent = {name: RecentGames() for name in order}
        restarted_at = dict.fromkeys(order, 0)  # the update at which each learner last restarted (weights versions)
        stale = 0  # rollouts played with a learner's weights from before its restart, dropped

        def main_frames() -> int:
            return sum(counters[m]["frames"] for m in mains)

        bar = tqdm(total=cfg.total_frames, initial=min(main_frames(), cfg.total_frames), unit="frame",
                   desc="league", disable=not progress)  # fmt: skip
        frames_at_start, clock, history = sum(c["frames"] for c in counters.values()), time.perf_counter(), []
        checkpoint_path, saved_at = (last.path, total_steps) if last is not None else (None, None)
        played: dict[str, list[dict[str, Any]]] = {name: [] for name in order}  # episodes of each pending update

        def finished(owner: str) -> None:
            """Take ``owner``'s pending update: snapshot and restart by the league's rule, weights out, logs."""
            done = learners.finish(owner)
            if done is None:
                return
            terms, weights = done
            number = counters[owner]["updates"]
            frozen = league.update(owner, number)
            if frozen is not None:
                learners.call(owner, "save", str(run_dir / "league" / frozen.snapshot), number, kind="rl-snapshot",
                              config=config_dict, counters=dict(counters[owner]), optimizer=False)  # fmt: skip
                backend.set_members([(frozen.snapshot, 0, weights)])
                log.info("%s froze as %s%s", owner, frozen.snapshot, "; it restarts from the start" * frozen.reset)
                if frozen.reset:
                    weights = learners.call(owner, "restart")
                    restarted_at[owner] = number
            backend.broadcast(weights, number, owner=owner)
            if owner in mains:
                backend.set_members([(owner, number, weights)])
            all_frames = sum(c["frames"] for c in counters.values())
            record = {f"{owner}/losses/{k}": v for k, v in terms.items() if k not in ("seconds", "samples")}
            record.update({f"{owner}/win_rate/{member}": league.payoff.win_rate(owner, member)
                           for member in league.players if league.payoff.games(owner, member) > 0})  # fmt: skip
            record.update({f"league/elo/{member}": elo for member, elo in league.elo.items()})
            for main in mains:
                if any(league.payoff.games(main, o) > 0 for o in league.players if o != main):
                    record[f"league/worst_case_win_rate/{main}"] = league.worst_case(main)[1]
            record["charts/SPS"] = (all_frames - frames_at_start) / max(time.perf_counter() - clock, 1e-9)
            record["charts/stale_rollouts"] = stale
            record["charts/worker_restarts"] = backend.restarts
            if total_steps % cfg.log_every == 0:
                logger.scalars(record, all_frames)
            history.append({"frames": all_frames, "learner": owner, **record})
            if on_update is not None:
                on_update({"counters": {n: dict(c) for n, c in counters.items()}, "backend": backend,
                           "terms": terms, "run_dir": run_dir, "league": league, "learner": owner,
                           "weights": weights, "frozen": frozen, "episodes": played[owner],
                           "stale": stale})  # fmt: skip
            played[owner] = []

        def save() -> Path:
            for name in order:
                finished(name)
            extra = {"league_state": league.state_dict(), "learner_counters": counters,
                     "init_checkpoint": cfg.init_checkpoint, "reference_sha256": reference_digest}  # fmt: skip
            for name in [n for n in order if n != mains[0]]:
                learners.call(name, "save", str(run_dir / "learners" / name), total_steps, config=config_dict,
                              counters=counters[name], keep_last=cfg.keep_last)  # fmt: skip
            path = Path(learners.call(mains[0], "save", str(ckpt_dir), total_steps, config=config_dict,
                                      counters=counters[mains[0]], keep_last=cfg.keep_last, extra=extra))  # fmt: skip
            write_payoff(league, run_dir)
            return path

        while main_frames() < cfg.total_frames:
            worker, result = backend.next()
            owner = owners[worker]
            backend.submit(worker, owner, [league.opponent(owner) for _ in range(cfg.envs_per_actor)])
            finished(owner)  # (its previous update: one at a time per learner)
            if result["version"] < restarted_at[owner]:  # played by the weights it had before it restarted
                stale += 1
                continue
            for episode in result["episodes"]:
                league.report(owner, episode["opponent"], RESULTS[episode["outcome"]])
                recent[owner].add(episode)
            played[owner] = list(result["episodes"])
            mine = counters[owner]
            mine["updates"] += 1
            mine["frames"] += result["frames"]
            mine["episodes"] += len(result["episodes"])
            total_steps += 1
            learners.start(owner, result["trajectory"], mine["updates"])
            if learners.inline:  # in-process it is done already: take it now
                finished(owner)
            bar.update(min(main_frames(), cfg.total_frames) - bar.n)
            if cfg.checkpoint_every and total_steps % cfg.checkpoint_every == 0:
                checkpoint_path, saved_at = save(), total_steps
        if saved_at != total_steps:
            checkpoint_path = save()
    finally:
        if bar is not None:
            bar.close()
        if logger is not None:
            logger.close()
        if learners is not None:
            learners.shutdown()
        backend.shutdown()
    totals = {"updates": total_steps, "frames": main_frames(),
              "episodes": sum(c["episodes"] for c in counters.values()),
              "worker_restarts": backend.restarts}  # fmt: skip
    return RLResult(run_dir, checkpoint_path, totals, recent[mains[0]].win_rates(), time.perf_counter() - start,
                    history)  # fmt: skip
