"""Full games on the BatchedEngine: the games of a batched ``FullMatchBatch``, stepped together, each play exactly as on
its own Engine (equal observations for both players, rewards and full-game hashes, economy included, after every
agent step), with the full-game bots driving both sides: gathering, construction, production, morphs, upgrades,
structure collisions and, in the slow test, armies fighting until the structures defeat rule ends the game."""

from __future__ import annotations

import numpy as np
import pytest

from envs.skirmish.economy.bot import FullGameBot
from envs.skirmish.economy.match import FullMatch, FullMatchBatch


def _play_twins(races: list[tuple[str, str]], levels: tuple[str, str], steps: int) -> list[FullMatch]:
    """Each race pair played by the two levels on its own Engine, and all of them stepped together in one batched
    ``FullMatchBatch``; checks that every game agrees with its twin after every step."""
    batch = FullMatchBatch(len(races), batched=True)
    singles, batched, bots = [], [], []
    for i, pair in enumerate(races):
        twins = [FullMatch("duel", pair, seed=40 + i, lenient=True, batch=where)
                 for where in (None, batch.engine_slot(i))]  # fmt: skip
        batch.start(i, twins[1])
        singles.append(twins[0])
        batched.append(twins[1])
        bots.append([{p: FullGameBot(levels[p - 1], m.game, p, seed=p) for p in (1, 2)} for m in twins])
    for step in range(steps):
        live = [i for i, m in enumerate(singles) if not m.game.done]
        for i, (single, twin) in enumerate(zip(singles, batched, strict=True)):
            assert twin.game.done == single.game.done and twin.winner == single.winner
            if i in live:
                for p in (1, 2):
                    for key, value in single.observations[p].items():
                        np.testing.assert_array_equal(twin.observations[p][key], value, err_msg=f"{step} {p} {key}")
        if not live:
            break
        results = batch.step({i: {p: bots[i][1][p].act(batched[i].observed[p], batched[i].spec) for p in (1, 2)}
                              for i in live})  # fmt: skip
        for i in live:
            own = bots[i][0]
            expected = singles[i].step({p: own[p].act(singles[i].observed[p], singles[i].spec) for p in (1, 2)})
            assert results[i][1:4] == expected[1:4] and batched[i].state_hash() == singles[i].state_hash(), step
    return singles


def test_full_games_in_one_batch_play_as_on_their_own_engines():
    matches = _play_twins([("terran", "protoss"), ("zerg", "zerg")], ("very_hard", "medium"), steps=150)
    st = matches[1].game.engine.state
    assert st.alive.sum() > 40  # (the openings ran: workers, overlords, larva and structures were made)


@pytest.mark.slow
def test_full_games_fought_to_the_end_in_one_batch_play_as_on_their_own_engines():
    races = [("terran", "protoss"), ("zerg", "terran"), ("protoss", "zerg")]
    matches = _play_twins(races, ("very_hard", "easy"), steps=2000)
    assert all(m.game.done and m.winner == 1 for m in matches)


def test_a_batched_full_match_batch_takes_only_matches_built_for_its_slots():
    batch = FullMatchBatch(2, batched=True)
    with pytest.raises(ValueError, match="slot 1's match must be built with batch=engine_slot"):
        batch.start(1, FullMatch("duel", ("terran", "zerg"), seed=1, batch=batch.engine_slot(0)))
    with pytest.raises(ValueError, match="slot 0's match must be built"):
        batch.start(0, FullMatch("duel", ("terran", "zerg"), seed=1))
    assert FullMatchBatch(2).engine_slot(0) is None
