"""Multimodal task data: WAV reading/writing, the clip folder layout and the built-in moving-shapes clips."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.tasks.data.clip_folder import ClipFolderDataset, write_clip_folder
from training.tasks.data.errors import DataError
from training.tasks.data.moving_shapes import SHAPES, MovingShapesClips
from training.tasks.data.wav import read_wav, wav_info, write_wav

PIXEL_STEP = 1 / 255
SAMPLE_STEP = 1 / 32768


def riff(data: bytes, *, fmt_tag: int = 1, channels: int = 1, rate: int = 8000, bits: int = 16) -> bytes:
    """A hand-made RIFF/WAVE file, for formats the `wave` writer cannot produce."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def write_pcm(path: Path, raw: bytes, width: int, channels: int = 1, rate: int = 8000) -> None:
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(raw)


# ----------------------------------------------------------------------------------------------------------- wav


def test_wav_round_trip_is_exact_to_16_bits(tmp_path):
    samples = np.random.default_rng(0).uniform(-1.2, 1.2, size=1000)
    write_wav(tmp_path / "a.wav", samples, 22050)
    read, rate = read_wav(tmp_path / "a.wav")
    assert rate == 22050 and read.dtype == np.float32 and read.shape == (1000,)
    assert np.abs(read - np.clip(samples, -1, 1)).max() <= SAMPLE_STEP + 1e-7
    assert wav_info(tmp_path / "a.wav").num_frames == 1000


def test_wav_reads_8_24_32_bit_pcm_and_averages_channels(tmp_path):
    write_pcm(tmp_path / "u8.wav", bytes([0, 128, 192, 255]), 1)
    u8, _ = read_wav(tmp_path / "u8.wav")
    np.testing.assert_allclose(u8, [-1.0, 0.0, 0.5, 127 / 128])

    values24 = [-(1 << 23), -1, 0, 1 << 22, (1 << 23) - 1]
    raw24 = b"".join(v.to_bytes(3, "little", signed=True) for v in values24)
    write_pcm(tmp_path / "s24.wav", raw24, 3)
    s24, _ = read_wav(tmp_path / "s24.wav")
    np.testing.assert_allclose(s24, np.array(values24) / (1 << 23), rtol=1e-6)

    write_pcm(tmp_path / "s32.wav", np.array([-(1 << 31), 1 << 30], dtype="<i4").tobytes(), 4)
    s32, _ = read_wav(tmp_path / "s32.wav")
    np.testing.assert_allclose(s32, [-1.0, 0.5])

    stereo = np.array([[16384, -16384], [8192, 8192]], dtype="<i2")  # frames x channels
    write_pcm(tmp_path / "stereo.wav", stereo.tobytes(), 2, channels=2, rate=44100)
    mono, rate = read_wav(tmp_path / "stereo.wav")
    assert rate == 44100
    np.testing.assert_allclose(mono, [0.0, 0.25])


def test_wav_errors_name_the_file(tmp_path):
    cases = {
        "text.wav": (b"hello, this is not audio at all", "RIFF"),
        "header.wav": (riff(b"\0" * 8)[:20], "RIFF"),
        "truncated.wav": (riff(b"\1\0" * 100)[:-50], "truncated"),
        "float.wav": (riff(np.zeros(4, np.float32).tobytes(), fmt_tag=3, bits=32), "format"),
        "wide.wav": (riff(b"\0" * 16, bits=64), "sample width 64"),
    }
    for name, (content, problem) in cases.items():
        (tmp_path / name).write_bytes(content)
        for reader in (read_wav, wav_info):
            with pytest.raises(DataError, match=problem) as caught:
                reader(tmp_path / name)
            assert name in str(caught.value)
    with pytest.raises(DataError, match="missing.wav"):
        read_wav(tmp_path / "missing.wav")


# --------------------------------------------------------------------------------------------------- clip folder


@pytest.mark.parametrize("frames_as", ["png", "npy"])
def test_generated_clips_round_trip_through_the_folder_layout(tmp_path, frames_as):
    source = MovingShapesClips(4, num_frames=4, image_size=16, samples_per_frame=16, num_classes=3, seed=5)
    write_clip_folder(tmp_path / "clips", (source[i] for i in range(4)), source.classes, frames_as, source.sample_rate)
    assert (tmp_path / "clips" / "manifest.csv").read_text().splitlines()[0] == "clip,label"
    stored = "frames/00003.png" if frames_as == "png" else "video.npy"
    assert (tmp_path / "clips" / "clip_00000" / stored).is_file()

    loaded = ClipFolderDataset(tmp_path / "clips", num_frames=4, image_size=16, samples_per_frame=16)
    assert loaded.classes == source.classes and len(loaded) == 4 and loaded.skipped == {}
    for i in range(4):
        item, expected = loaded[i], source[i]
        assert item["label"] == expected["label"] and isinstance(item["label"], int)
        assert item["video"].dtype == np.float32 and item["video"].shape == (4, 3, 16, 16)
        assert item["audio"].dtype == np.float32 and item["audio"].shape == (64,)
        assert np.abs(item["video"] - expected["video"]).max() <= PIXEL_STEP / 2 + 1e-6
        assert np.abs(item["audio"] - expected["audio"]).max() <= SAMPLE_STEP / 2 + 1e-7


def test_folder_takes_first_frames_resizes_pads_and_resamples(tmp_path):
    colours = np.linspace(0.2, 0.8, 6)
    video = np.broadcast_to(colours[:, None, None, None], (6, 3, 12, 12))  # one flat grey level per frame
    ramp = np.arange(20) / 40  # 20 samples at 1000 Hz
    write_clip_folder(tmp_path / "c", [{"video": video, "audio": ramp, "label": 0}], ["only"], sample_rate=1000)

    plain = ClipFolderDataset(tmp_path / "c", num_frames=4, image_size=8, samples_per_frame=8)[0]
    assert plain["video"].shape == (4, 3, 8, 8)
    expected = np.round(colours[:4] * 255) / 255
    np.testing.assert_allclose(plain["video"], np.broadcast_to(expected[:, None, None, None], (4, 3, 8, 8)), atol=1e-6)
    np.testing.assert_allclose(plain["audio"][:20], ramp, atol=SAMPLE_STEP)
    assert not plain["audio"][20:].any()  # 32 samples asked for, 20 stored: zero-padded

    upsampled = ClipFolderDataset(tmp_path / "c", 4, 8, samples_per_frame=12, sample_rate=2000)[0]["audio"]
    np.testing.assert_allclose(upsampled[:39], np.arange(39) / 80, atol=SAMPLE_STEP)  # linear ramp stays linear
    assert not upsampled[39:].any()
    downsampled = ClipFolderDataset(tmp_path / "c", 2, 8, samples_per_frame=4, sample_rate=500)[0]["audio"]
    np.testing.assert_allclose(downsampled, [*(ramp[::2]), 0, 0, 0, 0, 0, 0][:8], atol=SAMPLE_STEP)


def test_folder_reads_float_npy_classes_order_extra_columns_and_stereo(tmp_path):
    clip = tmp_path / "take one"
    clip.mkdir()
    np.save(clip / "video.npy", np.full((3, 10, 14, 3), 0.25, dtype=np.float32))  # non-square, float
    stereo = np.tile(np.array([[8192, 0]], dtype="<i2"), (40, 1))
    write_pcm(clip / "audio.wav", stereo.tobytes(), 2, channels=2)
    (tmp_path / "classes.txt").write_text("zebra\n\nant\n")
    (tmp_path / "manifest.csv").write_text('note,label,clip\n"a, comment",ant,take one\n')

    data = ClipFolderDataset(tmp_path, num_frames=2, image_size=6, samples_per_frame=10)
    assert data.classes == ["zebra", "ant"]
    item = data[0]
    assert item["label"] == 1
    np.testing.assert_allclose(item["video"], 0.25, atol=1e-6)
    assert item["video"].shape == (2, 3, 6, 6)
    np.testing.assert_allclose(item["audio"], 0.125)


def make_good_clip(directory: Path, frames: int = 2) -> None:
    (directory / "frames").mkdir(parents=True)
    for t in range(frames):
        Image.fromarray(np.full((8, 8, 3), 40 * t, dtype=np.uint8)).save(directory / "frames" / f"{t}.png")
    write_wav(directory / "audio.wav", np.zeros(16), 8000)


@pytest.mark.parametrize(
    ("manifest", "line", "problem"),
    [
        ("name,label\ngood,a\n", 1, "'clip' and 'label'"),
        ("clip,label\ngood,a\n\ngood\n", 4, "missing the 'label' field"),
        ("clip,label\ngood,a\n,a\n", 3, "missing the 'clip' field"),
        ("clip,label\ngood,a\ngood,nope\n", 3, "label 'nope' is not in classes.txt"),
        ("clip,label\ngood,a\nabsent,a\n", 3, "'absent' does not exist"),
        ("clip,label\n../outside,a\n", 2, "subdirectory"),
        ("", None, "empty"),
    ],
)
def test_manifest_errors_name_file_and_line(tmp_path, manifest, line, problem):
    make_good_clip(tmp_path / "good")
    (tmp_path / "classes.txt").write_text("a\nb\n")
    (tmp_path / "manifest.csv").write_text(manifest)
    with pytest.raises(DataError, match=problem) as caught:
        ClipFolderDataset(tmp_path, num_frames=2, image_size=8, samples_per_frame=4)
    where = "manifest.csv" if line is None else f"manifest.csv:{line}:"
    assert where in str(caught.value)


def test_classes_file_and_missing_manifest_errors(tmp_path):
    make_good_clip(tmp_path / "good")
    with pytest.raises(DataError, match="manifest.csv: missing"):
        ClipFolderDataset(tmp_path, 2, 8, 4)
    (tmp_path / "manifest.csv").write_text("clip,label\ngood,a\n")
    (tmp_path / "classes.txt").write_text("a\nb\na\n")
    with pytest.raises(DataError, match=r"classes.txt:3: duplicate class 'a' \(first on line 1\)"):
        ClipFolderDataset(tmp_path, 2, 8, 4)


def test_unusable_clips_are_skipped_and_counted(tmp_path):
    make_good_clip(tmp_path / "good")
    make_good_clip(tmp_path / "short", frames=1)
    make_good_clip(tmp_path / "corrupt")
    (tmp_path / "corrupt" / "frames" / "1.png").write_bytes(b"not a png")
    make_good_clip(tmp_path / "silent")
    (tmp_path / "silent" / "audio.wav").unlink()
    make_good_clip(tmp_path / "cut")
    wav = tmp_path / "cut" / "audio.wav"
    wav.write_bytes(wav.read_bytes()[:-5])
    make_good_clip(tmp_path / "empty", frames=0)
    (tmp_path / "badnpy").mkdir()
    (tmp_path / "badnpy" / "video.npy").write_bytes(b"\x93NUMPY garbage")
    write_wav(tmp_path / "badnpy" / "audio.wav", np.zeros(4), 8000)
    names = ["good", "short", "corrupt", "silent", "cut", "empty", "badnpy"]
    (tmp_path / "manifest.csv").write_text("clip,label\n" + "".join(f"{n},x\n" for n in names))

    data = ClipFolderDataset(tmp_path, num_frames=2, image_size=8, samples_per_frame=4)
    assert len(data) == 1 and data.classes == ["x"]
    assert data.skipped == {
        "too few frames": 1,
        "unreadable frames": 2,
        "missing audio": 1,
        "unreadable audio": 1,
        "no frames": 1,
    }
    np.testing.assert_allclose(data[0]["video"][1], 40 / 255, atol=1e-6)

    (tmp_path / "manifest.csv").write_text("clip,label\nshort,x\ncut,x\n")
    with pytest.raises(DataError, match="manifest.csv: no usable clips among 2 listed"):
        ClipFolderDataset(tmp_path, num_frames=2, image_size=8, samples_per_frame=4)


def test_write_clip_folder_rejects_bad_input(tmp_path):
    clip = {"video": np.zeros((2, 3, 4, 4)), "audio": np.zeros(8), "label": 0}
    with pytest.raises(ValueError, match="label 3"):
        write_clip_folder(tmp_path / "a", [{**clip, "label": 3}], ["x"])
    with pytest.raises(ValueError, match=r"\[T, 3, H, W\]"):
        write_clip_folder(tmp_path / "b", [{**clip, "video": np.zeros((2, 4, 4, 3))}], ["x"])
    with pytest.raises(ValueError, match="frames_as"):
        write_clip_folder(tmp_path / "c", [clip], ["x"], frames_as="jpg")
    write_clip_folder(tmp_path / "d", [clip], ["x"])
    with pytest.raises(FileExistsError):
        write_clip_folder(tmp_path / "d", [clip], ["x"])


# ------------------------------------------------------------------------------------------------ moving shapes


def test_moving_shapes_are_deterministic_and_in_range():
    data = MovingShapesClips(12, num_frames=4, image_size=16, samples_per_frame=16, seed=3)
    assert len(data) == 12 and data.classes == list(SHAPES) and data.sample_rate == 16 * 25
    again = MovingShapesClips(12, num_frames=4, image_size=16, samples_per_frame=16, seed=3)
    other = MovingShapesClips(12, num_frames=4, image_size=16, samples_per_frame=16, seed=4)
    for i in (7, 0, 11):  # any access order
        item = data[i]
        assert item["label"] == i % 10
        assert item["video"].dtype == np.float32 and item["video"].shape == (4, 3, 16, 16)
        assert item["audio"].dtype == np.float32 and item["audio"].shape == (64,)
        assert 0 <= item["video"].min() and item["video"].max() <= 1
        assert -1 <= item["audio"].min() and item["audio"].max() <= 1 and item["audio"].std() > 0.1
        assert all(np.array_equal(item[k], again[i][k]) for k in ("video", "audio"))
        assert not np.array_equal(item["video"], other[i]["video"])
    with pytest.raises(IndexError):
        data[12]
    assert MovingShapesClips(5, num_classes=3).classes == ["circle", "square", "triangle"]


@pytest.mark.parametrize(("frames", "samples_per_frame"), [(8, 32), (4, 16)])
def test_audio_pitch_names_the_class(frames, samples_per_frame):
    data = MovingShapesClips(30, num_frames=frames, image_size=16, samples_per_frame=samples_per_frame, seed=1)
    pitches = np.array([data.pitch(k) for k in range(10)])
    assert pitches.max() * 2 < data.sample_rate / 2  # the 2nd harmonic does not alias
    for i in range(30):
        item = data[i]
        audio = item["audio"]
        spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), 16 * len(audio)))
        peak = np.fft.rfftfreq(16 * len(audio), 1 / data.sample_rate)[np.argmax(spectrum)]
        assert np.argmin(np.abs(pitches - peak)) == item["label"]


def test_shape_moves_in_a_straight_line():
    data = MovingShapesClips(20, num_frames=8, image_size=32, seed=2)
    for i in range(20):
        video = data[i]["video"]
        shape = np.clip(video.max(axis=1) - 0.45, 0, None)  # the shape is bright (>= 0.85), the background dark
        areas = (shape > 0.2).sum(axis=(1, 2))
        assert areas.min() > 5 and areas.max() <= 1.6 * areas.min()
        rows, cols = np.indices(shape.shape[1:])
        centres = np.array([[(rows * w).sum(), (cols * w).sum()] / w.sum() for w in shape])
        steps = np.diff(centres, axis=0)
        assert np.linalg.norm(centres[-1] - centres[0]) > 4  # it travels
        assert np.abs(steps - steps.mean(axis=0)).max() < 1.0  # at a constant velocity


def test_shape_kinds_are_distinct():
    grid = np.linspace(-1.2, 1.2, 64)
    v, u = np.meshgrid(grid, grid, indexing="ij")
    masks = {name: mask(u, v) for name, mask in SHAPES.items()}
    for a in masks:
        for b in masks:
            if a < b:
                overlap = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
                assert overlap < 0.85, (a, b, overlap)
