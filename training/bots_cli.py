"""``pstar bots``: the built-in bot ladder.

    pstar bots ladder                                   # the 7 non-cheat levels, every pair, 5 scenarios
    pstar bots ladder --games 20 --adjacent --processes 2 --json runs/bots_ladder.json
    pstar bots ladder --levels hard,very_hard,cheat_insane --scenarios 3m,2s3z --games 10
    pstar bots ladder --actions-per-step 1                # every bot under a budget of 1 action per step
    pstar bots expert-eval --games 20 --processes 2      # the expert demonstrator against every level
    pstar bots full-ladder --games 20                    # the ten full-game levels, each against the next

Prints the win-rate matrix (row level vs column level, % of decided games, wins-draws-losses) as Markdown and
writes it as JSON; the exit status is 1 when some level fails to beat the level listed before it in at least
``--threshold`` of the decided games (so CI can gate on the ladder).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tqdm import tqdm

from training.cli import apply_common, common_flags, fail
from training.config_io import flag_type

DEFAULT_JSON = Path("runs") / "bots_ladder.json"
FULL_JSON = Path("runs") / "full_ladder.json"
EXPERT_JSON = Path("runs") / "expert_eval.json"


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _game_flags(parser: argparse.ArgumentParser) -> None:
    """How every game of a bots command is played: step_mul, the action budget and fog."""
    from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP, MAX_ACTIONS_PER_STEP

    parser.add_argument("--step-mul", type=flag_type(int, at_least=1), default=8,
                        help="game loops per agent step (default 8)")
    parser.add_argument("--actions-per-step", type=flag_type(int, at_least=1, at_most=MAX_ACTIONS_PER_STEP),
                        default=DEFAULT_ACTIONS_PER_STEP,
                        help="every player's action budget per agent step, no_ops free (default %(default)s)")
    parser.add_argument("--fog", action="store_true", help="play with fog of war")


def build_parser() -> argparse.ArgumentParser:
    from envs.skirmish.bots import LEVELS
    from envs.skirmish.ladder import DEFAULT_SCENARIOS, NON_CHEAT_LEVELS

    parser = argparse.ArgumentParser(prog="pstar bots", description="Built-in Skirmish bots.")
    sub = parser.add_subparsers(dest="command", required=True)
    count, seed = flag_type(int, at_least=1), flag_type(int, at_least=0)
    ladder = sub.add_parser("ladder", help="play bot levels against each other on mirrored armies",
                            description="Play bot levels against each other on mirrored armies and print the "
                                        "win-rate matrix.", parents=[common_flags()])  # fmt: skip
    ladder.add_argument(
        "--levels",
        type=_names,
        default=list(NON_CHEAT_LEVELS),
        help="comma-separated levels, weakest first (default: the 7 non-cheat levels)",
    )
    ladder.add_argument(
        "--scenarios",
        type=_names,
        default=list(DEFAULT_SCENARIOS),
        help="comma-separated scenario names; each is played mirrored (player 1's army on "
        "both sides) (default: %(default)s)",
    )
    ladder.add_argument(
        "--games",
        type=count,
        default=10,
        help="games per pair of levels per scenario, sides swapped every other game (default 10)",
    )
    ladder.add_argument(
        "--processes",
        type=count,
        default=os.cpu_count() or 1,
        help="worker processes (default: all cores; 1 plays in this process)",
    )
    ladder.add_argument("--seed", type=seed, default=0, help="first start-position variant / game seed")
    ladder.add_argument("--adjacent", action="store_true", help="play each level only against the next one")
    ladder.add_argument(
        "--threshold",
        type=flag_type(float, above=0, at_most=1),
        default=0.6,
        help="win rate over decided games each level must reach against the one below (0.6)",
    )
    _game_flags(ladder)
    ladder.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the result (%(default)s)")
    expert = sub.add_parser("expert-eval", help="play the expert demonstrator against bot levels",
                            description="Play the expert (privileged planning demonstrator, not a ladder level) "
                                        "against bot levels as the ladder plays its games and print its win "
                                        "rates with 95%% Wilson intervals.", parents=[common_flags()])  # fmt: skip
    expert.add_argument("--levels", type=_names, default=list(LEVELS),
                        help="comma-separated levels (default: all ten)")  # fmt: skip
    expert.add_argument("--scenarios", type=_names, default=list(DEFAULT_SCENARIOS),
                        help="comma-separated scenario names, played mirrored (default: %(default)s)")
    expert.add_argument("--games", type=count, default=10,
                        help="games per level per scenario, sides swapped every other game (default 10)")
    expert.add_argument("--processes", type=count, default=os.cpu_count() or 1,
                        help="worker processes (default: all cores; 1 plays in this process)")
    expert.add_argument("--seed", type=seed, default=0, help="first start-position variant / game seed")
    _game_flags(expert)
    expert.add_argument("--json", type=Path, default=EXPERT_JSON, help="where to write the result (%(default)s)")
    full = sub.add_parser("full-ladder", help="play the full-game bot levels against each other",
                          description="Play the full-game bot levels (economy, production, army) against each "
                                      "other on a full-game map, race against race, and print the win-rate matrix.",
                          parents=[common_flags()])  # fmt: skip
    from envs.skirmish.economy.bot import FULL_GAME_BOT_LEVELS

    full.add_argument("--levels", type=_names, default=list(FULL_GAME_BOT_LEVELS),
                      help="comma-separated full-game levels, weakest first (default: all ten)")
    full.add_argument("--games", type=count, default=10,
                      help="games per pair of levels; each variant (races drawn per start) twice, sides swapped")
    full.add_argument("--all-pairs", action="store_true", help="every pair of levels, not only neighbours")
    full.add_argument("--map", default="duel", help="full-game map (default duel)")
    full.add_argument("--processes", type=count, default=os.cpu_count() or 1,
                      help="worker processes (default: all cores; 1 plays in this process)")
    full.add_argument("--seed", type=seed, default=0, help="first variant")
    full.add_argument("--threshold", type=flag_type(float, above=0, at_most=1), default=0.6,
                      help="win rate over decided games each level must reach against the one below (0.6)")
    full.add_argument("--step-mul", type=flag_type(int, at_least=1), default=8,
                      help="game loops per agent step (default 8)")
    full.add_argument("--json", type=Path, default=FULL_JSON, help="where to write the result (%(default)s)")
    return parser


def _full_ladder(args: argparse.Namespace, progress: bool) -> int:
    from envs.skirmish.economy.ladder import run_full_ladder

    pairs = len(args.levels) * (len(args.levels) - 1) // 2 if args.all_pairs else len(args.levels) - 1
    bar = tqdm(total=max(pairs, 0) * args.games, desc="full ladder", unit="game", disable=not progress)
    try:
        result = run_full_ladder(args.levels, args.games, game_map=args.map, processes=args.processes,
                                 seed=args.seed, adjacent_only=not args.all_pairs, step_mul=args.step_mul,
                                 threshold=args.threshold, on_game=lambda _: bar.update())  # fmt: skip
    except (ValueError, KeyError) as err:  # unknown level or map, bad counts
        bar.close()
        return fail("bots full-ladder", err)
    bar.close()
    return _report(result, args, f"{result.games} full games in {result.seconds:.1f} s on {args.processes} "
                                 f"process(es); map {args.map}; race matchups: {', '.join(result.scenarios)}")


def _ladder(args: argparse.Namespace, progress: bool) -> int:
    from envs.skirmish.ladder import run_ladder

    pairs = len(args.levels) - 1 if args.adjacent else len(args.levels) * (len(args.levels) - 1) // 2
    bar = tqdm(total=max(pairs, 0) * len(args.scenarios) * args.games, desc="ladder", unit="game",
               disable=not progress)  # fmt: skip
    try:
        result = run_ladder(args.levels, args.scenarios, args.games, processes=args.processes, seed=args.seed,
                            adjacent_only=args.adjacent, step_mul=args.step_mul, fog=args.fog,
                            threshold=args.threshold, on_game=lambda _: bar.update(),
                            actions_per_step=args.actions_per_step)  # fmt: skip
    except ValueError as err:  # unknown level or scenario, bad counts
        bar.close()
        return fail("bots ladder", err)
    bar.close()
    return _report(result, args, f"{result.games} games in {result.seconds:.1f} s on {args.processes} process(es); "
                                 f"{args.actions_per_step} action(s) per step; scenarios (mirrored): "
                                 f"{', '.join(args.scenarios)}")


def _report(result, args: argparse.Namespace, summary: str) -> int:
    """Print a ladder's matrix and ``summary``, write its JSON; exit status 1 when the ladder does not hold."""
    print(result.to_markdown())
    print(f"\n{summary}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    print(f"wrote {args.json}")
    if not result.holds:
        print(f"the ladder does not hold: some level wins less than {args.threshold:.0%} against the one below")
        return 1
    return 0


def _expert_eval(args: argparse.Namespace, progress: bool) -> int:
    from envs.skirmish.expert.evaluate import EXPERT, run_expert_eval
    from training.eval.report import wilson_interval

    bar = tqdm(total=len(args.levels) * len(args.scenarios) * args.games, desc="expert", unit="game",
               disable=not progress)  # fmt: skip
    try:
        result, steps = run_expert_eval(args.levels, args.scenarios, args.games, processes=args.processes,
                                        seed=args.seed, step_mul=args.step_mul, fog=args.fog,
                                        on_game=lambda _: bar.update(), actions_per_step=args.actions_per_step)
    except ValueError as err:  # unknown level or scenario, bad counts
        bar.close()
        return fail("bots expert-eval", err)
    bar.close()

    def rate(cell: dict[str, int], decided: bool = False) -> str:
        n = cell["win"] + cell["loss"] + (0 if decided else cell["draw"])
        if n == 0:
            return "n/a"
        low, high = wilson_interval(cell["win"], n)
        return f"{100 * cell['win'] / n:.0f}% [{100 * low:.0f}, {100 * high:.0f}]"

    lines = ["| expert vs | W-D-L | win rate [95% CI] | over decided | " + " | ".join(args.scenarios) + " |",
             "|" + " --- |" * (4 + len(args.scenarios))]  # fmt: skip
    table: dict[str, dict] = {}
    for level in args.levels:
        cell = result.cell(EXPERT, level)
        scenarios = {name: result.cell(EXPERT, level, name) for name in args.scenarios}
        table[level] = {"all": cell, "per_scenario": scenarios}
        shown = [f"{100 * c['win'] / sum(c.values()):.0f}% ({c['win']}-{c['draw']}-{c['loss']})"
                 for c in scenarios.values()]  # fmt: skip
        lines.append(f"| {level} | {cell['win']}-{cell['draw']}-{cell['loss']} | {rate(cell)} | "
                     f"{rate(cell, decided=True)} | " + " | ".join(shown) + " |")  # fmt: skip
    print("\n".join(lines))
    workers = max(1, min(args.processes, result.games))
    per_core = steps / max(result.seconds, 1e-9) / workers
    print(f"\n{result.games} games, {steps} agent steps in {result.seconds:.1f} s on {workers} process(es): "
          f"{per_core:.1f} steps/s per process; {args.actions_per_step} action(s) per step; scenarios (mirrored): "
          f"{', '.join(args.scenarios)}")  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"levels": args.levels, "scenarios": args.scenarios, "games": args.games,
                                     "seed": args.seed, "actions_per_step": args.actions_per_step,
                                     "seconds": round(result.seconds, 2), "steps": steps, "processes": workers,
                                     "counts": table}, indent=2) + "\n")  # fmt: skip
    print(f"wrote {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    progress = apply_common(args)
    if args.command == "expert-eval":
        return _expert_eval(args, progress)
    if args.command == "full-ladder":
        return _full_ladder(args, progress)
    return _ladder(args, progress)


if __name__ == "__main__":
    sys.exit(main())
