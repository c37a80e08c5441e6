"""Backbone benchmark: our Perceiver IO against Hugging Face's ``transformers`` Perceiver, in one process.

Every model is built twice from one HF config: HF's class with its random init (``PerceiverModel`` bare for an
encoder, ``PerceiverForMaskedLM`` for the masked language model with its byte embedding, decoder and tied output
projection) and ours holding the same weights (``perceiver_io.hf.from_huggingface``), float32, attention dropout 0.
The presets (``MODELS``) cover query/key head sizes equal to, smaller and larger than the value head size, since
only equal sizes reach SDPA's fused CPU kernel directly (``perceiver_io.attention``). For every model, torch
thread count and input length it measures:

* forward: eval mode under ``torch.no_grad`` (inference);
* forward+backward: train mode, ``output.sum().backward()``, then the gradients are dropped, so each step
  allocates its parameter gradients anew (they are part of its peak, equally for both models);
* peak memory of each, as the most bytes held at once by tensors allocated *during* the step (weights,
  inputs and anything alive before the step are excluded, so the number is the step's own working set).

Timing warms up, then alternates the two implementations repeat by repeat, swapping which goes first (so
background load and cache state hit both alike), and reports the median in milliseconds.

CPU allocator: with glibc's default (adaptive) malloc, a step's large tensors come from fresh mmap pages or regrown
heap, and their page faults count in its time (1 thread, 2,048 inputs: HF 20,000-60,000 faults and 30-100 ms of
kernel time per step, ours none to 3,000). How many there are depends on the heap the process built before (an
earlier preset, the other implementation): HF's MLM measured alone and after the encoder presets differs by 1.3x.
So every preset runs in a fresh process, its ratio independent of the presets before it; within it the two
implementations share the heap, alternating. ``--keep-freed-memory`` sets glibc as the RL learner does
(``training.allocator``: no mmap, no trimming) before anything is built, so neither implementation faults and the
times are compute alone (then ours leads by less: 1.06-1.13x on the MLMs at 1 thread).

Peak memory on CPU: torch keeps no CPU allocator statistics and the process RSS high-water mark cannot
separate two models measured in one process, so one extra step per (length, implementation, phase) runs
under ``torch.profiler`` with ``profile_memory=True``. Every allocation and free made through torch's CPU
allocator is then recorded with its address and size; replaying those events in time order, counting a
free only when its block was allocated inside the step, gives the live bytes after every event, and their
maximum is the peak. On CUDA the same quantity is ``torch.cuda.max_memory_allocated()`` minus the bytes
allocated when the step starts.

Flags (models, lengths, batch, threads, device, sizes, --quick): ``python benchmarks/backbone.py --help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
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
TASKS = ("encoder", "mlm")
MLM_DECODER_HEADS, MLM_DECODER_QK = 8, 256  # HF's PerceiverForMaskedLM hard-codes its decoder's attention
SIZE_FIELDS = ("num_latents", "d_latents", "d_model", "num_blocks", "num_self_attends_per_block",
               "num_self_attention_heads", "num_cross_attention_heads", "qk_channels")  # fmt: skip


@dataclass(frozen=True)
class BenchModel:
    """One model under test, in HF ``PerceiverConfig`` terms.

    ``task="encoder"``: a bare ``PerceiverModel`` over given tokens [batch, length, d_model]; ``task="mlm"``:
    ``PerceiverForMaskedLM`` over byte ids [batch, length] with ``max_position_embeddings = length`` (its decoder
    has HF's fixed 8 heads and qk 256 against v = d_model). ``qk_channels`` None keeps HF's default (qk = v = the
    input width for cross-attention, d_latents for self-attention); set, the values keep ``d_latents`` channels
    (HF's self-attention residual needs v = d_latents).
    """

    task: str = "encoder"
    num_latents: int = 256
    d_latents: int = 512
    d_model: int = 256
    num_blocks: int = 1
    num_self_attends_per_block: int = 4
    num_self_attention_heads: int = 8
    num_cross_attention_heads: int = 8
    qk_channels: int | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"BenchModel task must be one of {TASKS}, got {self.task!r}")

    def hf_config(self, length: int):
        """The equivalent ``transformers.PerceiverConfig`` (attention dropout 0) for inputs of ``length``."""
        from transformers import PerceiverConfig

        sizes = {f: getattr(self, f) for f in SIZE_FIELDS if f != "qk_channels"}
        if self.qk_channels is not None:
            sizes.update(qk_channels=self.qk_channels, v_channels=self.d_latents)
        return PerceiverConfig(**sizes, max_position_embeddings=length, attention_probs_dropout_prob=0.0)

    def head_sizes(self) -> str:
        """Per-head query/key vs value sizes of the attentions, e.g. ``cross qk 16 < v 32, self qk 16 < v 32``."""

        def compare(qk: int, v: int, heads: int) -> str:
            qk, v = qk // heads, v // heads
            return f"qk {qk} {'<' if qk < v else '>' if qk > v else '='} v {v}"

        cross_qk = self.qk_channels or self.d_model
        cross_v = self.d_latents if self.qk_channels else cross_qk
        parts = [f"cross {compare(cross_qk, cross_v, self.num_cross_attention_heads)}",
                 f"self {compare(self.qk_channels or self.d_latents, self.d_latents, self.num_self_attention_heads)}"]
        if self.task == "mlm":
            parts.append(f"decoder {compare(MLM_DECODER_QK, self.d_model, MLM_DECODER_HEADS)}")
        return ", ".join(parts)


# The encoder presets keep HF's default latent array and heads (256 latents, 8 + 8 heads) at widths and depth that
# run in about a minute on 2 cores; the MLMs are issue 16's (128 latents x 256, 8 heads, qk 128 < v 256, 2,048
# bytes) with 256-wide byte embeddings (decoder qk 32 = v 32 per head) and 128-wide ones (decoder qk 32 > v 16).
MODELS: dict[str, BenchModel] = {
    "encoder": BenchModel(),
    "encoder-qk-lt-v": BenchModel(qk_channels=256),
    "mlm": BenchModel("mlm", num_latents=128, d_latents=256, d_model=256, qk_channels=128),
    "mlm-qk-gt-v": BenchModel("mlm", num_latents=128, d_latents=256, d_model=128, qk_channels=128),
}


def build_models(model: BenchModel, length: int, device: torch.device, seed: int = 0) -> dict[str, nn.Module]:
    """HF's model and ours holding the same weights, float32, on ``device``."""
    from transformers import PerceiverForMaskedLM, PerceiverModel

    from perceiver_io.hf import from_huggingface

    torch.manual_seed(seed)
    hf = (PerceiverModel if model.task == "encoder" else PerceiverForMaskedLM)(model.hf_config(length))
    ours = from_huggingface(hf)
    return {"ours": ours.float().to(device), "hf": hf.float().to(device)}


def make_inputs(model: BenchModel, batch: int, length: int, device: torch.device) -> torch.Tensor:
    """Random tokens [batch, length, d_model] for an encoder, random byte ids [batch, length] for an MLM."""
    generator = torch.Generator().manual_seed(length)
    if model.task == "mlm":
        return torch.randint(0, 262, (batch, length), generator=generator).to(device)
    return torch.randn(batch, length, model.d_model, generator=generator).to(device)


def run(impl: str, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Either implementation's output: latents [batch, num_latents, d_latents] or MLM logits."""
    if impl == "hf":
        out = model(inputs=inputs, return_dict=True)
        return out.last_hidden_state if getattr(out, "logits", None) is None else out.logits
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
                run(impl, model, inputs)

    else:
        model.train()

        def step() -> None:
            run(impl, model, inputs).sum().backward()
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
    """Largest absolute difference between the two implementations' outputs (eval mode)."""
    with torch.no_grad():
        outs = {}
        for name, model in models.items():
            model.eval()
            outs[name] = run(name, model, inputs)
    return float((outs["ours"] - outs["hf"]).abs().max())


def measure(
    models: dict[str, nn.Module], inputs: torch.Tensor, device: torch.device, warmup: int, repeats: int
) -> dict:
    """Times, peaks and parity of both implementations on one input."""
    result: dict = {"max_abs_diff": max_abs_diff(models, inputs), "impls": {}}
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


@dataclass(frozen=True)
class MeasureSettings:
    """What every model is measured under (the flags that are not model sizes)."""

    device: str
    threads: tuple[int, ...]
    batch: int
    warmup: int
    repeats: int
    seed: int
    keep_freed_memory: bool


def measure_model(
    name: str, model: BenchModel, lengths: Sequence[int], settings: MeasureSettings
) -> tuple[list[dict], int]:
    """Every (length, thread count) result of one preset, and its parameter count.

    ``main`` runs this in a fresh process per preset: how often a step page-faults depends on the heap the process
    built before (see the module docstring), so a preset's ratio must not depend on which presets ran first.
    """
    if settings.keep_freed_memory:
        from training.allocator import keep_freed_memory

        keep_freed_memory()
    device = torch.device(settings.device)
    results, params = [], 0
    for length in lengths:
        pair = build_models(model, length, device, settings.seed)
        params = sum(p.numel() for p in pair["ours"].parameters())
        inputs = make_inputs(model, settings.batch, length, device)
        for threads in settings.threads:
            torch.set_num_threads(threads)
            start = time.perf_counter()
            result = measure(pair, inputs, device, settings.warmup, settings.repeats)
            results.append({"model": name, "task": model.task, "threads": threads, "length": length, **result})
            print(f"  {name}, {threads} threads, length {length}: done in {time.perf_counter() - start:.1f} s",
                  flush=True)
    return results, params


def verdicts(results: Sequence[dict]) -> list[Check]:
    """PASS/FAIL (None: not measured) lines for the speed, memory and scaling targets of every (model, threads)."""
    groups: dict[tuple[str, int], dict[int, dict]] = {}
    for r in results:
        groups.setdefault((r["model"], r["threads"]), {})[r["length"]] = r
    lines: list[Check] = []
    for (model, threads), by_length in groups.items():
        where = f"{model}, {threads} thread{'s' * (threads != 1)}"
        at = by_length.get(TARGET_LENGTH)
        if at is None:
            lines.append((f"{where}: speed and memory at {TARGET_LENGTH} inputs: length not run", None))
        else:
            speed, memory = at["speedup_fwd+bwd"], at["memory_ratio_fwd+bwd"]
            lines.append((f"{where}: fwd+bwd speed at {TARGET_LENGTH}: ours {speed:.2f}x HF "
                          f"(target >= {TARGET_SPEEDUP}x)", speed >= TARGET_SPEEDUP))
            lines.append((f"{where}: fwd+bwd peak memory at {TARGET_LENGTH}: ours {memory:.2f}x HF "
                          f"(target <= {TARGET_MEMORY_RATIO}x)", memory <= TARGET_MEMORY_RATIO))
        if next(iter(by_length.values()))["task"] != "encoder":
            continue  # the scaling target is the encoder's (an MLM decodes one output per input)
        short, long = SCALING_LENGTHS
        if short in by_length and long in by_length:
            for phase in ("fwd", "fwd+bwd"):
                ours_long, ours_short = (by_length[n]["impls"]["ours"][f"{phase}_ms"] for n in (long, short))
                ratio = ours_long / ours_short
                lines.append((f"{where}: ours {phase} scaling t({long})/t({short}) = {ratio:.2f} "
                              f"(target <= {TARGET_SCALING:g})", ratio <= TARGET_SCALING))
        else:
            lines.append((f"{where}: scaling t({long})/t({short}): lengths not run", None))
    return lines


def format_table(results: Sequence[dict]) -> str:
    """A fixed-width table: one row per (model, threads, length, implementation); ratios are ours / HF."""
    header = ("model", "threads", "length", "impl", "fwd ms", "fwd+bwd ms", "fwd MiB", "peak MiB",
              "speed fwd", "speed f+b", "mem f+b", "max|diff|")  # fmt: skip
    rows = [header]
    for r in results:
        for name in ("ours", "hf"):
            m = r["impls"][name]
            ours = name == "ours"
            rows.append((
                r["model"] if ours else "",
                str(r["threads"]) if ours else "",
                str(r["length"]) if ours else "",
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
    parser = argparse.ArgumentParser(
        prog="pstar bench backbone",
        description="Time and peak memory of our Perceiver IO vs HF's PerceiverModel and PerceiverForMaskedLM "
        "(same weights).",
    )
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS),
                        help=f"presets to run (default: all: {' '.join(MODELS)})")
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048, 8192],
                        help="input lengths of the encoder models (default: 1024 2048 8192)")
    parser.add_argument("--mlm-lengths", type=int, nargs="+", default=[TARGET_LENGTH],
                        help=f"bytes (= max_position_embeddings) of the MLM models (default: {TARGET_LENGTH})")
    parser.add_argument("--batch", type=int, default=2, help="batch size (default: 2)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="torch intra-op thread counts, each measured in turn (default: 1 2; CUDA: the first)")
    parser.add_argument("--device", default="auto",
                        help="cpu, cuda or auto (default: auto = cuda when available, else cpu)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per implementation (default: 2)")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per implementation (default: 7)")
    parser.add_argument("--quick", action="store_true", help="1 warm-up step and 3 timed repeats")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="glibc malloc as the RL learner sets it (no mmap, no trimming), so no step page-faults "
                        "(default: glibc's adaptive settings; see the module docstring)")
    add_out_flag(parser, "backbone")
    parser.add_argument("--seed", type=int, default=0)
    sizes = parser.add_argument_group("sizes", "override this field of every selected model (default: the preset's)")
    for field in SIZE_FIELDS:
        sizes.add_argument(f"--{field.replace('_', '-')}", type=int, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.warmup, args.repeats = 1, 3
    if min(args.threads) < 1 or args.batch < 1 or args.repeats < 1 or args.warmup < 0:
        parser.error("--threads, --batch and --repeats must be >= 1 and --warmup >= 0")
    return args


def selected_models(args: argparse.Namespace) -> dict[str, BenchModel]:
    """The chosen presets with the size flags applied."""
    overrides = {f: getattr(args, f) for f in SIZE_FIELDS if getattr(args, f) is not None}
    return {name: dataclasses.replace(MODELS[name], **overrides) for name in args.models}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table, write JSON, print the verdicts; exit 1 if a target failed."""
    args = parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("pstar bench backbone: --device cuda requested but CUDA is not available", file=sys.stderr)
        return 2
    thread_counts = args.threads if device.type == "cpu" else args.threads[:1]
    malloc = "default"
    if args.keep_freed_memory:
        from training.allocator import keep_freed_memory

        malloc = "keep-freed" if keep_freed_memory() else "default (not glibc: --keep-freed-memory had no effect)"
    models = selected_models(args)
    print(f"backbone benchmark: {device}, threads {' '.join(map(str, thread_counts))}, batch {args.batch}, float32, "
          f"{args.warmup} warm-up + median of {args.repeats}, malloc {malloc}, one process per model")
    results, configs = [], {}
    # Pickled by reference, the function and arguments must come from an importable module, not this runpy namespace.
    module = importlib.import_module("benchmarks.backbone")
    settings = module.MeasureSettings(str(device), tuple(thread_counts), args.batch, args.warmup, args.repeats,
                                      args.seed, args.keep_freed_memory)  # fmt: skip
    for name, model in models.items():
        print(f"  {name}: {model} ({model.head_sizes()})", flush=True)
        lengths = tuple(args.lengths if model.task == "encoder" else args.mlm_lengths)
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            job = pool.submit(module.measure_model, name, module.BenchModel(**asdict(model)), lengths, settings)
            model_results, params = job.result()
        results.extend(model_results)
        configs[name] = {**asdict(model), "head_sizes": model.head_sizes(), "parameters": params}
    print(format_table(results))
    checks = verdicts(results)
    if device.type != "cpu":
        print(f"note: the speed and memory targets are defined for CPU; these verdicts are for {device}")
    report = {
        "device": str(device),
        "threads": thread_counts,
        "batch": args.batch,
        "dtype": "float32",
        "warmup": args.warmup,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "malloc": malloc,
        "peak_memory_method": "torch.cuda.max_memory_allocated" if device.type == "cuda"
        else "torch.profiler CPU allocation events",
        "models": configs,
        "results": results,
    }
    return finish("backbone", report, checks, args.out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
