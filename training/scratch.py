"""Writers' hidden temporary directories: made next to what they become, named after the writing host and process
(``.<name>.<host>.<pid>.<random>``), so that those of a writer killed midway (``kill -9``, out of memory) are found
and removed by the next writer, while a live writer's, or another host's on a shared disk, are left alone."""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

_SCRATCH = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)\.(?P<tag>[0-9a-f]{8})$")
log = logging.getLogger("pstar.scratch")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` (on this host) exists; this process counts as alive (its writes may be in flight)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except PermissionError:  # another user's process
        return True
    except (ProcessLookupError, OverflowError):  # gone, or a pid no process can have
        return False
    return True


def scratch_dir(final: Path) -> Path:
    """A new hidden directory next to ``final``, to be renamed into place (``mkdir`` honours the umask, so a team
    can read what is written; ``mkdtemp`` would make it 0700)."""
    while True:
        path = final.with_name(f".{final.name}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path


def remove_dead_scratch(directory: Path, names: Callable[[str], bool] = lambda name: True) -> list[Path]:
    """Remove the scratch directories in ``directory`` (for a final name ``names`` accepts) whose writer on this
    host no longer exists; returns what was removed."""
    if not directory.is_dir():
        return []
    host, removed = _host(), []
    for entry in directory.iterdir():
        match = _SCRATCH.match(entry.name)
        if match and names(match["name"]) and match["host"] == host and not _alive(int(match["pid"])):
            log.info("removing %s, left by a writer that was killed", entry)
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed
