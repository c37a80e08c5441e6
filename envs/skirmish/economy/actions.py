"""A full-game action dict -> what it does, played at once: base types as engine commands (``actions.translate``),
economy types as orders to the economy. Illegal actions raise ``IllegalActionError`` naming the field and the
rule (the economy's reason: ``minerals``, ``supply``, ``requirements``, ...); malformed ones
``MalformedActionError``.

What the economy types do with their arguments (``economy.catalogue``):

- ``produce`` (``Train_*``, ``Morph_Lair_quick``, ``Research_*``): one order, given to the selected producer of the
  type with the fewest orders that can take it (SC2's rule for a group of producers); ``queued`` is ignored, as
  production always queues.
- ``build`` (``Build_*``): the selected worker of the type nearest the site builds. A ``_pt`` site is the location's
  cell centre moved to the nearest placeable site within ``SNAP_RINGS`` cells (so a location head without a
  placement mask still builds where it points); a gas building's site is the free geyser ``target_unit`` names.
- ``gather``: every selected worker gathers from what ``target_unit`` names (a mineral field's row, or the player's
  own finished gas building's), delivering to its nearest finished town hall.
- ``return`` (``Harvest_Return_quick``): selected workers outside the gathering cycle go back to mining at their
  nearest town hall (a worker in the cycle already returns its cargo).
- ``rally``: the selected producers' units walk to the location once trained.

A base command (move, attack, stop, ...) to a gathering worker takes it out of the cycle; ``follow`` on a resource
row walks the units to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from envs.contract.action import (
    IllegalActionError,
    action_type_index,
    bad_row,
    check_form,
    int_scalar,
    selected_rows,
)
from envs.contract.catalogue import ACTION_TYPES, FOLLOW, MOVE, NUM_ACTION_TYPES
from envs.contract.spec import Spec
from envs.skirmish.actions import location, translate
from envs.skirmish.economy.catalogue import BUILD, GATHER, PRODUCE, RALLY, RETURN, EconomyAction, full_catalogue
from envs.skirmish.economy.gathering import NONE
from envs.skirmish.economy.observation import FullObserved
from envs.skirmish.economy.production import MAX_QUEUE

SNAP_RINGS = 3  # cells around a build location searched for a placeable site


def play_full(action: Mapping[str, Any], observed: FullObserved, game, player: int, spec: Spec) -> None:
    """Carry out ``player``'s ``action``, which answers ``observed`` (its rows), in ``game`` now."""
    catalogue = full_catalogue(game.rules)
    index = action_type_index(action, len(catalogue.action_types))
    kind = catalogue.action_types[index]
    check_form(action, kind.arguments)
    available = observed.obs["available_actions"]
    if not available[index]:
        raise IllegalActionError("action_type", f"{kind.name} ({index}) is not available to player {player} now")
    units_total = len(observed.row_to_slot)
    rows_total = units_total + len(observed.row_to_source)
    if index < NUM_ACTION_TYPES:
        _play_base(action, observed, game, player, spec, units_total, rows_total)
        return
    economy = catalogue.economy[index]
    slots = _selected(action, observed, game, player, spec, economy, kind.name, rows_total)
    if economy.kind == PRODUCE:
        _produce(game, player, slots, economy.product)
    elif economy.kind == BUILD:
        _build(action, observed, game, player, spec, slots, economy.product, rows_total)
    elif economy.kind == GATHER:
        source = _resource(action, observed, game, player, spec, rows_total, gas=False)
        for worker in slots.tolist():
            if game.production.nearest_town_hall(player, game.engine.state.pos[worker]) < 0:
                raise IllegalActionError("action_type", f"player {player} has no finished town hall to deliver to")
            game.gather(player, worker, source)
    elif economy.kind == RETURN:
        for worker in slots.tolist():
            if game.gathering.phase[worker] == NONE:
                game.mine(worker)
    elif economy.kind == RALLY:
        point = _point(action, spec, game)
        for producer in slots.tolist():
            game.production.set_rally(player, producer, point)


def _play_base(action, observed: FullObserved, game, player: int, spec: Spec, units_total: int,
               rows_total: int) -> None:  # fmt: skip
    """A base type: engine commands. A resource row may only be followed (``Move_unit``: the units walk to it, as
    SC2 moves units to a mineral field), and never selected."""
    kind = ACTION_TYPES[int_scalar(action, "action_type")]
    rows = selected_rows(action, rows_total, spec.max_units) if kind.uses_selection else []
    resource = [r for r in rows if r >= units_total]
    if resource:
        raise IllegalActionError("selected_units", f"row {resource[0]} is a resource (neutral); only player "
                                                   f"{player}'s units can be selected")  # fmt: skip
    target = int_scalar(action, "target_unit") if kind.uses_target_unit else -1
    if units_total <= target < rows_total:
        if kind.index != FOLLOW:
            raise IllegalActionError("target_unit", f"row {target} is a resource (neutral); {kind.name} needs a unit")
        walk = dict(action, action_type=MOVE, target_location=np.zeros(2, dtype=np.int64))  # (selection checks)
        commands = translate(walk, observed.row_to_slot, game.engine, player, spec,
                             observed.obs["available_actions"][:NUM_ACTION_TYPES])  # fmt: skip
        spot = tuple(float(v) for v in game.gathering.field_pos[observed.row_to_source[target - units_total]])
        commands = [replace(c, target_pos=spot) for c in commands]
    else:
        commands = translate(action, observed.row_to_slot, game.engine, player, spec,
                             observed.obs["available_actions"][:NUM_ACTION_TYPES])  # fmt: skip
    for command in commands:
        for slot in command.units:
            if game.gathering.phase[slot] != NONE:
                game.gathering.release(slot)
        game.engine.issue(player, command)


def _selected(action, observed: FullObserved, game, player: int, spec: Spec, economy: EconomyAction, name: str,
              rows_total: int) -> np.ndarray:  # fmt: skip
    """The slots of the selected rows that may carry out the economy type (IllegalActionError if none)."""
    rows = selected_rows(action, rows_total, spec.max_units)
    units_total = len(observed.row_to_slot)
    st, names = game.engine.state, game.rules.units.names
    slots = []
    for entry, row in enumerate(rows):
        if row >= units_total:
            raise IllegalActionError("selected_units", f"entry {entry}: row {row} is a resource; only player "
                                                       f"{player}'s units can be selected")  # fmt: skip
        slot = int(observed.row_to_slot[row])
        if st.owner[slot] != player:
            raise IllegalActionError("selected_units", f"entry {entry}: row {row} is an enemy unit; only player "
                                                       f"{player}'s units can be selected")  # fmt: skip
        if not st.alive[slot]:
            raise IllegalActionError("selected_units", f"entry {entry}: row {row} is dead")
        if names[st.utype[slot]] in economy.makers:
            slots.append(slot)
    if not slots:
        raise IllegalActionError("selected_units", f"no selected unit can {name}: it needs one of "
                                                   f"{', '.join(sorted(economy.makers))}")  # fmt: skip
    return np.array(slots, dtype=np.int64)


def _produce(game, player: int, slots: np.ndarray, product: str) -> None:
    production = game.production
    load = [len(production.queue[s]) + (production.current[s] is not None) for s in slots.tolist()]
    reasons = []
    for i in np.argsort(load, kind="stable").tolist():
        slot = int(slots[i])
        reason = production.check(player, slot, product)
        if reason is None:
            production.order(player, slot, product)
            return
        reasons.append(reason)
    why = reasons[0] if reasons else "queue_full"
    raise IllegalActionError("action_type", f"player {player} cannot order {product!r}: {why}"
                                            + (f" (queues hold at most {MAX_QUEUE})" if why == "queue_full" else ""))


def _build(action, observed: FullObserved, game, player: int, spec: Spec, slots: np.ndarray, structure: str,
           rows_total: int) -> None:  # fmt: skip
    construction, st = game.construction, game.engine.state
    if game.rules.recipes[structure].on_geyser:
        source = _resource(action, observed, game, player, spec, rows_total, gas=True)
        point = tuple(float(v) for v in game.gathering.field_pos[source])
    else:
        point = _point(action, spec, game)
    builders = [s for s in slots.tolist() if construction.check_builder(player, s, structure) is None]
    if not builders:
        reason = construction.check_builder(player, int(slots[0]), structure)
        raise IllegalActionError("action_type", f"player {player} cannot build {structure!r}: {reason}")
    site = construction.nearest_site(player, structure, point, SNAP_RINGS)
    if site is None:
        why = construction.check_site(player, structure, point)
        raise IllegalActionError("target_location", f"no site for {structure!r} within {SNAP_RINGS} cells of "
                                                    f"({point[0]:.1f}, {point[1]:.1f}): {why}")  # fmt: skip
    worker = min(builders, key=lambda s: float(np.hypot(*(st.pos[s] - site))))
    construction.order(player, worker, structure, site)


def _resource(action, observed: FullObserved, game, player: int, spec: Spec, rows_total: int,
              gas: bool) -> int:  # fmt: skip
    """The source index ``target_unit`` names: a resource row (``gas``: a geyser's; else a mineral field's), or for
    gathering (not ``gas``) also an own finished gas building's row (its geyser)."""
    row = int_scalar(action, "target_unit")
    units_total = len(observed.row_to_slot)
    if not 0 <= row < rows_total:
        bad_row("target_unit", "the target", row, rows_total, spec.max_units)
    g = game.gathering
    if row >= units_total:
        source = int(observed.row_to_source[row - units_total])
        if bool(g.vespene[source]) == gas:
            return source
    elif not gas:
        slot = int(observed.row_to_slot[row])
        under = np.flatnonzero(g.building == slot)
        if under.size and game.engine.state.owner[slot] == player and g.contents[under[0]] > 0:
            return int(under[0])
    wanted = ("a free vespene geyser" if gas else
              f"a mineral field, or a finished gas building of player {player} with vespene left")  # fmt: skip
    raise IllegalActionError("target_unit", f"row {row} is not {wanted}")


def _point(action, spec: Spec, game) -> tuple[float, float]:
    return location(action, spec.location_resolution, game.engine.scenario)
