"""GLUE-style TSV files for sequence classification (SST-2, QNLI, RTE, MRPC, MNLI, ... as distributed by GLUE).

The first line is a header naming the columns; fields are separated by tabs with no quoting (GLUE texts hold raw
quote characters), and every row must have as many fields as the header. Items are ``(texts, label)``: the chosen
text columns as a tuple of strings (one for single sentences, two for pairs; the trainer joins pairs) and the label
index. Labels map through ``labels`` when given; otherwise labels that are all non-negative integers keep their value
and any other label set is numbered in sorted order. Test splits without a label column use ``label_column=None``
and get label -1. Any malformed line raises one DataError naming the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from torch.utils.data import Dataset

from training.tasks.data.errors import DataError

_INTEGER = re.compile(r"[0-9]+")


def _read_lines(path: Path) -> list[str]:
    """The file's lines (newline and carriage return removed), DataError when it is unreadable or not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(path, f"cannot read: {error.strerror or error}") from error
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        start = error.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        raise DataError(path, f"invalid UTF-8 at byte offset {start}", line=data.count(b"\n", 0, start) + 1) from error
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    return lines


class GlueTSVDataset(Dataset):
    """Map-style dataset of ``(texts: tuple[str, ...], label: int)`` rows from one GLUE-style TSV file."""

    def __init__(
        self,
        path: str | Path,
        text_columns: Sequence[str] = ("sentence",),
        label_column: str | None = "label",
        labels: list[str] | None = None,
    ) -> None:
        self.path = Path(path)
        if not text_columns:
            raise ValueError("text_columns must name at least one column")
        lines = _read_lines(self.path)
        if not lines:
            raise DataError(self.path, "empty file; expected a tab-separated header line", line=1)
        header = lines[0].split("\t")
        wanted = [*text_columns, *([label_column] if label_column is not None else [])]
        missing = [name for name in wanted if name not in header]
        if missing:
            raise DataError(self.path, f"missing column(s) {missing}; header has {header}", line=1)
        text_at = [header.index(name) for name in text_columns]
        label_at = header.index(label_column) if label_column is not None else None

        self.texts: list[tuple[str, ...]] = []
        raw_labels: list[tuple[int, str]] = []  # (line number, label string)
        for number, line in enumerate(lines[1:], start=2):
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) != len(header):
                raise DataError(
                    self.path,
                    f"expected {len(header)} tab-separated fields as in the header {header}, found {len(fields)}",
                    line=number,
                )
            self.texts.append(tuple(fields[at] for at in text_at))
            if label_at is not None:
                raw = fields[label_at].strip()
                if not raw:
                    raise DataError(self.path, f"empty label in column {label_column!r}", line=number)
                raw_labels.append((number, raw))
        if not self.texts:
            raise DataError(self.path, "no data rows after the header")
        self.rows = len(self.texts)
        self.labels, self.targets = self._map_labels(raw_labels, labels, label_column is not None)

    def _map_labels(
        self, raw_labels: list[tuple[int, str]], labels: list[str] | None, has_labels: bool
    ) -> tuple[list[str], list[int]]:
        """Label names and one index per row (-1 for every row of an unlabelled file)."""
        if not has_labels:
            return list(labels or []), [-1] * self.rows
        if labels is not None:
            index = {name: i for i, name in enumerate(labels)}
            for number, raw in raw_labels:
                if raw not in index:
                    raise DataError(self.path, f"label {raw!r} is not one of the given labels {labels}", line=number)
            return list(labels), [index[raw] for _, raw in raw_labels]
        if all(_INTEGER.fullmatch(raw) for _, raw in raw_labels):
            values = [int(raw) for _, raw in raw_labels]
            return [str(value) for value in range(max(values) + 1)], values
        names = sorted({raw for _, raw in raw_labels})
        index = {name: i for i, name in enumerate(names)}
        return names, [index[raw] for _, raw in raw_labels]

    def __len__(self) -> int:
        return self.rows

    def __getitem__(self, index: int) -> tuple[tuple[str, ...], int]:
        return self.texts[index], self.targets[index]
