"""AlphaStar's league (Vinyals et al., 2019): who plays whom, what each finished game changes, when a player freezes.

Members: the learning players (main agents, main exploiters, league exploiters), frozen snapshots of them (each main
agent's starting weights are its snapshot ``@0``) and the bot levels as fixed members. Every result updates a payoff
matrix of decayed counts and online Elo ratings. An opponent is drawn by the learner's role with prioritized
fictitious self-play (PFSP), which weights each candidate by the learner's win rate p against it: ``hard`` (1 - p)^2
seeks the ones it still loses to, ``variance`` p (1 - p) the ones it is even with.

- main agent: 50% PFSP (hard) over every frozen member; 15% verification: the main exploiters' snapshots while one
  still beats it (p < 0.3), else the main agents' snapshots it has forgotten (p < 0.7), else self-play; 35%
  self-play: a main agent, or that agent's snapshots (variance) while the learner wins under 30% against it (with
  one main agent that is itself, always at p = 0.5: its snapshots come through PFSP and verification).
- main exploiter: a main agent, or its snapshots (variance) while the exploiter wins under 10% against it.
- league exploiter: PFSP (hard) over every frozen member.

A learner freezes a snapshot every ``snapshot_every`` updates, or sooner (after ``snapshot_min_updates``) once it
beats each of its opponents (a main exploiter: the main agents; the others: every frozen member) with p >= 0.7.
After its snapshot a main exploiter restarts from the initial (BC) weights, a league exploiter with probability 0.25.

Pure bookkeeping, no torch and no Ray: learners and actors ask it and report to it; the weights of a snapshot are
kept by the caller under the snapshot's name; ``state_dict`` (JSON) resumes it exactly, its random draws included.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from training.config_io import CheckedConfig, ConfigError, described

ROLES = ("main", "main_exploiter", "league_exploiter", "snapshot", "bot")
LEARNING = ROLES[:3]
WEIGHTINGS = ("hard", "variance")
INITIAL_ELO = 1000.0


def pfsp(win_rates: list[float], weighting: str) -> list[float]:
    """PFSP's probabilities over candidates the learner wins against with ``win_rates``: ``hard`` (1 - p)^2,
    ``variance`` p (1 - p); uniform when every weight is 0 (it beats them all, or all are decided)."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"PFSP weighting {weighting!r}: expected one of {', '.join(WEIGHTINGS)}")
    if not win_rates:
        raise ValueError("PFSP over no candidates")
    weights = [(1 - p) ** 2 if weighting == "hard" else p * (1 - p) for p in win_rates]
    total = sum(weights)
    if total < 1e-12:
        return [1 / len(win_rates)] * len(win_rates)
    return [w / total for w in weights]


@dataclass
class LeagueConfig(CheckedConfig):
    """The league's members and rules (defaults: AlphaStar's shares and thresholds, one learner of each role)."""

    main_agents: int = described("main agents (learners that play the whole league)", at_least=1, default=1)
    main_exploiters: int = described("main exploiters (learners that play the main agents)", at_least=0, default=1)
    league_exploiters: int = described("league exploiters (learners that play every frozen member)", at_least=0,
                                       default=1)  # fmt: skip
    snapshot_every: int = described("a learner freezes a snapshot every N of its updates", at_least=1, default=200)
    snapshot_min_updates: int = described("updates since its last snapshot before a learner may freeze early (when "
                                          "it beats each of its opponents)", at_least=1, default=50)  # fmt: skip
    snapshot_win_rate: float = described("win rate against each opponent that freezes a snapshot early", above=0,
                                         at_most=1, default=0.7)  # fmt: skip
    payoff_decay: float = described("decay of a pair's counts at each of its games", above=0, at_most=1,
                                    default=0.99)  # fmt: skip
    pfsp_share: float = described("main agents: share of games by PFSP over the frozen members", at_least=0,
                                  at_most=1, default=0.5)  # fmt: skip
    verification_share: float = described("main agents: share of games against exploiter snapshots that beat it "
                                          "or main snapshots it forgot", at_least=0, at_most=1,
                                          default=0.15)  # fmt: skip
    selfplay_floor: float = described("main agents: below this win rate against a main agent, play its snapshots",
                                      at_least=0, at_most=1, default=0.3)  # fmt: skip
    exploiter_floor: float = described("main exploiters: below this win rate against a main agent, play its "
                                       "snapshots", at_least=0, at_most=1, default=0.1)  # fmt: skip
    exploiter_beaten: float = described("verification: exploiter snapshots are played while one wins more than "
                                        "1 - this", at_least=0, at_most=1, default=0.3)  # fmt: skip
    forgotten: float = described("verification: main snapshots under this win rate count as forgotten", at_least=0,
                                 at_most=1, default=0.7)  # fmt: skip
    league_exploiter_reset: float = described("chance a league exploiter restarts from the initial weights after a "
                                              "snapshot", at_least=0, at_most=1, default=0.25)  # fmt: skip
    elo_k: float = described("Elo K-factor of each game", above=0, default=16.0)
    seed: int = described("seed of the league's draws (opponents, resets)", at_least=0, default=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pfsp_share + self.verification_share > 1:
            raise ConfigError(f"pfsp_share + verification_share is {self.pfsp_share + self.verification_share:g}, "
                              "expected at most 1 (the rest is self-play)", "verification_share")  # fmt: skip

    @property
    def learner_count(self) -> int:
        return self.main_agents + self.main_exploiters + self.league_exploiters


@dataclass
class Player:
    """A league member. Learners count their ``updates`` (and the count at their ``last_snapshot``); a snapshot
    names the learner it froze (``parent``, of ``parent_role``)."""

    name: str
    role: str
    parent: str | None = None
    parent_role: str | None = None
    updates: int = 0
    last_snapshot: int = 0
    snapshots: int = 0


@dataclass(frozen=True)
class Frozen:
    """What ``League.update`` froze: the snapshot's name, and whether its learner restarts from the initial weights."""

    snapshot: str
    reset: bool


class Payoff:
    """Decayed counts per ordered pair: at each game of a pair its wins, draws and games decay by ``decay`` and then
    count the game, so a learner's win rate follows its current strength. p(a, b) = (wins + draws / 2) / games, 0.5
    for a pair that has not played."""

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self.counts: dict[tuple[str, str], list[float]] = {}  # (a, b) -> [wins, draws, games] of a against b

    def update(self, home: str, away: str, result: int) -> None:
        """``result`` from ``home``'s side: 1 win, 0 draw, -1 loss."""
        for pair, outcome in (((home, away), result), ((away, home), -result)):
            wins, draws, games = (c * self.decay for c in self.counts.get(pair, (0.0, 0.0, 0.0)))
            self.counts[pair] = [wins + (outcome == 1), draws + (outcome == 0), games + 1]

    def win_rate(self, a: str, b: str) -> float:
        wins, draws, games = self.counts.get((a, b), (0.0, 0.0, 0.0))
        return (wins + draws / 2) / games if games > 0 else 0.5

    def games(self, a: str, b: str) -> float:
        return self.counts.get((a, b), (0.0, 0.0, 0.0))[2]

    def forget(self, name: str) -> None:
        """Drop every pair of ``name`` (a learner restarted from other weights is another player)."""
        self.counts = {pair: c for pair, c in self.counts.items() if name not in pair}


class League:
    """The members, their payoff and Elo, matchmaking and snapshot rules (see the module docstring); ``bots``: the bot
    levels that are fixed members (named ``bot:<level>``)."""

    def __init__(self, config: LeagueConfig, bots: Sequence[str] = ()) -> None:
        if len(set(bots)) != len(bots):
            raise ValueError(f"league bots {list(bots)}: a level is listed twice")
        self.config = config
        self.rng = random.Random(config.seed)
        self.payoff = Payoff(config.payoff_decay)
        self.players: dict[str, Player] = {}
        self.elo: dict[str, float] = {}
        self.games = 0
        for role, count in zip(LEARNING, (config.main_agents, config.main_exploiters, config.league_exploiters),
                               strict=True):  # fmt: skip
            for i in range(count):
                self._add(Player(f"{role}_{i}", role))
        for level in bots:
            self._add(Player(f"bot:{level}", "bot"))
        for name in self.of_role("main"):
            self._freeze(self.players[name])  # the main agents' starting (BC) weights: the first frozen members

    def _add(self, player: Player) -> None:
        self.players[player.name] = player
        self.elo.setdefault(player.name, INITIAL_ELO)

    # -- members ---------------------------------------------------------------------------------------------------

    def of_role(self, *roles: str) -> list[str]:
        return [name for name, p in self.players.items() if p.role in roles]

    def learners(self) -> list[str]:
        return self.of_role(*LEARNING)

    def frozen(self) -> list[str]:
        """Every member that does not learn: snapshots and bot levels."""
        return self.of_role("snapshot", "bot")

    def snapshots_of(self, learner: str) -> list[str]:
        return [name for name, p in self.players.items() if p.role == "snapshot" and p.parent == learner]

    def _learner(self, name: str) -> Player:
        player = self.players.get(name)
        if player is None or player.role not in LEARNING:
            raise KeyError(f"{name!r} is not a learner of this league; its learners: {', '.join(self.learners())}")
        return player

    # -- matchmaking -------------------------------------------------------------------------------------------------

    def opponent(self, learner: str) -> str:
        """Draw the member ``learner``'s next game is against (by its role; see the module docstring)."""
        role = self._learner(learner).role
        if role == "main_exploiter":
            main = self.rng.choice(self.of_role("main"))
            return self._or_snapshots(learner, main, self.config.exploiter_floor)
        if role == "league_exploiter":
            return self._pfsp(learner, self.frozen(), "hard")
        coin = self.rng.random()
        if coin < self.config.pfsp_share:
            return self._pfsp(learner, self.frozen(), "hard")
        if coin < self.config.pfsp_share + self.config.verification_share:
            found = self._verification(learner)
            if found is not None:
                return found
        return self._or_snapshots(learner, self.rng.choice(self.of_role("main")), self.config.selfplay_floor)

    def _pfsp(self, learner: str, candidates: list[str], weighting: str) -> str:
        weights = pfsp([self.payoff.win_rate(learner, c) for c in candidates], weighting)
        return self.rng.choices(candidates, weights=weights)[0]

    def _or_snapshots(self, learner: str, main: str, floor: float) -> str:
        """``main`` itself while ``learner`` wins more than ``floor`` against it, else PFSP (variance) over its
        snapshots (``main`` when it has none)."""
        past = self.snapshots_of(main)
        if self.payoff.win_rate(learner, main) > floor or not past:
            return main
        return self._pfsp(learner, past, "variance")

    def _verification(self, learner: str) -> str | None:
        exploiters = [s for s in self.of_role("snapshot") if self.players[s].parent_role == "main_exploiter"]
        if exploiters and min(self.payoff.win_rate(learner, s) for s in exploiters) < self.config.exploiter_beaten:
            return self._pfsp(learner, exploiters, "hard")
        mains = [s for s in self.of_role("snapshot") if self.players[s].parent_role == "main"]
        if mains and min(self.payoff.win_rate(learner, s) for s in mains) < self.config.forgotten:
            return self._pfsp(learner, mains, "hard")
        return None

    # -- results and snapshots ---------------------------------------------------------------------------------------

    def report(self, home: str, away: str, result: int) -> None:
        """A finished game between two members, ``result`` from ``home``'s side (1 win, 0 draw, -1 loss)."""
        for name in (home, away):
            if name not in self.players:
                raise KeyError(f"{name!r} is not a member of this league")
        if result not in (-1, 0, 1):
            raise ValueError(f"result {result!r}: expected 1 (home won), 0 (draw) or -1 (home lost)")
        self.payoff.update(home, away, result)
        expected = 1 / (1 + 10 ** ((self.elo[away] - self.elo[home]) / 400))
        change = self.config.elo_k * ((result + 1) / 2 - expected)
        self.elo[home] += change
        self.elo[away] -= change
        self.games += 1

    def update(self, learner: str, updates: int) -> Frozen | None:
        """``learner`` has made ``updates`` updates in all; freeze a snapshot of it when its rule says so (the caller
        saves its weights under the returned name, and restarts it from the initial weights when ``reset``)."""
        player = self._learner(learner)
        player.updates = int(updates)
        if not self.ready(learner):
            return None
        snapshot = self._freeze(player)
        reset = player.role == "main_exploiter" or (
            player.role == "league_exploiter" and self.rng.random() < self.config.league_exploiter_reset)
        if reset:  # another policy from now on: its record and rating start again
            self.payoff.forget(learner)
            self.elo[learner] = INITIAL_ELO
        return Frozen(snapshot, reset)

    def ready(self, learner: str) -> bool:
        """Whether ``learner`` freezes now: ``snapshot_every`` updates since its last snapshot, or
        ``snapshot_min_updates`` and a win rate of at least ``snapshot_win_rate`` against each of its opponents."""
        player = self._learner(learner)
        since = player.updates - player.last_snapshot
        if since >= self.config.snapshot_every:
            return True
        if since < self.config.snapshot_min_updates:
            return False
        opponents = self.of_role("main") if player.role == "main_exploiter" else self.frozen()
        opponents = [o for o in opponents if o != learner]
        return bool(opponents) and all(self.payoff.win_rate(learner, o) >= self.config.snapshot_win_rate
                                       for o in opponents)  # fmt: skip

    def _freeze(self, player: Player) -> str:
        name = f"{player.name}@{player.snapshots}"
        self._add(Player(name, "snapshot", parent=player.name, parent_role=player.role))
        self.elo[name] = self.elo[player.name]
        player.snapshots += 1
        player.last_snapshot = player.updates
        return name

    # -- reports -----------------------------------------------------------------------------------------------------

    def worst_case(self, learner: str) -> tuple[str, float]:
        """The member ``learner`` does worst against (among those it has played) and its win rate there."""
        played = [o for o in self.players if o != learner and self.payoff.games(learner, o) > 0]
        if not played:
            raise ValueError(f"{learner!r} has played no game yet")
        worst = min(played, key=lambda o: self.payoff.win_rate(learner, o))
        return worst, self.payoff.win_rate(learner, worst)

    def matrix(self, rows: list[str] | None = None, columns: list[str] | None = None) -> list[list[float | None]]:
        """Win rates of ``rows`` (default: the learners) against ``columns`` (default: every member); None where
        a pair has not played."""
        rows = self.learners() if rows is None else rows
        columns = list(self.players) if columns is None else columns
        return [[self.payoff.win_rate(r, c) if self.payoff.games(r, c) > 0 else None for c in columns] for r in rows]

    def markdown(self) -> str:
        """The payoff matrix as a Markdown table: a row per learner, a column per member, the learners' Elo."""
        columns = list(self.players)
        lines = ["| player | Elo | " + " | ".join(columns) + " |", "| --- | --- |" + " --- |" * len(columns)]
        for name, row in zip(self.learners(), self.matrix(columns=columns), strict=True):
            cells = ["" if p is None else f"{100 * p:.0f}%" for p in row]
            lines.append(f"| {name} | {self.elo[name]:.0f} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    # -- checkpoint --------------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything that changes as the league runs, as JSON-ready data (the config is saved with the run)."""
        version, internal, gauss = self.rng.getstate()
        return {
            "players": [asdict(p) for p in self.players.values()],
            "payoff": [[a, b, *counts] for (a, b), counts in self.payoff.counts.items()],
            "elo": dict(self.elo),
            "games": self.games,
            "rng": [version, list(internal), gauss],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from ``state_dict()``; the members must start as this config's (same learners and bots)."""
        players = [Player(**p) for p in state["players"]]
        saved = {p.name for p in players if p.role != "snapshot"}
        configured = {n for n, p in self.players.items() if p.role != "snapshot"}
        if saved != configured:
            raise ValueError(f"league state has the learners and bots {sorted(saved)}, this config "
                             f"{sorted(configured)}: resume with the config the league was saved with")  # fmt: skip
        self.players = {p.name: p for p in players}
        self.payoff.counts = {(a, b): [float(w), float(d), float(g)] for a, b, w, d, g in state["payoff"]}
        self.elo = {name: float(v) for name, v in state["elo"].items()}
        self.games = int(state["games"])
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
