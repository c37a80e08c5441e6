"""The expert against bot levels, played as the ladder plays its games: mirrored armies on the ladder's scenarios,
each variant twice with the sides swapped and the same engine seed, under the match's action budget.

    result, steps = run_expert_eval(["very_hard"], games=20, processes=1)
    result.cell("expert", "very_hard")   # {"win": ..., "draw": ..., "loss": ...}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP, check_actions_per_step
from envs.skirmish.botgame import check_level
from envs.skirmish.bots import LEVELS
from envs.skirmish.ladder import DEFAULT_SCENARIOS, GameOutcome, LadderGame, LadderResult, play_games
from envs.skirmish.scenario import load_scenario

EXPERT = "expert"


def plan_expert_games(
    levels: Sequence[str],
    scenarios: Sequence[str],
    games: int,
    *,
    seed: int = 0,
    step_mul: int = 8,
    fog: bool = False,
    actions_per_step: int = DEFAULT_ACTIONS_PER_STEP,
) -> list[LadderGame]:
    """For every level and scenario, ``games`` games of the expert against it; game g uses variant ``seed + g // 2``
    and swaps sides when g is odd (as ``ladder.plan_ladder``)."""
    for level in levels:
        check_level(level)
    if games < 1:
        raise ValueError(f"expert eval: games per level and scenario must be >= 1, got {games}")
    check_actions_per_step(actions_per_step)
    for name in scenarios:
        load_scenario(name)
    plan = []
    for level in levels:
        for name in scenarios:
            for g in range(games):
                plan.append(LadderGame(len(plan), name, EXPERT, level, seed + g // 2, bool(g % 2), step_mul, fog,
                                       actions_per_step))
    return plan


def run_expert_eval(
    levels: Sequence[str] = LEVELS,
    scenarios: Sequence[str] = DEFAULT_SCENARIOS,
    games: int = 10,
    *,
    processes: int | None = None,
    seed: int = 0,
    step_mul: int = 8,
    fog: bool = False,
    on_game: Callable[[GameOutcome], None] | None = None,
    actions_per_step: int = DEFAULT_ACTIONS_PER_STEP,
) -> tuple[LadderResult, int]:
    """Play ``plan_expert_games`` on ``processes`` workers; returns the counts (row ``expert``) and the agent steps
    played (for the rate: ``steps / result.seconds`` per process used)."""
    plan = plan_expert_games(levels, scenarios, games, seed=seed, step_mul=step_mul, fog=fog,
                             actions_per_step=actions_per_step)  # fmt: skip
    result = LadderResult((EXPERT, *levels), tuple(scenarios), games, seed, 0.0, actions_per_step)
    steps = 0

    def counted(outcome: GameOutcome) -> None:
        nonlocal steps
        steps += outcome.steps
        if on_game is not None:
            on_game(outcome)

    play_games(plan, result, processes=processes, on_game=counted)
    return result, steps
