"""The frame an agent sees the battle in: the map's own (``map``) or its side's (``own_side``).

``own_side`` shows player 2 the battle reflected across the frame's vertical centre line, with the owners swapped,
so both players see themselves as player 1 does: starting on the left, owning the ``owner == 1`` units. Skirmish's
scenarios place player 2 as player 1's mirror image (``player2: mirror``), so one policy then plays both sides
alike and every game teaches it both (a policy cloned from side-1 games alone wins as side 1 and never as side 2).
The reflection is exact on the location grid (cell ``x`` is cell ``R - 1 - x``), because the grid spans the same
frame (the spec's ``map_size``). The agent's inputs and outputs stay in the map's frame: observations and given
actions are reflected on the way in, sampled actions on the way out.
"""

from __future__ import annotations

import math

import torch

from agents.inputs import AgentInputError
from agents.spec import AgentSpec

FRAMES = ("map", "own_side")


class OwnSideFrame:
    """Reflects the rows whose own units belong to player 2 (``mirrored``) into player 1's view, and back."""

    def __init__(self, spec: AgentSpec) -> None:
        columns = list(spec.unit_columns)
        if "owner" not in columns:
            raise ValueError("the own_side frame needs the spec's 'owner' unit column to tell the sides apart")
        self.x, self.owner, self.alliance = columns.index("x"), columns.index("owner"), columns.index("alliance")
        self.facing = columns.index("facing") if "facing" in columns else None
        self.width = float(spec.map_size[0])
        self.resolution = spec.location_resolution
        self.self_alliance = spec.self_alliance
        scalars = list(spec.scalars)
        self.map_width = scalars.index("map_width") if "map_width" in scalars else None

    def mirrored(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Bool of the observations' leading shape: the rows whose own units are player 2's."""
        units = obs["units"]
        own = obs["unit_mask"].bool() & (units[..., self.alliance] == self.self_alliance)
        return (own & (units[..., self.owner] == 2)).any(-1)

    def observe(self, obs: dict[str, torch.Tensor], mirrored: torch.Tensor) -> dict[str, torch.Tensor]:
        """``obs`` with the ``mirrored`` rows' units reflected (x, facing) and owners 1 and 2 swapped."""
        if not bool(mirrored.any()):
            return obs
        if self.map_width is not None:
            width = obs["scalars"][..., self.map_width]
            narrow = mirrored & (width > 0) & (width != self.width)
            if bool(narrow.any()):
                raise AgentInputError(
                    f"the own_side frame reflects player 2's view across the spec's frame ({self.width:g} wide), but "
                    f"this observation's map is {width[narrow].flatten()[0].item():g} wide, so the reflection would "
                    "leave the map: use agent.frame=map (StarCraft II maps are smaller than the frame and not mirrored)"
                )
        units = obs["units"].clone()
        flip = mirrored[..., None]
        units[..., self.x] = torch.where(flip, self.width - units[..., self.x], units[..., self.x])
        owner = units[..., self.owner]
        units[..., self.owner] = torch.where(flip & ((owner == 1) | (owner == 2)), 3 - owner, owner)
        if self.facing is not None:  # a heading theta reflects to pi - theta, kept in [0, 2 pi)
            facing = units[..., self.facing]
            units[..., self.facing] = torch.where(flip, torch.remainder(math.pi - facing, 2 * math.pi), facing)
        return {**obs, "units": units}

    def actions(self, action: dict[str, torch.Tensor], mirrored: torch.Tensor) -> dict[str, torch.Tensor]:
        """``action`` ([*lead, sub-actions, ...] per key) with the ``mirrored`` rows' target cells reflected; its
        own inverse, so it maps the map's frame to the agent's and back."""
        location = action.get("target_location")
        if location is None or not bool(mirrored.any()):
            return action
        x = location[..., 0]
        flip = mirrored.reshape(*mirrored.shape, *([1] * (x.dim() - mirrored.dim())))
        location = torch.stack([torch.where(flip & (x >= 0), self.resolution - 1 - x, x), location[..., 1]], -1)
        return {**action, "target_location": location}
