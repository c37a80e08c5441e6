"""Behaviour statistics of the players in Skirmish replays, grouped by player name: how often each acts and what
it sends per game. Read from the stored actions alone (no re-simulation), so a few hundred full games take seconds;
it is how a clone's play is compared with its teacher's (e.g. a cloned agent acting in 12-15% of its steps where the
bot it copies acts in 24%: envs/skirmish/FULL_GAMES.md). Milestones (full games): per player and race, in how many
games each build, train, research and morph order was sent at all and the median step it was first sent, which
shows the one-off decisions a clone misses (a zerg that never orders its spawning pool has no army)."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from envs.contract.catalogue import PRODUCTION_PREFIXES
from envs.skirmish.replay import Replay, ReplayError, read_replays


@dataclass
class PlayerStats:
    """One player name's totals over the games it played (either side)."""

    name: str
    games: int = 0
    results: Counter = field(default_factory=Counter)  # "win" / "draw" / "loss" / "unfinished"
    steps: int = 0
    acting_steps: int = 0  # steps that sent at least one action other than no_op
    actions: Counter = field(default_factory=Counter)  # by action type name, no_ops left out
    races: Counter = field(default_factory=Counter)  # full games per race played
    firsts: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))  # (race, milestone
    # order) -> the step it was first sent, one per game that sent it

    @property
    def acting_share(self) -> float:
        return self.acting_steps / max(self.steps, 1)

    @property
    def actions_per_step(self) -> float:
        return self.actions.total() / max(self.steps, 1)

    def per_game(self, action: str) -> float:
        return self.actions[action] / max(self.games, 1)

    def to_json(self) -> dict:
        return {"name": self.name, "games": self.games, "results": dict(self.results), "steps": self.steps,
                "acting_share": self.acting_share, "actions_per_step": self.actions_per_step,
                "actions_per_game": {a: self.per_game(a) for a, _ in self.actions.most_common()},
                "milestones": {race: {action: {"games": len(steps), "median_first_step": statistics.median(steps)}
                                      for (r, action), steps in self.firsts.items() if r == race}
                               for race in sorted(self.races)}}  # fmt: skip

    def milestones(self, race: str) -> list[tuple[str, int, float]]:
        """(order, games that sent it, median first step) for ``race``'s games, earliest first."""
        rows = [(action, len(steps), statistics.median(steps)) for (r, action), steps in self.firsts.items()
                if r == race]  # fmt: skip
        return sorted(rows, key=lambda row: (row[2], row[0]))


@dataclass
class ReplayStats:
    """Every player name's statistics, the files read and the files skipped (by reason)."""

    players: dict[str, PlayerStats] = field(default_factory=dict)
    read: int = 0
    skipped: Counter = field(default_factory=Counter)

    def add(self, replay: Replay, action_names: tuple[str, ...]) -> None:
        """Count ``replay``'s steps for both its players (``action_names``: its match's action types, in order)."""
        header = replay.header
        for player in (1, 2):
            name = header.players[player]
            stats = self.players.setdefault(name, PlayerStats(name))
            stats.games += 1
            stats.results[_result(header.winner, player)] += 1
            stats.steps += len(replay.actions)
            race = header.full_game["races"][player - 1] if header.full_game is not None else None
            first: dict[str, int] = {}
            for index, step in enumerate(replay.actions):
                sent = [action_names[int(a["action_type"])] for a in step[player] if int(a["action_type"]) != 0]
                stats.acting_steps += bool(sent)
                stats.actions.update(sent)
                for action in sent if race is not None else ():
                    if action.startswith(PRODUCTION_PREFIXES):
                        first.setdefault(action, index)
            if race is not None:
                stats.races[race] += 1
                for action, index in first.items():
                    stats.firsts[race, action].append(index)

    def ordered(self) -> list[PlayerStats]:
        return sorted(self.players.values(), key=lambda s: s.name)

    def to_json(self) -> dict:
        return {"read": self.read, "skipped": dict(self.skipped), "players": [s.to_json() for s in self.ordered()]}

    def table(self, top: int = 12) -> str:
        """A markdown table: a row per player name, its ``top`` most sent action types as mean counts per game."""
        lines = ["| player | games | W-D-L | steps/game | acting steps | actions/step | most sent (per game) |",
                 "| --- | ---: | --- | ---: | ---: | ---: | --- |"]  # fmt: skip
        for stats in self.ordered():
            r = stats.results
            common = ", ".join(f"{a} {stats.per_game(a):.1f}" for a, _ in stats.actions.most_common(top))
            lines.append(f"| {stats.name} | {stats.games} | {r['win']}-{r['draw']}-{r['loss']} | "
                         f"{stats.steps / max(stats.games, 1):.0f} | {stats.acting_share:.1%} | "
                         f"{stats.actions_per_step:.3f} | {common} |")  # fmt: skip
        return "\n".join(lines)

    def milestone_table(self) -> str:
        """A markdown table: a row per player name and race of its full games, each milestone order as
        "name games/of @ median first step", earliest first."""
        lines = ["| player | race | games | orders sent: games that sent it / games, @ median first step |",
                 "| --- | --- | ---: | --- |"]  # fmt: skip
        for stats in self.ordered():
            for race, games in sorted(stats.races.items()):
                cells = ", ".join(f"{action} {n}/{games} @{step:.0f}" for action, n, step in stats.milestones(race))
                lines.append(f"| {stats.name} | {race} | {games} | {cells} |")
        return "\n".join(lines)


def _result(winner: int | None, player: int) -> str:
    if winner is None:
        return "unfinished"
    return "draw" if winner == 0 else ("win" if winner == player else "loss")


def replay_stats(paths: Iterable[str | Path]) -> ReplayStats:
    """Statistics over the replays at ``paths`` (files or directories, as ``read_replays`` reads them); an
    unreadable file is skipped and counted under its problem's kind."""
    stats = ReplayStats()
    batch = read_replays(paths)
    names: dict[tuple, tuple[str, ...]] = {}  # action type names per game kind (building a match costs ms)
    for replay in batch:
        game = replay.header.full_game
        kind = (game["map"], tuple(game["races"])) if game is not None else ("battle",)
        if kind not in names:
            try:
                names[kind] = tuple(entry.name for entry in replay.new_match().spec.action_types)
            except ReplayError as err:  # settings the game rejects
                batch.loaded -= 1
                batch.skipped.append((replay.path, err.problem))
                continue
        stats.add(replay, names[kind])
    stats.read, stats.skipped = batch.loaded, Counter(batch.counts())
    return stats
