"""A .SC2Replay's MPQ archive and its s2protocol decoding: header, details and init data.

The protocol is looked up by the replay's exact build (``m_build``); when s2protocol has no protocol for it, the
nearest lower build it has is tried and the data says so (``protocol_build``, ``build_fallback``); such a decoding is
only a candidate until ``metadata.settle`` has checked it against sc2reader's (a protocol of another era decodes
without error into wrong maps and speeds, or fails: then ``details`` is None and ``fallback_error`` says why). The
archive's own headers are checked first so a truncated or foreign file gets one clear ``ReplayReadError``, and so
are its sizes: mpyq and sc2reader decompress the archive's files with no output limit, so every file is first
decompressed here with one (``MAX_UNPACKED_BYTES`` for all of them together) and a decompression bomb is refused
before they see it.
"""

from __future__ import annotations

import bz2
import re
import struct
import zlib
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
_ARCHIVE_HEADER = struct.Struct("<4s2I2H4I")  # magic, header size, archive size, format version, sector size shift,
# hash table offset, block table offset, hash table entries, block table entries
MAX_ARCHIVE_BYTES = 32 << 20  # a .SC2Replay file (the 69 replays of the shared corpus: 29 KB to 571 KB)
MAX_UNPACKED_BYTES = 32 << 20  # its files decompressed, all together (the corpus's largest: 3.7 MB)
_PIECE = 1 << 20
MAX_TABLE_ENTRIES = 1 << 12  # hash or block table entries (a replay has 32 and 13 to 18)
# mpyq's block flags
_EXISTS, _COMPRESSED, _SINGLE_UNIT, _SECTOR_CRC = 0x80000000, 0x00000200, 0x01000000, 0x04000000


@dataclass(frozen=True)
class DecodedReplay:
    """The s2protocol view of a replay: the three decoded structures and which protocol decoded them (``decoder``
    "sc2reader" when ``metadata.settle`` replaced details and init data with sc2reader's decoding of them)."""

    header: dict[str, Any]
    details: dict[str, Any] | None  # None: the fallback protocol could not decode it (``fallback_error``)
    init_data: dict[str, Any] | None
    protocol_build: int  # the s2protocol build whose decoder was used
    build_fallback: bool  # True when s2protocol has no protocol for the replay's exact build
    s2protocol_version: str
    fallback_error: str | None = None
    decoder: str = "s2protocol"
    fallback_check: str | None = None  # how a fallback decoding was checked (``metadata.settle``)

    @property
    def build(self) -> int:
        return int(self.header["m_version"]["m_build"])


def check_archive(path: Path) -> None:
    """Raise ReplayReadError unless ``path`` is a whole MPQ archive behind an SC2 replay header, within the limits."""
    if path.is_dir():
        raise ReplayReadError(path, "not a replay: a directory")
    if not path.is_file():
        raise ReplayReadError(path, "missing file: no such file")
    try:
        _check_headers(path)
    except OSError as exc:
        raise ReplayReadError(path, f"cannot be read: {exc.strerror or exc}") from exc


def _check_headers(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_ARCHIVE_BYTES:
        raise ReplayReadError(path, f"too large: {size} bytes, more than the reader's limit of {MAX_ARCHIVE_BYTES}")
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
    magic, _, archive_size, _, _, _, _, hash_entries, block_entries = _ARCHIVE_HEADER.unpack(archive)
    if magic != _ARCHIVE_MAGIC:
        raise ReplayReadError(path, f"corrupt: no MPQ archive at byte {offset} (found {magic!r})")
    if size < offset + archive_size:
        raise ReplayReadError(path, f"truncated: {size} bytes, the archive declares {offset + archive_size}")
    if max(hash_entries, block_entries) > MAX_TABLE_ENTRIES:
        raise ReplayReadError(path, f"corrupt: {hash_entries} hash and {block_entries} block table entries, "
                                    f"more than the reader's limit of {MAX_TABLE_ENTRIES}")  # fmt: skip


def check_unpacked(path: Path, archive: Any) -> None:
    """Raise ReplayReadError unless the files of ``archive`` (an opened ``mpyq.MPQArchive``) decompress to at most
    ``MAX_UNPACKED_BYTES`` together, measured with a bounded decompressor the way mpyq reads them (sector by sector,
    forced or not, as sc2reader asks for both)."""
    left = MAX_UNPACKED_BYTES
    sector_size = 512 << archive.header["sector_size_shift"]
    for block in archive.block_table:
        if not block.flags & _EXISTS or block.archived_size == 0:
            continue
        if block.size > left:
            raise ReplayReadError(path, f"too large: its files declare more than {MAX_UNPACKED_BYTES} bytes unpacked")
        archive.file.seek(block.offset + archive.header["offset"])
        data = archive.file.read(block.archived_size)
        chunks = [data]
        if not block.flags & _SINGLE_UNIT:
            count = block.size // sector_size + 1 + bool(block.flags & _SECTOR_CRC)
            if len(data) < 4 * (count + 1):
                continue  # mpyq fails on it before decompressing anything
            ends = struct.unpack_from(f"<{count + 1}I", data)
            sectors = len(ends) - (2 if block.flags & _SECTOR_CRC else 1)
            chunks = [data[ends[i] : ends[i + 1]] for i in range(sectors)]
        for chunk in chunks:
            left -= _unpacked_size(chunk, left) if block.flags & _COMPRESSED else len(chunk)
            if left < 0:
                raise ReplayReadError(
                    path, f"too large: its files decompress to more than {MAX_UNPACKED_BYTES} bytes (the limit)"
                )


def _unpacked_size(chunk: bytes, limit: int) -> int:
    """The most bytes mpyq gets from ``chunk`` (decompressed, or kept as it is), counted in 1 MiB pieces and at most
    to ``limit`` + 1. Like ``bz2.decompress``, bzip2 data is read on after its stream ends, as further streams."""
    kind, data, total = chunk[:1], chunk[1:], 0
    if kind not in (b"\x02", b"\x10"):  # stored, or a compression mpyq refuses
        return len(chunk)
    stream: Any = zlib.decompressobj(15) if kind == b"\x02" else bz2.BZ2Decompressor()
    try:
        while total <= limit:
            piece = stream.decompress(data, _PIECE)
            total += len(piece)
            if kind == b"\x02":
                data = stream.unconsumed_tail
                if stream.eof or not (data or len(piece) == _PIECE):
                    break
            elif stream.eof and stream.unused_data:
                data, stream = stream.unused_data, bz2.BZ2Decompressor()
            elif stream.eof or stream.needs_input:
                break
            else:
                data = b""
    except (zlib.error, OSError, EOFError, ValueError):  # mpyq stops there too, with what came before
        pass
    return max(total, len(chunk))


@cache
def available_builds() -> tuple[int, ...]:
    """The builds s2protocol has a protocol for, ascending."""
    versions = require("s2protocol.versions", FEATURE)
    return tuple(sorted(int(m.group(1)) for f in versions.list_all() if (m := re.search(r"(\d+)", f))))


def protocol_build_for(build: int) -> int | None:
    """``build`` when s2protocol has it, else the nearest lower build it has (None when there is none)."""
    lower = [b for b in available_builds() if b <= build]
    return lower[-1] if lower else None


def nearest_builds(build: int) -> str:
    """The s2protocol builds around ``build``, for an error message: "32283 and 51702"."""
    lower = [b for b in available_builds() if b < build]
    higher = [b for b in available_builds() if b > build]
    return " and ".join(str(b) for b in (lower[-1:] + higher[:1])) or "none"


def decode(path: Path) -> DecodedReplay:
    """Check and open the archive, pick the protocol and decode header, details and init data."""
    check_archive(path)
    mpyq = require("mpyq", FEATURE)
    versions = require("s2protocol.versions", FEATURE)
    try:
        archive = mpyq.MPQArchive(str(path), listfile=False)
        header = versions.latest().decode_replay_header(archive.header["user_data_header"]["content"])
        build = int(header["m_version"]["m_build"])
    except Exception as exc:  # mpyq and s2protocol raise struct.error, ValueError, KeyError ... on damaged files
        raise ReplayReadError(path, f"corrupt: the archive or its replay header cannot be read ({exc!r})") from exc
    try:
        check_unpacked(path, archive)
    except OSError as exc:
        raise ReplayReadError(path, f"cannot be read: {exc.strerror or exc}") from exc
    protocol_build = protocol_build_for(build)
    if protocol_build is None:
        raise ReplayReadError(
            path, f"unsupported build: {build} is older than every s2protocol protocol ({available_builds()[0]}+)"
        )
    protocol = versions.build(protocol_build)
    fallback = protocol_build != build
    parts: dict[str, Any] = {"details": None, "init_data": None}
    failure = None
    for name, member, fn in (
        ("details", "replay.details", protocol.decode_replay_details),
        ("init_data", "replay.initData", protocol.decode_replay_initdata),
    ):
        try:
            data = archive.read_file(member)
        except Exception as exc:  # mpyq on a damaged block
            raise ReplayReadError(path, f"corrupt: {member} cannot be read from the archive ({exc!r:.200})") from exc
        if data is None:
            raise ReplayReadError(path, f"corrupt: the archive has no {member}")
        try:
            parts[name] = fn(data)
        except Exception as exc:
            failure = f"{member} cannot be decoded with the protocol of build {protocol_build} ({exc!r:.200})"
            if not fallback:  # the replay's own protocol fails: the file is damaged
                raise ReplayReadError(path, f"corrupt: {failure}") from exc
            parts = {"details": None, "init_data": None}  # another era's protocol: sc2reader's decoding decides
            break
    return DecodedReplay(
        header=header,
        details=parts["details"],
        init_data=parts["init_data"],
        protocol_build=protocol_build,
        build_fallback=fallback,
        s2protocol_version=_distribution_version("s2protocol"),
        fallback_error=failure,
    )


def _distribution_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"
