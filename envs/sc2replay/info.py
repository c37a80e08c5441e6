"""What a .SC2Replay says about its game: builds, map, length and players (from s2protocol's header, details and
init data), as plain dataclasses with a JSON-friendly ``to_dict``.

Length is given in game loops and in game seconds at the "Faster" speed ladder games use (22.4 loops per second,
as in the contract's ``envs.contract.scalars``); ``game_speed`` says which speed the game was actually set to.
"""

from __future__ import annotations

import dataclasses
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from envs.contract.scalars import LOOPS_PER_SECOND
from envs.sc2replay.protocol import DecodedReplay

RESULTS = {0: "Undecided", 1: "Win", 2: "Loss", 3: "Tie"}
GAME_SPEEDS = {0: "Slower", 1: "Slow", 2: "Normal", 3: "Fast", 4: "Faster"}
# The lobby's AI difficulty, named like pysc2's sc2_env.Difficulty (and Skirmish's bot ladder).
DIFFICULTIES = {
    1: "Very Easy",
    2: "Easy",
    3: "Medium",
    4: "Medium Hard",
    5: "Hard",
    6: "Harder",
    7: "Very Hard",
    8: "Cheat Vision",
    9: "Cheat Money",
    10: "Cheat Insane",
}
CONTROL_HUMAN, CONTROL_COMPUTER = 2, 3  # details m_control
RACES = ("Terran", "Protoss", "Zerg")
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)  # details m_timeUTC counts 100 ns ticks from here


@dataclass(frozen=True)
class PlayerInfo:
    """One player of the game; AI players' commands are not recorded (``commands_recorded`` False)."""

    id: int  # player id, 1-based, as in the replay's tracker and game events
    name: str
    clan: str
    race: str
    result: str  # Win, Loss, Tie or Undecided
    is_human: bool
    team: int  # 1-based
    handicap: int
    difficulty: str | None  # AI players only, e.g. "Very Easy"
    difficulty_level: int | None  # 1 (Very Easy) .. 10 (Cheat Insane), pysc2's Difficulty values
    ai_build: str | None  # AI players only, as the lobby recorded it ("Any Build", "Rush", ...), None if absent
    commands_recorded: bool  # replays record human players' commands only


@dataclass(frozen=True)
class ReplayInfo:
    """The replay's metadata; ``notes`` lists what the reader had to approximate or could not read."""

    path: str
    release: str  # "4.0.1.59729"
    build: int  # the game build (m_build)
    base_build: int
    data_build: int | None
    protocol_build: int  # the s2protocol protocol that decoded header, details and init data
    build_fallback: bool  # s2protocol lacks ``build``: the nearest lower build's protocol was tried
    s2protocol_version: str
    metadata_decoder: str  # "s2protocol", or "sc2reader" where the fallback protocol's decoding was rejected
    ability_datapacks: tuple[str, ...]  # sc2reader datapacks the ability names come from (two: names both agree on)
    ability_check: str | None  # how a datapack that is not the replay's own was checked (``production_check``)
    map_name: str
    map_size: tuple[int, int]  # (m_mapSizeX, m_mapSizeY) of the init data's game description, in map units
    game_loops: int
    game_seconds: float  # game_loops / 22.4: seconds at "Faster" speed
    game_speed: str  # the speed the game was set to
    loops_per_second: float
    end_time_utc: str | None  # when the game ended (details m_timeUTC)
    matchmaking: bool  # automated match making (the ladder, or the Versus A.I. queue)
    players: tuple[PlayerInfo, ...]
    notes: tuple[str, ...]

    @property
    def human_players(self) -> tuple[int, ...]:
        return tuple(p.id for p in self.players if p.is_human)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly values (lists for tuples)."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def replay_info(
    path: str,
    decoded: DecodedReplay,
    *,
    ai_builds: dict[int, str],
    ability_datapacks: tuple[str, ...],
    ability_check: str | None = None,
    localized_races: dict[str, str],
) -> ReplayInfo:
    """Assemble the ReplayInfo of ``decoded``; ``ai_builds`` (player id -> build name) comes from the lobby
    attributes, ``localized_races`` maps a non-English client's race names to English."""
    version = decoded.header["m_version"]
    game_build, base_build = int(version["m_build"]), int(version["m_baseBuild"])
    release = f"{version['m_major']}.{version['m_minor']}.{version['m_revision']}.{game_build}"
    if decoded.details is None or decoded.init_data is None:
        raise ValueError(f"{path}: details and init data are not decoded (metadata.settle decides which to use)")
    lobby = decoded.init_data["m_syncLobbyState"]
    description = lobby["m_gameDescription"]
    slots = {slot.get("m_workingSetSlotId"): slot for slot in lobby["m_lobbyState"]["m_slots"]}
    players = []
    for index, entry in enumerate(decoded.details["m_playerList"]):
        if entry.get("m_observe", 0):
            continue
        player_id = index + 1
        is_human = entry["m_control"] == CONTROL_HUMAN
        slot = slots.get(entry.get("m_workingSetSlotId"), {})
        level = int(slot["m_difficulty"]) if not is_human and "m_difficulty" in slot else None
        clan, name = _split_clan(_text(entry["m_name"]))
        race = _text(entry["m_race"])
        players.append(
            PlayerInfo(
                id=player_id,
                name=name,
                clan=clan,
                race=localized_races.get(race, race),
                result=RESULTS.get(int(entry["m_result"]), f"unknown ({entry['m_result']})"),
                is_human=is_human,
                team=int(entry["m_teamId"]) + 1,
                handicap=int(entry.get("m_handicap", 100)),
                difficulty=DIFFICULTIES.get(level, f"level {level}") if level is not None else None,
                difficulty_level=level,
                ai_build=None if is_human else ai_builds.get(player_id),
                commands_recorded=is_human,
            )
        )
    loops = int(decoded.header["m_elapsedGameLoops"])
    notes = []
    if decoded.build_fallback and decoded.decoder == "sc2reader":
        notes.append(
            f"s2protocol {decoded.s2protocol_version} has no protocol for build {game_build}: details and init data "
            f"were decoded by sc2reader ({decoded.fallback_check})"
        )
    elif decoded.build_fallback:
        base = " (the replay's base build)" if decoded.protocol_build == base_build else ""
        notes.append(
            f"s2protocol {decoded.s2protocol_version} has no protocol for build {game_build}: header, details and "
            f"init data were decoded with build {decoded.protocol_build}'s{base}, which {decoded.fallback_check}"
        )
    for p in players:
        if not p.is_human:
            notes.append(f"player {p.id} ({p.name}) is an AI: replays do not record AI commands, so it has no samples")
    return ReplayInfo(
        path=str(path),
        release=release,
        build=game_build,
        base_build=base_build,
        data_build=int(decoded.header["m_dataBuildNum"]) if "m_dataBuildNum" in decoded.header else None,
        protocol_build=decoded.protocol_build,
        build_fallback=decoded.build_fallback,
        s2protocol_version=decoded.s2protocol_version,
        metadata_decoder=decoded.decoder,
        ability_datapacks=ability_datapacks,
        ability_check=ability_check,
        map_name=_text(decoded.details.get("m_title", b"")),
        map_size=(int(description["m_mapSizeX"]), int(description["m_mapSizeY"])),
        game_loops=loops,
        game_seconds=loops / LOOPS_PER_SECOND,
        game_speed=GAME_SPEEDS.get(int(description.get("m_gameSpeed", 4)), "unknown"),
        loops_per_second=LOOPS_PER_SECOND,
        end_time_utc=_filetime(decoded.details.get("m_timeUTC")),
        matchmaking=bool(description.get("m_gameOptions", {}).get("m_amm", False)),
        players=tuple(players),
        notes=tuple(notes),
    )


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _split_clan(raw: str) -> tuple[str, str]:
    """'&lt;Scyth&gt;<sp/>Gemini' -> ('Scyth', 'Gemini'): details names carry the clan tag as markup (in square
    brackets in 3.x replays: '[zeez]<sp/>Yama')."""
    text = html.unescape(raw.replace("<sp/>", " "))
    m = re.match(r"^(?:<([^>]*)>|\[([^\]]*)\])\s*(.*)$", text)
    return (m.group(1) or m.group(2) or "", m.group(3)) if m else ("", text)


def _filetime(ticks: int | None) -> str | None:
    if not ticks:
        return None
    return (_FILETIME_EPOCH + timedelta(microseconds=int(ticks) // 10)).isoformat()
