"""The scripted macro player: it opens, saturates, builds supply and army, researches, all through legal orders."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from envs.skirmish.economy.game import FullGame
from envs.skirmish.economy.macro import OPENINGS, WORKERS_PER_BASE, MacroPlayer
from tests.test_economy_fuzz import _check_invariants


@pytest.mark.parametrize("races", [("terran", "protoss"), ("zerg", "terran")])
def test_macro_players_open_saturate_and_build_an_army(races):
    game = FullGame("duel", races, seed=0)
    players = [MacroPlayer(game, 1), MacroPlayer(game, 2)]
    for _ in range(5 * 168):  # five game minutes of 8-loop steps
        for player in players:
            player.act()
        game.step(8)
        _check_invariants(game)
    st, rules = game.engine.state, game.rules
    for player, race in zip(players, races, strict=True):
        mine = st.alive & (st.owner == player.player)
        counts = collections.Counter(rules.units.names[t].split("+")[0] for t in st.utype[mine])
        assert player.opening_done == len(OPENINGS[race])  # every opening step was ordered ...
        for _, item in OPENINGS[race]:
            assert counts[item] >= 1 or rules.is_structure(item) is False  # ... and stands
        assert counts[rules.races[race].worker] >= WORKERS_PER_BASE  # at least one saturated base
        army = sum(n for name, n in counts.items() if name in {"marine", "marauder", "siege_tank", "medivac",
                                                                "zealot", "stalker", "zergling", "roach",
                                                                "hydralisk", "baneling"})  # fmt: skip
        assert army >= 8
        used, cap = game.supply(player.player)
        assert used > 40 and cap >= used
        assert game.bank.spent[player.player, 0] > 2500 and game.bank.collected[player.player, 1] > 0  # gas too
    assert not game.done and np.count_nonzero(st.alive) > 100
