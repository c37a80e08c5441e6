"""Run folders: the one rule for every command that writes ``<run_root>/<name>/`` (``pstar bc``, ``pstar rl``,
``pstar task`` and quickstart with its sub-runs), so that nothing a user trained is lost or silently replaced.

- A new run (no ``--resume``) starts only in a new or empty folder: never over an earlier run (its checkpoints or
  ``config.yaml``) nor into a folder of other files (e.g. the replays). Otherwise it is refused with one error
  naming the folder, its latest checkpoint and what to do.
- ``--resume`` continues the folder's newest checkpoint that loads (a torn or corrupt newer one is skipped with a
  warning and set aside as ``<name>.corrupt``, so pruning cannot count it); that checkpoint must be of the
  command's kind (a BC run is never resumed as RL). A refused resume touches nothing in the folder.
- ``config.yaml`` is written once by a new run and replaced only by a resume, which warns about every setting
  that differs from the checkpoint's.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from training.checkpoint import (
    CHECKPOINTS,
    CORRUPT,
    Checkpoint,
    CheckpointError,
    checkpoint_dirs,
    load_latest,
    set_aside,
)
from training.config_io import ConfigError, flatten, to_dict
from training.writable import writable_directory

CONFIG = "config.yaml"
log = logging.getLogger("pstar.run")


def run_path(root: str | Path, name: str | None, prefix: str) -> Path:
    """``root/name``, or a new ``root/<prefix>_<timestamp>`` (``_2``, ``_3``, ... if taken) when no name is given;
    not created here."""
    if name:
        return Path(root) / name
    stamp = f"{prefix}_{time.strftime('%Y%m%d_%H%M%S')}"
    path, count = Path(root) / stamp, 1
    while path.exists():
        count += 1
        path = Path(root) / f"{stamp}_{count}"
    return path


def changed_settings(old: Any, new: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for every setting of ``new`` that differs from the ``old`` config dict (or is new)."""
    before, after = flatten(old if isinstance(old, dict) else {}), flatten(new)
    return [f"{key}: {before.get(key, '-')} -> {after.get(key, '-')}"
            for key in {**before, **after} if before.get(key) != after.get(key)]  # fmt: skip


@dataclass(frozen=True)
class RunFolder:
    """An opened run folder: where it is, the kind of checkpoints it holds, and the checkpoint a resume continues
    (loaded with its optimizer tensors; None for a new run)."""

    path: Path
    kind: str
    resumed: Checkpoint | None = None

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    def write_config(self, config: Any) -> Path:
        """Record ``config`` as ``config.yaml``: created by a new run (refused if another run created it since the
        folder was opened), replaced by a resume after warning about what changed since its checkpoint."""
        path, record = self.path / CONFIG, to_dict(config)
        text = yaml.safe_dump(record, sort_keys=False)
        if self.resumed is None:
            try:
                with open(path, "x") as file:
                    file.write(text)
            except FileExistsError as error:
                raise ConfigError(f"run folder {self.path}: another run wrote its {CONFIG} meanwhile; choose "
                                  "another name") from error  # fmt: skip
            return path
        changes = changed_settings(self.resumed.meta.get("config"), record)
        if changes:
            log.warning("resuming %s with settings that differ from its checkpoint: %s", self.resumed.path,
                        "; ".join(changes))  # fmt: skip
        tmp = path.with_name(CONFIG + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        return path


def open_run(
    root: str | Path, name: str | None, kind: str, *, resume: bool = False, prefix: str | None = None,
    name_key: str = "name", resumable: bool = True,
) -> RunFolder:  # fmt: skip
    """Apply the rule (module doc) to run folder ``root/name`` (no name: a new ``<prefix or kind>_<timestamp>``) for
    a run writing ``kind`` checkpoints; creates the folder of a new run. ``name_key`` is the setting that names the
    folder (for the hints); ``resumable``: the command has ``--resume``."""
    if resume and not name:
        raise ConfigError(f"--resume needs {name_key}=<the run folder's name under the run root>")
    path = run_path(root, name, prefix or kind)
    found = checkpoint_dirs(path / CHECKPOINTS)
    if not resume:
        what = "pass --resume to continue it, or choose" if resumable else "choose"
        if found:
            raise ConfigError(f"run folder {path} already holds checkpoints (latest {found[-1].name}); {what} "
                              f"another {name_key}= for a new run")  # fmt: skip
        if (path / CONFIG).exists():
            raise ConfigError(f"run folder {path} already holds a run (its {CONFIG}{', no checkpoint' * resumable});"
                              f" choose another {name_key}=, or delete the folder to start it over")  # fmt: skip
        if path.is_dir() and any(path.iterdir()):
            raise ConfigError(f"run folder {path} is not empty (and holds no run); a new run needs a new or empty "
                              f"folder: choose another {name_key}=")  # fmt: skip
        return RunFolder(writable_directory(path, "run folder"), kind)
    resumed = load_latest(path / CHECKPOINTS, optimizer=True)
    if resumed is None:
        held = f"none of its {len(found)} checkpoints loads (see the warnings)" if found else "it holds no checkpoint"
        raise CheckpointError(path, f"nothing to resume: {held}; start a new run without --resume")
    if resumed.kind != kind:
        raise CheckpointError(resumed.path, f"is a {resumed.kind!r} checkpoint; --resume continues a run of the same "
                              f"kind ({kind!r}), so choose another {name_key}= for a new {kind} run")  # fmt: skip
    writable_directory(path, "run folder")
    set_aside(path / CHECKPOINTS, resumed.step + 1, CORRUPT, f"newer than {resumed.path.name}, it does not load")
    return RunFolder(path, kind, resumed)
