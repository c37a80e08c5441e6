"""The scripted macro player: it opens, saturates, builds supply and army, researches, all through legal orders."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

import numpy as np
import pytest

from envs.skirmish.economy.game import FullGame
from envs.skirmish.economy.macro import OPENINGS, WORKERS_PER_BASE, DirectOrders, MacroOrder, MacroPlayer
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
        assert player.opening_step() == len(OPENINGS[race])  # every opening step was made ...
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


@dataclass
class _Silent:
    """An executor that takes every order and plays none: a labeller beside a player who does something else."""

    full: bool = False
    taken: set = field(default_factory=set)
    given: list = field(default_factory=list)

    def issue(self, order: MacroOrder) -> bool:
        self.given.append(order)
        return True


@pytest.mark.parametrize("opening_loops", [None, 0])
def test_the_opening_is_read_from_the_game_so_a_labeller_asks_again_for_what_was_not_made(opening_loops,
                                                                                          monkeypatch):  # fmt: skip
    """DAgger's labeller: a step it ordered but the player did not make is asked for again, every decision, until
    it stands; then the opening moves on. For the first OPENING_LOOPS the missing step holds back other spending;
    after them the rest goes on beside it (here: the supply rule, at 15 of 15 supply, orders a depot too)."""
    from envs.skirmish.economy import macro

    if opening_loops is not None:
        monkeypatch.setattr(macro, "OPENING_LOOPS", opening_loops)
    game = FullGame("duel", ("terran", "terran"), seed=0)
    labeller = MacroPlayer(game, 1, executor=_Silent())
    hall = labeller.home
    asked = []
    for _ in range(400):  # the player trains workers only
        if game.production.current[hall] is None and game.production.check(1, hall, "scv") is None:
            game.production.order(1, hall, "scv")
        labeller.executor.given.clear()
        labeller.act()
        asked.append([o.product for o in labeller.executor.given])
        game.step(8)
    depots = [i for i, products in enumerate(asked) if "supply_depot" in products]
    assert labeller.opening_step() == 0 and len(depots) > 50  # asked again and again, never made
    most = max(products.count("supply_depot") for products in asked)  # later: the supply rule's depot beside it
    assert most == (1 if opening_loops is None else 2)
    labeller.executor.given.clear()
    labeller.act()
    order = next(o for o in labeller.executor.given if o.product == "supply_depot")
    assert DirectOrders(game, 1).issue(order)  # the player follows it: the opening's next step is due
    assert labeller.opening_step() == 1
