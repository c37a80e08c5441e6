"""Writers' scratch directories: a dead writer's are removed, a live writer's and another host's are kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from training.scratch import remove_dead_scratch, scratch_dir

ROOT = Path(__file__).resolve().parents[1]


def dead_writers_scratch(final: Path) -> Path:
    """The scratch directory of a process that made one for ``final`` and exited without renaming it."""
    script = (
        "from pathlib import Path\nfrom training.scratch import scratch_dir\n"
        f"print(scratch_dir(Path({str(final)!r})))"
    )
    out = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, check=True)  # fmt: skip
    return Path(out.stdout.strip())


def test_only_dead_writers_scratch_on_this_host_is_removed(tmp_path):
    dead = dead_writers_scratch(tmp_path / "ckpt_000000001")
    other_name = dead_writers_scratch(tmp_path / "notes")
    mine = scratch_dir(tmp_path / "ckpt_000000002")
    host = mine.name.split(".")[2]
    parent = tmp_path / f".ckpt_000000003.{host}.{os.getppid()}.0000abcd"  # a live writer
    remote = tmp_path / ".ckpt_000000004.another-host.1.0000abcd"
    unrelated = tmp_path / ".hidden"
    for path in (parent, remote, unrelated):
        path.mkdir()
    assert dead.is_dir() and dead.name.startswith(".ckpt_000000001.")
    removed = remove_dead_scratch(tmp_path, lambda name: name.startswith("ckpt_"))
    assert removed == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (other_name, mine, parent, remote, unrelated)
    )
    assert remove_dead_scratch(tmp_path) == [other_name]


def test_scratch_directories_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = scratch_dir(tmp_path / "cache")
    finally:
        os.umask(old)
    assert path.parent == tmp_path and path.name.startswith(".cache.")
    assert path.stat().st_mode & 0o777 == 0o755
