"""Checkpoint fuzz: a few hundred mutated copies of a real checkpoint (every file truncated and bit-flipped at random
places; meta.json crafted: nested, huge numbers, wrong types, missing keys; safetensors files crafted with a
huge header length or a bad header and re-signed so their sha256 matches) go through ``load_checkpoint``,
``latest_checkpoint``, the ``--resume`` path (``open_run`` and ``Checkpoint.restore``) and ``load_agent``. Only
``CheckpointError`` may escape, a changed byte in a tensor file never loads, and a resume always lands on a
checkpoint (the damaged one when it still loads intact, else the good one before it). ``pytest -s`` prints the
outcomes by reader and error."""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save
from torch import nn

from training.agent_io import load_agent, save_agent
from training.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint, save_checkpoint
from training.run_folder import open_run

SEED = 15
FILES = ("meta.json", "model.safetensors", "optimizer.safetensors")
Mutation = tuple[str, Callable[[Path], None]]
KEYS = {"kind", "step", "files", "counters", "optimizer.param_groups", "optimizer.state", "agent", "spec"}  # named


def resign(meta: dict) -> dict:
    """``meta`` with its own checksum recomputed (what a crafted file must do to get past it)."""
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return {**body, "meta_sha256": digest}


def _meta(path: Path) -> dict:
    return json.loads((path / "meta.json").read_text())


def _write_meta(path: Path, meta: dict, signed: bool) -> None:
    (path / "meta.json").write_text(json.dumps(resign(meta) if signed else meta))


def _truncate(name: str, size: int) -> Callable[[Path], None]:
    return lambda path: (path / name).write_bytes((path / name).read_bytes()[:size])


def _flip(name: str, bits: list[int]) -> Callable[[Path], None]:
    def flip(path: Path) -> None:
        data = bytearray((path / name).read_bytes())
        for bit in bits:
            data[bit // 8] ^= 1 << (bit % 8)
        (path / name).write_bytes(bytes(data))

    return flip


def _set(key: str, value: object, signed: bool = True) -> Callable[[Path], None]:
    return lambda path: _write_meta(path, {**_meta(path), key: value}, signed)


def _drop(key: str, signed: bool = True) -> Callable[[Path], None]:
    return lambda path: _write_meta(path, {k: v for k, v in _meta(path).items() if k != key}, signed)


def _raw_meta(text: str) -> Callable[[Path], None]:
    return lambda path: (path / "meta.json").write_text(text)


def _deep(path: Path, keys: list[str], value: object) -> None:
    """Set ``meta[keys[0]][keys[1]]...`` and re-sign."""
    meta = _meta(path)
    node = meta
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    _write_meta(path, meta, True)


def _tensor_file(name: str, data: bytes) -> Callable[[Path], None]:
    """Replace tensor file ``name`` with ``data`` and record its size and sha256 (a crafted, consistent file)."""

    def craft(path: Path) -> None:
        (path / name).write_bytes(data)
        meta = _meta(path)
        meta["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        _write_meta(path, meta, True)

    return craft


def _safetensors(header: object, body: bytes = b"", length: int | None = None) -> bytes:
    text = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return (len(text) if length is None else length).to_bytes(8, "little") + text + body


def mutations(base: Path, rng: random.Random) -> Iterator[Mutation]:
    """Every mutation tried, named (the name says which category it is in)."""
    for name in FILES:
        size = (base / name).stat().st_size
        for cut in sorted({0, 1, 7, 8, 9, size - 1, *rng.sample(range(size), min(size, 20))}):
            yield f"truncate {name}", _truncate(name, cut)
        for _ in range(32):
            yield f"bit flip {name}", _flip(name, [rng.randrange(size * 8)])
        for _ in range(8):
            yield f"bit flips {name}", _flip(name, [rng.randrange(size * 8) for _ in range(rng.randint(2, 16))])
    for depth in (10, 1000, 100_000):
        yield "meta nested", _raw_meta("[" * depth + "]" * depth)
        yield "meta nested", _raw_meta('{"a":' * depth + "1" + "}" * depth)
    for text in ("", "null", "[]", '"x"', "1e400", "9" * 5000, "\xff\xfe", '{"format": "perceiver-star-checkpoint"}'):
        yield "meta not an object", _raw_meta(text)
    weird = [None, True, -1, 10**30, 1e300, "x", "", [], {}, [1, "a"], {"a": None}]
    for key in ("format", "format_version", "kind", "step", "versions", "files", "optimizer", "rng", "counters",
                "meta_sha256"):  # fmt: skip
        signed = key != "meta_sha256"
        yield f"meta without {key}", _drop(key, signed)
        for value in weird:
            yield f"meta {key} of a wrong type", _set(key, value, signed)
        yield f"meta {key} changed, not re-signed", _set(key, "changed", signed=False)
    for key in ("model.safetensors", "optimizer.safetensors"):
        for value in ({"bytes": -1, "sha256": "0" * 64}, {"bytes": 10**30, "sha256": "0" * 64}, {"bytes": 1},
                      {"bytes": 10, "sha256": "zz"}, None, "x"):  # fmt: skip
            yield "meta files entry crafted", lambda p, k=key, v=value: _deep(p, ["files", k], v)
    yield "meta files outside the checkpoint", lambda p: _deep(p, ["files", "../../etc/passwd"], {
        "bytes": 1, "sha256": "0" * 64})  # fmt: skip
    for value in (None, [], {"x": 1}, [{"params": ["a"]}], [{"params": [0, 1, 2, 3, 99]}]):
        yield "meta optimizer groups crafted", lambda p, v=value: _deep(p, ["optimizer", "param_groups"], v)
    for value in (None, [], {"x": {}}, {"0": 5}, {"999": {"step": 1}}):
        yield "meta optimizer state crafted", lambda p, v=value: _deep(p, ["optimizer", "state"], v)
    for part, value in (("python", [3, [1] * 625, "x"]), ("python", [3, [-1] * 625, None]), ("numpy", ["MT19937"]),
                        ("numpy", ["MT19937", [2**40] * 624, 0, 0, 0.0]), ("torch", [300] * 5056), ("torch", [1]),
                        ("torch", None)):  # fmt: skip
        yield "meta rng crafted", lambda p, k=part, v=value: _deep(p, ["rng", k], v)
    for value in ({"step": -1}, {"step": 1.5}, {"step": "1"}, {"step": 10**40}, [1]):
        yield "meta counters crafted", lambda p, v=value: _set("counters", v)(p)
    for name in ("model.safetensors", "optimizer.safetensors"):
        tensor = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
        for data in (
            _safetensors({"w": tensor}, b"\0" * 8, length=2**63 - 1),  # a huge header length
            _safetensors({"w": tensor}, b"\0" * 8, length=10**12),
            _safetensors(b"[" * 50_000 + b"]" * 50_000),  # a deeply nested header
            _safetensors({"w": {**tensor, "dtype": "NOPE"}}, b"\0" * 8),
            _safetensors({"w": {**tensor, "shape": [10**6, 10**6]}}, b"\0" * 8),  # 10**12 elements in 8 bytes
            _safetensors({"w": {**tensor, "data_offsets": [8, 0]}}, b"\0" * 8),
            _safetensors({"w": tensor, "v": tensor}, b"\0" * 8),  # overlapping
            _safetensors({"w": {**tensor, "shape": "x"}}, b"\0" * 8),
            _safetensors([1, 2], b""),
            _safetensors({"w": tensor}, b"\0" * 8),  # valid, but not this model's tensors
            save({"0.weight": torch.full((4, 3), float("nan"))}),  # valid, but not finite and incomplete
            b"",
        ):
            yield f"{name} crafted and re-signed", _tensor_file(name, data)


def _outcome(call: Callable[[], object]) -> tuple[str, object]:
    """("ok", result) or ("CheckpointError: <its problem, values and details dropped>", None); anything else
    raises."""
    try:
        return "ok", call()
    except CheckpointError as error:
        problem = re.sub(r"'([^']*)'", lambda m: m[0] if m[1] in KEYS else "_", error.problem)
        problem = re.sub(r"\[.*?\]|\{.*?\}|-?\b\d[\w.+-]*|\b(True|None)\b", "_", problem)
        return "CheckpointError: " + re.split(r" \(|; |, |:$", problem)[0].strip(), None


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A run folder with two checkpoints: ckpt_1 stays good, copies of ckpt_2 are mutated."""
    root = tmp_path_factory.mktemp("fuzz")
    torch.manual_seed(0)
    model = _model()
    optimizer = torch.optim.Adam(model.parameters())
    for step in (1, 2):
        model(torch.randn(5, 3)).sum().backward()
        optimizer.step()
        save_checkpoint(root / "run" / "checkpoints", step, model, {"counters": {"step": step}}, kind="test",
                        optimizer=optimizer)  # fmt: skip
    return root


def test_mutated_checkpoints_only_ever_raise_checkpoint_error(template, tmp_path):
    rng = random.Random(SEED)
    original = load_checkpoint(template / "run" / "checkpoints" / "ckpt_000000002", optimizer=True)
    outcomes: dict[str, Counter] = {"load_checkpoint": Counter(), "resume": Counter()}
    tried = Counter()
    for index, (category, mutate) in enumerate(mutations(original.path, rng)):
        root = tmp_path / str(index)
        shutil.copytree(template / "run", root / "run")
        target = root / "run" / "checkpoints" / "ckpt_000000002"
        mutate(target)
        tried[category.split(" ")[0] if category.startswith("meta") else category.split(" ")[-1]] += 1

        loaded, checkpoint = _outcome(lambda t=target: load_checkpoint(t, optimizer=True))
        outcomes["load_checkpoint"][loaded] += 1
        tensor_bytes_changed = "crafted" not in category and "safetensors" in category
        if loaded == "ok":
            assert not tensor_bytes_changed, f"{category}: a changed tensor file loaded (sha256 not checked?)"
            assert _same(checkpoint.weights, original.weights) or "re-signed" in category, category
        assert latest_checkpoint(target.parent) is not None  # never raises; ckpt_1 at worst

        def resume(r=root) -> int:
            folder = open_run(r, "run", "test", resume=True)
            folder.resumed.restore(_model(), torch.optim.Adam(_model().parameters()))
            return folder.resumed.step

        resumed, step = _outcome(resume)
        outcomes["resume"][resumed if resumed != "ok" else f"ok, from step {step}"] += 1
        if loaded != "ok":  # the damaged checkpoint is skipped: the resume lands on the good one before it
            assert step == 1, f"{category}: {resumed}"
        shutil.rmtree(root)
    total = sum(tried.values())
    print(f"\ncheckpoint fuzz: {total} mutated checkpoints ({dict(tried)})")
    for reader, counts in outcomes.items():
        print(f"  {reader}: " + "; ".join(f"{n} {what}" for what, n in counts.most_common()))
    assert total > 300 and outcomes["load_checkpoint"]["ok"] < total


def test_crafted_agent_meta_only_ever_raises_checkpoint_error(tmp_path):
    """The agent entry load_agent rebuilds from (spec and sizes), crafted and re-signed."""
    from training.config_io import load_config
    from training.rl.config import RLConfig
    from training.rl.train import initial_agents

    agent, _ = initial_agents(load_config(RLConfig, None, ["scenarios=[3m]", "agent.preset=small"]))
    path = save_agent(tmp_path / "agent", 1, agent, kind="rl", config={}, counters={})
    good = _meta(path)
    weird = [None, -1, 10**30, "x", [], {}]
    variants = [{**good, "kind": "task"}, {**good, "agent": None}, {**good, "agent": {"spec": {}}}]
    for section in ("spec", "agent"):
        for key in list(good["agent"][section])[:6]:
            for value in weird:
                variants.append({**good, "agent": {**good["agent"], section: {**good["agent"][section], key: value}}})
    outcomes = Counter()
    for meta in variants:
        _write_meta(path, meta, True)
        outcome, _ = _outcome(lambda: load_agent(path))
        outcomes[outcome] += 1
    print(f"\nagent meta fuzz: {len(variants)} crafted agent entries: "
          + "; ".join(f"{n} {what}" for what, n in outcomes.most_common()))  # fmt: skip
    assert outcomes["ok"] < len(variants)
