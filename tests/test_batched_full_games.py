"""Full games on the BatchedEngine: each game of a batch plays exactly as on its own Engine (equal observations for
both players and equal full-game hashes, economy included, after every agent step), with the full-game bots
driving both sides: gathering, construction, production, morphs, upgrades, structure collisions and, in the slow
test, armies fighting until the structures defeat rule ends the game."""

from __future__ import annotations

import numpy as np
import pytest

from envs.skirmish.batched import BatchedEngine
from envs.skirmish.economy.bot import FullGameBot
from envs.skirmish.economy.maps import load_map
from envs.skirmish.economy.match import FullMatch
from envs.skirmish.economy.rules import default_rules
from envs.skirmish.economy.start import opening_scenario, start_bases


def _batch(games: int) -> BatchedEngine:
    """A batch whose slots full games are loaded into (its placeholder games are replaced by ``FullMatch``)."""
    rules = default_rules()
    game_map = load_map("duel", rules)
    scenario = opening_scenario(game_map, ("terran", "terran"), start_bases(game_map, 0), rules)
    return BatchedEngine([scenario] * games, [0] * games, units=rules.units, capacity=512)


def _play_twins(races: list[tuple[str, str]], levels: tuple[str, str], steps: int) -> list[FullMatch]:
    """Each race pair played by the two levels on its own Engine and in one shared batch; checks they agree."""
    batch = _batch(len(races))
    pairs = []
    for i, pair in enumerate(races):
        twins = [FullMatch("duel", pair, seed=40 + i, lenient=True, batch=where) for where in (None, (batch, i))]
        bots = [{p: FullGameBot(levels[p - 1], m.game, p, seed=p) for p in (1, 2)} for m in twins]
        pairs.append((twins, bots))
    for step in range(steps):
        for (single, batched), (own, theirs) in pairs:
            if single.game.done:
                assert batched.game.done and batched.winner == single.winner
                continue
            for p in (1, 2):
                for key, value in single.observations[p].items():
                    np.testing.assert_array_equal(batched.observations[p][key], value, err_msg=f"{step} {p} {key}")
            single.step({p: own[p].act(single.observed[p], single.spec) for p in (1, 2)})
            batched.step({p: theirs[p].act(batched.observed[p], batched.spec) for p in (1, 2)})
            assert batched.state_hash() == single.state_hash(), step
    return [twins[0] for twins, _ in pairs]


def test_full_games_in_one_batch_play_as_on_their_own_engines():
    matches = _play_twins([("terran", "protoss"), ("zerg", "zerg")], ("very_hard", "medium"), steps=150)
    st = matches[1].game.engine.state
    assert st.alive.sum() > 40  # (the openings ran: workers, overlords, larva and structures were made)


@pytest.mark.slow
def test_full_games_fought_to_the_end_in_one_batch_play_as_on_their_own_engines():
    races = [("terran", "protoss"), ("zerg", "terran"), ("protoss", "zerg")]
    matches = _play_twins(races, ("very_hard", "easy"), steps=2000)
    assert all(m.game.done and m.winner == 1 for m in matches)
