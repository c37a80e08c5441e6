"""Per-part time breakdown for the throughput benchmarks (``pstar bench act`` and ``pstar bench rl --breakdown``).

Parts are modules (timed from a forward pre-hook to the forward hook) or methods (wrapped by a timer until the
breakdown closes); each part sums its time over every call, on the clock given: by default the calling thread's CPU
time, which other load on a shared machine does not inflate (torch runs on one thread in these benchmarks).
A part called inside another is counted in both unless the outer one names it in ``contains`` (its row then
shows its own time only), so the agent's parts are its leaves in the order a step runs them, and the rest of a step
(input check, legality masks, bookkeeping between heads) is what the total leaves over.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn


def agent_parts(agent: Any) -> dict[str, nn.Module]:
    """The agent's parts in the order a step runs them (``agents.agent.Agent``)."""
    heads = agent.heads
    return {
        "featurizer": agent.featurizer,
        "entity encoder": agent.entity_encoder,
        "scalar encoder": agent.scalar_encoder,
        "core": agent.core,
        "action_type head": heads.action_type,
        "selected_units head": heads.selected_units,
        "target_unit head": heads.target_unit,
        "target_location head": heads.target_location,
        "queued head": heads.queued,
        "value head": agent.value,
    }


class Breakdown:
    """Sums of seconds and call counts per part while open (use as a context manager)."""

    def __init__(self, clock: Callable[[], float] = time.thread_time) -> None:
        self.clock = clock
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.order: list[str] = []
        self.contains: dict[str, list[str]] = {}
        self._undo: list[Callable[[], None]] = []

    def modules(self, parts: dict[str, nn.Module]) -> Breakdown:
        """Time every call of each module (re-entrant calls are timed from the outermost)."""
        for label, module in parts.items():
            self._add(label)
            started: list[float] = []

            def pre(_module: nn.Module, _args: Any, started: list[float] = started) -> None:
                started.append(self.clock())

            def post(_module: nn.Module, _args: Any, _out: Any, label: str = label,
                     started: list[float] = started) -> None:  # fmt: skip
                begin = started.pop()
                if not started:
                    self.seconds[label] += self.clock() - begin
                    self.calls[label] += 1

            handles = (module.register_forward_pre_hook(pre), module.register_forward_hook(post))
            self._undo.append(lambda handles=handles: [h.remove() for h in handles])
        return self

    def method(self, label: str, owner: Any, name: str, contains: Sequence[str] = ()) -> Breakdown:
        """Time every call of ``owner.name``: a class's method (every instance, including ones made later), an
        instance's or a module's function. ``contains``: parts called inside it, whose time its row leaves out."""
        self._add(label)
        self.contains[label] = list(contains)
        own = isinstance(owner, type) or name in vars(owner)  # else an instance's method, found on its class
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            begin = self.clock()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += self.clock() - begin
                self.calls[label] += 1

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original) if own else delattr(owner, name))
        return self

    def _add(self, label: str) -> None:
        if label in self.order:
            raise ValueError(f"breakdown part {label!r} given twice")
        self.order.append(label)

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def close(self) -> None:
        while self._undo:
            self._undo.pop()()

    def __enter__(self) -> Breakdown:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rows(self, total_s: float, frames: int) -> list[dict[str, Any]]:
        """Per part (less the parts it contains) and ``other`` (the total less every part): seconds, share of the
        total, microseconds per frame."""
        own = {label: self.seconds[label] - sum(self.seconds[c] for c in self.contains.get(label, ()))
               for label in self.order}  # fmt: skip
        own["other"] = total_s - sum(own.values())
        rows = []
        for label, seconds in own.items():
            share = seconds / total_s if total_s > 0 else 0.0
            per_frame = 1e6 * seconds / max(frames, 1)
            rows.append({"part": label, "seconds": seconds, "share": share, "us_per_frame": per_frame,
                         "calls": self.calls.get(label, 0)})  # fmt: skip
        return rows


def breakdown_table(columns: dict[str, list[dict[str, Any]]], other: str) -> str:
    """Markdown table of ``rows`` per column (e.g. one per batch size): microseconds per frame and share."""
    names = list(columns)
    parts = [r["part"] for r in next(iter(columns.values()))]
    head = "| part | " + " | ".join(f"{n}: us/frame | {n}: share" for n in names) + " |"
    rule = "|---|" + "---:|---:|" * len(names)
    lines = [head, rule]
    for i, part in enumerate(parts):
        label = f"other ({other})" if part == "other" else part
        cells = " | ".join(f"{columns[n][i]['us_per_frame']:.1f} | {100 * columns[n][i]['share']:.0f}%" for n in names)
        lines.append(f"| {label} | {cells} |")
    totals = " | ".join(f"{sum(r['us_per_frame'] for r in columns[n]):.1f} | 100%" for n in names)
    lines.append(f"| total | {totals} |")
    return "\n".join(lines)
