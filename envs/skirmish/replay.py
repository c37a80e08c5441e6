"""Skirmish replay files: a versioned, compact record of one game that re-simulates bit-identically.

Like an SC2 replay, a file stores who played what and every player's actions, not observations:
loading re-runs the deterministic engine through :class:`~envs.skirmish.match.Match` and regenerates,
per step and per player, the observation that player saw and the actions it took. The final state hash
in the header proves that the re-simulation is the game that was recorded.

File layout (all integers little-endian)::

    offset  size  field
    0       8     magic  b"SKREPLAY"
    8       2     format version (FORMAT_VERSION)
    10      2     reserved, 0
    12      4     header size in bytes (compressed)
    16      4     header CRC-32 (of the compressed bytes)
    20      4     body size in bytes (compressed)
    24      4     body CRC-32
    28      ...   header: zlib(JSON object, see ReplayHeader)
    ...     ...   body: zlib(JSON list with one entry per agent step: [player-1 actions, player-2 actions]),
                  each action ``[action_type, selected_units, target_unit, [x, y], queued]`` with the
                  trailing -1 padding of ``selected_units`` dropped; the file ends right after the body.
                  Only the actions that were played are stored: the match's action budget
                  (``actions_per_step``, in the header since format version 2) has already dropped the rest.

No pickle: a file is data only, safe to read from anywhere. Same game -> same bytes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from envs.contract.arguments import ARGUMENTS, MAX_SELECTED_UNITS
from envs.contract.catalogue import ACTION_TYPES
from envs.skirmish.botgame import outcome
from envs.skirmish.engine import ENGINE_VERSION
from envs.skirmish.match import Match
from envs.skirmish.scenario import Scenario, UnitPlacement, load_scenario, scenario_names

MAGIC = b"SKREPLAY"
FORMAT_VERSION = 2
SUFFIX = ".skreplay"
_PREFIX = struct.Struct("<8sHHIIII")


class ReplayError(ValueError):
    """A replay file cannot be read: missing, truncated, corrupt, or not a replay of a known version.

    ``problem`` reads "<kind>: <detail>" (kinds: truncated, corrupt header/actions, not a Skirmish replay,
    unsupported format version, bad header, desync, ...); batch readers count files by kind.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"replay {self.path}: {problem}")


class ReplayDesyncError(ReplayError):
    """Re-simulating a replay did not reproduce the recorded game (engine, data or file changed)."""


@dataclass(frozen=True)
class ReplayHeader:
    """Everything needed to rebuild the game, plus its recorded outcome."""

    engine_version: str
    scenario_name: str
    scenario: dict[str, Any] | None  # the full scenario when it is not a shipped one (generated, transformed)
    seed: int
    step_mul: int
    max_units: int
    resolution: int
    fog: bool
    see_all: list[int]  # players given fog-free observations (cheat_vision bots)
    lenient: bool
    actions_per_step: int  # the match's action budget per player per agent step
    players: dict[int, str]  # e.g. {1: "bot:hard", 2: "policy:bc-v3"}
    winner: int | None  # 1, 2, 0 = draw, None = unfinished
    steps: int
    game_loops: int
    final_hash: str
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["players"] = {str(k): v for k, v in self.players.items()}
        return data

    @classmethod
    def from_json(cls, data: Any, path: str | Path) -> ReplayHeader:
        if not isinstance(data, dict):
            raise ReplayError(path, f"bad header: it is a {type(data).__name__}, expected a JSON object")
        kinds: dict[str, tuple[type, ...]] = {
            "engine_version": (str,), "scenario_name": (str,), "scenario": (dict, type(None)), "seed": (int,),
            "step_mul": (int,), "max_units": (int,), "resolution": (int,), "fog": (bool,), "see_all": (list,),
            "lenient": (bool,), "actions_per_step": (int,), "players": (dict,), "winner": (int, type(None)),
            "steps": (int,), "game_loops": (int,), "final_hash": (str,), "format_version": (int,),
        }  # fmt: skip
        for name, types in kinds.items():
            if name not in data:
                raise ReplayError(path, f"bad header: field {name!r} is missing")
            if not isinstance(data[name], types) or (isinstance(data[name], bool) and bool not in types):
                expected = " or ".join("null" if t is type(None) else t.__name__ for t in types)
                raise ReplayError(path, f"bad header: field {name!r} is {data[name]!r}, expected {expected}")
        try:
            players = {int(k): str(v) for k, v in data["players"].items()}
        except ValueError as err:
            problem = f"bad header: players keys must be player numbers, got {data['players']!r}"
            raise ReplayError(path, problem) from err
        if not all(p in (1, 2) for p in data["see_all"]):
            problem = f"bad header: see_all is {data['see_all']!r}, expected a list of players 1 and/or 2"
            raise ReplayError(path, problem)
        return cls(**{**{k: data[k] for k in kinds}, "players": players})

    def result(self, player: int) -> str:
        """How the game ended for ``player`` (one of ``botgame.OUTCOMES``), or ``"unfinished"``."""
        return "unfinished" if self.winner is None else outcome(self.winner, player)


@dataclass
class ReplayStep:
    """One agent step of a re-simulated game: what each player saw, what it did, what it got."""

    index: int
    game_loop: int
    observations: dict[int, dict[str, np.ndarray]]
    actions: dict[int, list[dict[str, Any]]]
    rewards: dict[int, float]
    infos: dict[int, dict[str, Any]]  # the match's per-player info (illegal_actions and reasons when lenient)


# ----------------------------------------------------------------------------------------- scenarios


def scenario_to_json(scenario: Scenario) -> dict[str, Any]:
    """A plain-data copy of ``scenario`` (for generated or transformed scenarios stored in a header)."""
    data = dataclasses.asdict(scenario)
    data["placements"] = [dataclasses.asdict(p) for p in scenario.placements]
    return data


def scenario_from_json(data: dict[str, Any], path: str | Path) -> Scenario:
    """Rebuild a Scenario stored by :func:`scenario_to_json`; field errors name the file."""
    try:
        placements = tuple(UnitPlacement(**p) for p in data["placements"])
        return Scenario(**{**data, "placements": placements})
    except (KeyError, TypeError, ValueError) as err:
        raise ReplayError(path, f"bad scenario: the stored scenario is malformed ({err})") from err


def _is_shipped(scenario: Scenario) -> bool:
    """True when ``scenario`` is exactly the shipped scenario of the same name (then only the name is stored)."""
    if scenario.name not in scenario_names():
        return False
    return load_scenario(scenario.name) == scenario


# ------------------------------------------------------------------------------------------- actions

_DEFAULTS: dict[str, Any] = {"target_unit": -1, "target_location": (0, 0), "queued": 0}
MALFORMED = "malformed"  # decoded form of an action the recorder could not store: {"malformed": "<its repr>"}


def _int_like(value: Any) -> int | None:
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iu":
        return int(value.reshape(()))
    return None


def _int_list(value: Any, length: int) -> list[int] | None:
    if not isinstance(value, np.ndarray | list | tuple):
        return None
    array = np.asarray(value)
    if array.shape != (length,) or array.dtype.kind not in "iu":
        return None
    return [int(v) for v in array]


def encode_action(action: Any) -> list[Any]:
    """Contract action dict -> compact list ``[type, selected, target_unit, [x, y], queued]``.

    Arguments the action type does not use are stored as None (the match ignores them). An action whose used
    arguments are not of the contract's form (a lenient match dropped it as illegal) is stored as
    ``["malformed", repr]``: it decodes to a dict the match again rejects, so the game re-simulates the same.
    """
    bad = [MALFORMED, repr(action)[:200]]
    if not isinstance(action, Mapping) or set(action) - {"action_type", *ARGUMENTS}:
        return bad
    index = _int_like(action.get("action_type"))
    if index is None:
        return bad
    used = ACTION_TYPES[index].arguments if 0 <= index < len(ACTION_TYPES) else ()
    row: list[Any] = [index]
    for key in ARGUMENTS:
        if key not in used:
            row.append(None)
            continue
        if key not in action:
            return bad
        value = action[key]
        if key == "selected_units":
            stored: Any = _int_list(value, MAX_SELECTED_UNITS)
            while stored and stored[-1] == -1:
                stored.pop()
        elif key == "target_location":
            stored = _int_list(value, 2)
        elif key == "queued" and isinstance(value, bool | np.bool_):
            stored = int(value)
        else:
            stored = _int_like(value)
        if stored is None:
            return bad
        row.append(stored)
    return row


def decode_action(row: Any, path: str | Path) -> dict[str, Any]:
    """Compact list -> contract action dict (all keys; ``selected_units`` padded back to 64 with -1)."""
    if isinstance(row, list) and len(row) == 2 and row[0] == MALFORMED:
        return {MALFORMED: str(row[1])}
    try:
        action_type, selected, target_unit, location, queued = row
        padded = np.full(MAX_SELECTED_UNITS, -1, dtype=np.int64)
        if selected is not None:
            padded[: len(selected)] = [int(u) for u in selected]
        return {
            "action_type": int(action_type),
            "selected_units": padded,
            "target_unit": int(_DEFAULTS["target_unit"] if target_unit is None else target_unit),
            "target_location": np.asarray(_DEFAULTS["target_location"] if location is None else location,
                                          dtype=np.int64).reshape(2),
            "queued": int(_DEFAULTS["queued"] if queued is None else queued),
        }
    except (TypeError, ValueError) as err:
        expected = "expected [type, [units], target, [x, y], queued]"
        raise ReplayError(path, f"malformed action: {row!r:.80}; {expected}") from err


# ------------------------------------------------------------------------------------------- writing


def save_replay(path: str | Path, match: Match, players: dict[int, str]) -> Path:
    """Write the replay of ``match`` (built with ``record=True``) to ``path`` atomically; return the path.

    ``players`` names who played each side, e.g. ``{1: "bot:hard", 2: "policy:ckpt-12"}``. The match may
    be finished or not (an unfinished game is stored with ``winner=None``).
    """
    path = Path(path)
    if not getattr(match, "record", False):
        raise ValueError("save_replay needs a Match built with record=True (it keeps every player's actions)")
    log = match.actions_log
    if sorted(players) != [1, 2]:
        raise ValueError(f"players must name players 1 and 2, got {players!r}")
    scenario = match.engine.scenario
    header = ReplayHeader(
        engine_version=ENGINE_VERSION,
        scenario_name=scenario.name,
        scenario=None if _is_shipped(scenario) else scenario_to_json(scenario),
        seed=int(match.seed),
        step_mul=int(match.step_mul),
        max_units=int(match.max_units),
        resolution=match.spec.location_resolution,
        fog=bool(match.fog),
        see_all=sorted(int(p) for p in match.see_all),
        lenient=bool(match.lenient),
        actions_per_step=int(match.actions_per_step),
        players={int(k): str(v) for k, v in players.items()},
        winner=None if match.winner is None else int(match.winner),
        steps=len(log),
        game_loops=int(match.engine.loop),
        final_hash=match.engine.state_hash(),
    )
    body = [[[encode_action(a) for a in step.get(p, [])] for p in (1, 2)] for step in log]
    _write_atomic(path, encode_file(header, body))
    return path


def encode_file(header: ReplayHeader, body: list[Any]) -> bytes:
    """Header + body -> the bytes of a replay file (see the module docstring for the layout)."""
    head = zlib.compress(json.dumps(header.to_json(), separators=(",", ":"), sort_keys=True).encode(), 9)
    data = zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 9)
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, 0, len(head), zlib.crc32(head), len(data), zlib.crc32(data))
    return prefix + head + data


def _write_atomic(path: Path, payload: bytes) -> None:
    """Write to a unique temporary file next to ``path``, then rename: readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("xb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------------------------- reading


def _read_prefix(path: Path, blob: bytes) -> tuple[int, int, int, int]:
    if len(blob) < _PREFIX.size:
        if MAGIC.startswith(blob[: len(MAGIC)]):
            raise ReplayError(path, f"truncated: {len(blob)} bytes, expected at least {_PREFIX.size}")
        raise ReplayError(path, f"not a Skirmish replay: {len(blob)} bytes, expected magic {MAGIC!r}")
    magic, version, _, head_len, head_crc, body_len, body_crc = _PREFIX.unpack_from(blob)
    if magic != MAGIC:
        raise ReplayError(path, f"not a Skirmish replay: magic {magic!r}, expected {MAGIC!r}")
    if version != FORMAT_VERSION:
        raise ReplayError(path, f"unsupported format version: {version}, this reader expects {FORMAT_VERSION}")
    return head_len, head_crc, body_len, body_crc


def _section(path: Path, blob: bytes, start: int, size: int, crc: int, name: str) -> Any:
    chunk = blob[start : start + size]
    if len(chunk) < size:
        raise ReplayError(path, f"truncated in the {name}: {len(chunk)} of {size} bytes present")
    if zlib.crc32(chunk) != crc:
        raise ReplayError(path, f"corrupt {name}: CRC-32 mismatch")
    try:
        return json.loads(zlib.decompress(chunk))
    except (zlib.error, ValueError) as err:
        raise ReplayError(path, f"corrupt {name}: {err}") from err


def _read_bytes(path: Path, limit: int | None = None) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read() if limit is None else f.read(limit)
    except OSError as err:
        raise ReplayError(path, f"cannot be read: {err.strerror or err}") from err


def load_header(path: str | Path) -> ReplayHeader:
    """Read only the header (fast: the actions are not decompressed)."""
    path = Path(path)
    blob = _read_bytes(path, _PREFIX.size)
    head_len, head_crc, _, _ = _read_prefix(path, blob)
    blob = _read_bytes(path, _PREFIX.size + head_len)
    return ReplayHeader.from_json(_section(path, blob, _PREFIX.size, head_len, head_crc, "header"), path)


def load_replay(path: str | Path) -> Replay:
    """Read and check a replay file; raises :class:`ReplayError` naming the file on any problem."""
    path = Path(path)
    blob = _read_bytes(path)
    head_len, head_crc, body_len, body_crc = _read_prefix(path, blob)
    header = ReplayHeader.from_json(_section(path, blob, _PREFIX.size, head_len, head_crc, "header"), path)
    body_start = _PREFIX.size + head_len
    body = _section(path, blob, body_start, body_len, body_crc, "actions")
    if len(blob) != body_start + body_len:
        extra = len(blob) - body_start - body_len
        raise ReplayError(path, f"trailing bytes: {extra} unexpected bytes after the actions")
    if not isinstance(body, list) or len(body) != header.steps:
        size = len(body) if isinstance(body, list) else type(body).__name__
        raise ReplayError(path, f"inconsistent: the actions hold {size} steps, the header says {header.steps}")
    actions = []
    for row in body:
        if not isinstance(row, list) or len(row) != 2 or not all(isinstance(r, list) for r in row):
            raise ReplayError(path, f"malformed step: {row!r:.80}, expected [player-1 actions, player-2 actions]")
        actions.append({p: [decode_action(a, path) for a in row[p - 1]] for p in (1, 2)})
    scenario = scenario_from_json(header.scenario, path) if header.scenario is not None else None
    if scenario is None:
        try:
            scenario = load_scenario(header.scenario_name)
        except ValueError as err:
            problem = f"unknown scenario: {header.scenario_name!r} is not a shipped scenario ({err})"
            raise ReplayError(path, problem) from err
    return Replay(path=path, header=header, scenario=scenario, actions=actions)


@dataclass
class Replay:
    """A loaded replay: header, scenario and every player's actions; :meth:`steps` re-simulates it."""

    path: Path
    header: ReplayHeader
    scenario: Scenario
    actions: list[dict[int, list[dict[str, Any]]]]

    def new_match(self) -> Match:
        """A fresh Match configured exactly like the recorded one."""
        h = self.header
        try:
            return Match(self.scenario, h.seed, step_mul=h.step_mul, max_units=h.max_units, resolution=h.resolution,
                         fog=h.fog, see_all=tuple(h.see_all), lenient=h.lenient,
                         actions_per_step=h.actions_per_step)
        except ValueError as err:
            raise ReplayError(self.path, f"bad header: the game settings are rejected ({err})") from err

    def steps(self) -> Iterator[ReplayStep]:
        """Re-simulate and yield every step: each player's observation before it acted, and its actions.

        Raises :class:`ReplayDesyncError` after the last step when the final state hash differs from the
        recorded one, or as soon as the recorded actions no longer fit the game (it ended early, or an action
        became illegal in a strict match).
        """
        match = self.new_match()
        observations = match.reset()
        for index, actions in enumerate(self.actions):
            loop = match.engine.loop
            next_obs, rewards, _, _, infos = self._step(match, index, actions)
            yield ReplayStep(index, loop, observations, actions, {p: float(r) for p, r in rewards.items()}, infos)
            observations = next_obs
        self._check_end(match)

    def replay(self, on_step: Callable[[Match], None] | None = None) -> Match:
        """Re-simulate to the end and return the finished, hash-checked Match.

        ``on_step(match)`` is called after the reset and after every step (e.g. to render frames).
        """
        match = self.new_match()
        match.reset()
        if on_step is not None:
            on_step(match)
        for index, actions in enumerate(self.actions):
            self._step(match, index, actions)
            if on_step is not None:
                on_step(match)
        self._check_end(match)
        return match

    def verify(self) -> None:
        """Re-simulate the whole game; raise :class:`ReplayDesyncError` if it is not the recorded one."""
        self.replay()

    def _step(self, match: Match, index: int, actions: dict[int, list[dict[str, Any]]]) -> tuple:
        if match.engine.done:
            raise ReplayDesyncError(self.path, f"desync: the game ended at step {index}, recorded {self.header.steps}")
        try:
            return match.step(actions)
        except ValueError as err:  # IllegalActionError in a strict match
            raise ReplayDesyncError(self.path, f"desync: step {index}: {err}") from err

    def _check_end(self, match: Match) -> None:
        got = match.engine.state_hash()
        if got != self.header.final_hash:
            raise ReplayDesyncError(
                self.path,
                f"desync: final state hash {got[:16]}... after {self.header.steps} steps, "
                f"recorded {self.header.final_hash[:16]}... (engine {ENGINE_VERSION}, "
                f"recorded with engine {self.header.engine_version})",
            )


# -------------------------------------------------------------------------------------------- batches


@dataclass
class ReplayBatch:
    """Replays from many files, read lazily; bad files are skipped, counted and explained, never fatal."""

    paths: list[Path]
    verify: bool = False
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    loaded: int = 0

    def __iter__(self) -> Iterator[Replay]:
        for path in self.paths:
            try:
                replay = load_replay(path)
                if self.verify:
                    replay.verify()
            except ReplayError as err:
                self.skipped.append((path, err.problem))
                continue
            self.loaded += 1
            yield replay

    def steps(self) -> Iterator[tuple[Replay, ReplayStep]]:
        """Every step of every good replay. A replay found to desync at its end has already yielded its
        steps; it is still recorded in :attr:`skipped` so the caller can drop what it took from it."""
        for replay in self:
            try:
                for step in replay.steps():
                    yield replay, step
            except ReplayDesyncError as err:
                self.loaded -= 1
                self.skipped.append((replay.path, err.problem))

    def counts(self) -> dict[str, int]:
        """Skipped files by kind of problem (the text before the first ':', e.g. "truncated", "desync")."""
        return dict(Counter(reason.split(":")[0] for _, reason in self.skipped))


def replay_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Expand directories to the ``*.skreplay`` files inside them (sorted); keep files as given."""
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.rglob(f"*{SUFFIX}")) if p.is_dir() else [p])
    return out


def read_replays(paths: Iterable[str | Path], *, verify: bool = False) -> ReplayBatch:
    """Batch reader over files and directories; with ``verify`` each replay is re-simulated first."""
    return ReplayBatch(replay_paths(paths), verify=verify)
