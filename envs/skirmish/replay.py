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
    ...     ...   body: zlib(JSON list with one entry per agent step: [player-1 actions, player-2 actions,
                  then the labels of each player in the header's ``labels``, in player order]),
                  each action ``[action_type, selected_units, target_unit, [x, y], queued]`` with the
                  trailing -1 padding of ``selected_units`` dropped; the file ends right after the body.
                  Only the actions that were played are stored: the match's action budget
                  (``actions_per_step``, in the header since format version 2) has already dropped the rest.

Labels (format version 3): a player's per-step labels are the actions a demonstrator (named in the header's
``labels``) would have sent from the observation that player saw, whatever was played: DAgger's data, where the
learner plays and the expert labels (``pstar replays record --label-with expert``). They are not re-simulated;
behaviour cloning takes them as the player's targets. Version 2 files (no labels) are read as before.

No pickle: a file is data only, safe to read from anywhere. Same game -> same bytes. Reading is bounded before
anything is built (``ReadLimits``: section sizes, decompressed with a hard output limit, header numbers, steps,
game loops and units x game loops (the re-simulation's work), actions, integer ranges, nesting), and every problem
of a file is a :class:`ReplayError` naming it, so a crafted file costs a bounded amount of memory and time and a
batch reader skips it like any damaged file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import reprlib
import struct
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from envs.contract.arguments import ARGUMENTS, MAX_SELECTED_UNITS
from envs.contract.budget import MAX_ACTIONS_PER_STEP
from envs.contract.catalogue import ACTION_TYPES
from envs.contract.sizes import MAX_RESOLUTION, MAX_UNIT_ROWS
from envs.skirmish.botgame import outcome
from envs.skirmish.engine import ENGINE_VERSION
from envs.skirmish.match import Match
from envs.skirmish.scenario import Scenario, UnitPlacement, load_scenario, scenario_names

MAGIC = b"SKREPLAY"
FORMAT_VERSION = 4  # 3: per-step labels (``ReplayHeader.labels``); 4: full games (``ReplayHeader.full_game``)
READABLE_VERSIONS = (2, 3, 4)
SUFFIX = ".skreplay"
_PREFIX = struct.Struct("<8sHHIIII")
INT64 = (-(2**63), 2**63 - 1)  # every integer an action holds fits an int64 (what the decoded arrays store)


@dataclass(frozen=True)
class ReadLimits:
    """What the reader accepts, checked before anything of that size is built. Generous: the largest shipped
    scenario's game (mixed_256v256, 512 units, very_hard vs very_hard) has a 354-byte header, 33 KB of actions
    JSON, 212 steps and 735 actions; a stored 64v64 scenario is 10 KB of header."""

    header_bytes: int = 1 << 20  # the header's JSON, decompressed
    actions_bytes: int = 8 << 20  # the actions' JSON, decompressed
    steps: int = 20_000  # agent steps (the longest shipped game: 560 at step_mul 8, 4480 at step_mul 1)
    actions: int = 50_000  # actions of both players over the game, no_ops included
    max_units: int = MAX_UNIT_ROWS  # unit rows per observation (twice the largest shipped scenario)
    unit_rows: int = 1 << 22  # steps x max_units: the observation rows a re-simulation yields per player, which
    # BC holds for one replay at a time (a 4480-step game at max_units 512, the longest shipped one at step_mul 1: 2.3M)
    game_loops: int = 20_000  # steps x step_mul: the engine loops a re-simulation may run (the hash is checked at
    # the end); the longest shipped game runs 4480, a generated scenario's time limit at 1024 units is 9392
    unit_loops: int = 1 << 22  # the scenario's units x those loops: the work, which grows faster than the units (a
    # crowd pushing 1024 / 512 / 256 units: 28 / 8.4 / 1.7 ms a loop on one core, so at most about 2 min a file);
    # mixed_256v256 up to its time limit is 512 x 4480 = 2.3M
    full_game_loops: int = 2 * 40_320  # a full game's loops (its own limit: the map's time limit, 30 minutes on the
    # shipped maps, and a full game's engine costs about the same per loop at any size, its capacity being fixed)
    scenario_units: int = 1024  # placements of a scenario stored in the header (twice mixed_256v256's 512)
    resolution: int = MAX_RESOLUTION  # location grid side
    step_mul: int = 1024  # game loops per agent step
    actions_per_step: int = MAX_ACTIONS_PER_STEP  # the action budget per player per step


LIMITS = ReadLimits()


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


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 60, 60


def _short(value: Any) -> str:
    """A bounded repr for error messages (a crafted value may be huge or deeply nested)."""
    return _REPR.repr(value)


def _check_fields(path: str | Path, what: str, data: Any, kinds: Mapping[str, tuple[type, ...]]) -> None:
    """ReplayError unless ``data`` is a JSON object with exactly ``kinds``' fields, each of one of its types
    (bool is not an int; an int stored where a float may be must be exact in a float64)."""
    if not isinstance(data, dict):
        raise ReplayError(path, f"{what}: it is {_short(data)}, expected a JSON object")
    unknown = sorted(set(data) - set(kinds))
    if unknown:
        raise ReplayError(path, f"{what}: unknown field(s) {_short(unknown)}")
    for name, types in kinds.items():
        if name not in data:
            raise ReplayError(path, f"{what}: field {name!r} is missing")
        value = data[name]
        exact = not isinstance(value, int) or float not in types or abs(value) <= 2**53
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types) or not exact:
            expected = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise ReplayError(path, f"{what}: field {name!r} is {_short(value)}, expected {expected}")


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
    labels: dict[int, str] = field(default_factory=dict)  # labelled player -> who labelled, e.g. {1: "expert"}
    full_game: dict[str, Any] | None = None  # a full game: {"map": shipped map, "races": [r1, r2], "income": [i1, i2]}

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["players"] = {str(k): v for k, v in self.players.items()}
        data["labels"] = {str(k): v for k, v in sorted(self.labels.items())}
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
        if data.get("format_version") != 2:  # version 2 headers have no labels
            kinds["labels"] = (dict,)
        if data.get("format_version") not in (2, 3):  # nor full games before version 4
            kinds["full_game"] = (dict, type(None))
        _check_fields(path, "bad header", data, kinds)
        if data["format_version"] not in READABLE_VERSIONS:
            problem = f"bad header: format_version is {_short(data['format_version'])}, expected {READABLE_VERSIONS}"
            raise ReplayError(path, problem)
        names = data["players"]
        if sorted(names) != ["1", "2"] or not all(isinstance(v, str) for v in names.values()):
            raise ReplayError(path, f"bad header: players is {_short(names)}, expected names of players 1 and 2")
        players = {int(k): v for k, v in names.items()}
        labellers = data.get("labels", {})
        if not set(labellers) <= {"1", "2"} or not all(isinstance(v, str) for v in labellers.values()):
            problem = f"bad header: labels is {_short(labellers)}, expected a labeller's name for players 1 and/or 2"
            raise ReplayError(path, problem)
        if not all(p in (1, 2) for p in data["see_all"]):
            problem = f"bad header: see_all is {_short(data['see_all'])}, expected a list of players 1 and/or 2"
            raise ReplayError(path, problem)
        if data["winner"] not in (None, 0, 1, 2):
            raise ReplayError(path, f"bad header: winner is {_short(data['winner'])}, expected 0, 1, 2 or null")
        full_game = data.get("full_game")
        if full_game is not None:
            _check_full_game(path, full_game)
        most_loops = LIMITS.full_game_loops if full_game is not None else LIMITS.game_loops
        ranges = {
            "seed": (0, INT64[1]), "step_mul": (1, LIMITS.step_mul), "max_units": (1, LIMITS.max_units),
            "resolution": (1, LIMITS.resolution), "actions_per_step": (1, LIMITS.actions_per_step),
            "steps": (0, LIMITS.steps), "game_loops": (0, most_loops),
        }  # fmt: skip
        for name, (low, high) in ranges.items():
            if not low <= data[name] <= high:
                problem = f"bad header: {name} is {_short(data[name])}, expected {low}..{high} (the reader's limits)"
                raise ReplayError(path, problem)
        if data["steps"] * data["step_mul"] > most_loops:
            problem = (f"too large: {data['steps']} steps x step_mul {data['step_mul']} game loops to re-simulate, "
                       f"more than the reader's limit of {most_loops}")  # fmt: skip
            raise ReplayError(path, problem)
        if data["steps"] * data["max_units"] > LIMITS.unit_rows:
            problem = (f"too large: {data['steps']} steps x max_units {data['max_units']} observation rows, more than "
                       f"the reader's limit of {LIMITS.unit_rows}")  # fmt: skip
            raise ReplayError(path, problem)
        fields = {k: data[k] for k in kinds}
        return cls(**{**fields, "players": players, "labels": {int(k): v for k, v in labellers.items()}})

    def result(self, player: int) -> str:
        """How the game ended for ``player`` (one of ``botgame.OUTCOMES``), or ``"unfinished"``."""
        return "unfinished" if self.winner is None else outcome(self.winner, player)


def _check_full_game(path: str | Path, data: dict[str, Any]) -> None:
    """A header's ``full_game``: a shipped map's name, a race per player, an income factor per player."""
    from envs.skirmish.economy.maps import shipped_maps
    from envs.skirmish.economy.rules import default_rules

    _check_fields(path, "bad header: full_game", data, {"map": (str,), "races": (list,), "income": (list,)})
    if data["map"] not in shipped_maps():
        raise ReplayError(path, f"bad header: full_game map {_short(data['map'])} is not a shipped map")
    races = data["races"]
    if len(races) != 2 or not all(isinstance(r, str) and r in default_rules().races for r in races):
        raise ReplayError(path, f"bad header: full_game races is {_short(races)}, expected two of "
                                f"{sorted(default_rules().races)}")  # fmt: skip
    income = data["income"]
    if len(income) != 2 or not all(isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 10
                                   for v in income):  # fmt: skip
        raise ReplayError(path, f"bad header: full_game income is {_short(income)}, expected two factors in (0, 10]")


@dataclass
class ReplayStep:
    """One agent step of a re-simulated game: what each player saw, what it did, what it got."""

    index: int
    game_loop: int
    observations: dict[int, dict[str, np.ndarray]]
    actions: dict[int, list[dict[str, Any]]]
    rewards: dict[int, float]
    infos: dict[int, dict[str, Any]]  # the match's per-player info (illegal_actions and reasons when lenient)
    labels: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # the labelled players' labels


# ----------------------------------------------------------------------------------------- scenarios


def scenario_to_json(scenario: Scenario) -> dict[str, Any]:
    """A plain-data copy of ``scenario`` (for generated or transformed scenarios stored in a header); the roster is
    stored only when it is not "combat", so battles read and hash as before rosters existed."""
    data = dataclasses.asdict(scenario)
    data["placements"] = [dataclasses.asdict(p) for p in scenario.placements]
    if data["roster"] == "combat":
        del data["roster"]
    return data


def scenario_from_json(data: dict[str, Any], path: str | Path) -> Scenario:
    """Rebuild a Scenario stored by :func:`scenario_to_json`; field errors name the file."""
    number = (int, float)
    kinds = {"name": (str,), "description": (str,), "map_width": number, "map_height": number,
             "time_limit_loops": (int,), "placements": (list,)}  # fmt: skip
    if isinstance(data, dict) and "roster" in data:
        kinds["roster"] = (str,)
    _check_fields(path, "bad scenario", data, kinds)
    placements = data["placements"]
    if len(placements) > LIMITS.scenario_units:
        problem = f"bad scenario: {len(placements)} units, more than the reader's limit of {LIMITS.scenario_units}"
        raise ReplayError(path, problem)
    fields = {"unit": (str,), "owner": (int,), "x": number, "y": number, "facing": number}
    for placement in placements:
        _check_fields(path, "bad scenario: a placement's", placement, fields)
    try:
        return Scenario(**{**data, "placements": tuple(UnitPlacement(**p) for p in placements)})
    except ValueError as err:
        raise ReplayError(path, f"bad scenario: the stored scenario is malformed ({_short(err)})") from err


def _is_shipped(scenario: Scenario) -> bool:
    """True when ``scenario`` is exactly the shipped scenario of the same name (then only the name is stored)."""
    if scenario.name not in scenario_names():
        return False
    return load_scenario(scenario.name) == scenario


# ------------------------------------------------------------------------------------------- actions

_DEFAULTS: dict[str, Any] = {"target_unit": -1, "target_location": (0, 0), "queued": 0}
MALFORMED = "malformed"  # decoded form of an action the recorder could not store: {"malformed": "<its repr>"}
# What re-simulation plays for such an action: one the match drops as illegal whatever the game's state, as the
# recorded lenient match dropped the original (a malformed dict itself now raises MalformedActionError, lenient or
# not); it counts against the action budget as the original did.
_UNSTORED = {"action_type": -1}


def _int_like(value: Any) -> int | None:
    """``value`` as an int when it is one that fits an int64 (what the reader accepts), else None."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iu":
        value = value.reshape(())[()]
    if isinstance(value, int | np.integer) and INT64[0] <= int(value) <= INT64[1]:
        return int(value)
    return None


def _int_list(value: Any, length: int) -> list[int] | None:
    if not isinstance(value, np.ndarray | list | tuple):
        return None
    array = np.asarray(value)
    if array.shape != (length,) or array.dtype.kind not in "iu":
        return None
    return [int(v) for v in array]


def encode_action(action: Any, catalogue: Sequence[Any] = ACTION_TYPES) -> list[Any]:
    """Contract action dict -> compact list ``[type, selected, target_unit, [x, y], queued]``.

    Arguments the action type does not use (by ``catalogue``: the match's action types, each with ``arguments``;
    the base catalogue by default) are stored as None (the match ignores them). An action whose used
    arguments are not of the contract's form (a lenient match dropped it as illegal, e.g. an int beyond int64;
    files from before ``MalformedActionError`` also hold malformed ones) is stored as ``["malformed", repr]``: it
    decodes to ``{"malformed": repr}``, re-simulated as an action the match drops again, so the game is the same.
    """
    bad = [MALFORMED, repr(action)[:200]]
    if not isinstance(action, Mapping) or set(action) - {"action_type", *ARGUMENTS}:
        return bad
    index = _int_like(action.get("action_type"))
    if index is None:
        return bad
    used = catalogue[index].arguments if 0 <= index < len(catalogue) else ()
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


def _int64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and INT64[0] <= value <= INT64[1]


def _int64_list(value: Any, most: int) -> bool:
    return isinstance(value, list) and len(value) <= most and all(_int64(v) for v in value)


def decode_action(row: Any, path: str | Path) -> dict[str, Any]:
    """Compact list -> contract action dict (all keys; ``selected_units`` padded back to 64 with -1).

    Every value is checked first: integers that fit an int64, at most 64 selected units, a location of two."""
    if isinstance(row, list) and len(row) == 2 and row[0] == MALFORMED and isinstance(row[1], str):
        return {MALFORMED: row[1]}
    well_formed = isinstance(row, list) and len(row) == 5
    if well_formed:
        action_type, selected, target_unit, location, queued = row
        well_formed = (
            _int64(action_type)
            and (selected is None or _int64_list(selected, MAX_SELECTED_UNITS))
            and all(v is None or _int64(v) for v in (target_unit, queued))
            and (location is None or (_int64_list(location, 2) and len(location) == 2))
        )
    if not well_formed:
        expected = "expected [type, [units], target, [x, y], queued] holding int64 integers, at most 64 units"
        raise ReplayError(path, f"malformed action: {_short(row)}; {expected}")
    padded = np.full(MAX_SELECTED_UNITS, -1, dtype=np.int64)
    if selected:
        padded[: len(selected)] = selected
    return {
        "action_type": action_type,
        "selected_units": padded,
        "target_unit": _DEFAULTS["target_unit"] if target_unit is None else target_unit,
        "target_location": np.asarray(_DEFAULTS["target_location"] if location is None else location, dtype=np.int64),
        "queued": _DEFAULTS["queued"] if queued is None else queued,
    }


# ------------------------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class Labels:
    """One player's labels for a replay: per agent step, the actions demonstrator ``by`` would have sent."""

    by: str
    steps: Sequence[Sequence[Mapping[str, Any]]]


def save_replay(path: str | Path, match: Match, players: dict[int, str],
                labels: Mapping[int, Labels] | None = None) -> Path:  # fmt: skip
    """Write the replay of ``match`` (built with ``record=True``) to ``path`` atomically; return the path.

    ``players`` names who played each side, e.g. ``{1: "bot:hard", 2: "policy:ckpt-12"}``; ``labels`` holds a
    labelled player's labels, one list of actions per step of the match. The match may be finished or not (an
    unfinished game is stored with ``winner=None``).
    """
    path = Path(path)
    if not getattr(match, "record", False):
        raise ValueError("save_replay needs a Match built with record=True (it keeps every player's actions)")
    log = match.actions_log
    if sorted(players) != [1, 2]:
        raise ValueError(f"players must name players 1 and 2, got {players!r}")
    labels = dict(sorted((labels or {}).items()))
    for player, labelled in labels.items():
        if player not in (1, 2) or len(labelled.steps) != len(log):
            raise ValueError(f"labels: player {player!r} has {len(labelled.steps)} steps of labels, expected player "
                             f"1 or 2 with one per step of the match ({len(log)})")  # fmt: skip
    scenario = match.engine.scenario
    full_game = getattr(match, "full_game", None)
    header = ReplayHeader(
        engine_version=ENGINE_VERSION,
        scenario_name=scenario.name,
        scenario=None if full_game is not None or _is_shipped(scenario) else scenario_to_json(scenario),
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
        final_hash=match.state_hash(),
        labels={p: labelled.by for p, labelled in labels.items()},
        full_game=full_game,
    )
    types = match.spec.action_types
    body = [[[encode_action(a, types) for a in step.get(p, [])] for p in (1, 2)] for step in log]
    for labelled in labels.values():  # sorted by player
        for row, step in zip(body, labelled.steps, strict=True):
            row.append([encode_action(a, types) for a in step])
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
    if version not in READABLE_VERSIONS:
        raise ReplayError(path, f"unsupported format version: {version}, this reader reads {READABLE_VERSIONS}")
    for name, size, limit in (("header", head_len, LIMITS.header_bytes), ("actions", body_len, LIMITS.actions_bytes)):
        if size > _compressed_bound(limit):
            raise ReplayError(path, f"too large: the {name} section is {size} bytes compressed, more than its "
                                    f"{limit}-byte limit allows")  # fmt: skip
    return head_len, head_crc, body_len, body_crc


def _compressed_bound(size: int) -> int:
    """The most bytes zlib can take to store ``size`` bytes (incompressible data grows by a few bytes per block)."""
    return size + size // 1000 + 64


class _NotAllowed(ValueError):
    """A JSON number or constant that the section may not hold (raised from inside the parser)."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotAllowed(f"the number {text[:40]} is not finite")
    return value


def _no_float(text: str) -> float:
    raise _NotAllowed(f"the number {text[:40]} is not an integer (actions hold integers only)")


def _no_constant(text: str) -> float:
    raise _NotAllowed(f"{text} is not a number JSON allows")


def _section(path: Path, chunk: bytes, size: int, crc: int, name: str, limit: int, containers: int) -> Any:
    """Check, decompress (at most ``limit`` bytes out, whatever the input claims) and parse one section.

    Before parsing, the JSON's lists and objects are counted (an upper bound: a bracket inside a string counts
    too) against ``containers``, so a small section of many empty lists is refused before they are built."""
    if len(chunk) < size:
        raise ReplayError(path, f"truncated in the {name}: {len(chunk)} of {size} bytes present")
    if zlib.crc32(chunk) != crc:
        raise ReplayError(path, f"corrupt {name}: CRC-32 mismatch")
    stream = zlib.decompressobj()
    try:
        text = stream.decompress(chunk, limit + 1)
    except zlib.error as err:
        raise ReplayError(path, f"corrupt {name}: {err}") from err
    if len(text) > limit:
        raise ReplayError(path, f"too large: the {name} section decompresses to more than {limit} bytes (the limit)")
    if not stream.eof or stream.unused_data:
        problem = "the compressed data ends early" if not stream.eof else "bytes follow the compressed data"
        raise ReplayError(path, f"corrupt {name}: {problem}")
    found = text.count(b"[") + text.count(b"{")
    if found > containers:
        raise ReplayError(path, f"too large: the {name} hold {found} lists and objects, more than the {containers} "
                                f"the reader's limits allow")  # fmt: skip
    number = _finite if name == "header" else _no_float
    try:
        return json.loads(text, parse_float=number, parse_constant=_no_constant)
    except RecursionError as err:
        raise ReplayError(path, f"corrupt {name}: the JSON is nested too deeply") from err
    except ValueError as err:  # also UnicodeDecodeError, _NotAllowed, too many digits in an integer
        raise ReplayError(path, f"corrupt {name}: {str(err)[:120]}") from err


def _read_bytes(path: Path, size: int, offset: int = 0) -> tuple[bytes, int]:
    """(at most ``size`` bytes of ``path`` from ``offset``, the file's size)."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(size), os.fstat(f.fileno()).st_size
    except OSError as err:
        raise ReplayError(path, f"cannot be read: {err.strerror or err}") from err


def load_header(path: str | Path) -> ReplayHeader:
    """Read only the header (fast: the actions are not decompressed)."""
    return _load_header(Path(path))[0]


def _load_header(path: Path) -> tuple[ReplayHeader, int, int, int, int]:
    """(the header, where the actions start, their compressed size and CRC-32, the file's size)."""
    prefix, _ = _read_bytes(path, _PREFIX.size)
    head_len, head_crc, body_len, body_crc = _read_prefix(path, prefix)
    chunk, file_size = _read_bytes(path, head_len, _PREFIX.size)
    data = _section(path, chunk, head_len, head_crc, "header", LIMITS.header_bytes, LIMITS.header_bytes)
    header = ReplayHeader.from_json(data, path)
    version = _PREFIX.unpack_from(prefix)[1]
    if header.format_version != version:
        raise ReplayError(path, f"bad header: format_version {header.format_version}, the file's prefix says {version}")
    return header, _PREFIX.size + head_len, body_len, body_crc, file_size


def load_replay(path: str | Path) -> Replay:
    """Read and check a replay file; raises :class:`ReplayError` naming the file on any problem.

    What it reads and builds is bounded by ``LIMITS`` before it is read or built, whatever the file holds.
    """
    path = Path(path)
    header, body_start, body_len, body_crc, file_size = _load_header(path)
    chunk, _ = _read_bytes(path, body_len, body_start)
    containers = 1 + 5 * header.steps + 3 * LIMITS.actions  # the body, per step itself and one list per player and
    # labelled player, per action at most three: the action, its selection and its location
    body = _section(path, chunk, body_len, body_crc, "actions", LIMITS.actions_bytes, containers)
    if file_size != body_start + body_len:
        extra = file_size - body_start - body_len
        raise ReplayError(path, f"trailing bytes: {extra} unexpected bytes after the actions")
    actions, labels = _decode_steps(path, body, header.steps, sorted(header.labels))
    if header.full_game is not None:  # its opening is rebuilt from the map; the capacity bounds the work
        return Replay(path=path, header=header, scenario=None, actions=actions, labels=labels)
    if header.scenario is not None:
        scenario = scenario_from_json(header.scenario, path)
    elif header.scenario_name in scenario_names():  # a name only, never a path: a file names no file to read
        scenario = load_scenario(header.scenario_name)
    else:
        raise ReplayError(path, f"unknown scenario: {_short(header.scenario_name)} is not a shipped scenario")
    work = len(scenario.placements) * header.steps * header.step_mul
    if work > LIMITS.unit_loops:
        problem = (f"too large: {len(scenario.placements)} units x {header.steps * header.step_mul} game loops to "
                   f"re-simulate, more than the reader's limit of {LIMITS.unit_loops}")  # fmt: skip
        raise ReplayError(path, problem)
    return Replay(path=path, header=header, scenario=scenario, actions=actions, labels=labels)


Decoded = list[dict[int, list[dict[str, Any]]]]  # per step, per player, its actions


def _decode_steps(path: Path, body: Any, steps: int, labelled: list[int]) -> tuple[Decoded, Decoded]:
    """The actions JSON -> per step, each player's decoded actions and each ``labelled`` player's labels (shape
    and count checked before decoding)."""
    if not isinstance(body, list) or len(body) != steps:
        size = len(body) if isinstance(body, list) else type(body).__name__
        raise ReplayError(path, f"inconsistent: the actions hold {size} steps, the header says {steps}")
    width = 2 + len(labelled)
    for row in body:
        if not isinstance(row, list) or len(row) != width or not all(isinstance(r, list) for r in row):
            expected = "[player-1 actions, player-2 actions" + "".join(f", player-{p} labels" for p in labelled)
            raise ReplayError(path, f"malformed step: {_short(row)}, expected {expected}]")
    count = sum(len(part) for row in body for part in row)
    if count > LIMITS.actions:
        raise ReplayError(path, f"too large: {count} actions, more than the reader's limit of {LIMITS.actions}")
    actions = [{p: [decode_action(a, path) for a in row[p - 1]] for p in (1, 2)} for row in body]
    labels = [{p: [decode_action(a, path) for a in row[2 + i]] for i, p in enumerate(labelled)} for row in body]
    return actions, labels


@dataclass
class Replay:
    """A loaded replay: header, scenario, every player's actions and the labelled players' labels; :meth:`steps`
    re-simulates it."""

    path: Path
    header: ReplayHeader
    scenario: Scenario | None  # None for a full game (its opening comes from the header's ``full_game``)
    actions: Decoded
    labels: Decoded = field(default_factory=list)  # per step (when the header names labelled players)

    def new_match(self, batch: tuple[Any, int] | None = None) -> Match:
        """A fresh Match (a ``FullMatch`` for a full game) configured exactly like the recorded one; ``batch``: a full
        game's (BatchedEngine, slot) to play in (``FullMatch(batch=...)``)."""
        h = self.header
        if h.full_game is not None:
            from envs.skirmish.economy.match import FullMatch

            try:
                return FullMatch(h.full_game["map"], tuple(h.full_game["races"]), h.seed, step_mul=h.step_mul,
                                 max_units=h.max_units, resolution=h.resolution, fog=h.fog, lenient=h.lenient,
                                 actions_per_step=h.actions_per_step, see_all=tuple(h.see_all),
                                 income=tuple(h.full_game["income"]), batch=batch)  # fmt: skip
            except ValueError as err:
                raise ReplayError(self.path, f"bad header: the game settings are rejected ({err})") from err
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
            yield self._recorded_step(index, loop, observations, rewards, infos)
            observations = next_obs
        self._check_end(match)

    def _recorded_step(self, index: int, loop: int, observations: dict, rewards: dict, infos: dict) -> ReplayStep:
        labels = self.labels[index] if self.labels else {}
        return ReplayStep(index, loop, observations, self.actions[index], {p: float(r) for p, r in rewards.items()},
                          infos, labels)  # fmt: skip

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

    def _step(self, match: Match, index: int, actions: dict[int, list[dict[str, Any]]], half: bool = False) -> tuple:
        """Play recorded step ``index`` (``half``: only a full game's ``play_actions``, its loops played by the
        caller)."""
        if match.engine.done:
            raise ReplayDesyncError(self.path, f"desync: the game ended at step {index}, recorded {self.header.steps}")
        played = {player: [_UNSTORED if MALFORMED in a else a for a in batch] for player, batch in actions.items()}
        try:
            return match.play_actions(played) if half else match.step(played)
        except ValueError as err:  # IllegalActionError in a strict match
            raise ReplayDesyncError(self.path, f"desync: step {index}: {err}") from err

    def _check_end(self, match: Match) -> None:
        got = match.state_hash()
        if got != self.header.final_hash:
            raise ReplayDesyncError(
                self.path,
                f"desync: final state hash {got[:16]}... after {self.header.steps} steps, "
                f"recorded {self.header.final_hash[:16]}... (engine {ENGINE_VERSION}, "
                f"recorded with engine {self.header.engine_version})",
            )


def replay_together(replays: Sequence[Replay], on_step: Callable[[int, ReplayStep], None]) -> list[ReplayError | None]:
    """Re-simulate full-game replays at once in one batched engine, each exactly as its own ``steps()``: every step
    of replay i goes to ``on_step(i, step)`` in order; returns per replay the desync that ended it (None: it played
    to its recorded end and its final hash matched). Worth it for many games: their engine loops run together."""
    from envs.skirmish.economy.match import FullMatchBatch

    if not replays:
        return []
    battles = [str(r.path) for r in replays if r.header.full_game is None]
    sizes = {r.header.max_units for r in replays}
    if battles or len(sizes) > 1:
        raise ValueError(f"replay_together: expected full-game replays of one max_units, got battles {battles} and "
                         f"max_units {sorted(sizes)}")  # fmt: skip
    batch = FullMatchBatch(len(replays), batched=True, capacity=sizes.pop())
    errors: list[ReplayError | None] = [None] * len(replays)
    matches, observations = [], []
    for i, replay in enumerate(replays):
        matches.append(replay.new_match(batch=batch.engine_slot(i)))
        observations.append(batch.start(i, matches[i]))
    live, index = list(range(len(replays))), 0
    while live:
        played, loops = {}, {}
        for i in live:
            if index == len(replays[i].actions):
                try:
                    replays[i]._check_end(matches[i])
                except ReplayDesyncError as err:
                    errors[i] = err
                continue
            loops[i] = matches[i].engine.loop
            try:
                played[i] = replays[i]._step(matches[i], index, replays[i].actions[index], half=True)
            except ReplayDesyncError as err:
                errors[i] = err
        for i, (next_obs, rewards, _, _, infos) in batch.advance(played).items():
            on_step(i, replays[i]._recorded_step(index, loops[i], observations[i], rewards, infos))
            observations[i] = next_obs
        live, index = list(played), index + 1
    return errors


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
