"""Backbone benchmark: our Perceiver IO encoder against Hugging Face's ``PerceiverModel``, in one process.

Both models get the same config and the same weights (HF's random init copied into ours with
``perceiver_io.hf.from_huggingface``), float32, attention dropout 0, over the same random input tokens
[batch, length, input_dim]. For every input length it measures:

* forward: eval mode under ``torch.no_grad`` (inference);
* forward+backward: train mode, ``output.sum().backward()``, then the gradients are dropped, so each step
  allocates its parameter gradients anew (they are part of its peak, equally for both models);
* peak memory of each, as the most bytes held at once by tensors allocated *during* the step (weights,
  inputs and anything alive before the step are excluded, so the number is the step's own working set).

Timing warms up, then alternates the two implementations repeat by repeat, swapping which goes first (so
background load and cache state hit both alike), and reports the median in milliseconds.

Peak memory on CPU: torch keeps no CPU allocator statistics and the process RSS high-water mark cannot
separate two models measured in one process, so one extra step per (length, implementation, phase) runs
under ``torch.profiler`` with ``profile_memory=True``. Every allocation and free made through torch's CPU
allocator is then recorded with its address and size; replaying those events in time order, counting a
free only when its block was allocated inside the step, gives the live bytes after every event, and their
maximum is the peak. On CUDA the same quantity is ``torch.cuda.max_memory_allocated()`` minus the bytes
allocated when the step starts.

The default model (``BenchConfig()``) keeps HF's default latent array and heads (256 latents, 8 cross- and
8 self-attention heads) at widths and depth that run in minutes on 2 cores: 512-channel latents read
256-channel tokens, then 4 self-attention layers. What SDPA saves grows with latents x cross-attention
heads relative to the input width (see benchmarks/README.md). Flags (lengths, batch, threads, device,
sizes, --quick): ``python benchmarks/backbone.py --help``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.verdicts import Check, add_out_flag, finish  # noqa: E402

TARGET_LENGTH = 2048
SCALING_LENGTHS = (1024, 8192)
TARGET_SPEEDUP = 1.25
TARGET_MEMORY_RATIO = 0.75
TARGET_SCALING = 10.0


@dataclass(frozen=True)
class BenchConfig:
    """The encoder under test, in HF ``PerceiverConfig`` terms (``input_dim`` is HF's ``d_model``)."""

    num_latents: int = 256
    d_latents: int = 512
    input_dim: int = 256
    num_blocks: int = 1
    num_self_attends_per_block: int = 4
    num_self_attention_heads: int = 8
    num_cross_attention_heads: int = 8

    def hf_config(self):
        """The equivalent ``transformers.PerceiverConfig`` with attention dropout 0."""
        from transformers import PerceiverConfig

        return PerceiverConfig(
            num_latents=self.num_latents,
            d_latents=self.d_latents,
            d_model=self.input_dim,
            num_blocks=self.num_blocks,
            num_self_attends_per_block=self.num_self_attends_per_block,
            num_self_attention_heads=self.num_self_attention_heads,
            num_cross_attention_heads=self.num_cross_attention_heads,
            attention_probs_dropout_prob=0.0,
        )


def build_models(config: BenchConfig, device: torch.device, seed: int = 0) -> dict[str, nn.Module]:
    """HF's bare ``PerceiverModel`` and our encoder holding the same weights, float32, on ``device``."""
    from transformers import PerceiverModel

    from perceiver_io.hf import from_huggingface

    torch.manual_seed(seed)
    hf = PerceiverModel(config.hf_config())
    ours = from_huggingface(hf)
    return {"ours": ours.float().to(device), "hf": hf.float().to(device)}


def encode(impl: str, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The latents [batch, num_latents, d_latents] of either implementation."""
    if impl == "hf":
        return model(inputs=inputs, return_dict=True).last_hidden_state
    return model(inputs)


def make_step(impl: str, model: nn.Module, inputs: torch.Tensor, phase: str) -> Callable[[], None]:
    """One forward (``phase="fwd"``: eval, no grad) or training (``"fwd+bwd"``) step.

    A training step runs forward and backward, then drops the gradients (as ``zero_grad`` after an
    optimiser step would), so every step starts without gradients and allocates them anew.
    """
    if phase == "fwd":
        model.eval()

        def step() -> None:
            with torch.no_grad():
                encode(impl, model, inputs)

    else:
        model.train()

        def step() -> None:
            encode(impl, model, inputs).sum().backward()
            model.zero_grad(set_to_none=True)

    return step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(
    steps: dict[str, Callable[[], None]], device: torch.device, warmup: int, repeats: int
) -> dict[str, list[float]]:
    """Milliseconds of every timed step of each implementation, alternating them repeat by repeat."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    _sync(device)
    samples: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else reversed(names):
            step = steps[name]
            start = time.perf_counter()
            step()
            _sync(device)
            samples[name].append((time.perf_counter() - start) * 1e3)
    return samples


def cpu_peak_bytes(step: Callable[[], None]) -> int:
    """Peak bytes held by tensors that ``step`` allocates, from the profiler's CPU allocation events."""
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events: list[tuple[int, int, int]] = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        if node.tag == _EventType.Allocation and node.extra_fields.device.type == "cpu":
            fields = node.extra_fields
            events.append((node.start_time_ns, fields.ptr, fields.alloc_size))
        stack.extend(node.children)
    return peak_from_events(events)


def peak_from_events(events: Sequence[tuple[int, int, int]]) -> int:
    """Peak live bytes from (time, address, +size alloc or -size free) events; older blocks' frees ignored."""
    live: dict[int, int] = {}
    current = peak = 0
    # At equal times a free sorts before an allocation (negative size first), which never raises the peak.
    for _, ptr, size in sorted(events, key=lambda e: (e[0], e[2])):
        if size > 0:
            live[ptr] = size
            current += size
            peak = max(peak, current)
        elif ptr in live:
            current -= live.pop(ptr)
    return peak


def peak_bytes(step: Callable[[], None], device: torch.device) -> int:
    """Peak bytes of tensors allocated during one ``step`` on ``device`` (see the module docstring)."""
    if device.type == "cuda":
        _sync(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        _sync(device)
        return torch.cuda.max_memory_allocated(device) - base
    return cpu_peak_bytes(step)


def max_abs_diff(models: dict[str, nn.Module], inputs: torch.Tensor) -> float:
    """Largest absolute difference between the two implementations' latents (eval mode)."""
    with torch.no_grad():
        outs = {}
        for name, model in models.items():
            model.eval()
            outs[name] = encode(name, model, inputs)
    return float((outs["ours"] - outs["hf"]).abs().max())


def measure_length(
    models: dict[str, nn.Module],
    config: BenchConfig,
    length: int,
    batch: int,
    device: torch.device,
    warmup: int,
    repeats: int,
) -> dict:
    """Times, peaks and parity of both implementations at one input length."""
    torch.manual_seed(length)
    inputs = torch.randn(batch, length, config.input_dim, device=device)
    result: dict = {"length": length, "max_abs_diff": max_abs_diff(models, inputs), "impls": {}}
    for phase in ("fwd", "fwd+bwd"):
        steps = {name: make_step(name, model, inputs, phase) for name, model in models.items()}
        times = time_steps(steps, device, warmup, repeats)
        for name, step in steps.items():
            entry = result["impls"].setdefault(name, {})
            entry[f"{phase}_ms"] = statistics.median(times[name])
            entry[f"{phase}_ms_samples"] = [round(t, 3) for t in times[name]]
            entry[f"{phase}_peak_mib"] = peak_bytes(step, device) / 2**20
    ours, hf = result["impls"]["ours"], result["impls"]["hf"]
    result["speedup_fwd"] = hf["fwd_ms"] / ours["fwd_ms"]
    result["speedup_fwd+bwd"] = hf["fwd+bwd_ms"] / ours["fwd+bwd_ms"]
    result["memory_ratio_fwd"] = ours["fwd_peak_mib"] / hf["fwd_peak_mib"]
    result["memory_ratio_fwd+bwd"] = ours["fwd+bwd_peak_mib"] / hf["fwd+bwd_peak_mib"]
    return result


def verdicts(results: Sequence[dict]) -> list[Check]:
    """PASS/FAIL (None: not measured) lines for the speed, memory and scaling targets."""
    by_length = {r["length"]: r for r in results}
    lines: list[Check] = []
    at = by_length.get(TARGET_LENGTH)
    if at is None:
        lines.append((f"speed and memory at {TARGET_LENGTH} inputs: length not run", None))
    else:
        speed, memory = at["speedup_fwd+bwd"], at["memory_ratio_fwd+bwd"]
        lines.append((f"fwd+bwd speed at {TARGET_LENGTH}: ours {speed:.2f}x HF (target >= {TARGET_SPEEDUP}x)",
                      speed >= TARGET_SPEEDUP))
        lines.append((f"fwd+bwd peak memory at {TARGET_LENGTH}: ours {memory:.2f}x HF "
                      f"(target <= {TARGET_MEMORY_RATIO}x)", memory <= TARGET_MEMORY_RATIO))
    short, long = SCALING_LENGTHS
    if short in by_length and long in by_length:
        for phase in ("fwd", "fwd+bwd"):
            ours_long, ours_short = (by_length[n]["impls"]["ours"][f"{phase}_ms"] for n in (long, short))
            ratio = ours_long / ours_short
            lines.append((f"ours {phase} scaling t({long})/t({short}) = {ratio:.2f} "
                          f"(target <= {TARGET_SCALING:g})", ratio <= TARGET_SCALING))
    else:
        lines.append((f"scaling t({long})/t({short}): lengths not run", None))
    return lines


def format_table(results: Sequence[dict]) -> str:
    """A fixed-width table: one row per (length, implementation); ratios are ours relative to HF."""
    header = ("length", "impl", "fwd ms", "fwd+bwd ms", "fwd MiB", "peak MiB",
              "speed fwd", "speed f+b", "mem f+b", "max|diff|")
    rows = [header]
    for r in results:
        for name in ("ours", "hf"):
            m = r["impls"][name]
            ours = name == "ours"
            rows.append((
                str(r["length"]),
                name,
                f"{m['fwd_ms']:.1f}",
                f"{m['fwd+bwd_ms']:.1f}",
                f"{m['fwd_peak_mib']:.1f}",
                f"{m['fwd+bwd_peak_mib']:.1f}",
                f"{r['speedup_fwd']:.2f}x" if ours else "",
                f"{r['speedup_fwd+bwd']:.2f}x" if ours else "",
                f"{r['memory_ratio_fwd+bwd']:.2f}x" if ours else "",
                f"{r['max_abs_diff']:.1e}" if ours else "",
            ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    default = BenchConfig()
    parser = argparse.ArgumentParser(
        prog="pstar bench backbone",
        description="Time and peak memory of our Perceiver IO encoder vs HF's PerceiverModel (same weights).",
    )
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048, 8192],
                        help="input lengths (default: 512 1024 2048 8192)")
    parser.add_argument("--batch", type=int, default=2, help="batch size (default: 2)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: all cores available to this process)")
    parser.add_argument("--device", default="auto",
                        help="cpu, cuda or auto (default: auto = cuda when available, else cpu)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per implementation (default: 2)")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per implementation (default: 7)")
    parser.add_argument("--quick", action="store_true", help="1 warm-up step and 3 timed repeats")
    add_out_flag(parser, "backbone")
    parser.add_argument("--seed", type=int, default=0)
    for field, value in asdict(default).items():
        parser.add_argument(f"--{field.replace('_', '-')}", type=int, default=value,
                            help=f"encoder size (default: {value})")
    args = parser.parse_args(argv)
    if args.quick:
        args.warmup, args.repeats = 1, 3
    return args


def available_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table, write JSON, print the verdicts; exit 1 if a target failed."""
    args = parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("pstar bench backbone: --device cuda requested but CUDA is not available", file=sys.stderr)
        return 2
    threads = args.threads or available_cores()
    torch.set_num_threads(threads)
    config = BenchConfig(**{f: getattr(args, f) for f in asdict(BenchConfig())})
    models = build_models(config, device, args.seed)
    params = sum(p.numel() for p in models["ours"].parameters())
    print(f"backbone benchmark: {device}, {threads} threads, batch {args.batch}, float32, "
          f"{args.warmup} warm-up + median of {args.repeats}; encoder {config} ({params / 1e6:.2f}M params)")
    results = []
    for length in args.lengths:
        start = time.perf_counter()
        results.append(measure_length(models, config, length, args.batch, device, args.warmup, args.repeats))
        print(f"  length {length}: done in {time.perf_counter() - start:.1f} s", flush=True)
    print(format_table(results))
    checks = verdicts(results)
    if device.type != "cpu":
        print(f"note: the speed and memory targets are defined for CPU; these verdicts are for {device}")
    report = {
        "device": str(device),
        "threads": threads,
        "batch": args.batch,
        "dtype": "float32",
        "warmup": args.warmup,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "peak_memory_method": "torch.cuda.max_memory_allocated" if device.type == "cuda"
        else "torch.profiler CPU allocation events",
        "config": asdict(config),
        "parameters": params,
        "results": results,
    }
    return finish("backbone", report, checks, args.out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
