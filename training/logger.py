"""Run logging: TensorBoard event files under ``runs/<name>/`` with conventional scalar names (the folders' rule is
``training.run_folder``).

Scalar names follow cleanrl's conventions: ``charts/episodic_return``, ``charts/SPS``, ``charts/win_rate/<level>``,
``losses/<term>``; per-head metrics go under ``metrics/<head>/<name>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter


class RunLogger:
    """Scalars to TensorBoard (one event file per run directory); ``close`` flushes them to disk."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.writer = SummaryWriter(log_dir=str(self.run_dir))

    def scalar(self, name: str, value: float, step: int) -> None:
        self.writer.add_scalar(name, float(value), int(step))

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        for name, value in values.items():
            self.scalar(name, value, step)

    def text(self, name: str, value: str, step: int = 0) -> None:
        self.writer.add_text(name, value, int(step))

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
