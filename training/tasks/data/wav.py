"""PCM WAV files via the stdlib `wave` module: read any 8/16/24/32-bit PCM file as float mono, write 16-bit mono."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.tasks.data.errors import DataError

# Full-scale value of a signed sample of each width (8-bit WAV is unsigned with 128 as zero).
_FULL_SCALE = {1: 128.0, 2: 32768.0, 3: 8388608.0, 4: 2147483648.0}


@dataclass(frozen=True)
class WavInfo:
    """What a WAV header says about its samples."""

    num_frames: int
    num_channels: int
    sample_width: int
    sample_rate: int


def _open(path: Path) -> wave.Wave_read:
    """Open a WAV file for reading, turning the format errors `wave` raises into a DataError naming the file."""
    try:
        return wave.open(str(path), "rb")
    except OSError as exc:
        raise DataError(path, f"cannot open ({exc.strerror or exc})") from None
    except (wave.Error, EOFError) as exc:
        raise DataError(path, f"not a readable PCM RIFF/WAVE file ({exc or 'file ends inside the header'})") from None


def _info(reader: wave.Wave_read, path: Path) -> WavInfo:
    """The header fields of an open file, checked against what `read_wav` can decode."""
    info = WavInfo(reader.getnframes(), reader.getnchannels(), reader.getsampwidth(), reader.getframerate())
    if info.sample_width not in _FULL_SCALE:
        raise DataError(path, f"unsupported sample width {8 * info.sample_width} bits (expected 8, 16, 24 or 32)")
    if info.sample_rate <= 0:
        raise DataError(path, f"sample rate {info.sample_rate} (expected a positive rate)")
    return info


def _truncation(path: Path, info: WavInfo, got_bytes: int, from_frame: int) -> DataError:
    """The error for a data chunk that holds fewer bytes than its header promises."""
    frame_bytes = info.num_channels * info.sample_width
    missing = (info.num_frames - from_frame) * frame_bytes - got_bytes
    return DataError(
        path, f"truncated: header promises {info.num_frames} frames of {frame_bytes} bytes, {missing} bytes missing"
    )


def wav_info(path: str | Path) -> WavInfo:
    """Check a WAV file without decoding it: the header parses and the last frame is present (cheap validation)."""
    path = Path(path)
    with _open(path) as reader:
        info = _info(reader, path)
        if info.num_frames > 0:
            reader.setpos(info.num_frames - 1)
            last = reader.readframes(1)
            if len(last) < info.num_channels * info.sample_width:
                raise _truncation(path, info, len(last), info.num_frames - 1)
    return info


def _decode(raw: bytes, sample_width: int) -> np.ndarray:
    """Little-endian PCM bytes -> float64 samples in [-1, 1)."""
    if sample_width == 1:
        values = np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0
    elif sample_width == 3:
        triples = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        unsigned = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        values = np.where(unsigned >= 1 << 23, unsigned - (1 << 24), unsigned).astype(np.float64)
    else:
        values = np.frombuffer(raw, dtype=f"<i{sample_width}").astype(np.float64)
    return values / _FULL_SCALE[sample_width]


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a PCM WAV file as float32 mono samples in [-1, 1] (channels averaged) and its sample rate."""
    path = Path(path)
    with _open(path) as reader:
        info = _info(reader, path)
        raw = reader.readframes(info.num_frames)
    if len(raw) < info.num_frames * info.num_channels * info.sample_width:
        raise _truncation(path, info, len(raw), 0)
    samples = _decode(raw, info.sample_width).reshape(info.num_frames, info.num_channels).mean(axis=1)
    return samples.astype(np.float32), info.sample_rate


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write float samples (clipped to [-1, 1]) as a 16-bit PCM mono WAV file; `read_wav` inverts it to 1/32768."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 1:
        raise ValueError(f"expected 1-D mono samples, got shape {samples.shape}")
    if not np.isfinite(samples).all():
        raise ValueError("samples contain NaN or infinity")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    pcm = np.clip(np.round(np.clip(samples, -1.0, 1.0) * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(int(sample_rate))
        writer.writeframes(pcm.tobytes())
