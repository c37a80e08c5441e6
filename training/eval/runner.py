"""Run an evaluation: plan the games, cut them into tasks, play the tasks on Ray actors or in this process.

Each task is played by ``TaskWorker.play`` with its own sampling seed (from the run's seed and the task's index)
and the same thread count everywhere, so which worker plays it, and on which backend, does not change a game.

    result = evaluate(EvalConfig(levels=["easy", "hard"], games=20), "runs/rl/checkpoints")
    print(result.to_markdown())
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from training.eval.config import EvalConfig, EvalError
from training.eval.games import EvalGame, GameOutcome, check_scenarios, plan_games, play_games
from training.eval.players import OneGameAgent, PlayerSource, load_player
from training.eval.report import EvalResult
from training.ray_runtime import start_ray

Task = tuple[int, list[EvalGame]]


def task_seed(seed: int, index: int) -> int:
    """The sampling seed of task ``index`` (independent streams per task)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


class TaskWorker:
    """Plays tasks for one evaluated player; built once per worker (a Ray actor, or a plain object in-process)."""

    def __init__(self, source: PlayerSource, config: EvalConfig,
                 opponents: dict[str, PlayerSource] | None = None) -> None:  # fmt: skip
        self.source, self.config = source, config
        self.agent = source.build_agent() if source.is_agent else None
        self.opponents = {name: (o, o.build_agent()) for name, o in (opponents or {}).items()}

    def _opponent(self, name: str, index: int) -> Callable[[int, int], OneGameAgent]:
        """A factory of agent opponent ``name`` for one game (its own recurrent state, its sampling seeded by the
        game's variant and the task)."""
        source, agent = self.opponents[name]
        cfg = self.config

        def make(side: int, variant: int) -> OneGameAgent:
            seed = task_seed(cfg.seed + 1 + variant, index)
            player = source.player(1, agent=agent, greedy=cfg.greedy, temperature=cfg.temperature, seed=seed)
            return OneGameAgent(player, side, variant)

        return make

    def play(self, index: int, games: Sequence[EvalGame]) -> list[GameOutcome]:
        cfg = self.config
        threads = torch.get_num_threads()
        torch.set_num_threads(cfg.torch_threads)
        try:
            player = self.source.player(
                min(cfg.batch_size, len(games)),
                agent=self.agent,
                greedy=cfg.greedy,
                temperature=cfg.temperature,
                seed=task_seed(cfg.seed, index),
            )
            return play_games(player, self.source, games, step_mul=cfg.step_mul, fog=cfg.fog, lenient=cfg.lenient,
                              actions_per_step=cfg.actions_per_step,
                              opponents={name: self._opponent(name, index) for name in self.opponents})  # fmt: skip
        finally:
            torch.set_num_threads(threads)


def _run_inprocess(
    config: EvalConfig, source: PlayerSource, opponents: dict[str, PlayerSource], tasks: list[Task],
    done: Callable[[list[GameOutcome]], None],
) -> int:
    worker = TaskWorker(source, config, opponents)
    for index, games in tasks:
        done(worker.play(index, games))
    return 1


def _run_ray(
    config: EvalConfig, source: PlayerSource, opponents: dict[str, PlayerSource], tasks: list[Task],
    done: Callable[[list[GameOutcome]], None],
) -> int:
    """Tasks handed out to ``workers`` actors as they finish; the player is shipped once with ``ray.put``."""
    ray = start_ray(config.address)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    count = max(1, min(config.workers, len(tasks), cpus))  # an actor beyond the CPUs would never start
    actor_class = ray.remote(num_cpus=1)(TaskWorker)
    source_ref, opponents_ref = ray.put(source), ray.put(opponents)
    actors = [actor_class.remote(source_ref, config, opponents_ref) for _ in range(count)]
    queue = list(tasks)
    running = {}
    try:
        for actor in actors:
            if queue:
                running[actor.play.remote(*queue.pop(0))] = actor
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            actor = running.pop(ready[0])
            done(ray.get(ready[0]))
            if queue:
                running[actor.play.remote(*queue.pop(0))] = actor
    finally:
        for actor in actors:
            ray.kill(actor)
    return count


def evaluate(config: EvalConfig, player: str, progress: bool = True) -> EvalResult:
    """Play ``config.games`` games against each of ``config.levels`` with ``player`` (a checkpoint or bot:<level>).

    Raises ``CheckpointError`` (bad checkpoint) or ``EvalError`` (unknown level, scenario, or a scenario whose
    map does not fit the agent's spec) before any game starts.
    """
    source = load_player(player)
    check_scenarios(source, config.scenarios)
    opponents = {name: load_player(name) for name in config.opponents}
    for name, opponent in opponents.items():
        if not opponent.is_agent:
            raise EvalError(f"opponent {name!r}: expected an agent (checkpoint, run or pretrained:<name>); bot "
                            "levels go in levels=")  # fmt: skip
        check_scenarios(opponent, config.scenarios)
    plan = plan_games([*config.levels, *config.opponents], config.scenarios, config.games, config.seed)
    size = config.task_games
    tasks = [(i, plan[first : first + size]) for i, first in enumerate(range(0, len(plan), size))]
    outcomes: list[GameOutcome] = []
    bar = tqdm(total=len(plan), desc=f"eval {player}", unit="game", disable=not progress)

    def done(finished: list[GameOutcome]) -> None:
        outcomes.extend(finished)
        bar.update(len(finished))

    start = time.perf_counter()
    try:
        run = _run_ray if config.backend == "ray" else _run_inprocess
        workers = run(config, source, opponents, tasks, done)
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    outcomes.sort(key=lambda o: o.game.index)
    temperature = config.temperature if config.temperature is not None else source.default_temperature
    return EvalResult.from_outcomes(
        outcomes,
        player=player,
        scenarios=list(config.scenarios),
        games_per_level=config.games,
        seed=config.seed,
        greedy=config.greedy,
        temperature=None if config.greedy or not source.is_agent else temperature,
        backend=config.backend,
        workers=workers,
        seconds=seconds,
        checkpoint=source.checkpoint,
        step=source.step,
        settings={
            "batch_size": config.batch_size,
            "task_games": config.task_games,
            "step_mul": config.step_mul,
            "fog": config.fog,
            "lenient": config.lenient,
        },
    )
