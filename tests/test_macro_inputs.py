"""The macro inputs (``agents.macro_inputs``): the free supply and what the own units have on the way, read from a
real full game, and an agent grown with them from a checkpoint without them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from agents.agent import Agent
from agents.config import AgentConfig
from agents.macro_inputs import FREE_SUPPLY_STEPS, MacroInputs
from envs.contract.action import make_action
from envs.contract.columns import UnitColumn as C
from envs.skirmish.economy.match import FullMatch
from envs.skirmish.match import Match
from training.agent_io import check_same_agent, read_agent_checkpoint, save_agent
from training.bc.trainer import _start_from
from training.checkpoint import CheckpointError


def batch(obs: dict) -> dict[str, torch.Tensor]:
    return {key: torch.as_tensor(value)[None] for key, value in obs.items()}


def with_macro(config: AgentConfig) -> AgentConfig:
    return dataclasses.replace(config, scalar=dataclasses.replace(config.scalar, macro_inputs=True))


def split(macro: torch.Tensor, spec) -> tuple[torch.Tensor, torch.Tensor, dict[int, int], dict[int, int]]:
    """(thermometer, scaled free supply, {order id: count}, {unit type id: count going up}) of one row."""
    row = macro[0]
    thermometer, scaled = row[:FREE_SUPPLY_STEPS], row[FREE_SUPPLY_STEPS]
    orders = row[FREE_SUPPLY_STEPS + 1 : FREE_SUPPLY_STEPS + 2 + len(spec.order_ids)]
    types = row[FREE_SUPPLY_STEPS + 2 + len(spec.order_ids) :]
    counts = lambda bag, ids: {i: round(float(v) ** 2) for i, v in zip(ids, bag[:-1].tolist(), strict=True) if v}  # noqa: E731
    return thermometer, scaled, counts(orders, spec.order_ids), counts(types, spec.unit_type_ids)


def test_free_supply_orders_and_structures_going_up_are_read_from_a_full_game():
    """Terran starts at 12 of 15 supply with every SCV mining (the free supply read exactly: 3, bits k >= 3 set);
    once a supply depot is ordered, the SCV walking to its site is counted under the depot's order, and once placed
    the depot under construction is counted under its type."""
    match = FullMatch("duel", ("terran", "zerg"), seed=0, max_units=128)
    obs = batch(match.reset()[1])
    spec = Agent(match.spec).spec
    macro = MacroInputs(spec)
    thermometer, scaled, orders, going_up = split(macro(obs["scalars"], obs["units"], obs["unit_mask"]), spec)
    assert thermometer.tolist() == [0.0] * 3 + [1.0] * (FREE_SUPPLY_STEPS - 3)
    assert float(scaled) == pytest.approx(3 / 16)
    gather = spec.plain["order_ids"]["Harvest_Gather_unit"]
    assert orders == {gather: 12} and going_up == {}
    match.game.bank.minerals[1] = 1000
    match.step({})  # the next observation's masks see the money
    raw = match.observations[1]
    scv = int(np.flatnonzero(raw["unit_mask"] & (raw["units"][:, C.unit_type] == 45))[0])
    hall = raw["units"][np.flatnonzero(raw["units"][:, C.unit_type] == 18)[0]]
    r = match.spec.location_resolution
    centre = np.array([match.game.map.width, match.game.map.height]) / 2
    site = hall[[C.x, C.y]] + 15 * (centre - hall[[C.x, C.y]]) / np.linalg.norm(centre - hall[[C.x, C.y]])
    where = (int(site[0] / match.game.map.width * r), int(site[1] / match.game.map.height * r))  # a walk away
    depot = match.catalogue.index("Build_SupplyDepot_pt")
    match.step({1: make_action(depot, [scv], target_location=where)})
    build, walking = spec.plain["order_ids"]["Build_SupplyDepot_pt"], []
    for _ in range(200):  # until the SCV reaches the site and the depot starts
        obs = batch(match.observations[1])
        _, _, orders, going_up = split(macro(obs["scalars"], obs["units"], obs["unit_mask"]), spec)
        if going_up:
            break
        walking.append(orders)
        match.step({})
    back = spec.plain["order_ids"]["Harvest_Return_quick"]
    assert walking and all(o.pop(build) == 1 and set(o) <= {gather, back} and sum(o.values()) == 11 for o in walking)
    assert going_up == {19: 1}  # SupplyDepot


def test_a_battle_spec_has_no_supply_to_read():
    match = Match("3m", seed=0, max_units=16)
    with pytest.raises(ValueError, match="food_cap"):
        Agent(match.spec, with_macro(AgentConfig.small()))


def test_an_agent_grows_the_macro_inputs_onto_a_checkpoint_without_them(tmp_path):
    """The projection starts at zero, so the grown agent acts as the checkpoint's until trained (and it gets a
    gradient); a resume refuses the change."""
    match = FullMatch("duel", ("protoss", "zerg"), seed=1, max_units=128)
    obs = batch(match.reset()[1])
    torch.manual_seed(0)
    plain = Agent(match.spec, AgentConfig.small()).eval()
    path = save_agent(tmp_path / "ckpt", 1, plain, kind="bc", config={}, counters={})
    grown = Agent(match.spec, with_macro(AgentConfig.small())).eval()
    _start_from(str(path), grown)
    state = plain.initial_state(1)
    with torch.no_grad():
        assert torch.equal(plain.trunk(obs, state)[0], grown.trunk(obs, state)[0])
    grown.trunk(obs, state)[0].square().sum().backward()
    weight = grown.scalar_encoder.macro_projection.weight
    assert weight.grad is not None and float(weight.grad.abs().sum()) > 0
    with pytest.raises(CheckpointError, match="macro_inputs"):
        check_same_agent(read_agent_checkpoint(path), grown)
