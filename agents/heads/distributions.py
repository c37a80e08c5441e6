"""Masked categorical choice shared by every head: sample (or argmax) or score a given choice.

Explicit masked log-softmax rather than ``torch.distributions`` so that rows that are not active (the action
type does not use this argument, or the selection already ended) get exactly zero log-prob and entropy, and
rows with nothing allowed fail loudly instead of producing NaNs. Sampling inverts the cumulative distribution with
one uniform per row (``sample_rows``): ``torch.multinomial`` draws one exponential per category, which on a CPU
cost more than the rest of the location head (4,096 cells a row).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch


class Choice(NamedTuple):
    """``index`` [B] (meaningless where inactive), ``log_prob`` and ``entropy`` [B] (0 where inactive; None when
    not asked for)."""

    index: torch.Tensor
    log_prob: torch.Tensor
    entropy: torch.Tensor | None


class RecordedDistribution(NamedTuple):
    """One head's (or one selection step's, or all of a selection's steps at once) masked log-probabilities and
    ``active`` rows: ``active`` [B] or [B, steps]; ``log_p`` [*active.shape, K], or [active.sum(), K] holding only
    the active rows in order (a head that skips the rows it does not score); ``probs``: the probabilities, as the
    head computed them (None: not computed)."""

    name: str
    log_p: torch.Tensor
    active: torch.Tensor
    probs: torch.Tensor | None = None


def per_row(record: RecordedDistribution, values: torch.Tensor) -> torch.Tensor:
    """``values`` given over a record's rows (``log_p.shape[:-1]``) as [B]: 0 on inactive rows, summed over steps."""
    if values.shape == record.active.shape:
        values = torch.where(record.active, values, 0.0)
    else:
        values = values.new_zeros(record.active.shape).masked_scatter(record.active, values)
    return values.flatten(1).sum(1) if values.dim() > 1 else values


class _Recorders(threading.local):
    """The ``recording`` blocks open in the current thread (each thread records only what it builds itself)."""

    def __init__(self) -> None:
        self.open: list[list[RecordedDistribution]] = []


_recorders = _Recorders()


@contextmanager
def recording() -> Iterator[list[RecordedDistribution]]:
    """Collect every distribution ``categorical`` builds inside the block, in call order (for exact KL terms)."""
    records: list[RecordedDistribution] = []
    _recorders.open.append(records)
    try:
        yield records
    finally:
        _recorders.open.pop()


def recording_active() -> bool:
    """Whether some ``recording`` block is collecting distributions (then every head must build them all)."""
    return bool(_recorders.open)


def kl_divergence(p: list[RecordedDistribution], q: list[RecordedDistribution]) -> dict[str, torch.Tensor]:
    """KL(p || q) per head name ([B], summed over selection steps) of two recordings of the same teacher-forced
    actions (so both hold the same distributions in the same order); inactive rows contribute 0."""
    if [r.name for r in p] != [r.name for r in q]:
        raise ValueError("kl_divergence: the two recordings do not hold the same distributions (different actions?)")
    total: dict[str, torch.Tensor] = {}
    for a, b in zip(p, q, strict=True):
        probs = a.probs if a.probs is not None else a.log_p.softmax(-1)  # not exp(log_p): ~10x slower at -inf
        # barred choices (-inf in both, so their difference is NaN) contribute 0, as does their probability
        terms = torch.where(torch.isfinite(a.log_p), a.log_p - b.log_p, 0.0) * probs
        kl = per_row(a, terms.sum(-1))
        total[a.name] = total[a.name] + kl if a.name in total else kl
    return total


def categorical(
    logits: torch.Tensor,
    mask: torch.Tensor,
    active: torch.Tensor,
    *,
    action: torch.Tensor | None = None,
    greedy: bool = False,
    temperature: float | torch.Tensor = 1.0,
    generator: torch.Generator | None = None,
    name: str = "choice",
    with_entropy: bool = True,
) -> Choice:
    """Choose among ``logits`` [B, K] where ``mask`` [B, K] (bool); ``action`` [B] is scored instead of sampled.

    Logits are divided by ``temperature`` (a number, or one per row [B]) for both sampling and scoring, so scoring
    a sampled choice at the same temperature gives back its log-prob. Sampling draws from ``generator`` (else the
    global RNG). ``with_entropy=False`` (acting, which never reads it) leaves the entropy out (None).
    """
    if isinstance(temperature, torch.Tensor):
        if not bool((temperature > 0).all()):
            raise ValueError(f"{name}: temperatures must be > 0, got {temperature.min().item()}")
        temperature = temperature.to(logits.dtype).reshape(-1, 1)
    elif not temperature > 0:
        raise ValueError(f"{name}: temperature must be > 0, got {temperature}")
    # reductions of a bool tensor are scalar loops on a CPU (~80 us for the location head's [20, 4096]); of its
    # uint8 view they vectorise
    flags = mask.view(torch.uint8)
    allowed_any = flags.amax(-1)
    barred = None  # nothing barred: every choice of every row allowed
    if not bool(flags.amin()):
        if bool(allowed_any.amin()):
            barred = ~mask
        else:
            nothing = allowed_any == 0
            if bool((active & nothing).any()):
                raise ValueError(f"{name}: a row that uses this argument has nothing it may choose")
            barred = ~(mask | nothing[:, None])  # inactive rows with nothing allowed: keep the softmax finite
    scaled = logits if not isinstance(temperature, torch.Tensor) and temperature == 1 else logits / temperature
    masked = scaled if barred is None else scaled.masked_fill(barred, float("-inf"))
    sampling = action is None and not greedy
    recording = bool(_recorders.open)
    # a sampled choice's log-prob is the log of its probability: the whole log-softmax (4,096 cells a location
    # row) only where more of it is read
    log_p = masked.log_softmax(-1) if not sampling or with_entropy or recording else None
    # log_p.exp() is ~8x slower on a CPU where log_p is -inf; a recorded distribution keeps p for its entropy/KL
    p = masked.softmax(-1) if sampling or with_entropy or recording else None
    for records in _recorders.open:
        records.append(RecordedDistribution(name, log_p, active, p))
    if action is None:
        index = log_p.argmax(-1) if greedy else sample_rows(p, generator)
    else:
        index = torch.where(active, action.long(), torch.zeros_like(action, dtype=torch.long))
        allowed = (index >= 0) & (index < logits.shape[-1])
        if barred is not None:
            allowed = allowed & ~barred.gather(-1, index.clamp(0, logits.shape[-1] - 1)[:, None]).squeeze(-1)
        if not bool(allowed[active].all()):
            raise ValueError(f"{name}: a teacher-forced choice is not allowed by the mask")
    log_prob = (p if log_p is None else log_p).gather(-1, index[:, None]).squeeze(-1)
    if log_p is None:
        log_prob = log_prob.log()
    zero = logits.new_zeros(())
    entropy = None
    if with_entropy:
        entropy = torch.where(active, -(p * (log_p if barred is None else log_p.masked_fill(barred, 0.0))).sum(-1),
                              zero)  # fmt: skip
    return Choice(index, torch.where(active, log_prob, zero), entropy)


# The largest float64 below 1: a positive (normal) total times it rounds to the float64 just below the total, as
# ``torch.nextafter(total, 0)`` gives, in one operation.
BELOW_ONE = 1.0 - 2.0**-53


def sample_rows(probs: torch.Tensor, generator: torch.Generator | None = None, keepdim: bool = False) -> torch.Tensor:
    """One index per row of ``probs`` [B, K] (non-negative, no row all zero), drawn with probability proportional
    to its entry: the first index whose cumulative sum exceeds a uniform fraction of the row's total ([B], or
    [B, 1] with ``keepdim``).

    In float64 (the uniform too), so that an entry as small as 1e-15 of its row keeps its share; a zero entry is
    never drawn (its cumulative sum equals the one before it, which the point is not below).
    """
    cdf = probs.double().cumsum(-1)
    total = cdf[:, -1:]
    uniform = torch.rand(total.shape, dtype=torch.float64, device=probs.device, generator=generator)
    point = torch.minimum(uniform * total, total * BELOW_ONE)  # below the total
    index = torch.searchsorted(cdf, point, right=True)
    return index if keepdim else index.squeeze(-1)


def score(
    logits: torch.Tensor,
    mask: torch.Tensor,
    action: torch.Tensor,
    active: torch.Tensor,
    *,
    temperature: float | torch.Tensor = 1.0,
    name: str = "choice",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``categorical``'s scoring of a teacher-forced ``action``, for any leading shape: log-prob and entropy
    [*active.shape] (0 on inactive rows). ``logits``, ``mask`` [..., K] and ``action`` [...] cover every row
    ([*active.shape, K]: e.g. a pointer network's [B, steps] at once) or only the active ones ([active.sum(), K]);
    ``temperature``: a number, or one per leading row of ``logits``."""
    if isinstance(temperature, torch.Tensor) and temperature.dim():
        if not bool((temperature > 0).all()):
            raise ValueError(f"{name}: temperatures must be > 0, got {temperature.min().item()}")
        trailing = [1] * (logits.dim() - temperature.dim())
        temperature = temperature.to(logits.dtype).reshape(*temperature.shape, *trailing)
    elif not temperature > 0:
        raise ValueError(f"{name}: temperature must be > 0, got {temperature}")
    compact = logits.shape[:-1] != active.shape
    rows = torch.ones_like(action, dtype=torch.bool) if compact else active
    if bool((rows & ~mask.any(-1)).any()):
        raise ValueError(f"{name}: a row that uses this argument has nothing it may choose")
    mask = mask | ~mask.any(-1, keepdim=True)  # inactive rows with nothing allowed: keep the softmax finite
    scaled = logits if not isinstance(temperature, torch.Tensor) and temperature == 1 else logits / temperature
    masked = scaled.masked_fill(~mask, float("-inf"))
    log_p = masked.log_softmax(-1)
    probs = masked.softmax(-1)  # log_p.exp() is ~8x slower at -inf
    record = RecordedDistribution(name, log_p, active, probs)
    for records in _recorders.open:
        records.append(record)
    index = torch.where(rows, action.long(), 0)
    size = logits.shape[-1]
    allowed = (index >= 0) & (index < size) & mask.gather(-1, index.clamp(0, size - 1)[..., None]).squeeze(-1)
    if not bool(allowed[rows].all()):
        raise ValueError(f"{name}: a teacher-forced choice is not allowed by the mask")
    log_prob = log_p.gather(-1, index[..., None]).squeeze(-1)
    entropy = -(probs * log_p.masked_fill(~mask, 0.0)).sum(-1)
    if compact:
        zeros = logits.new_zeros(active.shape)
        return zeros.masked_scatter(active, log_prob), zeros.masked_scatter(active, entropy)
    zero = logits.new_zeros(())
    return torch.where(active, log_prob, zero), torch.where(active, entropy, zero)
