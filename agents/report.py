"""Parameter count and forward FLOPs of each part of an agent, as rows and as a printable Markdown table.

FLOPs come from ``torch.utils.flop_counter`` over one ``act`` step (greedy, so the count is reproducible; the
selection head's cost grows with the number of units it picks), inside ``recording`` so that every head runs on
every row, as in a step whose action uses them all. The counter has formulas for the CUDA SDPA
kernels only, so the CPU flash-attention kernel is given the same formula, and perceiver_io's fused CPU linear its
matmul's (``CPU_FLOPS``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from agents.agent import Agent
from agents.heads.distributions import recording
from agents.spec import AgentSpec
from perceiver_io.linear import FLOP_FORMULAS as LINEAR_FLOPS

# torch's flop counter knows the CUDA SDPA kernels; the CPU flash kernel has the same cost.
CPU_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: (
        lambda query, key, value, *args, **kwargs: sdpa_flop_count(query, key, value)
    ),
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: (
        lambda grad_out, query, key, value, *args, **kwargs: sdpa_backward_flop_count(grad_out, query, key, value)
    ),
    **LINEAR_FLOPS,
}
PARTS = (
    "featurizer",
    "entity_encoder",
    "scalar_encoder",
    "core",
    "heads.action_type",
    "heads.selected_units",
    "heads.target_unit",
    "heads.target_location",
    "heads.queued",
    "step_actions.carry",  # what carries one action of a step into the next (nothing with one action per step)
    "value",
)


class ReportRow(NamedTuple):
    module: str
    parameters: int
    flops: int


def full_observation(spec: AgentSpec, device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
    """One observation (batch 1) with every one of the spec's ``max_units`` rows a unit, half own and half enemy,
    spread over the map (the whole frame), and every action type available: a full-size agent step, for
    :func:`model_report`."""
    g = torch.Generator().manual_seed(0)
    n, columns = spec.max_units, list(spec.unit_columns)
    units = torch.rand(1, n, len(columns), generator=g)
    ids = torch.tensor(spec.unit_type_ids, dtype=torch.float32)
    units[..., columns.index("unit_type")] = ids[torch.randint(len(ids), (1, n), generator=g)]
    alliances = torch.tensor([spec.self_alliance, spec.enemy_alliance]).float()
    units[..., columns.index("alliance")] = alliances.repeat(n)[:n]
    for axis, size in zip(("x", "y"), spec.map_size, strict=True):
        units[..., columns.index(axis)] = torch.rand(1, n, generator=g) * size
    scalars = torch.rand(1, len(spec.scalars), generator=g)
    for name, size in zip(("map_width", "map_height"), spec.map_size, strict=True):
        if name in spec.scalars:  # the whole frame is map, so every location is a legal target
            scalars[0, list(spec.scalars).index(name)] = size
    obs = {
        "units": units,
        "unit_mask": torch.ones(1, n, dtype=torch.bool),
        "scalars": scalars,
        "available_actions": torch.ones(1, spec.num_action_types, dtype=torch.bool),
    }
    return {key: value.to(device) for key, value in obs.items()}


def model_report(agent: Agent, obs: dict[str, torch.Tensor]) -> list[ReportRow]:
    """One row per part of ``agent`` (``PARTS``) plus ``total``; FLOPs of one greedy ``act`` on ``obs``."""
    state = agent.initial_state(obs["units"].shape[0], obs["units"].device)
    with FlopCounterMode(display=False, custom_mapping=CPU_FLOPS) as counter, recording():
        agent(obs, state, greedy=True)
    counts = counter.get_flop_counts()
    root = type(agent).__name__
    rows = []
    for name in PARTS:
        parameters = sum(p.numel() for p in agent.get_submodule(name).parameters())
        rows.append(ReportRow(name, parameters, int(sum(counts.get(f"{root}.{name}", {}).values()))))
    rows.append(ReportRow("total", sum(p.numel() for p in agent.parameters()), int(counter.get_total_flops())))
    return rows


def format_report(rows: list[ReportRow]) -> str:
    """A Markdown table: module, parameters, forward MFLOPs."""
    lines = ["| module | parameters | forward MFLOPs |", "| --- | ---: | ---: |"]
    lines += [f"| {r.module} | {r.parameters:,} | {r.flops / 1e6:,.2f} |" for r in rows]
    return "\n".join(lines)
