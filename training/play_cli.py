"""``pstar play``: watch a Skirmish game, between bots or agents or from a replay file, as a GIF or a PNG strip.

    pstar play --scenario 2s3z --p1 hard --p2 medium --out game.gif
    pstar play --p1 pretrained:pio --p2 very_hard --out game.gif
    pstar play --replay replays/00000_3m_medium_vs_hard_s0.skreplay --out game.png --every 4

The output format follows the file extension: ``.gif`` (animated, ``--fps``) or ``.png`` (a strip of frames,
``--columns`` per row). ``--every K`` keeps one frame every K agent steps (the last frame is always kept).
A player is a bot level, ``expert``, a shipped ``pretrained:<name>`` agent or an agent checkpoint (or run)
directory; an agent samples its actions (``--greedy``: the most likely) and plays with its own observation rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from training.checkpoint import CheckpointError
from training.cli import apply_common, common_flags, fail
from training.config_io import flag_type


def _frames_writer(every: int, size: tuple[int, int] | None):
    from envs.skirmish.render import render_rgb

    frames: list[np.ndarray] = []
    count = [0]

    def on_step(match) -> None:
        if count[0] % every == 0 or match.engine.done:
            marks = match.resource_marks() if hasattr(match, "resource_marks") else None  # (a full game's)
            frames.append(render_rgb(match.engine, size, marks))
        count[0] += 1

    return frames, on_step


def main(argv: list[str] | None = None) -> int:
    from envs.contract.budget import DEFAULT_ACTIONS_PER_STEP, MAX_ACTIONS_PER_STEP

    parser = argparse.ArgumentParser(prog="pstar play", description="Render a Skirmish game to a GIF or a PNG strip.",
                                     parents=[common_flags()])
    count, seed = flag_type(int, at_least=1), flag_type(int, at_least=0)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--replay", type=Path, help="a .skreplay file to render (default: play a new bot game)")
    source.add_argument("--scenario", default="3m", help="scenario name or YAML path, or 'random' (default 3m)")
    source.add_argument("--full-game", metavar="MAP", default=None,
                        help="play a full game on this map (e.g. duel) between two full-game bot levels")
    parser.add_argument("--races", nargs=2, default=("terran", "zerg"), metavar=("R1", "R2"),
                        help="the races of a --full-game (default terran zerg)")
    parser.add_argument("--p1", default="hard",
                        help="player 1: bot level, expert, pretrained:<name> or a checkpoint directory (default hard)")
    parser.add_argument("--p2", default="medium", help="player 2, as --p1 (default medium)")
    parser.add_argument("--greedy", action="store_true", help="agents pick their most likely actions")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--fog", action="store_true")
    parser.add_argument("--step-mul", type=count, default=8)
    parser.add_argument("--actions-per-step", type=flag_type(int, at_least=1, at_most=MAX_ACTIONS_PER_STEP),
                        default=DEFAULT_ACTIONS_PER_STEP,
                        help="each bot's action budget per agent step, no_ops free (default %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("skirmish.gif"), help="output .gif or .png")
    parser.add_argument("--every", type=count, default=1, help="keep one frame every K agent steps")
    parser.add_argument("--size", type=count, nargs=2, metavar=("H", "W"), default=None, help="frame size in pixels")
    parser.add_argument("--fps", type=flag_type(float, above=0), default=8.0, help="GIF frames per second")
    parser.add_argument("--columns", type=count, default=None, help="PNG strip frames per row (default up to 8)")
    parser.add_argument("--save-replay", type=Path, default=None, help="also write the played game's replay here")
    args = parser.parse_args(argv)
    apply_common(args)  # a game plays in seconds: no progress bar to switch off

    suffix = args.out.suffix.lower()
    if suffix not in (".gif", ".png"):
        return fail("play", f"--out must end in .gif or .png, got {args.out}")
    frames, on_step = _frames_writer(args.every, tuple(args.size) if args.size else None)
    try:
        match, title = _run(args, on_step)
    except (ValueError, CheckpointError) as err:  # unknown scenario or level, a bad replay or checkpoint
        return fail("play", err, status=1)

    from envs.skirmish.render import write_gif, write_png_strip

    if suffix == ".gif":
        write_gif(frames, args.out, fps=args.fps)
    else:
        write_png_strip(frames, args.out, columns=args.columns)
    winner = {None: "unfinished", 0: "a draw"}.get(match.winner, f"player {match.winner} wins")
    print(f"{title}: {winner} after {match.steps} steps ({match.engine.loop} game loops); "
          f"wrote {len(frames)} frames to {args.out}")  # fmt: skip
    return 0


def _run(args: argparse.Namespace, on_step):
    """Re-simulate the replay or play the bot game, calling ``on_step``; returns (finished match, title)."""
    if args.replay is not None:
        from envs.skirmish.replay import load_replay

        replay = load_replay(args.replay)
        players = replay.header.players
        return replay.replay(on_step), f"{replay.header.scenario_name}: {players.get(1)} vs {players.get(2)}"

    if args.full_game is not None:
        return _play_full_game(args, on_step)

    from envs.skirmish.generator import random_scenario
    from training.eval.players import load_player
    from training.pretrained import is_agent_name

    scenario = random_scenario(args.seed) if args.scenario == "random" else args.scenario
    names = {1: args.p1, 2: args.p2}
    agents = {p: load_player(name) for p, name in names.items() if is_agent_name(name)}
    if agents:
        match = _play_with_agents(scenario, names, agents, args, on_step)
    else:
        from envs.skirmish.botgame import play_bot_game

        match = play_bot_game(scenario, names, args.seed, step_mul=args.step_mul, fog=args.fog,
                              record=args.save_replay is not None, on_step=on_step,
                              actions_per_step=args.actions_per_step)  # fmt: skip
    labels = {p: name if p in agents else f"bot:{name}" for p, name in names.items()}
    if args.save_replay is not None:
        from envs.skirmish.replay import save_replay

        save_replay(args.save_replay, match, labels)
    return match, f"{match.scenario.name}: {labels[1]} vs {labels[2]}"


def _play_full_game(args: argparse.Namespace, on_step):
    """A full game between two full-game bot levels on ``--full-game``'s map."""
    from envs.skirmish.economy.ladder import play_full_bot_game

    names = {1: args.p1, 2: args.p2}
    match = play_full_bot_game(names, tuple(args.races), args.full_game, args.seed, step_mul=args.step_mul,
                               record=args.save_replay is not None, on_step=on_step)  # fmt: skip
    labels = {p: f"bot:{name}" for p, name in names.items()}
    if args.save_replay is not None:
        from envs.skirmish.replay import save_replay

        save_replay(args.save_replay, match, labels)
    return match, f"full game on {args.full_game}, {args.races[0]} vs {args.races[1]}: {labels[1]} vs {labels[2]}"


def _play_with_agents(scenario, names: dict[int, str], agents: dict, args: argparse.Namespace, on_step):
    """One game where the ``agents`` sides are played by their checkpoints (batch 1), the others by bots; the
    observation rows and location grid are the agents' (which must agree)."""
    from envs.skirmish.botgame import bot_match, play_out
    from training.eval.players import OneGameAgent

    rows = {(s.max_units, s.resolution) for s in agents.values()}
    if len(rows) > 1:
        raise ValueError(f"the two agents observe differently (max_units, resolution): {sorted(rows)}")
    ((max_units, resolution),) = rows
    match, players = bot_match(scenario, {p: None if p in agents else name for p, name in names.items()}, args.seed,
                               step_mul=args.step_mul, max_units=max_units, resolution=resolution, fog=args.fog,
                               record=args.save_replay is not None, actions_per_step=args.actions_per_step)  # fmt: skip
    for p, source in agents.items():
        players[p] = OneGameAgent(source.player(1, greedy=args.greedy, seed=args.seed + p), p, args.seed)
    return play_out(match, players, on_step)


if __name__ == "__main__":
    sys.exit(main())
