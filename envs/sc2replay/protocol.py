"""A .SC2Replay's MPQ archive and its s2protocol decoding: header, details and init data.

The protocol is looked up by the replay's exact build (``m_build``); when s2protocol has no protocol for it, the
nearest lower build it has is used and the data says so (``protocol_build``, ``build_fallback``). The archive's
own headers are checked first so a truncated or foreign file gets one clear ``ReplayReadError``.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from envs.sc2.extra import require
from envs.sc2replay.errors import ReplayReadError

FEATURE = "Reading .SC2Replay files"
_USER_DATA_MAGIC = b"MPQ\x1b"  # the replay header block that precedes the MPQ archive
_ARCHIVE_MAGIC = b"MPQ\x1a"
_USER_DATA = struct.Struct("<4s3I")  # magic, user data size, archive offset, user data header size
_ARCHIVE_HEADER = struct.Struct("<4s2I")  # magic, header size, archive size


@dataclass(frozen=True)
class DecodedReplay:
    """The s2protocol view of a replay: the three decoded structures and which protocol decoded them."""

    header: dict[str, Any]
    details: dict[str, Any]
    init_data: dict[str, Any]
    protocol_build: int  # the s2protocol build whose decoder was used
    build_fallback: bool  # True when s2protocol has no protocol for the replay's exact build
    s2protocol_version: str


def check_archive(path: Path) -> None:
    """Raise ReplayReadError unless ``path`` is a whole MPQ archive behind an SC2 replay header."""
    if path.is_dir():
        raise ReplayReadError(path, "not a replay: a directory")
    if not path.is_file():
        raise ReplayReadError(path, "missing file: no such file")
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(_USER_DATA.size)
        if len(head) < _USER_DATA.size or not head.startswith(_USER_DATA_MAGIC):
            raise ReplayReadError(
                path, f"not a replay: no SC2 replay header (first bytes {head[:4]!r}, expected {_USER_DATA_MAGIC!r})"
            )
        offset = _USER_DATA.unpack(head)[2]
        f.seek(offset)
        archive = f.read(_ARCHIVE_HEADER.size)
    if len(archive) < _ARCHIVE_HEADER.size:
        raise ReplayReadError(path, f"truncated: {size} bytes, the archive header at byte {offset} is cut off")
    magic, _, archive_size = _ARCHIVE_HEADER.unpack(archive)
    if magic != _ARCHIVE_MAGIC:
        raise ReplayReadError(path, f"corrupt: no MPQ archive at byte {offset} (found {magic!r})")
    if size < offset + archive_size:
        raise ReplayReadError(path, f"truncated: {size} bytes, the archive declares {offset + archive_size}")


@cache
def available_builds() -> tuple[int, ...]:
    """The builds s2protocol has a protocol for, ascending."""
    versions = require("s2protocol.versions", FEATURE)
    return tuple(sorted(int(m.group(1)) for f in versions.list_all() if (m := re.search(r"(\d+)", f))))


def protocol_build_for(build: int) -> int | None:
    """``build`` when s2protocol has it, else the nearest lower build it has (None when there is none)."""
    lower = [b for b in available_builds() if b <= build]
    return lower[-1] if lower else None


def decode(path: Path) -> DecodedReplay:
    """Check and open the archive, pick the protocol and decode header, details and init data."""
    check_archive(path)
    mpyq = require("mpyq", FEATURE)
    versions = require("s2protocol.versions", FEATURE)
    try:
        archive = mpyq.MPQArchive(str(path), listfile=False)
        header = versions.latest().decode_replay_header(archive.header["user_data_header"]["content"])
    except Exception as exc:  # mpyq and s2protocol raise struct.error, ValueError, KeyError ... on damaged files
        raise ReplayReadError(path, f"corrupt: the archive or its replay header cannot be read ({exc!r})") from exc
    build = int(header["m_version"]["m_build"])
    protocol_build = protocol_build_for(build)
    if protocol_build is None:
        raise ReplayReadError(
            path, f"unsupported build: {build} is older than every s2protocol protocol ({available_builds()[0]}+)"
        )
    protocol = versions.build(protocol_build)
    parts = {}
    for name, member, fn in (
        ("details", "replay.details", protocol.decode_replay_details),
        ("init_data", "replay.initData", protocol.decode_replay_initdata),
    ):
        try:
            data = archive.read_file(member)
            if data is None:
                raise ReplayReadError(path, f"corrupt: the archive has no {member}")
            parts[name] = fn(data)
        except ReplayReadError:
            raise
        except Exception as exc:
            raise ReplayReadError(
                path, f"corrupt: {member} cannot be decoded with the protocol of build {protocol_build} ({exc!r})"
            ) from exc
    return DecodedReplay(
        header=header,
        details=parts["details"],
        init_data=parts["init_data"],
        protocol_build=protocol_build,
        build_fallback=protocol_build != build,
        s2protocol_version=_distribution_version("s2protocol"),
    )


def _distribution_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"
