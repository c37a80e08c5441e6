"""``pstar eval-full``: an agent (or a full-game bot level) against the full-game bot levels, whole games.

    pstar eval-full runs/bc_full --levels very_easy easy --games 100 --processes 2
    pstar eval-full bot:hard --levels medium --games 20
    pstar eval-full runs/bc_full --levels very_easy easy --games 50 --record dagger1 --label-with very_hard --beta 0.3
    pstar eval-full runs/bc_full --levels very_easy easy --games 100 --record sil1 --keep won

Game ``g`` against a level is variant ``seed + g // 2`` (a race per start location drawn from it, or ``--races``)
with the evaluated player on side 1 when g is even and side 2 when odd, so neither side nor race favours it. Each
worker plays its games ``--batch`` at a time in lockstep, the agent acting for all of them in one batched step.
Prints per level wins-draws-losses and the win rate with its 95% Wilson interval, and writes them as JSON.

``--record DIR`` writes every game as a replay (format version 4). ``--label-with LEVEL`` makes them DAgger's data
(``training.bc.labels``): a full-game bot of that level, in the evaluated player's seat, labels every step with the
actions it would send from that observation, and the game plays them with probability ``--beta`` (else the
player's own); ``pstar bc`` clones the labels. The labeller's opening is read from the game, so it keeps asking for
an opening step the player skipped. ``--keep won`` writes only the games the evaluated player won: self-imitation's
data (Oh et al., 2018), which ``pstar bc players=winner`` clones as the player's own moves in the games that paid.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from training.eval.report import wilson_interval

KEEP = ("all", "won")  # which games --record writes


@dataclass(frozen=True)
class FullEvalGame:
    """One evaluation game: the evaluated player's side, the bot's level, the races by start location."""

    level: str
    seed: int
    side: int
    races: tuple[str, str]


def check_labeller(level: str, what: str) -> None:
    """Raise unless ``level`` is a full-game level that does not cheat (a labeller sees and earns what a player
    does); ``what`` names the setting in the message."""
    from envs.skirmish.economy.bot import FULL_GAME_LEVELS

    config = FULL_GAME_LEVELS.get(level)
    if config is None or config.vision or config.income != 1.0:
        fair = [n for n, c in FULL_GAME_LEVELS.items() if not c.vision and c.income == 1.0]
        raise ValueError(f"{what} {level!r}: expected a full-game level that does not cheat, one of {', '.join(fair)}")


@dataclass(frozen=True)
class Recording:
    """Write each game as a replay under ``out``; with ``label_with`` (a non-cheating full-game level) that bot labels
    the evaluated player's steps and plays its labels with probability ``beta``; ``keep``: ``all`` games or only those
    the player ``won`` (see the module docstring)."""

    out: Path
    label_with: str | None = None
    beta: float = 0.0
    keep: str = "all"

    def __post_init__(self) -> None:
        if self.label_with is not None:
            check_labeller(self.label_with, "--label-with")
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"--beta is {self.beta!r}, expected a probability in [0, 1]")
        if self.keep not in KEEP:
            raise ValueError(f"--keep is {self.keep!r}, expected one of {', '.join(KEEP)}")

    def keeps(self, result: int) -> bool:
        """Whether a game with the evaluated player's ``result`` (1 win, 0 draw, -1 loss) is written."""
        return self.keep == "all" or result == 1

    def path(self, game: FullEvalGame, index: int) -> Path:
        return self.out / (f"{index:05d}_{game.races[0]}-{game.races[1]}_side{game.side}_vs_{game.level}_"
                           f"s{game.seed}.skreplay")  # fmt: skip


def plan(levels: list[str], games: int, seed: int, races: list[str]) -> list[FullEvalGame]:
    """Every level's ``games`` games (see the module docstring)."""
    from envs.skirmish.economy.start import draw_races

    out = []
    for level in levels:
        for g in range(games):
            variant = seed + g // 2
            pair = draw_races(variant) if races == ["random"] else (races[0], races[1])
            out.append(FullEvalGame(level, variant, 1 + g % 2, pair))
    return out


def play_games(player: str, games: list[FullEvalGame], game_map: str, greedy: bool, threads: int,
               recording: Recording | None = None, first: int = 0, temperature: float | None = None,
               core_window: int | None = None, greedy_arguments: bool = False) -> list[int]:
    """Play ``games`` in lockstep (runs in a worker); the evaluated player's result per game: 1 win, 0 draw, -1 loss.
    With ``recording``, game ``i`` is written as replay ``first + i`` once it ends. ``temperature``: the agent's
    sampling temperature (None: its config's); ``core_window`` and ``greedy_arguments``: see ``AgentPolicy``."""
    from envs.skirmish.economy.bot import FullGameBot, apply_full_game_cheats
    from envs.skirmish.economy.match import FullMatch, FullMatchBatch
    from envs.skirmish.replay import Labels, save_replay
    from training.bc.labels import LabelMixer
    from training.eval.players import load_player

    torch.set_num_threads(threads)
    source = load_player(player) if not player.startswith("bot:") else None
    matches, opponents, own_bots = [], [], []
    max_units = source.max_units if source is not None else 512
    resolution = source.resolution if source is not None else 64
    batch = FullMatchBatch(len(games), batched=True, capacity=max_units)  # (the games step together)
    for slot, game in enumerate(games):
        match = FullMatch(game_map, game.races, seed=game.seed, max_units=max_units, resolution=resolution,
                          lenient=True, record=recording is not None, batch=batch.engine_slot(slot))  # fmt: skip
        bot_side = 3 - game.side
        levels = {bot_side: game.level, game.side: None if source is not None else player[len("bot:"):]}
        apply_full_game_cheats(match, levels)
        batch.start(slot, match)
        matches.append(match)
        opponents.append(FullGameBot(game.level, match.game, bot_side, seed=game.seed * 2 + bot_side))
        own_bots.append(None if source is not None else
                        FullGameBot(player[len("bot:"):], match.game, game.side, seed=game.seed * 2 + game.side))
    labelling = recording is not None and recording.label_with is not None
    mixers = [LabelMixer(FullGameBot(recording.label_with, m.game, g.side, seed=g.seed * 2 + g.side), recording.beta,
                         g.seed) for g, m in zip(games, matches, strict=True)] if labelling else []  # fmt: skip
    policy = source.player(len(games), greedy=greedy, temperature=None if greedy else temperature,
                           seed=games[0].seed, core_window=core_window,
                           greedy_arguments=greedy_arguments) if source is not None else None  # fmt: skip
    results: list[int | None] = [None] * len(games)
    while any(r is None for r in results):
        live = [i for i, r in enumerate(results) if r is None]
        if policy is not None:
            own = policy.act(live, [matches[i].observations[games[i].side] for i in live],
                             [matches[i].spec for i in live])  # fmt: skip
        else:
            own = [own_bots[i].act(matches[i].observed[games[i].side], matches[i].spec) for i in live]
        step = {}
        for i, actions in zip(live, own, strict=True):
            game, match = games[i], matches[i]
            if labelling:  # (the labeller reads the game as the player saw it, before anything of this step)
                mixers[i].label(match.observed[game.side], match.spec)
                actions = mixers[i].choose(actions)
            reply = opponents[i].act(match.observed[3 - game.side], match.spec)
            step[i] = {game.side: actions, 3 - game.side: reply}
        stepped = batch.step(step)
        for i in live:
            game, match = games[i], matches[i]
            _, _, terminated, truncated, _ = stepped[i]
            if terminated or truncated:
                winner = match.winner or 0
                results[i] = 0 if winner == 0 else (1 if winner == game.side else -1)
                if recording is not None and recording.keeps(results[i]):
                    name = player if not labelling or recording.beta == 0 else \
                        f"{player} mixed with bot:{recording.label_with} (beta {recording.beta:g})"
                    by = {game.side: Labels(f"bot:{recording.label_with}", mixers[i].labels)} if labelling else None
                    save_replay(recording.path(game, first + i), match, {game.side: name, 3 - game.side:
                                                                         f"bot:{game.level}"}, by)  # fmt: skip
    return [int(r) for r in results]


def _check_full_game_agent(player: str, source: Any, game_map: str) -> None:
    """Refuse an agent whose spec has other action types or scalars than a full game's (a battle agent)."""
    from envs.skirmish.economy.match import FullMatch

    full = FullMatch(game_map, ("terran", "terran"), seed=0, max_units=source.max_units,
                     resolution=source.resolution).spec.to_dict()  # fmt: skip
    for key in ("action_types", "scalars"):
        if source.spec[key] != full[key]:
            raise ValueError(f"player {player!r}: its agent was trained on another game ({len(source.spec[key])} "
                             f"{key.replace('_', ' ')}, a full game has {len(full[key])}): expected an agent of full "
                             "games (pstar bc on full-game replays)")  # fmt: skip


def evaluate_full(player: str, levels: list[str], games: int, *, game_map: str = "duel", seed: int = 0,
                  races: list[str] | None = None, greedy: bool = False, processes: int = 2, batch: int = 8,
                  recording: Recording | None = None, temperature: float | None = None,
                  core_window: int | None = None, greedy_arguments: bool = False) -> dict[str, dict]:  # fmt: skip
    """Per level: wins, draws, losses, the win rate and its 95% Wilson interval (see the module docstring)."""
    from envs.skirmish.economy.bot import FULL_GAME_LEVELS

    unknown = [level for level in levels if level not in FULL_GAME_LEVELS]
    if unknown:
        raise ValueError(f"unknown full-game level(s) {unknown}; expected some of {', '.join(FULL_GAME_LEVELS)}")
    if temperature is not None and not temperature > 0:
        raise ValueError(f"--temperature is {temperature!r}, expected a number > 0")
    if core_window is not None and core_window < 1:
        raise ValueError(f"--core-window is {core_window!r}, expected a number of steps >= 1")
    if player.startswith("bot:") and player[len("bot:"):] not in FULL_GAME_LEVELS:
        raise ValueError(f"player {player!r}: expected bot:<full-game level>, one of {', '.join(FULL_GAME_LEVELS)}")
    if not player.startswith("bot:"):
        from training.eval.players import load_player

        _check_full_game_agent(player, load_player(player), game_map)  # (here: one error, not a broken pool)
    everything = plan(levels, games, seed, races or ["random"])
    chunks = [everything[i : i + batch] for i in range(0, len(everything), batch)]
    threads = max(1, 2 // max(processes, 1))
    if recording is not None:
        recording.out.mkdir(parents=True, exist_ok=True)
    n = len(chunks)
    spawn = multiprocessing.get_context("spawn")  # (a worker forked from a process that has used torch's thread
    # pool, as this one has by loading the player, hangs in its first parallel torch call)
    with ProcessPoolExecutor(max_workers=max(1, min(processes, n)), mp_context=spawn) as pool:
        outcomes = [r for part in pool.map(play_games, [player] * n, chunks, [game_map] * n, [greedy] * n,
                                            [threads] * n, [recording] * n, range(0, len(everything), batch),
                                            [temperature] * n, [core_window] * n, [greedy_arguments] * n)
                    for r in part]  # fmt: skip
    table = {}
    for level in levels:
        mine = [r for g, r in zip(everything, outcomes, strict=True) if g.level == level]
        wins, draws, losses = mine.count(1), mine.count(0), mine.count(-1)
        low, high = wilson_interval(wins, len(mine))
        table[level] = {"win": wins, "draw": draws, "loss": losses, "games": len(mine),
                        "win_rate": wins / len(mine), "ci95": [low, high]}  # fmt: skip
    return table


def main(argv: list[str] | None = None) -> int:
    from training.checkpoint import CheckpointError
    from training.cli import apply_common, common_flags, fail

    parser = argparse.ArgumentParser(prog="pstar eval-full", description=__doc__.split("\n\n")[0],
                                     parents=[common_flags()])  # fmt: skip
    parser.add_argument("player", help="checkpoint (or run) directory, pretrained:<name>, or bot:<full-game level>")
    parser.add_argument("--levels", nargs="+", default=["very_easy", "easy"], help="full-game bot levels")
    parser.add_argument("--games", type=int, default=20, help="games per level (default 20)")
    parser.add_argument("--map", default="duel")
    parser.add_argument("--races", nargs="+", default=["random"], help="'random' (per variant) or two races")
    parser.add_argument("--seed", type=int, default=1000, help="first variant (default 1000)")
    parser.add_argument("--greedy", action="store_true", help="the agent picks its most likely actions")
    parser.add_argument("--greedy-arguments", action="store_true",
                        help="the agent samples its action types and picks its most likely arguments (units, target, "
                             "location)")
    parser.add_argument("--temperature", type=float, default=None,
                        help="the agent's sampling temperature (default: its config's; AlphaStar played at 0.8)")
    parser.add_argument("--core-window", type=int, default=None,
                        help="start the agent's recurrent state afresh every N steps, as truncated BPTT over "
                             "sequences of N trained it (default: carried over the whole game)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8, help="games a worker plays in lockstep (default 8)")
    parser.add_argument("--json", type=Path, default=None, help="also write the table here")
    parser.add_argument("--record", type=Path, default=None, help="write every game as a replay in this directory")
    parser.add_argument("--label-with", default=None,
                        help="with --record: a full-game level labelling the player's every step (DAgger's data)")
    parser.add_argument("--beta", type=float, default=0.0,
                        help="probability that a labelled step plays the label (default 0)")
    parser.add_argument("--keep", choices=KEEP, default="all",
                        help="with --record: write every game, or only those the player won (self-imitation's data)")
    args = parser.parse_args(argv)
    apply_common(args)
    if args.games < 1 or args.processes < 1 or args.batch < 1:
        return fail("eval-full", "--games, --processes and --batch must be >= 1")
    if args.record is None and (args.label_with is not None or args.beta != 0.0 or args.keep != "all"):
        return fail("eval-full", "--label-with, --beta and --keep need --record (they say what its replays hold)")
    try:
        recording = Recording(args.record, args.label_with, args.beta, args.keep) if args.record is not None else None
        table = evaluate_full(args.player, args.levels, args.games, game_map=args.map, seed=args.seed,
                              races=args.races, greedy=args.greedy, processes=args.processes, batch=args.batch,
                              recording=recording, temperature=args.temperature,
                              core_window=args.core_window, greedy_arguments=args.greedy_arguments)  # fmt: skip
    except (ValueError, CheckpointError) as err:
        return fail("eval-full", err)
    print(f"| {args.player} vs | W-D-L | win rate [95% CI] |")
    print("| --- | --- | --- |")
    for level, row in table.items():
        low, high = row["ci95"]
        print(f"| {level} | {row['win']}-{row['draw']}-{row['loss']} | {100 * row['win_rate']:.0f}% "
              f"[{100 * low:.0f}, {100 * high:.0f}] |")  # fmt: skip
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"player": args.player, "map": args.map, "seed": args.seed,
                                         "greedy": args.greedy, "temperature": args.temperature,
                                         "core_window": args.core_window, "greedy_arguments": args.greedy_arguments,
                                         "levels": table}, indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
