"""Optical-flow data of issue 7: .flo files, generated pairs with exact flow, on-disk layouts, Farneback, colours."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from training.tasks.data.errors import DataError
from training.tasks.data.farneback import end_point_error, farneback_flow, to_gray_u8
from training.tasks.data.flo import read_flo, read_flo_header, valid_mask, write_flo
from training.tasks.data.flow_colour import colour_wheel, flow_to_colour
from training.tasks.data.flow_folder import FlowFolderDataset, load_flow_pair
from training.tasks.data.flow_pairs import GeneratedFlowPairs


def random_flow(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Random float32 flow [H, W, 2] for round trips."""
    return np.random.default_rng(seed).normal(0, 3, (height, width, 2)).astype(np.float32)


def bilinear_sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """image [C, H, W] sampled at points [H', W', 2] (x, y) inside the image -> [C, H', W']."""
    height, width = image.shape[1:]
    x = np.clip(points[..., 0], 0, width - 1)
    y = np.clip(points[..., 1], 0, height - 1)
    x0, y0 = np.minimum(np.floor(x).astype(int), width - 2), np.minimum(np.floor(y).astype(int), height - 2)
    fx, fy = x - x0, y - y0
    top = image[:, y0, x0] * (1 - fx) + image[:, y0, x0 + 1] * fx
    bottom = image[:, y0 + 1, x0] * (1 - fx) + image[:, y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def pixel_grid(height: int, width: int) -> np.ndarray:
    """Pixel centres [H, W, 2] as (x, y)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    return np.stack([xs, ys], axis=-1)


# ----------------------------------------------------------------------------------------------------------- .flo


def test_flo_round_trip_and_byte_layout(tmp_path):
    flow = random_flow(3, 5)
    flow[1, 2] = [1e10, -1e10]  # Middlebury's unknown flow survives as it is
    path = tmp_path / "a.flo"
    write_flo(path, flow)
    data = path.read_bytes()
    assert data[:4] == b"PIEH" and struct.unpack("<f", data[:4])[0] == 202021.25
    assert struct.unpack("<ii", data[4:12]) == (5, 3)  # width first, then height
    assert len(data) == 12 + 3 * 5 * 2 * 4
    assert struct.unpack("<ff", data[12:20]) == (flow[0, 0, 0], flow[0, 0, 1])  # (u, v) interleaved
    assert struct.unpack("<f", data[20:24])[0] == flow[0, 1, 0]  # row-major: next pixel along x
    back = read_flo(path)
    assert back.dtype == np.float32 and back.shape == (3, 5, 2)
    np.testing.assert_array_equal(back, flow)
    assert read_flo_header(path) == (3, 5)
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed into place


def test_read_flo_of_hand_written_file(tmp_path):
    path = tmp_path / "hand.flo"
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]  # 2 rows x 2 columns x (u, v)
    path.write_bytes(b"PIEH" + struct.pack("<ii", 2, 2) + struct.pack("<8f", *values))
    flow = read_flo(path)
    assert flow[0, 1].tolist() == [3.0, 4.0] and flow[1, 0].tolist() == [5.0, 6.0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PIEX" + struct.pack("<ii", 2, 2) + bytes(32), r"bad \.flo magic at byte 0: expected b'PIEH'.*found b'PIEX'"),
        (b"PIEH" + struct.pack("<ii", 0, 2), r"bad \.flo width at byte 4: expected 1\.\.100000, found 0"),
        (b"PIEH" + struct.pack("<ii", 2, -3), r"bad \.flo height at byte 8: expected 1\.\.100000, found -3"),
        (b"PIEH" + struct.pack("<ii", 200_000, 1), r"width at byte 4: expected 1\.\.100000, found 200000"),
        (
            b"PIEH" + struct.pack("<ii", 2, 2) + bytes(31),
            r"truncated \.flo payload for 2x2: expected 44 bytes, found 43",
        ),
        (
            b"PIEH" + struct.pack("<ii", 2, 2) + bytes(36),
            r"oversized \.flo payload for 2x2: expected 44 bytes, found 48",
        ),
        (b"PIE", r"truncated \.flo header: expected 12 bytes, found 3"),
    ],
)
def test_read_flo_errors_name_file_and_problem(tmp_path, content, message):
    path = tmp_path / "broken.flo"
    path.write_bytes(content)
    for reader in (read_flo, read_flo_header):
        with pytest.raises(DataError, match=message) as caught:
            reader(path)
        assert str(caught.value).startswith(f"{path}: ")


def test_read_flo_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nothing\.flo: cannot read \.flo file"):
        read_flo(tmp_path / "nothing.flo")


def test_write_flo_rejects_bad_shapes(tmp_path):
    for bad in (np.zeros((3, 4)), np.zeros((3, 4, 3)), np.zeros((0, 4, 2))):
        with pytest.raises(ValueError, match=r"\[H, W, 2\]"):
            write_flo(tmp_path / "x.flo", bad)
    assert not (tmp_path / "x.flo").exists()


def test_valid_mask_drops_unknown_and_non_finite():
    flow = np.zeros((1, 5, 2), dtype=np.float32)
    flow[0, 1, 0] = 1e10
    flow[0, 2, 1] = -2e9
    flow[0, 3, 0] = np.nan
    flow[0, 4, 1] = np.inf
    assert valid_mask(flow).tolist() == [[True, False, False, False, False]]


# ----------------------------------------------------------------------------------------------- generated pairs


def test_generated_pairs_shapes_ranges_and_determinism():
    pairs = GeneratedFlowPairs(5, seed=3)
    assert len(pairs) == 5
    frames, flow = pairs[4]
    assert frames.shape == (2, 3, 32, 48) and frames.dtype == np.float32
    assert flow.shape == (32, 48, 2) and flow.dtype == np.float32
    assert frames.min() >= 0 and frames.max() <= 1 and np.isfinite(flow).all()
    again = GeneratedFlowPairs(5, seed=3)[4]  # item i depends on (seed, i) only, not on what was read before
    np.testing.assert_array_equal(again[0], frames)
    np.testing.assert_array_equal(again[1], flow)
    other = GeneratedFlowPairs(5, seed=4)[4]
    assert not np.allclose(other[0], frames)
    assert not np.allclose(pairs[3][0], frames)
    frames, flow = GeneratedFlowPairs(1, size=(20, 30))[0]
    assert frames.shape == (2, 3, 20, 30) and flow.shape == (20, 30, 2)


def test_generated_pairs_reject_bad_arguments():
    with pytest.raises(IndexError, match="index 2 out of range for 2 pairs"):
        GeneratedFlowPairs(2)[2]
    for kwargs, message in (
        ({"num_pairs": -1}, "num_pairs"),
        ({"num_pairs": 1, "size": (1, 10)}, "size"),
        ({"num_pairs": 1, "max_scale": 1.0}, "max_scale"),
        ({"num_pairs": 1, "num_objects": (3, 1)}, "num_objects"),
    ):
        with pytest.raises(ValueError, match=message):
            GeneratedFlowPairs(**kwargs)


def test_generated_flow_maps_frame1_onto_frame2():
    """Sampling frame 2 at p + flow(p) gives back frame 1 wherever frame 1's point is still visible."""
    pairs = GeneratedFlowPairs(8, seed=1)
    grid = pixel_grid(32, 48)
    for index in range(len(pairs)):
        frames, flow, visible = pairs.with_visibility(index)
        assert visible.mean() > 0.5
        warped = bilinear_sample(frames[1], grid + flow)
        warp_error = np.abs(warped - frames[0]).mean(0)[visible].mean()
        still_error = np.abs(frames[1] - frames[0]).mean(0)[visible].mean()
        assert warp_error < 0.02 and warp_error < 0.25 * still_error
        wrong = bilinear_sample(frames[1], grid - flow)  # the opposite convention would not match
        assert np.abs(wrong - frames[0]).mean(0)[visible].mean() > 2 * warp_error


def test_generated_background_motion_is_the_stated_similarity():
    """Without objects the flow is one similarity transform about the centre, within the stated limits."""
    translation_only = GeneratedFlowPairs(3, max_rotation_deg=0, max_scale=0, num_objects=(0, 0))
    for index in range(3):
        flow = translation_only[index][1]
        assert np.ptp(flow[..., 0]) < 1e-5 and np.ptp(flow[..., 1]) < 1e-5
        assert np.abs(flow).max() <= 3.0
    pairs = GeneratedFlowPairs(3, num_objects=(0, 0))
    grid = pixel_grid(32, 48) - [23.5, 15.5]
    for index in range(3):
        flow = pairs[index][1].reshape(-1, 2).astype(np.float64)
        x, y = grid.reshape(-1, 2).T
        # q - p = t + (a - 1) p + b p_perp with a = s cos(theta), b = s sin(theta).
        design = np.stack([np.ones_like(x), x, -y], -1)
        (tx, a1, b), *_ = np.linalg.lstsq(design, flow[:, 0], rcond=None)
        (ty, a1_y, b_y), *_ = np.linalg.lstsq(np.stack([np.ones_like(x), y, x], -1), flow[:, 1], rcond=None)
        assert a1 == pytest.approx(a1_y, abs=1e-5) and b == pytest.approx(b_y, abs=1e-5)
        scale, angle = np.hypot(1 + a1, b), np.degrees(np.arctan2(b, 1 + a1))
        assert abs(tx) <= 3 and abs(ty) <= 3 and abs(scale - 1) <= 0.05 and abs(angle) <= 5
        residual = flow - np.stack([tx + a1 * x - b * y, ty + a1 * y + b * x], -1)
        assert np.abs(residual).max() < 1e-4


def test_generated_objects_move_on_their_own_and_scenes_are_textured():
    pairs = GeneratedFlowPairs(16, seed=2)
    magnitudes, local = [], []
    for index in range(len(pairs)):
        frames, flow = pairs[index]
        scene = pairs.scene(index)
        assert 1 <= len(scene.objects) <= 3
        background = scene.background_motion.apply(pixel_grid(32, 48)) - pixel_grid(32, 48)
        local.append((np.linalg.norm(flow - background, axis=-1) > 0.1).mean())
        magnitudes.append(np.linalg.norm(flow, axis=-1).mean())
        gray = frames.mean(1)
        gradient = np.hypot(*np.gradient(gray, axis=(1, 2)))
        assert (gradient > 0.005).mean() > 0.9  # texture nearly everywhere: flow is observable
    assert np.mean(local) > 0.05  # objects cover part of the frame and move differently from the background
    assert 1.5 < np.mean(magnitudes) < 4.0  # "a few pixels", as documented


# ----------------------------------------------------------------------------------------------------- farneback


def smooth_image(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random RGB float image [3, H, W] in [0, 1]."""
    noise = np.random.default_rng(seed).uniform(0, 1, (height, width, 3)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 2.0)
    blurred = (blurred - blurred.min()) / (blurred.max() - blurred.min())
    return blurred.transpose(2, 0, 1)


def test_farneback_convention_matches_ours():
    """frame2 = frame1 shifted right by 3 and down by 1: the flow is (+3, +1), channel 0 horizontal."""
    big = smooth_image(72, 88, seed=5)
    frame1, frame2 = big[:, 4:68, 4:84], big[:, 3:67, 1:81]  # frame2[y, x] = frame1[y - 1, x - 3]
    flow = farneback_flow(frame1, frame2)
    assert flow.shape == (64, 80, 2) and flow.dtype == np.float32
    inner = flow[10:-10, 10:-10].reshape(-1, 2)
    np.testing.assert_allclose(np.median(inner, axis=0), [3.0, 1.0], atol=0.25)
    back = farneback_flow(frame2, frame1)[10:-10, 10:-10].reshape(-1, 2)
    np.testing.assert_allclose(np.median(back, axis=0), [-3.0, -1.0], atol=0.25)


def test_farneback_beats_zero_flow_on_generated_pairs():
    """The baseline works on the generated data (well below the zero-flow error) but is far from perfect."""
    pairs = GeneratedFlowPairs(8)
    estimated, still = [], []
    for index in range(len(pairs)):
        frames, flow = pairs[index]
        estimated.append(end_point_error(farneback_flow(frames[0], frames[1]), flow))
        still.append(end_point_error(np.zeros_like(flow), flow))
        assert estimated[-1] < still[-1]
    assert 0.2 * np.mean(still) < np.mean(estimated) < 0.6 * np.mean(still)


def test_to_gray_and_argument_errors():
    assert to_gray_u8(np.ones((3, 2, 2))).tolist() == [[255, 255], [255, 255]]
    assert to_gray_u8(np.zeros((3, 1, 1)))[0, 0] == 0
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        to_gray_u8(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="same shape"):
        farneback_flow(np.zeros((3, 8, 8)), np.zeros((3, 8, 9)))


def test_end_point_error():
    true = np.zeros((2, 3, 2), dtype=np.float32)
    pred = true + [3.0, 4.0]
    assert end_point_error(pred, true) == pytest.approx(5.0)
    pred[0, 0] = [0.0, 0.0]
    assert end_point_error(pred, true) == pytest.approx(25 / 6)
    mask = np.ones((2, 3), dtype=bool)
    mask[0, 0] = False
    assert end_point_error(pred, true, mask) == pytest.approx(5.0)
    true[1, 1] = [1e10, 0]  # unknown true flow never counts
    assert end_point_error(pred, true, mask) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="shape"):
        end_point_error(pred[:1], true)
    with pytest.raises(ValueError, match="no pixel"):
        end_point_error(pred, true, np.zeros((2, 3), dtype=bool))


# ------------------------------------------------------------------------------------------------------- colours


def test_colour_wheel_segments():
    wheel = colour_wheel()
    assert wheel.shape == (55, 3)
    corners = {0: (255, 0, 0), 15: (255, 255, 0), 21: (0, 255, 0), 25: (0, 255, 255), 36: (0, 0, 255)}
    corners[49] = (255, 0, 255)
    for index, colour in corners.items():
        assert tuple(wheel[index]) == colour


def test_flow_to_colour():
    assert (flow_to_colour(np.zeros((2, 3, 2))) == 255).all()  # zero flow is white
    directions = np.array([[[1, 0], [0, 1], [-1, 0], [0, -1], [1e10, 0]]], dtype=np.float32)
    colours = flow_to_colour(directions)
    assert colours.dtype == np.uint8 and colours.shape == (1, 5, 3)
    right, down, left, up, unknown = (tuple(int(c) for c in colour) for colour in colours[0])
    assert len({right, down, left, up}) == 4
    assert right == (255, 0, 0)  # right red, down yellow-orange, left cyan-blue, up violet (Middlebury)
    assert down[0] == 255 and down[1] > 200 and down[2] == 0
    assert left[0] == 0 and left[2] == 255
    assert up[2] == 255 and up[0] > up[1]
    assert unknown == (0, 0, 0)
    half = flow_to_colour(directions[:, :1] / 2, max_magnitude=1.0)[0, 0]
    assert tuple(half) == (255, 127, 127)  # half the magnitude: half saturated
    beyond = flow_to_colour(directions[:, :1] * 2, max_magnitude=1.0)[0, 0]
    assert tuple(beyond) == (191, 0, 0)  # beyond the normalising magnitude: darkened
    with pytest.raises(ValueError, match=r"\[H, W, 2\]"):
        flow_to_colour(np.zeros((2, 2)))


# ----------------------------------------------------------------------------------------------- folder datasets


def save_image(path: Path, pixels: np.ndarray) -> None:
    """Write uint8 [H, W, 3] or [H, W] pixels (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def random_pixels(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def save_flo(path: Path, flow: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_flo(path, flow)


def make_sintel(root: Path) -> None:
    """Passes clean and final, scenes alley and cave with frames 1..3 and flows 1..2, plus auxiliary folders."""
    for scene_index, scene in enumerate(("alley", "cave")):
        for k in (1, 2):
            save_flo(root / "flow" / scene / f"frame_{k:04d}.flo", random_flow(6, 8, seed=10 * scene_index + k))
        for pass_index, name in enumerate(("clean", "final")):
            for k in (1, 2, 3):
                save_image(root / name / scene / f"frame_{k:04d}.png", random_pixels(6, 8, 100 * pass_index + k))
    for auxiliary in ("invalid", "occlusions", "flow_viz"):
        save_image(root / auxiliary / "alley" / "frame_0001.png", random_pixels(6, 8, 0))


def test_sintel_layout_reads_every_pass(tmp_path):
    make_sintel(tmp_path)
    dataset = FlowFolderDataset(tmp_path)
    assert dataset.layout == "sintel" and len(dataset) == 8 and dataset.skipped == {}
    first = tmp_path / "final" / "cave" / "frame_0002.png"
    index = [pair[0] for pair in dataset.pairs].index(first)
    assert dataset.pairs[index] == (first, first.with_name("frame_0003.png"), tmp_path / "flow/cave/frame_0002.flo")
    frames, flow = dataset[index]
    assert frames.shape == (2, 3, 6, 8) and frames.dtype == np.float32 and flow.dtype == np.float32
    np.testing.assert_allclose(frames[1], random_pixels(6, 8, 103).transpose(2, 0, 1) / 255, atol=1e-6)
    np.testing.assert_array_equal(flow, random_flow(6, 8, seed=12))
    assert len(FlowFolderDataset(tmp_path, layout="sintel")) == 8


def test_sintel_skips_and_counts_unusable_pairs(tmp_path):
    make_sintel(tmp_path)
    save_image(tmp_path / "clean" / "alley" / "frame_0004.png", random_pixels(6, 8, 4))  # 3 -> 4 has no flow
    (tmp_path / "flow" / "cave" / "frame_0001.flo").write_bytes(b"PIEH")  # both passes lose cave 1 -> 2
    save_flo(tmp_path / "flow" / "alley" / "frame_0002.flo", random_flow(5, 8))  # both passes lose alley 2 -> 3
    (tmp_path / "final" / "alley" / "frame_0001.png").write_bytes(b"not a png")
    dataset = FlowFolderDataset(tmp_path)
    assert dataset.skipped == {"missing flo": 1, "unreadable flo": 2, "size mismatch": 2, "unreadable image": 1}
    assert len(dataset) == 3  # clean alley 1 -> 2 and cave 2 -> 3 in both passes
    assert {pair[0].parent.parent.name for pair in dataset.pairs} == {"clean", "final"}


def test_chairs_layout_with_ppm_png_and_gray_images(tmp_path):
    save_image(tmp_path / "00001_img1.ppm", random_pixels(4, 6, 1))
    save_image(tmp_path / "00001_img2.ppm", random_pixels(4, 6, 2))
    save_flo(tmp_path / "00001_flow.flo", random_flow(4, 6, seed=1))
    gray = random_pixels(4, 6, 3)[..., 0]
    save_image(tmp_path / "00002_img1.png", gray)
    save_image(tmp_path / "00002_img2.png", gray)
    save_flo(tmp_path / "00002_flow.flo", random_flow(4, 6, seed=2))
    save_image(tmp_path / "00003_img1.ppm", random_pixels(4, 6, 4))  # no second image
    save_flo(tmp_path / "00003_flow.flo", random_flow(4, 6, seed=3))
    dataset = FlowFolderDataset(tmp_path)
    assert dataset.layout == "chairs" and len(dataset) == 2 and dataset.skipped == {"missing image": 1}
    frames, flow = dataset[0]
    np.testing.assert_allclose(frames[0], random_pixels(4, 6, 1).transpose(2, 0, 1) / 255, atol=1e-6)
    np.testing.assert_array_equal(flow, random_flow(4, 6, seed=1))
    frames, _ = dataset[1]
    assert frames.shape == (2, 3, 4, 6)
    np.testing.assert_array_equal(frames[0, 0], frames[0, 2])  # gray became RGB
    np.testing.assert_allclose(frames[0, 1], gray / 255, atol=1e-6)


def test_middlebury_layout_keeps_unknown_flow(tmp_path):
    flow = random_flow(5, 7)
    flow[0, 0] = [1e10, 1e10]
    for scene in ("Venus", "Grove2"):
        save_image(tmp_path / "other-data" / scene / "frame10.png", random_pixels(5, 7, 1)[..., 0])
        save_image(tmp_path / "other-data" / scene / "frame11.png", random_pixels(5, 7, 2)[..., 0])
    save_flo(tmp_path / "other-gt-flow" / "Venus" / "flow10.flo", flow)
    dataset = FlowFolderDataset(tmp_path)
    assert dataset.layout == "middlebury" and len(dataset) == 1 and dataset.skipped == {"missing flo": 1}
    frames, read = dataset[0]
    assert frames.shape == (2, 3, 5, 7)
    assert read[0, 0].tolist() == [1e10, 1e10] and not valid_mask(read)[0, 0] and valid_mask(read)[1:].all()


def test_folder_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("no flow here")
    with pytest.raises(DataError, match=r"no frame pairs .* \(layouts tried: sintel, chairs, middlebury\)") as caught:
        FlowFolderDataset(tmp_path)
    assert str(tmp_path) in str(caught.value)
    make_sintel(tmp_path / "s")
    with pytest.raises(DataError, match=r"layouts tried: chairs\)"):
        FlowFolderDataset(tmp_path / "s", layout="chairs")
    with pytest.raises(ValueError, match="layout must be"):
        FlowFolderDataset(tmp_path, layout="kitti")
    with pytest.raises(DataError, match="not a directory"):
        FlowFolderDataset(tmp_path / "missing")
    save_image(tmp_path / "c" / "00001_img1.png", random_pixels(4, 6, 1))
    save_image(tmp_path / "c" / "00001_img2.png", random_pixels(4, 6, 1))
    (tmp_path / "c" / "00001_flow.flo").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"skipped \{'unreadable flo': 1\}"):
        FlowFolderDataset(tmp_path / "c")


def test_pairs_load_lazily_and_size_mismatch_names_both_files(tmp_path):
    make_sintel(tmp_path)
    dataset = FlowFolderDataset(tmp_path)
    image1, image2, flo = dataset.pairs[0]
    save_flo(flo, random_flow(5, 8))  # changed after the dataset was built: noticed when the item loads
    with pytest.raises(DataError, match=r"flow is 5x8 but .*frame_0001\.png is 6x8") as caught:
        dataset[0]
    assert str(caught.value).startswith(str(flo))
    save_image(image2, random_pixels(6, 9, 0))
    with pytest.raises(DataError, match=r"image is 6x8 but .*frame_0002\.png is 6x9") as caught:
        load_flow_pair(image1, image2, flo)
    assert str(caught.value).startswith(str(image1))
    image1.unlink()
    with pytest.raises(DataError, match="cannot read image"):
        dataset[0]
