"""Legal by construction: the masks every head samples under, derived from the spec's rules and the observation.

The spec publishes, per action type, which arguments it reads, which units may carry it (``unit_types[*].abilities``)
and which rows ``target_unit`` may name (``target``: ``enemy``, ``other_unit``, ``any_unit``, ``harvestable``,
``geyser`` or ``none``); per unit type whether it flies and what its weapon hits (``is_air``, ``hits_ground``,
``hits_air``). From them:

- action type: ``available_actions`` and, beyond it, only types the observation can complete: a selectable unit
  exists, and a target the selection could name exists;
- selected units: own real units whose type may carry the type; for a type that must hit its target (an ``armed``
  requirement with an ``enemy`` target) only units that can hit some visible enemy; for an ``other_unit`` target
  at least one real row is left unselected;
- target unit: by the rule (enemies the selection can hit; any row but the selected ones; any row; a neutral row
  with ``mineral_contents`` or an own row with ``vespene_contents`` left, what workers gather from; a neutral row
  with ``vespene_contents``, a free geyser);
- production (only with ``idle_producers``): a train or research order (``Train_*``, ``Research_*``, pysc2's names)
  may select only finished units with no order (``order_length`` 0, ``build_progress`` 100), so it is available only
  while one exists: the agent never queues (StarCraft II allows five orders; the bots never queue either, so a
  clone of theirs sees its producer fall idle in the mask, as a Zerg's larva do);
- location: cells whose centre lies on the map (the spec's frame may be larger than the game's map, as in
  StarCraft II's 256 x 256 frame; the map's size is the ``map_width`` / ``map_height`` scalars).

A unit type the spec does not list may be selected for anything, counts as ground, and hits ground and air.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from agents.spec import PERCENT_DONE, TARGET_RULES, AgentSpec

NONE, ENEMY, OTHER_UNIT, ANY_UNIT, HARVESTABLE, GEYSER = range(len(TARGET_RULES))
QUEUED_ORDERS = ("Train_", "Research_")  # the orders a producer queues (morphs and builds start at once)


class Legality(NamedTuple):
    """What one batch of observations allows: per row type index, masks [B, N], action types [B, A], cells."""

    unit_type: torch.Tensor  # long [B, N]: index into the spec's unit types (V = unknown)
    unit_mask: torch.Tensor
    own_mask: torch.Tensor
    idle_mask: torch.Tensor  # own units that may take a production order (all own units without idle_producers)
    enemy_mask: torch.Tensor
    harvest_mask: torch.Tensor  # rows workers may gather from
    geyser_mask: torch.Tensor  # free vespene geysers
    action_types: torch.Tensor  # bool [B, A]: available and completable
    cells: torch.Tensor  # bool [B, R * R]: flat index y * R + x, on the map


class LegalityRules(nn.Module):
    """The spec's legality rules as tensors; ``observe`` turns a batch of observations into a ``Legality``;
    ``idle_producers``: production orders only from idle producers (see the module doc)."""

    def __init__(self, spec: AgentSpec, idle_producers: bool = False) -> None:
        super().__init__()
        types = spec.action_types
        columns = list(spec.unit_columns)
        self.type_column, self.alliance_column = columns.index("unit_type"), columns.index("alliance")
        missing = [c for c in ("order_length", "build_progress") if c not in columns or c in spec.unknown_columns]
        if idle_producers and missing:
            raise ValueError(f"heads.idle_producers needs the unit columns {missing}, which the spec lacks")
        self.busy_columns = (columns.index("order_length"), columns.index("build_progress")) if idle_producers else None
        queued = [idle_producers and a.name.startswith(QUEUED_ORDERS) for a in types]
        self.register_buffer("queued", torch.tensor(queued, dtype=torch.bool), persistent=False)
        self.self_alliance, self.enemy_alliance = spec.self_alliance, spec.enemy_alliance
        self.neutral_alliance = spec.neutral_alliance
        self.contents_columns = tuple(columns.index(c) if c in columns else None
                                      for c in ("mineral_contents", "vespene_contents"))  # fmt: skip
        scalars = list(spec.scalars)
        self.extent_scalars = (
            (scalars.index("map_width"), scalars.index("map_height"))
            if {"map_width", "map_height"} <= set(scalars)
            else None
        )
        frame = torch.tensor(spec.map_size, dtype=torch.float32)
        self.register_buffer("frame", frame, persistent=False)
        centres = (torch.arange(spec.location_resolution, dtype=torch.float32) + 0.5) / spec.location_resolution
        self.register_buffer("cell_centres", frame[:, None] * centres[None], persistent=False)  # [2, R] map units
        self.resolution = spec.location_resolution
        unit_types = sorted(spec.unit_types, key=lambda u: u.sc2_id)
        known = len(unit_types)
        rules = [TARGET_RULES.index(a.target) for a in types]
        can_select = torch.ones(len(types), known + 1, dtype=torch.bool)
        for j, u in enumerate(unit_types):
            can_select[:, j] = torch.tensor([a.name in u.abilities for a in types])
        flags = {key: [bool(getattr(u, key)) for u in unit_types] + [default]
                 for key, default in (("is_air", False), ("hits_ground", True), ("hits_air", True))}  # fmt: skip
        self.register_buffer("type_ids", torch.tensor([u.sc2_id for u in unit_types], dtype=torch.long),
                             persistent=False)  # fmt: skip
        self.register_buffer("can_select", can_select, persistent=False)
        self.register_buffer("select_by_type", can_select.T.float(), persistent=False)  # [V + 1, A], for matmuls
        for key, values in flags.items():
            self.register_buffer(key, torch.tensor(values), persistent=False)
        self.register_buffer("target_rule", torch.tensor(rules, dtype=torch.long), persistent=False)
        must_hit = [a.requires == "armed" and rule == ENEMY for a, rule in zip(types, rules, strict=True)]
        self.register_buffer("must_hit", torch.tensor(must_hit), persistent=False)
        uses = [[a.uses("selected_units"), a.uses("target_unit"), a.uses("target_location")] for a in types]
        self.register_buffer("uses", torch.tensor(uses, dtype=torch.bool).reshape(len(types), 3), persistent=False)

    def observe(self, obs: dict[str, torch.Tensor]) -> Legality:
        """The masks of a batch of observations (``units``, ``unit_mask``, ``scalars``, ``available_actions``)."""
        units, unit_mask = obs["units"], obs["unit_mask"].bool()
        alliance = units[..., self.alliance_column]
        own, enemy = unit_mask & (alliance == self.self_alliance), unit_mask & (alliance == self.enemy_alliance)
        neutral = unit_mask & (alliance == self.neutral_alliance)
        minerals, vespene = (units[..., c] > 0 if c is not None else torch.zeros_like(unit_mask)
                             for c in self.contents_columns)  # fmt: skip
        harvest, geyser = (neutral & minerals) | (own & vespene), neutral & vespene
        unit_type = self._type_index(units[..., self.type_column].long())
        known = self.can_select.shape[1]
        own_types = self._types_present(unit_type, own, known)  # [B, V + 1]
        idle = own
        if self.busy_columns is not None:
            orders, progress = (units[..., c] for c in self.busy_columns)
            idle = own & (orders == 0) & (progress >= PERCENT_DONE)
        air = self.is_air[unit_type]
        enemy_air, enemy_ground = (enemy & air).any(-1), (enemy & ~air).any(-1)
        select = self.select_by_type
        selectable = own_types.float() @ select > 0
        if self.busy_columns is not None:
            producers = self._types_present(unit_type, idle, known).float() @ select > 0
            selectable = torch.where(self.queued, producers, selectable)
        hits_ground = (own_types & self.hits_ground).float() @ select > 0
        hits_air = (own_types & self.hits_air).float() @ select > 0
        can_hit = (hits_ground & enemy_ground[:, None]) | (hits_air & enemy_air[:, None])
        real = unit_mask.sum(-1)[:, None]
        rule = self.target_rule[None]
        target_ok = torch.where(rule == ENEMY, torch.where(self.must_hit, can_hit, enemy.any(-1)[:, None]),
                                torch.where(rule == OTHER_UNIT, real >= 2, real >= 1))  # fmt: skip
        target_ok = torch.where(rule == HARVESTABLE, harvest.any(-1)[:, None], target_ok)
        target_ok = torch.where(rule == GEYSER, geyser.any(-1)[:, None], target_ok)
        cells, on_map = self._cells(obs["scalars"])
        completable = (~self.uses[:, 0] | selectable) & (~self.uses[:, 1] | target_ok) & (~self.uses[:, 2] | on_map)
        available = obs["available_actions"].bool() & completable
        return Legality(unit_type, unit_mask, own, idle, enemy, harvest, geyser, available, cells)

    def selectable(self, legal: Legality, action_type: torch.Tensor) -> torch.Tensor:
        """Bool [B, N]: the units each row's action type may select (before any pick)."""
        allowed = legal.own_mask & self.can_select[action_type[:, None], legal.unit_type]
        if self.busy_columns is not None:
            allowed &= ~self.queued[action_type][:, None] | legal.idle_mask
        air = self.is_air[legal.unit_type]
        enemy_air = (legal.enemy_mask & air).any(-1, keepdim=True)
        enemy_ground = (legal.enemy_mask & ~air).any(-1, keepdim=True)
        hits = (self.hits_ground[legal.unit_type] & enemy_ground) | (self.hits_air[legal.unit_type] & enemy_air)
        return allowed & (~self.must_hit[action_type][:, None] | hits)

    def keeps_one_unselected(self, action_type: torch.Tensor) -> torch.Tensor:
        """Bool [B]: the type targets another unit, so the selection must leave a real row unselected."""
        return self.target_rule[action_type] == OTHER_UNIT

    def targets(self, legal: Legality, action_type: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
        """Bool [B, N]: the rows each row's action type may target, given the selected rows (bool [B, N])."""
        rule = self.target_rule[action_type][:, None]
        air = self.is_air[legal.unit_type]
        chosen_ground = (selected & self.hits_ground[legal.unit_type]).any(-1, keepdim=True)
        chosen_air = (selected & self.hits_air[legal.unit_type]).any(-1, keepdim=True)
        hittable = torch.where(air, chosen_air, chosen_ground)
        enemy = legal.enemy_mask & (~self.must_hit[action_type][:, None] | hittable)
        other = legal.unit_mask & ~selected
        rows = torch.where(rule == OTHER_UNIT, other, legal.unit_mask)
        rows = torch.where(rule == GEYSER, legal.geyser_mask, rows)
        rows = torch.where(rule == HARVESTABLE, legal.harvest_mask, rows)
        return torch.where(rule == ENEMY, enemy, rows)

    def _type_index(self, ids: torch.Tensor) -> torch.Tensor:
        """Index of each unit type id in the spec's sorted unit types (``len(type_ids)`` for one it does not list)."""
        if self.type_ids.numel() == 0:
            return torch.zeros_like(ids)
        idx = torch.searchsorted(self.type_ids, ids.contiguous()).clamp(max=self.type_ids.numel() - 1)
        return torch.where(self.type_ids[idx] == ids, idx, self.type_ids.numel())

    @staticmethod
    def _types_present(unit_type: torch.Tensor, rows: torch.Tensor, known: int) -> torch.Tensor:
        """Bool [B, known]: which type indices occur among ``rows``."""
        present = torch.zeros(unit_type.shape[0], known + 1, device=unit_type.device)
        present.scatter_(1, torch.where(rows, unit_type, known), 1.0)
        return present[:, :known].bool()

    def _cells(self, scalars: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bool [B, R * R]: cells whose centre lies on the map (a non-positive map size means the whole frame); and
        bool [B, 1]: whether any does (a map smaller than one cell leaves no location to target)."""
        batch, res = scalars.shape[0], self.resolution
        if self.extent_scalars is None:
            cells = torch.ones(batch, res * res, dtype=torch.bool, device=scalars.device)
            return cells, cells[:, :1]
        extent = scalars[:, list(self.extent_scalars)].float()
        extent = torch.where(extent > 0, extent, self.frame)
        x_ok = self.cell_centres[0] < extent[:, :1]  # [B, R]
        y_ok = self.cell_centres[1] < extent[:, 1:]
        on_map = x_ok[:, :1] & y_ok[:, :1]  # the first centre of each axis is the smallest
        cells = y_ok.to(torch.uint8)[:, :, None] * x_ok.to(torch.uint8)[:, None, :]  # 7x a broadcast bool &
        return cells.reshape(batch, res * res).view(torch.bool), on_map  # 0/1 bytes: the same bools, no copy
