"""Which decoding of a replay's details and init data to trust when s2protocol has no protocol for its build.

s2protocol has no protocol between builds 32283 (Heart of the Swarm) and 51702 (3.12): a 3.0-3.11 replay decoded
with 32283's either fails or decodes without error into nonsense (a 0 x 0 or 49 x 236 map, "Slow" speed). So a
fallback decoding is accepted only when it is plausible and agrees with sc2reader's own decoding of the same two
structures (sc2reader has readers for every LotV build); otherwise sc2reader's decoding is used where it is
plausible, and where neither is, the replay is an unsupported build, named with the nearest builds s2protocol has.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from envs.sc2replay.errors import ReplayReadError
from envs.sc2replay.protocol import DecodedReplay, nearest_builds

MAP_SIZES = range(16, 257)  # map units a side of any StarCraft II map (the editor's limit is 256)
GAME_SPEEDS = range(5)  # Slower .. Faster


def settle(path: Path, decoded: DecodedReplay, replay: Any) -> DecodedReplay:
    """``decoded`` when it used the replay's own protocol or a checked fallback, else the same header with
    sc2reader's details and init data (``replay`` is sc2reader's loaded replay, None when it could not load)."""
    if not decoded.build_fallback:
        return decoded
    theirs = from_sc2reader(replay) if replay is not None else None
    ours_problem = decoded.fallback_error or implausible(decoded.details, decoded.init_data)
    theirs_problem = "sc2reader could not read the replay" if theirs is None else implausible(*theirs)
    if ours_problem is None and theirs is not None and theirs_problem is None:
        disagreement = disagree((decoded.details, decoded.init_data), theirs)
        if disagreement is None:
            return dataclasses.replace(decoded, fallback_check="agrees with sc2reader's decoding")
        ours_problem = f"it disagrees with sc2reader's decoding ({disagreement})"
    if theirs is not None and theirs_problem is None:
        details, init_data = theirs
        return dataclasses.replace(
            decoded,
            details=details,
            init_data=init_data,
            decoder="sc2reader",
            fallback_check=f"build {decoded.protocol_build}'s decoding rejected: {ours_problem}",
        )
    ours_problem = ours_problem or "nothing to check it against"
    raise ReplayReadError(
        path,
        f"unsupported build: {decoded.build} (s2protocol has none; its nearest builds are "
        f"{nearest_builds(decoded.build)}): build {decoded.protocol_build}'s decoding is not trusted ({ours_problem}) "
        f"and sc2reader's neither ({theirs_problem})",
    )


def implausible(details: dict[str, Any] | None, init_data: dict[str, Any] | None) -> str | None:
    """What makes decoded details and init data impossible for a real game, or None."""
    if details is None or init_data is None:
        return "nothing decoded"
    description = init_data["m_syncLobbyState"]["m_gameDescription"]
    size = (int(description["m_mapSizeX"]), int(description["m_mapSizeY"]))
    if not all(v in MAP_SIZES for v in size):
        return f"map {size[0]} x {size[1]}, expected {MAP_SIZES.start} to {MAP_SIZES.stop - 1} a side"
    speed = int(description.get("m_gameSpeed", -1))
    if speed not in GAME_SPEEDS:
        return f"game speed {speed}, expected 0 to 4"
    if not details["m_playerList"]:
        return "no players"
    return None


def disagree(ours: tuple[dict[str, Any], dict[str, Any]], theirs: tuple[dict[str, Any], dict[str, Any]]) -> str | None:
    """The first field two decodings of (details, init data) differ in (map size, speed, players), or None."""
    for what, (a, b) in (
        ("map size", (_map_size(ours[1]), _map_size(theirs[1]))),
        ("speed", (_speed(ours[1]), _speed(theirs[1]))),
        ("players", (_players(ours[0]), _players(theirs[0]))),
    ):
        if a != b:
            return f"{what} {a} against {b}"
    return None


def from_sc2reader(replay: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """sc2reader's decoded ``replay.details`` and ``replay.initData``, under s2protocol's field names (only the
    fields ``info.replay_info`` reads), or None when sc2reader decoded neither."""
    raw = getattr(replay, "raw_data", {}) or {}
    details, init = raw.get("replay.details"), raw.get("replay.initData")
    if not details or not init:
        return None
    description = init["game_description"]
    players = [
        {
            "m_name": p["name"],
            "m_race": p["race"],
            "m_result": p["result"],
            "m_control": p["control"],
            "m_teamId": p["team"],
            "m_handicap": p["handicap"],
            "m_observe": p["observe"],
            "m_workingSetSlotId": p["working_set_slot"],
        }
        for p in details["players"]
    ]
    slots = [
        {"m_workingSetSlotId": s["working_set_slot_id"], "m_difficulty": s["difficulty"]}
        for s in init["lobby_state"]["slots"]
    ]
    return (
        {"m_playerList": players, "m_title": details["map_name"], "m_timeUTC": details["file_time"]},
        {
            "m_syncLobbyState": {
                "m_gameDescription": {
                    "m_mapSizeX": description["map_size_x"],
                    "m_mapSizeY": description["map_size_y"],
                    "m_gameSpeed": description["game_speed"],
                    "m_gameOptions": {"m_amm": description["game_options"]["amm"]},
                },
                "m_lobbyState": {"m_slots": slots},
            }
        },
    )


def _map_size(init_data: dict[str, Any]) -> tuple[int, int]:
    description = init_data["m_syncLobbyState"]["m_gameDescription"]
    return int(description["m_mapSizeX"]), int(description["m_mapSizeY"])


def _speed(init_data: dict[str, Any]) -> int:
    return int(init_data["m_syncLobbyState"]["m_gameDescription"].get("m_gameSpeed", -1))


def _players(details: dict[str, Any]) -> list[tuple[str, str]]:
    return [(_text(p["m_name"]), _text(p["m_race"])) for p in details["m_playerList"]]


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
