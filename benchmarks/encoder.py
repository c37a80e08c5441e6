"""Entity-encoder benchmark: the Perceiver IO encoder against AlphaStar's Transformer (``pstar bench encoder``).

Both encoders come from ``agents.encoders`` (same preset, default ``alphastar``) and run on the same random
entity features [batch, units, in_channels] (default 8 x N x 256, the paper's 512 x 256 input) with every
unit real, float32, on the CPU by default. Both use perceiver_io's attention (``scaled_dot_product_attention``),
so the comparison is of architectures, not kernels. For every unit count it measures:

* forward FLOPs per sample with ``torch.utils.flop_counter`` (SDPA's CPU kernel is counted with torch's own
  SDPA formula; the paper reports 3.3B for the Transformer and 0.93B for the Perceiver IO at 512 units);
* forward (eval, no grad) and forward+backward (train, ``sum`` of both outputs) median milliseconds, the two
  encoders alternating repeat by repeat (``benchmarks/backbone.py``'s ``time_steps``);
* peak MiB of tensors allocated during one step (``benchmarks/backbone.py``'s profiler-based ``peak_bytes``).

Targets (issue 4): at 512 units the Perceiver IO needs <= 1/3.5 of the Transformer's FLOPs and is faster;
its time at 4096 units is <= 10x its time at 512; at 4096 units it is >= 5x faster than the Transformer.
``--quick`` runs 64, 512 and 4096 units with one timed repeat.
"""

from __future__ import annotations

import argparse
import runpy
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.config import entity_encoder_config  # noqa: E402
from agents.encoders import EntityEncoder, build_entity_encoder  # noqa: E402
from agents.report import CPU_FLOPS  # noqa: E402
from benchmarks.verdicts import Check, add_out_flag, finish  # noqa: E402

_BACKBONE = runpy.run_path(str(Path(__file__).resolve().parent / "backbone.py"))
time_steps: Callable = _BACKBONE["time_steps"]
peak_bytes: Callable = _BACKBONE["peak_bytes"]

DEFAULT_UNITS = (64, 128, 256, 512, 1024, 2048, 4096)
QUICK_UNITS = (64, 512, 4096)
KINDS = ("perceiver", "transformer")
BASE_UNITS, LARGE_UNITS = 512, 4096
TARGET_FLOP_RATIO = 3.5
TARGET_SCALING = 10.0
TARGET_LARGE_SPEEDUP = 5.0
PHASES = ("fwd", "fwd+bwd")

def forward_flops(encoder: EntityEncoder, features: torch.Tensor, mask: torch.Tensor) -> int:
    """FLOPs of one forward pass (grad mode on: the flop counter's module tracker needs it)."""
    with FlopCounterMode(display=False, custom_mapping=CPU_FLOPS) as counter:
        encoder(features, mask)
    return counter.get_total_flops()


def make_step(encoder: EntityEncoder, features: torch.Tensor, mask: torch.Tensor, phase: str) -> Callable[[], None]:
    """One forward (eval, no grad) or forward+backward (train, gradients dropped after) step."""
    if phase == "fwd":
        encoder.eval()

        def step() -> None:
            with torch.no_grad():
                encoder(features, mask)

    else:
        encoder.train()

        def step() -> None:
            out = encoder(features, mask)
            (out.unit_embeddings.sum() + out.embedded_entity.sum()).backward()
            encoder.zero_grad(set_to_none=True)

    return step


def measure(encoders: dict[str, EntityEncoder], units: int, args: argparse.Namespace, device: torch.device) -> dict:
    """FLOPs, times and peaks of every encoder at one unit count."""
    torch.manual_seed(units)
    features = torch.randn(args.batch, units, args.in_channels, device=device)
    mask = torch.ones(args.batch, units, dtype=torch.bool, device=device)
    result: dict = {"units": units, "encoders": {}}
    for name, encoder in encoders.items():
        result["encoders"][name] = {"gflops_per_sample": forward_flops(encoder, features[:1], mask[:1]) / 1e9}
    for phase in PHASES:
        steps = {name: make_step(encoder, features, mask, phase) for name, encoder in encoders.items()}
        times = time_steps(steps, device, args.warmup, args.repeats)
        for name, step in steps.items():
            entry = result["encoders"][name]
            entry[f"{phase}_ms"] = statistics.median(times[name])
            entry[f"{phase}_ms_samples"] = [round(t, 3) for t in times[name]]
            entry[f"{phase}_peak_mib"] = peak_bytes(step, device) / 2**20 if args.memory else None
    if set(KINDS) <= set(encoders):
        p, t = result["encoders"]["perceiver"], result["encoders"]["transformer"]
        result["flop_ratio"] = t["gflops_per_sample"] / p["gflops_per_sample"]
        for phase in PHASES:
            result[f"speedup_{phase}"] = t[f"{phase}_ms"] / p[f"{phase}_ms"]
            if args.memory:
                result[f"memory_ratio_{phase}"] = t[f"{phase}_peak_mib"] / p[f"{phase}_peak_mib"]
    return result


def verdicts(results: Sequence[dict]) -> list[Check]:
    """PASS/FAIL (None: unit count not run) lines for the issue's targets."""
    at = {r["units"]: r for r in results}
    base, large = at.get(BASE_UNITS), at.get(LARGE_UNITS)
    lines: list[Check] = []
    if base is None:
        lines.append((f"FLOPs and speed at {BASE_UNITS} units: not run", None))
    else:
        ratio = base["flop_ratio"]
        lines.append((f"FLOPs at {BASE_UNITS}: Transformer / Perceiver = {ratio:.2f}x (target >= {TARGET_FLOP_RATIO}x)",
                      ratio >= TARGET_FLOP_RATIO))
        for phase in PHASES:
            speed = base[f"speedup_{phase}"]
            lines.append((f"{phase} at {BASE_UNITS}: Perceiver {speed:.2f}x faster (target > 1x)", speed > 1.0))
    if base is None or large is None:
        lines.append((f"scaling {BASE_UNITS} -> {LARGE_UNITS} units and speed at {LARGE_UNITS}: not run", None))
    else:
        for phase in PHASES:
            p_base = base["encoders"]["perceiver"][f"{phase}_ms"]
            p_large = large["encoders"]["perceiver"][f"{phase}_ms"]
            growth = p_large / p_base
            lines.append((f"{phase} Perceiver time {LARGE_UNITS} / {BASE_UNITS} units = {growth:.2f}x "
                          f"(target <= {TARGET_SCALING}x)", growth <= TARGET_SCALING))
        for phase in PHASES:
            speed = large[f"speedup_{phase}"]
            text = f"{phase} at {LARGE_UNITS}: Perceiver {speed:.2f}x faster (target >= {TARGET_LARGE_SPEEDUP}x)"
            lines.append((text, speed >= TARGET_LARGE_SPEEDUP))
    return lines


def table(results: Sequence[dict]) -> str:
    """A Markdown table: one row per (unit count, encoder), then the Transformer / Perceiver ratios."""
    head = ("| units | encoder | GFLOPs/sample | fwd ms | fwd+bwd ms | fwd peak MiB | fwd+bwd peak MiB |\n"
            "|---:|---|---:|---:|---:|---:|---:|")
    rows = [head]

    def mib(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}x"

    for r in results:
        for name, e in r["encoders"].items():
            rows.append(f"| {r['units']} | {name} | {e['gflops_per_sample']:.3f} | {e['fwd_ms']:.1f} | "
                        f"{e['fwd+bwd_ms']:.1f} | {mib(e['fwd_peak_mib'])} | {mib(e['fwd+bwd_peak_mib'])} |")
        if "flop_ratio" in r:
            rows.append(f"| {r['units']} | T/P ratio | {ratio(r['flop_ratio'])} | {ratio(r['speedup_fwd'])} | "
                        f"{ratio(r['speedup_fwd+bwd'])} | {ratio(r.get('memory_ratio_fwd'))} | "
                        f"{ratio(r.get('memory_ratio_fwd+bwd'))} |")
    return "\n".join(rows)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pstar bench encoder", description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, nargs="+", default=None, help=f"unit counts (default {DEFAULT_UNITS})")
    parser.add_argument("--quick", action="store_true", help=f"units {QUICK_UNITS}, warmup 1, one repeat")
    parser.add_argument("--preset", choices=("alphastar", "small"), default="alphastar")
    parser.add_argument("--encoders", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--in-channels", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the profiler peak")
    add_out_flag(parser, "encoder")
    args = parser.parse_args(argv)
    if args.quick:
        args.units = args.units or list(QUICK_UNITS)
        args.warmup, args.repeats = 1, 1
    args.units = args.units or list(DEFAULT_UNITS)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    encoders = {
        kind: build_entity_encoder(entity_encoder_config(kind, args.preset), args.in_channels).to(device)
        for kind in args.encoders
    }
    results = []
    for units in args.units:
        results.append(measure(encoders, units, args, device))
        print(f"done {units} units", file=sys.stderr, flush=True)
    lines = verdicts(results) if set(KINDS) <= set(encoders) else []
    print(f"Entity encoders, preset {args.preset}, batch {args.batch}, {args.in_channels} input channels, "
          f"{args.device}, {torch.get_num_threads()} threads\n")
    print(table(results))
    print()
    report = {
        "preset": args.preset,
        "batch": args.batch,
        "in_channels": args.in_channels,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "configs": {kind: vars(encoder.config) for kind, encoder in encoders.items()},
        "parameters": {kind: sum(p.numel() for p in e.parameters()) for kind, e in encoders.items()},
        "results": results,
    }
    return finish("encoder", report, lines, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
