"""The agent's input check: what ``act``, ``evaluate`` and ``evaluate_sequence`` are given, against its spec.

One ``AgentInputError`` names the argument and what was expected: the observation's keys, shapes (``units``
[..., N, one column per spec column], ``unit_mask`` [..., N], ``scalars`` [..., one per spec scalar],
``available_actions`` [..., one per action type]) and dtypes (floating ``units`` and ``scalars``, cast to the
agent's dtype as ``perceiver_io`` does; bool or integer masks), at least one row (and step), ``scalars`` and real
``units`` rows finite and at most ``MAX_MAGNITUDE`` in size (padding rows are ignored whatever they hold; the
first bad value is named by row and column or scalar: a NaN would otherwise surface deep inside as "Class values
must be non-negative" or a failing ``torch.multinomial``), the recurrent state (its keys, batch and core sizes,
finite values, a previous action type in range), ``first``, the temperature's shape and the given actions' shapes
and ranges. The leading dimensions are [B] for a step and [T, B] for a sequence. It runs on every step, so the
happy path is a few shape comparisons and one reduction per tensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import torch

from agents.spec import AgentSpec

OBS_KEYS = ("units", "unit_mask", "scalars", "available_actions")
STATE_KEYS = ("core_h", "core_c", "previous_action_type", "previous_target_tag")
# The largest |value| of an observation: any int64 fits (the SC2 tag column holds 64-bit ids), and its square
# (1e38) is still a finite float32 (max 3.4e38), so a value this size cannot overflow the model's arithmetic.
MAX_MAGNITUDE = 1e19


class AgentInputError(ValueError):
    """A tensor given to the agent that does not fit its spec; the message names it and what was expected."""


def check_observation(spec: AgentSpec, obs: Any, lead: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """``obs`` with ``lead`` leading dimensions (1: [B], 2: [T, B]) checked, ``units`` and ``scalars`` in
    ``dtype`` (the same dict when nothing needed a cast)."""
    if not isinstance(obs, Mapping) or set(OBS_KEYS) - set(obs):
        got = sorted(obs) if isinstance(obs, Mapping) else type(obs).__name__
        raise AgentInputError(f"obs must be a dict with the tensors {', '.join(OBS_KEYS)}, got {got}")
    layout = "[B]" if lead == 1 else "[T, B]"
    units, unit_mask = _tensor(obs, "units"), _tensor(obs, "unit_mask")
    scalars, available = _tensor(obs, "scalars"), _tensor(obs, "available_actions")
    columns, names = spec.unit_columns, spec.scalars
    if units.dim() != lead + 2 or units.shape[-1] != len(columns):
        raise AgentInputError(f"obs['units'] must have shape {layout[:-1]}, units, {len(columns)}] (one column per "
                              f"spec unit column), got {tuple(units.shape)}")  # fmt: skip
    shape = tuple(units.shape[:-1])
    if 0 in shape[:lead]:
        raise AgentInputError(f"obs['units'] must have at least one {'row' if lead == 1 else 'step and one row'} "
                              f"(shape {layout[:-1]}, units, {len(columns)}]), got {tuple(units.shape)}")  # fmt: skip
    _shape("obs['unit_mask']", unit_mask, shape, f"{layout[:-1]}, units] like units")
    _shape("obs['scalars']", scalars, (*shape[:-1], len(names)), f"{layout[:-1]}, {len(names)}] (the spec's scalars)")
    actions = spec.num_action_types
    _shape("obs['available_actions']", available, (*shape[:-1], actions),
           f"{layout[:-1]}, {actions}] (one per action type)")  # fmt: skip
    for key, tensor in (("unit_mask", unit_mask), ("available_actions", available)):
        if tensor.dtype.is_floating_point or tensor.dtype.is_complex:
            raise AgentInputError(f"obs[{key!r}] must be a bool (or integer) tensor, got {tensor.dtype}")
    cast = {}
    for key, tensor in (("units", units), ("scalars", scalars)):
        if not tensor.dtype.is_floating_point:
            raise AgentInputError(f"obs[{key!r}] must be a floating-point tensor (cast to the agent's {dtype}), "
                                  f"got {tensor.dtype}")  # fmt: skip
        if tensor.dtype != dtype:
            cast[key] = tensor.to(dtype)
    # The largest |value| is NaN or too big exactly when some value is (NaN propagates): 8 us where the exact,
    # padding-aware check costs 45 (8 x 64 x 46 units, one thread), so it runs only when this fails.
    sane = None if _in_bounds(units) else (units.abs() <= MAX_MAGNITUDE) | ~unit_mask.bool()[..., None]  # padding
    if sane is not None and not bool(sane.all()):
        where, column = _first_bad(sane, lead)
        raise AgentInputError(f"obs['units'][{', '.join(map(str, where))}] (row {where[-1]}, a real unit: unit_mask "
                              f"is True; column {columns[column]!r}) is {units[(*where, column)].item()}; the units "
                              f"of an observation must be finite, |value| <= {MAX_MAGNITUDE:g}")  # fmt: skip
    sane = None if _in_bounds(scalars) else scalars.abs() <= MAX_MAGNITUDE
    if sane is not None and not bool(sane.all()):
        where, index = _first_bad(sane[..., None, :], lead)
        raise AgentInputError(f"obs['scalars'][{', '.join(map(str, where[:-1]))}] (scalar {names[index]!r}) is "
                              f"{scalars[(*where[:-1], index)].item()}; the scalars of an observation must be "
                              f"finite, |value| <= {MAX_MAGNITUDE:g}")  # fmt: skip
    return {**obs, **cast} if cast else obs


def check_state(state: Any, batch: int, core_shape: tuple[int, int], action_types: int) -> None:
    """The recurrent state for ``batch`` rows: ``core_h``/``core_c`` [B, *core_shape] finite, the previous action's
    type [B] in [-1, ``action_types``) and finite target tag [B]."""
    if not isinstance(state, Mapping) or set(STATE_KEYS) - set(state):
        got = sorted(state) if isinstance(state, Mapping) else type(state).__name__
        raise AgentInputError(f"state must be the dict Agent.initial_state returns ({', '.join(STATE_KEYS)}), "
                              f"got {got}")  # fmt: skip
    for key in ("core_h", "core_c"):
        _shape(f"state[{key!r}]", _tensor(state, key, "state"), (batch, *core_shape),
               f"[{batch}, {core_shape[0]}, {core_shape[1]}] (batch, core layers, core hidden): Agent.initial_state"
               f"({batch}) for a batch of {batch}")  # fmt: skip
    for key in ("previous_action_type", "previous_target_tag"):
        _shape(f"state[{key!r}]", _tensor(state, key, "state"), (batch,), f"[{batch}] (one per observation)")
    previous = state["previous_action_type"]
    finite = torch.isfinite(state["core_h"].sum() + state["core_c"].sum() + state["previous_target_tag"].sum())
    if bool(finite & (previous.min() >= -1) & (previous.max() < action_types)):  # one sync on the happy path
        return
    for key in ("core_h", "core_c", "previous_target_tag"):  # a NaN here reaches torch.multinomial as NaN logits
        value = state[key]
        if not bool(torch.isfinite(value).all()):  # the fast path's sum may overflow on finite values
            raise AgentInputError(f"state[{key!r}] must be finite (as act, evaluate and Agent.initial_state return "
                                  f"it), got {_first_value(value, ~torch.isfinite(value))}")  # fmt: skip
    _range("state['previous_action_type']", previous, -1, action_types, "(-1: none, else an action type)")


def check_first(first: Any, shape: tuple[int, ...]) -> None:
    """``first`` (episode starts), when given: a tensor of the observations' leading ``shape``."""
    if first is None:
        return
    if not isinstance(first, torch.Tensor):
        _not_a_tensor("first", first)
    _shape("first", first, shape, f"{list(shape)} (one flag per observation)")


def check_temperature(temperature: Any, shape: tuple[int, ...]) -> None:
    """``temperature``: a number, or a tensor of one per observation (the leading ``shape``) or a 0-dim one."""
    if isinstance(temperature, torch.Tensor) and temperature.dim() and tuple(temperature.shape) != shape:
        raise AgentInputError(f"temperature must be a number or a tensor of shape {list(shape)} (one per "
                              f"observation), got {tuple(temperature.shape)}")  # fmt: skip


def check_actions(
    spec: AgentSpec, action: Any, lead_shape: tuple[int, ...], units: int, name: str, partial: bool
) -> None:
    """Actions of the observations' ``lead_shape`` over ``units`` rows: per key [*lead, actions_per_step, ...]
    integer tensors in the contract's ranges (-1: absent or unknown); ``partial``: some of the keys (``act``'s
    ``given``) rather than all."""
    expected = {"action_type": (), "selected_units": (spec.max_selected_units,), "target_unit": (),
                "target_location": (2,), "queued": ()}  # fmt: skip
    resolution = spec.location_resolution
    row = "(-1: none, else a unit row)"
    ranges = {"action_type": (spec.num_action_types, "(-1: unknown, else an action type)"),
              "selected_units": (units, row), "target_unit": (units, row),
              "target_location": (resolution, f"(a cell [x, y] of the {resolution} x {resolution} grid, -1: none)"),
              "queued": (2, "(0 or 1, -1: unknown)")}  # fmt: skip
    if not isinstance(action, Mapping):
        raise AgentInputError(f"{name} must be a dict of action tensors, got {type(action).__name__}")
    unknown, missing = set(action) - set(expected), set(expected) - set(action)
    if unknown or (missing and not partial):
        raise AgentInputError(f"{name} must have the keys {', '.join(expected)}" + (" (some of)" if partial else "")
                              + f", got {sorted(action)}")  # fmt: skip
    for key, tail in expected.items():
        if key in action:
            tensor = _tensor(action, key, name)
            shape = (*lead_shape, spec.actions_per_step, *tail)
            _shape(f"{name}[{key!r}]", tensor, shape, f"{list(shape)} (batch, the spec's {spec.actions_per_step} "
                                                      "actions per step, ...)")  # fmt: skip
            if tensor.dtype.is_floating_point or tensor.dtype.is_complex:
                raise AgentInputError(f"{name}[{key!r}] must be an integer tensor, got {tensor.dtype}")
            _range(f"{name}[{key!r}]", tensor, -1, ranges[key][0], ranges[key][1])


def _tensor(source: Mapping[str, Any], key: str, name: str = "obs") -> torch.Tensor:
    value = source[key]
    if not isinstance(value, torch.Tensor):
        _not_a_tensor(f"{name}[{key!r}]", value)
    return value


def _not_a_tensor(name: str, value: Any) -> NoReturn:
    raise AgentInputError(f"{name} must be a torch.Tensor, got {type(value).__name__} (training.policy."
                          "stack_observations batches numpy observations)")  # fmt: skip


def _shape(name: str, tensor: torch.Tensor, shape: tuple[int, ...], expected: str) -> None:
    if tuple(tensor.shape) != tuple(shape):
        raise AgentInputError(f"{name} must have shape {expected}, got {tuple(tensor.shape)}")


def _range(name: str, tensor: torch.Tensor, low: int, high: int, meaning: str) -> None:
    """One AgentInputError naming the first value of ``tensor`` outside [``low``, ``high``)."""
    if tensor.numel() == 0:
        return
    least, most = torch.aminmax(tensor)
    if least < low or most >= high:
        bad = (tensor < low) | (tensor >= high)
        raise AgentInputError(f"{name} must be in [{low}, {high}) {meaning}, got {_first_value(tensor, bad)}")


def _first_value(tensor: torch.Tensor, bad: torch.Tensor) -> str:
    """The first ``bad`` value of ``tensor`` and where: ``999 at [1, 0]``."""
    index = tuple(int(i) for i in bad.nonzero()[0])
    return f"{tensor[index].item()} at {list(index)}"


def _in_bounds(values: torch.Tensor) -> bool:
    """Whether every value is within +-MAX_MAGNITUDE (False for a NaN, which the reductions propagate); no
    ``abs()`` copy."""
    return values.numel() == 0 or bool((values.amax() <= MAX_MAGNITUDE) & (values.amin() >= -MAX_MAGNITUDE))


def _first_bad(finite: torch.Tensor, lead: int) -> tuple[tuple[int, ...], int]:
    """The index (leading dims and row) and the column of the first False of ``finite`` [*lead, rows, columns]."""
    index = tuple(int(i) for i in (~finite).nonzero()[0])
    return index[: lead + 1], index[lead + 1]
