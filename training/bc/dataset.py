"""Behaviour-cloning data: replays turned into fixed-length (observation, action) sequences, cached as shards.

**Samples.** Skirmish replays (``*.skreplay``) are re-simulated; .SC2Replay files are read by
``training.bc.sc2_samples`` (command-level samples teaching two heads; see there). Each Skirmish replay is
re-simulated; for each chosen player (``players``: both, winner, 1 or 2) and each step, the observation that player
saw is paired with the actions it issued then, as the agent plays them: one sample per step holding up to the spec's
``actions_per_step`` actions in the order issued, then the no_op that ends the step and no_op padding (action arrays
carry that sub-action axis: ``action_type`` [..., N], ``selected_units`` [..., N, K], ...). A step with no action is
a no_op sample; explicit no_ops among a step's actions are left out (they send nothing). Actions beyond the first N
(replays recorded without the budget) are dropped and counted. Actions are checked against the agent's own legality
masks: selected units that cannot carry the action type are left out (the environment left them out of the command
too); actions the heads could not have produced from that observation (unavailable type, a selection with no unit
that can carry it, a target the type's rule forbids, a location off the map, a malformed record) are dropped and
counted.

**Labels (DAgger).** A replay whose header names labelled players (``replays record --label-with``) gives those
players' samples only, whatever ``players`` says, with their labels as the targets: the actions a demonstrator would
have sent from each observation, not the ones played (partly the learner's own). So one run can clone the expert's
own games (``players=1``) together with labelled games of the learner.

**Sequences.** Per player per game, the samples are cut into consecutive, non-overlapping chunks of
``sequence_length``; ``first`` is True only at the game's first sample; the last chunk is padded by repeating its
last sample with ``valid`` False. With ``recurrent_state=reset`` training starts every chunk from the agent's initial
state (truncated BPTT: the recurrent state is not carried over from the previous chunk of the same game, whose
``first`` is False); with ``carry`` each batch row reads a game's chunks in order and the state flows on
(``training.bc.game_stream``).

**Cache.** Sequences are written as ``.npz`` shards (``np.savez_compressed``, read with ``allow_pickle=False``)
plus a ``manifest.json`` (spec, replays used, skipped files with reasons, counts, which replay each sequence came
from) under ``cache_dir/<key>``, where the key hashes the replay files (resolved path, size, mtime), players,
sequence_length, max_units, resolution, the engine version and this format's version. A cache is built in a temporary
directory and renamed into place, so a reader never sees half of one (a build killed midway leaves its temporary
directory, removed by the next build: ``training.scratch``). A build reads the replays that another finished cache
under ``cache_dir`` holds, with the same settings and versions and from the file as it is now (size and mtime
recorded per replay), from that cache instead of re-simulating them: the same sequences, so DAgger's growing data
costs only its new games. Full-game replays are re-simulated up to ``REPLAY_BATCH`` consecutive files at once per
worker, in one batched engine (``replay_together``: the same sequences as one at a time; 1.2x less CPU measured on
8 very_hard games). Bad replays (corrupt, truncated, desynced,
of another spec) are skipped and counted by reason (the first reason of each kind kept in full), never fatal; a
desync found at a replay's end drops all of it. The spec's sizes are settings (``max_units``, ``resolution``), never
taken from a file; its other fields (map size, action budget) are the first usable replay's.
The held-out split is by replay file, drawn from ``seed``, and is not part of the cache key. The manifest holds each
shard's size and sha256, checked whenever the cache is opened to train: a missing, truncated or altered shard is
named in a warning and rebuilt from its replays (the same replays give the same bytes), and an unreadable manifest
rebuilds the whole cache.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from agents.heads.action_heads import HEADS, selected_rows
from agents.heads.legality import LegalityRules
from agents.spec import AgentSpec
from envs.contract.catalogue import ACTION_TYPES
from envs.contract.observation import OBS_KEYS
from envs.contract.spec import SPEC_VERSION
from envs.skirmish.engine import ENGINE_VERSION
from envs.skirmish.replay import Replay, ReplayError, load_replay, read_replays, replay_together
from training.bc.shards import ACTION_DTYPES, HEAD_MASK, read_shard, shard_bytes, shard_problem, write_shard
from training.policy import stack_observations
from training.scratch import remove_dead_scratch, scratch_dir
from training.writable import writable_directory

FORMAT_VERSION = 7  # 2: per-sample head_mask; 3: actions checked by the heads' masks; 4: one sample per step;
# 5: shards byte-identical from the same replays, their size and sha256 in the manifest; 6: rows shared fairly
# between the sides when a player has more units than max_units (envs.contract.rows); 7: resolution a setting,
# the first reason of each kind of skip in the counts (skip_reasons)
MANIFEST = "manifest.json"
KEY_LENGTH = 20  # hex digits of a cache's key, its directory name
REPLAY_BATCH = 8  # full-game replays a worker re-simulates at once (~1.2 GB of a player's observations per 8
# games of 1,500 steps at 512 rows: held until each game's samples are made)
SHARD_SEQUENCES = 128  # sequences per shard file (~3 MB compressed at 64 units and 16 steps)
LEGALITY_BATCH_VALUES = 1 << 22  # observation values + location cells checked in one batch (tens of MB at most,
# whatever the resolution: at 64 a batch is ~700 actions, at the contract's largest, 1024, a few)
SHARD_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)

log = logging.getLogger("pstar.bc")


class DatasetError(ValueError):
    """The replays give no usable behaviour-cloning data (none found, or every one skipped)."""


@dataclass(frozen=True)
class BuildSettings:
    """What the cached sequences depend on besides the files."""

    players: str
    sequence_length: int
    max_units: int
    resolution: int  # the location grid side: set, never taken from a replay (a crafted one would decide it)
    label_repeat_window: int = 0  # DAgger labels: see ``_player_samples``
    idle_producers: bool = False  # the agent's ``heads.idle_producers``: its legality decides what is taught


@dataclass
class Sample:
    """One step of one player: its observation and its actions (``ActionRules.step``: [N, ...] per key)."""

    obs: dict[str, np.ndarray]
    action: dict[str, np.ndarray]
    head_mask: tuple[bool, ...] = (True,) * len(HEADS)  # which heads learn from it (HEADS order)


@dataclass
class ReplayResult:
    """What one replay file gave: its sequences (or why it was skipped) and sample statistics."""

    path: str
    spec: dict[str, Any] | None = None
    arrays: dict[str, np.ndarray] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    stats: Counter = field(default_factory=Counter)
    skipped: str | None = None


# --------------------------------------------------------------------------------------------- actions


class ActionRules:
    """The agent's legality rules (``agents.heads.legality``) applied to recorded actions: what the heads can be
    taught. Selected units that cannot carry the action type are left out, as the environment leaves them out."""

    def __init__(self, spec: dict[str, Any], idle_producers: bool = False) -> None:
        view = AgentSpec.from_dict(spec)
        self.arguments = {a.index: set(a.arguments) for a in view.action_types}
        self.no_op_type, self.actions_per_step = view.no_op, view.actions_per_step
        self.first_economy_type = len(ACTION_TYPES)  # (the contract's base types come first, then the economy's)
        self.resolution = view.location_resolution
        self.max_selected = view.max_selected_units
        self.legality = LegalityRules(view, idle_producers)

    def no_op(self) -> dict[str, np.ndarray | int]:
        return self.normalise({"action_type": self.no_op_type})

    def step(self, actions: Sequence[dict[str, np.ndarray | int]], ended: bool = True) -> dict[str, np.ndarray]:
        """Normalised actions (at most ``actions_per_step``, none a no_op) -> one step's arrays [N, ...] per key,
        padded with no_ops (the first of which ends the step), or, when the data does not say whether the step
        ended there (``ended`` False), with actions of unknown type (-1: unscored, see ``StepActions``)."""
        pad = self.no_op() if ended else {**self.no_op(), "action_type": -1}
        padded = [*actions, *[pad] * (self.actions_per_step - len(actions))]
        return {key: np.stack([np.asarray(a[key], dtype=np.int64) for a in padded]) for key in ACTION_DTYPES}

    def normalise(self, action: dict[str, Any]) -> dict[str, np.ndarray | int]:
        """All contract keys, with the absent value for arguments the action type does not use."""
        used = self.arguments[int(action["action_type"])]
        selected = np.full(self.max_selected, -1, dtype=np.int64)
        if "selected_units" in used:
            selected[:] = np.asarray(action["selected_units"], dtype=np.int64)
        return {
            "action_type": int(action["action_type"]),
            "selected_units": selected,
            "target_unit": int(action["target_unit"]) if "target_unit" in used else -1,
            "target_location": np.asarray(
                action["target_location"] if "target_location" in used else (0, 0), dtype=np.int64
            ).reshape(2),
            "queued": int(action["queued"]) if "queued" in used else 0,
        }

    def teachable(
        self, observations: Sequence[dict[str, np.ndarray]], actions: Sequence[Any], heads: Sequence[str] = HEADS
    ) -> list[tuple[dict[str, np.ndarray | int] | None, str | None]]:
        """Per recorded action: ``(action, None)`` as the heads would produce it from its observation, or
        ``(None, problem)``; only ``heads``' arguments are checked (the others are kept as given)."""
        results: list[tuple[dict[str, np.ndarray | int] | None, str | None]] = []
        shaped: list[int] = []
        for i, (obs, action) in enumerate(zip(observations, actions, strict=True)):
            problem = self._shape_problem(action, obs, heads)
            results.append((None, problem) if problem else (self.normalise(action), None))
            if problem is None:
                shaped.append(i)
        if shaped:  # in chunks: the masks of one batch hold R * R location cells and the observation per action
            values = self.resolution**2 + sum(np.asarray(observations[0][key]).size for key in OBS_KEYS)
            chunk = max(1, LEGALITY_BATCH_VALUES // values)
            for start in range(0, len(shaped), chunk):
                part = shaped[start : start + chunk]
                checked = self._legal([observations[i] for i in part], [results[i][0] for i in part], heads)
                for i, outcome in zip(part, checked, strict=True):
                    results[i] = outcome
        return results

    def _shape_problem(self, action: Any, obs: dict[str, np.ndarray], heads: Sequence[str]) -> str | None:
        """Why ``action`` is not of the contract's form for ``obs`` (None: it is)."""
        if not isinstance(action, dict) or "action_type" not in action:
            return "malformed"
        kind = action["action_type"]
        if not isinstance(kind, int | np.integer) or int(kind) not in self.arguments:
            return "unknown action type"
        if not bool(obs["available_actions"][int(kind)]):
            return "unavailable action type"
        used = self.arguments[int(kind)] & set(heads)
        units = len(obs["unit_mask"])
        if "selected_units" in used:
            selected = np.asarray(action.get("selected_units", ()), dtype=np.int64).reshape(-1)
            count = int((selected >= 0).sum())
            rows = selected[:count]
            if count == 0:
                return "no selected unit among the rows"
            if len(selected) != self.max_selected or bool((selected[count:] >= 0).any()):
                return "bad selection shape"
            if bool((rows >= units).any()) or len(set(rows.tolist())) != count:
                return "selection is not distinct rows"
        if "target_unit" in used:
            target = action.get("target_unit", -1)
            if not 0 <= int(target) < units or not bool(obs["unit_mask"][int(target)]):
                return "target is not a unit"
        if "target_location" in used:
            location = np.asarray(action.get("target_location", (-1, -1))).reshape(-1)
            if len(location) != 2 or not bool(((location >= 0) & (location < self.resolution)).all()):
                return "location off the grid"
        if "queued" in used and int(action.get("queued", -1)) not in (0, 1):
            return "bad queued"
        return None

    def _legal(
        self, observations: Sequence[dict[str, np.ndarray]], actions: Sequence[dict[str, Any]], heads: Sequence[str]
    ) -> list[tuple[dict[str, np.ndarray | int] | None, str | None]]:
        """Well-formed actions checked in one batch against the heads' masks (selection cut to what may carry it)."""
        legal = self.legality.observe(stack_observations(observations))
        types = torch.tensor([int(a["action_type"]) for a in actions])
        rows = torch.arange(len(actions))
        selection = torch.from_numpy(np.stack([a["selected_units"] for a in actions]))
        selectable = self.legality.selectable(legal, types)
        kept = (selection >= 0) & selectable.gather(1, selection.clamp(min=0))
        order = torch.argsort((~kept).to(torch.int8), dim=1, stable=True)  # kept rows first, in their order
        selection = torch.where(kept, selection, -1).gather(1, order)
        count = kept.sum(-1)
        real = legal.unit_mask.sum(-1)
        picks_ok = ~self.legality.keeps_one_unselected(types) | (count <= real - 1)
        targets = self.legality.targets(legal, types, selected_rows(selection, legal.unit_mask.shape[1]))
        target = torch.tensor([int(a["target_unit"]) for a in actions])
        cells = torch.from_numpy(np.stack([a["target_location"] for a in actions]))
        out: list[tuple[dict[str, np.ndarray | int] | None, str | None]] = []
        for i, action in enumerate(actions):
            used = self.arguments[int(types[i])] & set(heads)
            problem = None
            if not bool(legal.action_types[i, types[i]]):
                problem = "action type cannot be completed"
            elif "selected_units" in used and (int(count[i]) == 0 or not bool(picks_ok[i])):
                problem = "no selected unit can carry the action type" if int(count[i]) == 0 else "selects every unit"
            elif "target_unit" in used and not bool(targets[i, target[i]]):
                problem = "target not allowed by the type's rule"
            elif "target_location" in used and not bool(legal.cells[i, cells[i, 1] * self.resolution + cells[i, 0]]):
                problem = "location off the map"
            if problem is not None:
                out.append((None, problem))
                continue
            if "selected_units" in used:
                action = {**action, "selected_units": selection[rows[i]].numpy().copy()}
            out.append((action, None))
        return out


# ------------------------------------------------------------------------------------------- sequences


def chosen_players(players: str, winner: int | None) -> list[int]:
    """The players whose actions are cloned from a game with ``winner``."""
    if players == "both":
        return [1, 2]
    if players == "winner":
        return [winner] if winner in (1, 2) else []
    return [int(players)]


def to_sequences(samples: Sequence[Sample], length: int) -> dict[str, np.ndarray]:
    """Samples of one player's game -> arrays [S, length, ...] with ``first`` and ``valid`` (see the module doc)."""
    count = len(samples)
    chunks = -(-count // length)
    padded = list(samples) + [samples[-1]] * (chunks * length - count)
    arrays: dict[str, np.ndarray] = {}
    for key in OBS_KEYS:
        stacked = np.stack([s.obs[key] for s in padded])
        arrays[key] = stacked.reshape(chunks, length, *stacked.shape[1:])
    for key, dtype in ACTION_DTYPES.items():
        stacked = np.stack([np.asarray(s.action[key]) for s in padded]).astype(dtype)
        arrays[key] = stacked.reshape(chunks, length, *stacked.shape[1:])
    arrays[HEAD_MASK] = np.array([s.head_mask for s in padded], dtype=bool).reshape(chunks, length, len(HEADS))
    arrays["valid"] = (np.arange(chunks * length) < count).reshape(chunks, length)
    arrays["first"] = np.zeros((chunks, length), dtype=bool)
    arrays["first"][0, 0] = True
    return arrays


def concatenate(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def replay_result(path: str, settings: BuildSettings) -> ReplayResult:
    """Re-simulate one replay file into its sequences; every problem ends up in ``skipped`` (kind: detail)."""
    return replay_results([path], settings)[0]


def replay_results(paths: Sequence[str], settings: BuildSettings) -> list[ReplayResult]:
    """``replay_result`` of each file, in order; the full-game Skirmish replays among them re-simulated together in
    one batched engine (``replay_together``: the same steps as one at a time, their engine loops run at once)."""
    from training.bc import sc2_samples  # it builds on this module

    results: list[ReplayResult] = []
    readings: list[_Reading] = []
    for path in paths:
        if sc2_samples.is_sc2_replay(path):
            results.append(sc2_samples.sc2_replay_result(path, settings))
            continue
        reading = _Reading.open(path, settings)
        results.append(reading.result)
        if reading.result.skipped is None:
            readings.append(reading)
    together = [r for r in readings if r.replay.header.full_game is not None]
    together = together if len(together) > 1 else []
    errors = dict(zip(map(id, together), replay_together([r.replay for r in together],
                                                         lambda i, step: together[i].take(step)), strict=True))
    for reading in readings:
        error = errors[id(reading)] if id(reading) in errors else reading.simulate()
        if error is not None:  # desynced (found at the end: everything is dropped)
            reading.result.skipped = error.problem
        else:
            reading.finish(settings)
    return results


@dataclass
class _Reading:
    """A Skirmish replay file on its way to sequences: its header read and checked (``open``), the chosen players'
    observations and targets of each re-simulated step (``take``), then its samples and sequences (``finish``)."""

    result: ReplayResult
    replay: Replay | None = None  # (None when skipped before it was loaded and checked)
    players: list[int] = field(default_factory=list)
    labelled: list[int] = field(default_factory=list)
    recorded: dict[int, list[tuple[dict[str, np.ndarray], list[Any]]]] = field(default_factory=dict)
    stat: os.stat_result | None = None

    @classmethod
    def open(cls, path: str, settings: BuildSettings) -> _Reading:
        reading = cls(ReplayResult(path))
        result = reading.result
        try:
            reading.stat = os.stat(path)
            replay = load_replay(path)
            header = replay.header
            for name, recorded in (("max_units", header.max_units), ("resolution", header.resolution)):
                if recorded != getattr(settings, name):
                    result.skipped = f"spec: recorded with {name} {recorded}, expected {getattr(settings, name)}"
                    return reading
            result.spec = replay.new_match().spec.to_dict()
        except ReplayError as error:  # unreadable, corrupt
            result.skipped = error.problem
            return reading
        except OSError as error:
            result.skipped = f"unreadable: {error}"
            return reading
        reading.labelled = sorted(header.labels)
        reading.players = reading.labelled or chosen_players(settings.players, header.winner)
        if not reading.players:
            result.skipped = f"no winner: players=winner and the game ended with winner {header.winner}"
            return reading
        reading.replay, reading.recorded = replay, {p: [] for p in reading.players}
        return reading

    def simulate(self) -> ReplayError | None:
        """Re-simulate the replay alone, taking every step; the desync that ended it, if any."""
        try:
            for step in self.replay.steps():
                self.take(step)
        except ReplayError as error:
            return error
        return None

    def take(self, step: Any) -> None:
        """Keep the chosen players' observations and targets (labels or actions) of one re-simulated step."""
        for player in self.players:
            obs = {key: np.array(step.observations[player][key]) for key in OBS_KEYS}
            targets = step.labels[player] if self.labelled else step.actions[player]
            self.recorded[player].append((obs, list(targets)))

    def finish(self, settings: BuildSettings) -> None:
        """The taken steps as samples and sequences (``result.arrays``) with the replay's ``info``."""
        result, header, players = self.result, self.replay.header, self.players
        rules = ActionRules(result.spec, settings.idle_producers)
        by_player = {p: Counter() for p in players}
        window = settings.label_repeat_window if self.labelled else 0
        samples = {p: _player_samples(self.recorded.pop(p), rules, by_player[p], window) for p in players}
        parts = []
        for player in players:
            if samples[player]:
                part = to_sequences(samples[player], settings.sequence_length)
                part["player"] = np.full(len(part["valid"]), player, dtype=np.int8)
                parts.append(part)
                by_player[player]["samples"] += len(samples[player])
            result.stats.update(by_player[player])
        if not parts:
            result.skipped = "empty: no samples for the chosen players"
            return
        result.arrays = concatenate(parts)
        result.info = {
            "path": result.path,
            "scenario": header.scenario_name,
            "winner": header.winner,
            "players": {str(p): header.players[p] for p in players},
            "labels": {str(p): header.labels[p] for p in self.labelled},
            "steps": header.steps,
            "samples": int(result.stats["samples"]),
            "sequences": len(result.arrays["valid"]),
            "size": self.stat.st_size,  # (with mtime and stats: what another cache needs to reuse this replay's
            "mtime_ns": self.stat.st_mtime_ns,  # sequences)
            "stats": dict(result.stats),
            "stats_by_player": {str(p): dict(by_player[p]) for p in players},  # (a cache of fewer players reads these)
        }


def _player_samples(steps: Sequence[tuple[dict[str, np.ndarray], list[Any]]], rules: ActionRules, stats: Counter,
                    repeat_window: int = 0) -> list[Sample]:  # fmt: skip
    """One player's samples, one per step: its teachable actions in order, at most ``actions_per_step`` (a no_op
    sample for a step with none; a step whose no_op is unavailable and that teaches nothing is left out).

    ``repeat_window`` > 0 (DAgger labels): a demonstrator labelling a learner asks again, every step, for an order
    the learner did not follow, so unmade build orders would outweigh everything else. An economy action whose type
    a sample taught within the previous ``repeat_window`` steps (not the same step: two producers may train the same
    unit at once) is dropped (counted as thinned) and its step's remaining sub-actions end unscored (type -1)
    instead of with a no_op: the step does not teach "send nothing more"."""
    flat = [(obs, action) for obs, actions in steps for action in actions]
    checked = iter(rules.teachable([o for o, _ in flat], [a for _, a in flat]))
    kept_at: dict[int, int] = {}  # economy action type -> the last step a label of it was kept
    samples = []
    for t, (obs, actions) in enumerate(steps):
        taken, thinned = [], False
        for action, problem in (next(checked) for _ in actions):
            if problem is not None:
                stats[f"dropped: {problem}"] += 1
                continue
            kind = int(action["action_type"])
            if kind == rules.no_op_type:
                continue
            if repeat_window and kind >= rules.first_economy_type and 0 < t - kept_at.get(kind, -repeat_window - 1) \
                    <= repeat_window:  # fmt: skip
                stats["thinned: repeated economy label"] += 1
                thinned = True
            else:
                taken.append(action)
        if len(taken) > rules.actions_per_step:
            stats["dropped: over the action budget"] += len(taken) - rules.actions_per_step
            taken = taken[: rules.actions_per_step]
        for action in taken:  # (what the step teaches: labels cut by the budget were not kept)
            if int(action["action_type"]) >= rules.first_economy_type:
                kept_at[int(action["action_type"])] = t
        if not taken and not thinned:
            if not bool(obs["available_actions"][rules.no_op_type]):
                continue
            stats["no_op_samples"] += 1
        stats["multi_action_steps"] += len(taken) > 1
        samples.append(Sample(obs, rules.step(taken, ended=not thinned)))
    return samples


def skipped_summary(counts: dict[str, Any]) -> str:
    """The skipped files of ``counts`` (a manifest's): per kind the number and its first file's reason in full, e.g.
    "4 spec: recorded with max_units 512, expected 64; 1 truncated: 12 bytes, expected at least 28" ("": none)."""
    return "; ".join(f"{n} {counts['skip_reasons'][kind]}" for kind, n in counts["skipped"].items())


def _spec_difference(spec: dict[str, Any], reference: dict[str, Any], source: str) -> str | None:
    """Why ``spec`` is not the data's (``reference``, the first usable replay's, from file ``source``); None: it is."""
    keys = sorted(k for k in set(spec) | set(reference) if spec.get(k) != reference.get(k))
    if not keys:
        return None
    shown = ", ".join(f"{k} {spec.get(k)!r:.40} vs {reference.get(k)!r:.40}" for k in keys[:3])
    return f"spec: differs from the first usable replay's ({Path(source).name}) in {shown}"


# ----------------------------------------------------------------------------------------------- cache


def replay_files(paths: Sequence[str | Path]) -> list[Path]:
    """The replay files named by ``paths`` (directories expanded to their ``*.skreplay`` and ``*.SC2Replay`` files)."""
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise DatasetError(f"replay path {missing[0]} does not exist (replays= lists files or directories)")
    files = list(read_replays(paths).paths)
    for directory in (Path(p) for p in paths if Path(p).is_dir()):
        files.extend(sorted(f for f in directory.rglob("*") if f.suffix.lower() == ".sc2replay"))
    return files


def cache_key(files: Sequence[Path], settings: BuildSettings) -> str:
    """Hash of what the cached sequences depend on (files with size and mtime, settings, the versions)."""
    records = []
    for path in files:
        try:
            stat = path.stat()
            records.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
        except OSError:
            records.append([str(path.resolve()), -1, -1])
    payload = {
        "format": FORMAT_VERSION,
        "engine": ENGINE_VERSION,
        "spec": SPEC_VERSION,
        "files": records,
        "players": settings.players,
        "sequence_length": settings.sequence_length,
        "max_units": settings.max_units,
        "resolution": settings.resolution,
        "label_repeat_window": settings.label_repeat_window,
    }
    if settings.idle_producers:  # (absent when off: caches built before the setting keep their key)
        payload["idle_producers"] = True
    from envs.sc2replay.reader import READER_VERSION
    from training.bc.sc2_samples import is_sc2_replay  # it builds on this module

    if any(is_sc2_replay(str(path)) for path in files):  # what the .SC2Replay reader makes of a file changes with it
        payload["sc2_reader"] = READER_VERSION
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:KEY_LENGTH]


def _tagged(result: ReplayResult, replay_id: int) -> dict[str, np.ndarray]:
    """A usable replay's sequence arrays with ``replay`` (its index among the cache's replays) per sequence."""
    return {**result.arrays, "replay": np.full(len(result.arrays["valid"]), replay_id, dtype=np.int32)}


def _results(files: Sequence[Path], settings: BuildSettings, workers: int,
             reuse: dict[str, Callable[[], ReplayResult]] | None = None) -> Iterator[ReplayResult]:  # fmt: skip
    """Each file's result, in order: read from another cache where ``reuse`` has it, else re-simulated, up to
    ``REPLAY_BATCH`` consecutive files at once per worker (``replay_results``)."""
    reuse = reuse or {}
    paths = [str(p) for p in files if str(p) not in reuse]
    size = max(1, min(REPLAY_BATCH, -(-len(paths) // max(workers, 1))))  # every worker busy when files are few
    groups = [paths[i : i + size] for i in range(0, len(paths), size)]
    if workers <= 1 or len(groups) < 2:
        fresh = (result for group in groups for result in replay_results(group, settings))
        yield from (reuse[str(p)]() if str(p) in reuse else next(fresh) for p in files)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        done = pool.map(replay_results, groups, [settings] * len(groups), chunksize=1)
        fresh = (result for group in done for result in group)
        yield from (reuse[str(p)]() if str(p) in reuse else next(fresh) for p in files)


def _reusable(root: Path, files: Sequence[Path], settings: BuildSettings) -> dict[str, Callable[[], ReplayResult]]:
    """The ``files`` that a finished cache under ``root`` holds, built with the same versions and settings from the
    file as it is now (size and mtime): their sequences are read from there instead of re-simulated (DAgger adds
    games to the data run after run). A cache of other ``players`` serves a replay whose chosen players it holds
    (``players=winner`` from a ``both`` cache: the winner's sequences and sample counts). Keyed by the path as given;
    the values load the result."""
    now = {}
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue
        now[str(path.resolve())] = (str(path), stat.st_size, stat.st_mtime_ns)
    wanted = json.loads(json.dumps({**vars(settings), "players": None, "label_repeat_window": None}))
    found: dict[str, Callable[[], ReplayResult]] = {}
    read = functools.lru_cache(maxsize=2)(read_shard)  # (a shard holds consecutive replays: read it once)
    for directory in sorted(d for d in root.iterdir() if _is_key(d.name)) if root.is_dir() else []:
        try:
            manifest = json.loads((directory / MANIFEST).read_text())
            versions = (manifest["format"], manifest["engine"], manifest["spec"]["spec_version"])
            if versions != (FORMAT_VERSION, ENGINE_VERSION, SPEC_VERSION) or {**manifest["settings"], "players": None,
                                                                              "label_repeat_window": None} != wanted:
                continue  # fmt: skip
            same_players = manifest["settings"]["players"] == settings.players
            same_window = manifest["settings"].get("label_repeat_window", 0) == settings.label_repeat_window
            shards: dict[int, list[str]] = {}
            for shard in manifest["shards"]:
                for replay_id in dict.fromkeys(shard["replay"]):
                    shards.setdefault(replay_id, []).append(shard["file"])
            for replay_id, info in enumerate(manifest["replays"]):
                given, size, mtime = now.get(str(Path(info["path"]).resolve()), (None, None, None))
                if given is None or given in found or (info.get("size"), info.get("mtime_ns")) != (size, mtime):
                    continue
                chosen = _held_players(info, settings.players, same_players)
                if chosen is None or (info.get("labels") and not same_window):  # (thinning changes labelled ones)
                    continue
                found[given] = functools.partial(_cached_result, read, directory, shards[replay_id], replay_id,
                                                 {**info, "path": given}, manifest["spec"], chosen)  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):  # an unreadable or older manifest: nothing from it
            continue
    return found


def _held_players(info: dict[str, Any], players: str, same_players: bool) -> list[int] | None:
    """Which of a cached replay's (``info``) sequences a build choosing ``players`` takes: ``[]`` all of them, a list
    of players those players', None none (it lacks a chosen player or predates per-player counts, or no player is
    chosen: re-simulating says why the replay is skipped)."""
    if same_players:
        return []  # (every sequence it holds: the same choice made from the same file)
    if info.get("labels"):  # a labelled replay gives its labelled players whatever ``players`` says
        return []
    held = sorted(int(p) for p in info.get("players", {}))
    chosen = chosen_players(players, info.get("winner"))
    if not chosen or not set(chosen) <= set(held) or "stats_by_player" not in info:
        return None
    return [] if chosen == held else chosen


def _cached_result(read: Callable[[Path], dict[str, np.ndarray]], directory: Path, shard_files: list[str],
                   replay_id: int, info: dict[str, Any], spec: dict[str, Any],
                   players: list[int]) -> ReplayResult:  # fmt: skip
    """One replay's result as another cache holds it (its sequences, spec, info and sample statistics); ``players``:
    only those players' (empty: all it holds)."""
    parts = []
    for name in shard_files:
        arrays = read(directory / name)
        keep = arrays["replay"] == replay_id
        if players:
            keep &= np.isin(arrays["player"], players)
        parts.append({key: values[keep] for key, values in arrays.items() if key != "replay"})
    arrays = concatenate(parts)
    if players:
        by_player = {str(p): info["stats_by_player"][str(p)] for p in players}
        stats = Counter()
        for counts in by_player.values():
            stats.update(counts)  # (update keeps the zero counts a fresh build writes; + would drop them)
        info = {**info, "players": {str(p): info["players"][str(p)] for p in players}, "samples": int(stats["samples"]),
                "sequences": len(arrays["valid"]), "stats": dict(stats), "stats_by_player": by_player}  # fmt: skip
    return ReplayResult(info["path"], spec=spec, arrays=arrays, info=info, stats=Counter(info["stats"]))


def _is_key(name: str) -> bool:
    """Whether ``name`` is a cache's (:func:`cache_key`)."""
    return len(name) == KEY_LENGTH and all(c in "0123456789abcdef" for c in name)


def build_cache(
    files: Sequence[Path], settings: BuildSettings, directory: Path, *, workers: int = 0, progress: bool = True
) -> Path:
    """Re-simulate ``files`` into shards + manifest at ``directory`` (atomic); raises DatasetError if none is usable."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_scratch(directory.parent, _is_key)  # builds killed midway
    tmp = scratch_dir(directory)
    try:
        spec: dict[str, Any] | None = None
        replays, skipped, shards, pending, stats = [], [], [], [], Counter()

        def flush() -> None:
            arrays = concatenate(pending)
            record = write_shard(tmp / f"shard_{len(shards):05d}.npz", shard_bytes(arrays))
            shards.append({**record, "sequences": len(arrays["valid"]), "replay": arrays["replay"].tolist()})
            pending.clear()

        reuse = _reusable(directory.parent, files, settings)
        bar = tqdm(
            _results(files, settings, workers, reuse),
            total=len(files),
            desc="bc: reading replays",
            unit="replay",
            disable=not progress,
            mininterval=1.0,
        )
        for result in bar:
            if result.skipped is None and spec is not None:
                result.skipped = _spec_difference(result.spec, spec, replays[0]["path"])
            if result.skipped is not None:
                skipped.append([result.path, result.skipped])
                continue
            spec = spec if spec is not None else result.spec
            pending.append(_tagged(result, len(replays)))
            replays.append(result.info)
            stats.update(result.stats)
            if sum(len(p["valid"]) for p in pending) >= SHARD_SEQUENCES:
                flush()
        if pending:
            flush()
        reasons = dict(Counter(reason.split(":")[0] for _, reason in skipped))
        first = {kind: next(r for _, r in skipped if r.split(":")[0] == kind) for kind in reasons}
        if not replays:
            detail = skipped_summary({"skipped": reasons, "skip_reasons": first}) or "no replay files found"
            raise DatasetError(f"no usable replays among {len(files)} files ({detail})")
        manifest = {
            "format": FORMAT_VERSION,
            "engine": ENGINE_VERSION,
            "settings": vars(settings),
            "spec": spec,
            "replays": replays,
            "shards": shards,
            "skipped": skipped,
            "counts": {
                "files": len(files),
                "replays": len(replays),
                "skipped": reasons,
                "skip_reasons": first,
                "samples": int(stats["samples"]),
                "sequences": sum(s["sequences"] for s in shards),
                "no_op_samples": int(stats["no_op_samples"]),
                "multi_action_steps": int(stats["multi_action_steps"]),
                "actions_dropped": {k.split(": ", 1)[1]: int(v) for k, v in stats.items() if k.startswith("dropped: ")},
            },
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if directory.exists():  # another process finished the same cache first: keep theirs
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


# ------------------------------------------------------------------------------------------------ data


@dataclass
class BCData:
    """A built cache: the spec, the shards, which replay each sequence came from, and the counts."""

    directory: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, directory: str | Path) -> BCData:
        directory = Path(directory)
        try:
            manifest = json.loads((directory / MANIFEST).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise DatasetError(f"bc cache {directory}: {MANIFEST} cannot be read ({error})") from error
        if manifest.get("format") != FORMAT_VERSION:
            raise DatasetError(f"bc cache {directory}: format {manifest.get('format')}, expected {FORMAT_VERSION}")
        return cls(directory, manifest)

    @property
    def spec(self) -> dict[str, Any]:
        return self.manifest["spec"]

    @property
    def key(self) -> str:
        return self.directory.name

    @property
    def shard_paths(self) -> list[Path]:
        return [self.directory / s["file"] for s in self.manifest["shards"]]

    def split(self, val_fraction: float, seed: int, holdout: Sequence[str] = (),
              train_replays: int = 0) -> tuple[set[int], set[int]]:  # fmt: skip
        """(train, held-out) replay ids: the replays whose file name is in ``holdout`` when given, else a seeded draw
        of ``val_fraction`` of them (at least one if >= 2); ``train_replays`` > 0 keeps that many of the training
        ones, the first of a seeded order, so a smaller set is part of every larger one (a data-scaling curve)."""
        train, held = self._split(val_fraction, seed, holdout)
        if train_replays:
            if train_replays > len(train):
                raise DatasetError(f"train_replays={train_replays}, but the training split has {len(train)} replays")
            order = np.random.default_rng([seed, len(train), 1]).permutation(sorted(train))
            train = set(order[:train_replays].tolist())
        return train, held

    def _split(self, val_fraction: float, seed: int, holdout: Sequence[str]) -> tuple[set[int], set[int]]:
        count = len(self.manifest["replays"])
        if holdout:
            names = [Path(r["path"]).name for r in self.manifest["replays"]]
            unknown = sorted(set(holdout) - set(names))
            if unknown:
                raise DatasetError(f"val_replays: {unknown[0]!r} is not among the usable replays ({', '.join(names)})")
            held = {i for i, name in enumerate(names) if name in set(holdout)}
            return set(range(count)) - held, held
        held = 0 if val_fraction <= 0 or count < 2 else min(count - 1, max(1, round(val_fraction * count)))
        order = np.random.default_rng([seed, count]).permutation(count)
        return set(order[held:].tolist()), set(order[:held].tolist())

    def items(self, replay_ids: set[int]) -> list[tuple[int, np.ndarray]]:
        """Per shard (index, positions of its sequences that come from ``replay_ids``), shards with none left out."""
        found = []
        for index, shard in enumerate(self.manifest["shards"]):
            positions = np.flatnonzero(np.isin(np.asarray(shard["replay"]), list(replay_ids)))
            if len(positions):
                found.append((index, positions))
        return found

    def games(self, replay_ids: set[int]) -> list[tuple[int, np.ndarray]]:
        """Per replay of ``replay_ids`` (in cache order): (its shard, the positions of its sequences there, in game
        order; each chosen player's in turn, each player's first marked by ``first``)."""
        found = []
        for index, shard in enumerate(self.manifest["shards"]):
            replay = np.asarray(shard["replay"])
            for rid in dict.fromkeys(replay.tolist()):
                if rid in replay_ids:
                    found.append((index, np.flatnonzero(replay == rid)))
        return found

    def counts(self, val_fraction: float, seed: int, holdout: Sequence[str] = (),
               train_replays: int = 0) -> dict[str, Any]:  # fmt: skip
        """The manifest's counts plus the split's replay and sequence numbers (what a run reports)."""
        train, held = self.split(val_fraction, seed, holdout, train_replays)
        sequences = {name: sum(len(p) for _, p in self.items(ids)) for name, ids in (("train", train), ("val", held))}
        return {
            **self.manifest["counts"],
            "train_replays": len(train),
            "val_replays": len(held),
            "train_sequences": sequences["train"],
            "val_sequences": sequences["val"],
            "cache_key": self.key,
        }

    def commonest_type(self, replay_ids: set[int]) -> int:
        """The action type labelled most often in the sequences of ``replay_ids`` (valid steps whose head mask
        teaches the action type, every known sub-action): the prior a clone must beat."""
        counts: Counter[int] = Counter()
        for shard, positions in self.items(replay_ids):
            arrays = self.load(shard)
            kinds = arrays["action_type"][positions]  # [S, T, N]
            taught = arrays["valid"][positions].astype(bool) & arrays[HEAD_MASK][positions][..., 0].astype(bool)
            labels = kinds[taught]
            counts.update(labels[labels >= 0].tolist())
        if not counts:
            raise DatasetError("no action-type labels among the training replays")
        return counts.most_common(1)[0][0]

    def load(self, shard: int) -> dict[str, np.ndarray]:
        """The arrays of shard ``shard``; one that cannot be read raises ``DatasetError`` naming it."""
        path = self.shard_paths[shard]
        try:
            return read_shard(path)
        except SHARD_READ_ERRORS as error:
            raise DatasetError(
                f"bc cache {self.directory}: {path.name} cannot be read ({type(error).__name__}: {error}); "
                "rerun to check and rebuild it"
            ) from error

    def damaged(self) -> list[tuple[int, str]]:
        """(index, problem) of every shard that is not the one the manifest describes (reads the whole cache)."""
        records = enumerate(self.manifest["shards"])
        problems = [(i, shard_problem(self.directory / record["file"], record)) for i, record in records]
        return [(i, problem) for i, problem in problems if problem is not None]

    def rebuild(self, shards: Sequence[int], settings: BuildSettings, *, workers: int = 0) -> None:
        """Re-simulate the replays of ``shards`` and write them again (atomically); they must come out byte for
        byte as the manifest records them, else ``DatasetError`` says to delete the cache."""
        replays = self.manifest["replays"]
        for index in shards:
            record = self.manifest["shards"][index]
            ids = list(dict.fromkeys(record["replay"]))  # in order: a shard holds whole replays, one after another
            parts = []
            for replay_id, result in zip(ids, _results([Path(replays[i]["path"]) for i in ids], settings, workers),
                                         strict=True):  # fmt: skip
                if result.skipped is not None:
                    raise self._unrebuildable(record, f"{result.path} is now skipped ({result.skipped})")
                parts.append(_tagged(result, replay_id))
            data = shard_bytes(concatenate(parts))
            if hashlib.sha256(data).hexdigest() != record["sha256"]:
                raise self._unrebuildable(record, "its replays now give other sequences")
            write_shard(self.directory / record["file"], data)

    def _unrebuildable(self, record: dict[str, Any], why: str) -> DatasetError:
        return DatasetError(f"bc cache {self.directory}: {record['file']} is damaged and cannot be rebuilt ({why}); "
                            f"delete {self.directory} to build the cache again from the replays")  # fmt: skip


def prepare_data(
    replays: Sequence[str],
    settings: BuildSettings,
    cache_dir: str | Path,
    *,
    build: bool = True,
    workers: int = 0,
    progress: bool = True,
) -> BCData:
    """The cached data of ``replays`` under ``settings``. With ``build`` (rank 0): built first when missing, rebuilt
    when its manifest cannot be read, and its damaged shards rebuilt (each named in a warning); without, opened as
    rank 0 left it."""
    files = replay_files(replays)
    if not files:
        raise DatasetError(
            f"no replay files found in {list(replays)} (expected *.skreplay or *.SC2Replay files or directories)"
        )
    directory = Path(cache_dir) / cache_key(files, settings)
    if build:
        writable_directory(cache_dir, "bc cache_dir")
    else:
        if not directory.is_dir():
            raise DatasetError(f"bc cache {directory} is missing (it is built by rank 0 first)")
        return BCData.open(directory)
    try:
        data = BCData.open(directory)
    except DatasetError as error:
        if directory.exists():
            log.warning("%s; rebuilding the whole cache", error)
            shutil.rmtree(directory)
        build_cache(files, settings, directory, workers=workers, progress=progress)
        return BCData.open(directory)
    damaged = data.damaged()
    for index, problem in damaged:
        name = data.manifest["shards"][index]["file"]
        log.warning("bc cache %s: %s %s; rebuilding it from its replays", directory, name, problem)
    data.rebuild([index for index, _ in damaged], settings, workers=workers)
    return data
