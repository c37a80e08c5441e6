"""Byte-level language-model data from plain UTF-8 text files: fixed-length windows of raw bytes, not tokenised.

The corpus is the files' bytes joined with one newline between documents (a leading UTF-8 byte-order mark is
dropped). Items are windows of exactly ``seq_len`` bytes starting every ``stride`` bytes; the tail that does not fill
a window is dropped, except that a corpus shorter than ``seq_len`` gives one shorter item. The trainer maps byte
``b`` to token id ``b + 6`` and does the masking. Files named explicitly must be valid UTF-8 (else DataError with
the line and byte offset); ``*.txt`` files found by scanning a directory that cannot be read or decoded are skipped
and counted in ``skipped``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from training.tasks.data.errors import DataError

_BOM = b"\xef\xbb\xbf"


def read_utf8(path: Path) -> bytes:
    """The file's bytes (without a leading BOM), checked to be UTF-8; DataError at the first bad byte's line."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(path, f"cannot read: {error.strerror or error}") from error
    data = data.removeprefix(_BOM)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise DataError(
            path,
            f"invalid UTF-8 at byte offset {error.start} (column {column}, byte 0x{data[error.start]:02x}:"
            f" {error.reason}); expected UTF-8 text",
            line=line,
        ) from error
    return data


class TextFileDataset(Dataset):
    """Windows of ``seq_len`` raw UTF-8 bytes (np.uint8 ``[seq_len]``) over the concatenation of text files."""

    def __init__(self, paths: list[str | Path], seq_len: int, stride: int | None = None) -> None:
        documents: list[bytes] = []
        self.files: list[Path] = []
        skipped: Counter[str] = Counter()
        for given in map(Path, paths):
            if given.is_dir():
                for path in sorted(p for p in given.rglob("*.txt") if p.is_file()):
                    try:
                        documents.append(read_utf8(path))
                    except DataError as error:
                        bad_text = isinstance(error.__cause__, UnicodeDecodeError)
                        skipped["invalid UTF-8" if bad_text else "unreadable"] += 1
                        continue
                    self.files.append(path)
            elif given.is_file():
                documents.append(read_utf8(given))
                self.files.append(given)
            else:
                raise DataError(given, "no such file or directory; expected a UTF-8 text file or a folder of *.txt")
        self.skipped: dict[str, int] = dict(skipped)
        where = ", ".join(map(str, paths)) or "<no paths>"
        self._build(documents, seq_len, stride, where)

    @classmethod
    def from_texts(cls, texts: list[str], seq_len: int, stride: int | None = None) -> TextFileDataset:
        """The same windows over an in-memory corpus (one document per string)."""
        dataset = cls.__new__(cls)
        dataset.files = []
        dataset.skipped = {}
        dataset._build([text.encode("utf-8") for text in texts], seq_len, stride, "<texts>")
        return dataset

    def _build(self, documents: list[bytes], seq_len: int, stride: int | None, where: str) -> None:
        """Join the non-empty documents with newlines and lay out the window starts."""
        if seq_len < 1:
            raise ValueError(f"seq_len must be positive, got {seq_len}")
        stride = seq_len if stride is None else stride
        if stride < 1:
            raise ValueError(f"stride must be positive, got {stride}")
        corpus = b"\n".join(document for document in documents if document)
        if not corpus:
            raise DataError(where, f"empty corpus (skipped: {self.skipped}); expected non-empty UTF-8 text")
        self.seq_len = seq_len
        self.stride = stride
        self.corpus = np.frombuffer(corpus, dtype=np.uint8)
        self.starts = np.arange(0, max(len(corpus) - seq_len, 0) + 1, stride)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> np.ndarray:
        start = int(self.starts[index])
        return self.corpus[start : start + self.seq_len].copy()
