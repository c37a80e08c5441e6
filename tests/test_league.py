"""The league's bookkeeping (``training.league``): PFSP weights, the decayed payoff, matchmaking by role against a
hand-set payoff, the snapshot and reset rules, and an exact resume from its state."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from training.config_io import ConfigError
from training.league import INITIAL_ELO, League, LeagueConfig, Payoff, pfsp


def set_rate(league: League, a: str, b: str, p: float, games: float = 10.0) -> None:
    """Make ``a`` win ``p`` of ``games`` games against ``b`` (and ``b`` the rest), no draws."""
    league.payoff.counts[(a, b)] = [p * games, 0.0, games]
    league.payoff.counts[(b, a)] = [(1 - p) * games, 0.0, games]


def shares(draw, n: int = 20_000) -> dict[str, float]:
    counts = Counter(draw() for _ in range(n))
    return {k: v / n for k, v in counts.items()}


def test_pfsp_weights_match_the_hand_computed_ones():
    hard, variance = pfsp([0.2, 0.5, 0.9], "hard"), pfsp([0.2, 0.5, 0.9], "variance")
    assert hard == pytest.approx([0.64 / 0.90, 0.25 / 0.90, 0.01 / 0.90])
    assert variance == pytest.approx([0.16 / 0.50, 0.25 / 0.50, 0.09 / 0.50])
    assert pfsp([1.0, 1.0], "hard") == [0.5, 0.5] and pfsp([0.0, 1.0], "variance") == [0.5, 0.5]  # nothing to seek
    with pytest.raises(ValueError, match="expected one of hard, variance"):
        pfsp([0.5], "linear")
    with pytest.raises(ValueError, match="no candidates"):
        pfsp([], "hard")


def test_the_payoff_decays_a_pairs_counts_at_each_of_its_games():
    payoff = Payoff(decay=0.5)
    assert payoff.win_rate("a", "b") == 0.5  # not played
    for result in (1, 1, -1):
        payoff.update("a", "b", result)
    # a: wins 1 -> 1.5 -> 0.75, games 1 -> 1.5 -> 1.75; b sees the mirror
    assert payoff.win_rate("a", "b") == pytest.approx(0.75 / 1.75)
    assert payoff.win_rate("b", "a") == pytest.approx(1.0 / 1.75)
    payoff.update("a", "c", 0)
    assert payoff.win_rate("a", "c") == 0.5 and payoff.games("c", "a") == 1
    payoff.forget("a")
    assert payoff.counts == {}


def test_a_main_agent_draws_by_pfsp_verification_and_self_play_shares():
    league = League(LeagueConfig(main_exploiters=0, league_exploiters=0, seed=1), ["very_easy", "hard"])
    assert league.frozen() == ["bot:very_easy", "bot:hard", "main_0@0"]
    set_rate(league, "main_0", "bot:very_easy", 0.9)
    set_rate(league, "main_0", "bot:hard", 0.2)
    # main_0@0 not played: 0.5. PFSP (hard) over the frozen members: weights 0.01, 0.64, 0.25 (sum 0.9); verification:
    # no exploiter snapshots, main_0@0 at 0.5 < 0.7 is forgotten; self-play: main_0 itself (0.5 > 0.3)
    expected = {"bot:very_easy": 0.5 * 0.01 / 0.9, "bot:hard": 0.5 * 0.64 / 0.9,
                "main_0@0": 0.5 * 0.25 / 0.9 + 0.15, "main_0": 0.35}  # fmt: skip
    got = shares(lambda: league.opponent("main_0"))
    assert set(got) == set(expected)
    for name, p in expected.items():
        assert got[name] == pytest.approx(p, abs=0.015), name
    set_rate(league, "main_0", "main_0@0", 0.8)  # nothing forgotten: verification falls back to self-play
    assert shares(lambda: league.opponent("main_0"))["main_0"] == pytest.approx(0.5, abs=0.015)


def test_exploiters_play_the_main_agent_or_its_snapshots_and_the_league():
    league = League(LeagueConfig(seed=2), ["easy"])
    league.update("main_0", 200)  # a second main snapshot, main_0@1
    set_rate(league, "main_exploiter_0", "main_0", 0.3)
    assert shares(lambda: league.opponent("main_exploiter_0"), 500) == {"main_0": 1.0}
    set_rate(league, "main_exploiter_0", "main_0", 0.05)  # beaten: the main agent's snapshots by variance
    set_rate(league, "main_exploiter_0", "main_0@0", 0.5)
    set_rate(league, "main_exploiter_0", "main_0@1", 0.9)
    got = shares(lambda: league.opponent("main_exploiter_0"))
    assert got["main_0@0"] == pytest.approx(0.25 / 0.34, abs=0.015) and set(got) == {"main_0@0", "main_0@1"}
    set_rate(league, "league_exploiter_0", "bot:easy", 1.0)  # beaten for good: PFSP (hard) never draws it
    assert set(shares(lambda: league.opponent("league_exploiter_0"), 2000)) == {"main_0@0", "main_0@1"}


def test_snapshot_rules_and_exploiter_resets():
    league = League(LeagueConfig(snapshot_every=100, snapshot_min_updates=20, seed=3), ["easy"])
    assert league.update("main_0", 99) is None
    assert league.update("main_0", 100).snapshot == "main_0@1"  # every 100 updates
    assert league.update("main_0", 150) is None
    for frozen in league.frozen():
        set_rate(league, "main_0", frozen, 0.75)
    assert league.update("main_0", 160).snapshot == "main_0@2"  # beats every frozen member, 60 >= 20 updates on
    assert league.elo["main_0@2"] == league.elo["main_0"]
    set_rate(league, "main_0", "main_0@2", 0.75)
    assert league.update("main_0", 175) is None  # 15 < 20 updates since: not yet
    # a main exploiter freezes once it beats the main agents, then restarts from the initial weights
    set_rate(league, "main_exploiter_0", "main_0", 0.8)
    league.report("main_exploiter_0", "main_0", 1)
    assert league.update("main_exploiter_0", 19) is None
    frozen = league.update("main_exploiter_0", 20)
    assert frozen.snapshot == "main_exploiter_0@0" and frozen.reset
    assert league.payoff.games("main_exploiter_0", "main_0") == 0 and league.elo["main_exploiter_0"] == INITIAL_ELO
    assert league.players["main_exploiter_0@0"].parent_role == "main_exploiter"
    # a league exploiter restarts after a quarter of its snapshots
    resets = [league.update("league_exploiter_0", 100 * k).reset for k in range(1, 401)]
    assert 0.2 < sum(resets) / len(resets) < 0.3
    assert not league.update("main_0", 300).reset  # main agents never restart


def test_verification_plays_the_exploiter_snapshots_that_still_beat_the_main_agent():
    league = League(LeagueConfig(seed=4), ["easy"])
    league.update("main_exploiter_0", 200)
    set_rate(league, "main_0", "main_exploiter_0@0", 0.1)
    got = shares(lambda: league.opponent("main_0"))
    # PFSP over [bot:easy, main_0@0, main_exploiter_0@0] at 0.5, 0.5, 0.1: weights 0.25, 0.25, 0.81 (sum 1.31)
    assert got["main_exploiter_0@0"] == pytest.approx(0.5 * 0.81 / 1.31 + 0.15, abs=0.015)


def test_results_move_elo_and_the_reports_name_the_worst_case():
    league = League(LeagueConfig(main_exploiters=0, league_exploiters=0), ["very_easy", "hard"])
    for _ in range(30):
        league.report("main_0", "bot:very_easy", 1)
        league.report("bot:hard", "main_0", 1)
    assert league.elo["bot:very_easy"] < INITIAL_ELO < league.elo["bot:hard"] and league.games == 60
    assert league.worst_case("main_0") == ("bot:hard", 0.0)
    table = league.markdown().splitlines()
    assert table[0] == "| player | Elo | main_0 | bot:very_easy | bot:hard | main_0@0 |"
    assert table[2].startswith("| main_0 | ") and table[2].endswith(" |  | 100% | 0% |  |")
    with pytest.raises(ValueError, match="result 2"):
        league.report("main_0", "bot:hard", 2)
    with pytest.raises(KeyError, match="'bot:medium' is not a member"):
        league.report("main_0", "bot:medium", 1)
    with pytest.raises(KeyError, match="'bot:hard' is not a learner"):
        league.opponent("bot:hard")


def test_a_resumed_league_draws_and_freezes_exactly_as_the_one_that_ran_on():
    cfg = LeagueConfig(main_agents=2, snapshot_every=30, snapshot_min_updates=5, seed=7)

    def run(league: League, start: int, steps: int) -> list:
        events = []
        for t in range(start, start + steps):
            for learner in league.learners():
                opponent = league.opponent(learner)
                league.report(learner, opponent, league.rng.choice((1, 0, -1)))
                events.append((learner, opponent, league.update(learner, t)))
        return events

    first = League(cfg, ["easy", "hard"])
    run(first, 1, 40)
    state = json.loads(json.dumps(first.state_dict()))  # as saved in a checkpoint
    resumed = League(cfg, ["easy", "hard"])
    resumed.load_state_dict(state)
    assert run(resumed, 41, 40) == run(first, 41, 40)
    assert resumed.state_dict() == first.state_dict() and len(first.of_role("snapshot")) > 4
    for other in (League(LeagueConfig(main_agents=3), ["easy", "hard"]), League(cfg, ["easy"])):
        with pytest.raises(ValueError, match="resume with the config the league was saved with"):
            other.load_state_dict(state)  # a learner more, a bot fewer


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="verification_share: pfsp_share \\+ verification_share is 1.1"):
        LeagueConfig(pfsp_share=0.95, verification_share=0.15)
    with pytest.raises(ValueError, match="a level is listed twice"):
        League(LeagueConfig(), ["easy", "easy"])
