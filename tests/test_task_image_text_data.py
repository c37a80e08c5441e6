"""Image and text task data: ImageFolder, generated shapes, byte windows over text files, GLUE TSV, built-in text."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torch.utils.data import DataLoader

from training.tasks.data.builtin_text import (
    CONTRAST,
    NEGATIONS,
    NEGATIVE_WORDS,
    POSITIVE_WORDS,
    generated_sentiment,
    reference_corpus,
    write_glue_tsv,
)
from training.tasks.data.errors import DataError
from training.tasks.data.glue_tsv import GlueTSVDataset
from training.tasks.data.image_folder import UNDECODABLE, ImageFolderDataset
from training.tasks.data.naive_bayes import NaiveBayes, words
from training.tasks.data.shapes import SHAPES, ShapesDataset, save_image_folder
from training.tasks.data.text_files import TextFileDataset


def three_stripes(height: int = 20) -> Image.Image:
    """A 3h x h RGB image: red, green and blue thirds from left to right."""
    pixels = np.zeros((height, 3 * height, 3), np.uint8)
    for third in range(3):
        pixels[:, third * height : (third + 1) * height, third] = 255
    return Image.fromarray(pixels)


def png_bytes(image: Image.Image) -> bytes:
    """The image encoded as PNG."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def image_tree(tmp_path: Path) -> Path:
    """cat: a striped PNG and a nested JPG; dog: a grayscale PNG, a corrupt PNG, a non-image and a truncated PNG."""
    root = tmp_path / "images"
    (root / "cat" / "nested" / "deeper").mkdir(parents=True)
    (root / "dog").mkdir()
    three_stripes().save(root / "cat" / "stripes.png")
    Image.new("RGB", (30, 30), (10, 200, 30)).save(root / "cat" / "nested" / "deeper" / "green.JPG")
    Image.new("L", (24, 16), 128).save(root / "dog" / "gray.png")
    (root / "dog" / "garbage.png").write_bytes(b"this is not a png")
    full = png_bytes(Image.new("RGB", (20, 20), (255, 0, 0)))
    (root / "dog" / "truncated.png").write_bytes(full[: len(full) // 2])
    (root / "dog" / "notes.txt").write_text("not an image")
    return root


def test_image_folder_classes_nesting_and_skips(image_tree: Path) -> None:
    data = ImageFolderDataset(image_tree, image_size=8)
    assert data.classes == ["cat", "dog"]
    assert [(path.name, label) for path, label in data.samples] == [
        ("green.JPG", 0),
        ("stripes.png", 0),
        ("gray.png", 1),
    ]
    assert data.skipped == {
        "not an image PIL can identify": 1,
        "corrupt image (PIL verify failed)": 1,
        "not an image file suffix": 1,
    }
    for index in range(len(data)):
        image, label = data[index]
        assert image.shape == (3, 8, 8) and image.dtype == np.float32
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert label == data.samples[index][1]


def test_image_folder_resize_and_centre_crop(image_tree: Path) -> None:
    data = ImageFolderDataset(image_tree, image_size=10)
    image, _ = data[1]  # 60 x 20 stripes -> 30 x 10 -> centre 10 x 10 is the green third
    assert image.shape == (3, 10, 10)
    np.testing.assert_allclose(image[:, :, 2:8].mean(axis=(1, 2)), [0.0, 1.0, 0.0], atol=0.02)


def test_image_folder_grayscale_to_rgb_and_single_channel(image_tree: Path) -> None:
    rgb, label = ImageFolderDataset(image_tree, image_size=12)[2]
    assert label == 1 and rgb.shape == (3, 12, 12)
    np.testing.assert_allclose(rgb, 128 / 255, atol=1e-6)
    gray, _ = ImageFolderDataset(image_tree, image_size=12, channels=1)[1]  # stripes in L
    assert gray.shape == (1, 12, 12)
    assert 0.4 < gray.mean() < 0.7  # green's luma, not one channel


def test_image_folder_given_classes_and_errors(image_tree: Path, tmp_path: Path) -> None:
    only_dog = ImageFolderDataset(image_tree, image_size=8, classes=["dog"])
    assert only_dog.classes == ["dog"] and [label for _, label in only_dog.samples] == [0]
    with pytest.raises(DataError, match=r"no folder for class\(es\) \['bird'\]"):
        ImageFolderDataset(image_tree, image_size=8, classes=["cat", "bird"])
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    (empty / "a" / "bad.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="no usable image") as error:
        ImageFolderDataset(empty, image_size=8)
    assert str(empty) in str(error.value)
    with pytest.raises(DataError, match="not a directory"):
        ImageFolderDataset(tmp_path / "missing", image_size=8)


def truncated_jpeg(path: Path) -> Path:
    """A JPEG cut in the middle of its scan: PIL opens and verifies it, and fails when it decodes it."""
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def test_image_folder_skips_and_counts_an_image_that_cannot_be_decoded(image_tree: Path, caplog) -> None:
    bad = truncated_jpeg(image_tree / "dog" / "cut.jpg")
    data = ImageFolderDataset(image_tree, image_size=8)
    index = [path for path, _ in data.samples].index(bad)  # it passes the start-up (header) check
    assert UNDECODABLE not in data.skipped
    with caplog.at_level(logging.WARNING, logger="pstar.tasks"):
        assert data[index] is None and data[index] is None
    assert caplog.text.count(f"skipping {bad}: passed the start-up check but cannot be decoded") == 1
    assert data.skipped[UNDECODABLE] == 1
    data = ImageFolderDataset(image_tree, image_size=8)
    loader = DataLoader(data, batch_size=2, num_workers=2, collate_fn=lambda items: [i for i in items if i])
    batches = [batch for _ in range(2) for batch in loader]  # two epochs in worker processes
    assert sum(len(batch) for batch in batches) == 2 * (len(data) - 1)
    assert data.skipped[UNDECODABLE] == 1  # counted once, seen from this process


def test_shapes_deterministic_balanced_and_sized() -> None:
    first, second = ShapesDataset(30, seed=3), ShapesDataset(30, seed=3)
    later = second[7]  # access order must not matter
    for index in (7, 0, 29):
        np.testing.assert_array_equal(first[index][0], second[index][0])
    np.testing.assert_array_equal(first[7][0], later[0])
    assert not np.array_equal(first[7][0], ShapesDataset(30, seed=4)[7][0])
    labels = [first[i][1] for i in range(len(first))]
    assert np.bincount(labels).tolist() == [3] * 10 and first.classes == list(SHAPES)
    assert [first.label(i) for i in range(len(first))] == labels
    with pytest.raises(IndexError, match="out of range"):
        first.label(30)
    assert ShapesDataset(8, num_classes=4).classes == list(SHAPES[:4])
    image, _ = ShapesDataset(2, image_size=48)[1]
    assert image.shape == (3, 48, 48) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.05
    with pytest.raises(ValueError, match="at least 32"):
        ShapesDataset(4, image_size=31)


def test_shapes_colour_does_not_give_the_class_away() -> None:
    data = ShapesDataset(400, seed=1)
    colours = np.stack([data[i][0].mean(axis=(1, 2)) for i in range(len(data))])
    labels = np.arange(len(data)) % 10
    train, test = slice(0, 200), slice(200, 400)
    centroids = np.stack([colours[train][labels[train] == k].mean(axis=0) for k in range(10)])
    guesses = np.argmin(((colours[test, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert np.mean(guesses == labels[test]) < 0.2  # mean colour predicts the class at about chance (0.1)


def test_shapes_round_trip_through_image_folder(tmp_path: Path) -> None:
    shapes = ShapesDataset(12, num_classes=3, seed=5)
    root = save_image_folder(shapes, tmp_path / "shapes")
    assert sorted(p.name for p in root.iterdir()) == sorted(shapes.classes)
    loaded = ImageFolderDataset(root, image_size=32)
    assert loaded.classes == sorted(shapes.classes) and len(loaded) == 12 and loaded.skipped == {}
    for path, label in loaded.samples:
        original, original_label = shapes[int(path.stem)]
        assert loaded.classes[label] == shapes.classes[original_label]
        np.testing.assert_allclose(loaded[loaded.samples.index((path, label))][0], original, atol=0.5 / 255 + 1e-6)


def test_text_invalid_utf8_names_file_line_and_offset(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"hello\nworld\ncaf\xe9 au lait\n")
    with pytest.raises(DataError) as error:
        TextFileDataset([bad], seq_len=4)
    message = str(error.value)
    assert f"{bad}:3:" in message and "byte offset 15" in message and "0xe9" in message
    assert error.value.line == 3


def test_text_directory_scan_skips_bad_files(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "a.txt").write_bytes("\ufeffalpha".encode())  # BOM is dropped
    (corpus / "sub" / "b.txt").write_text("béta", encoding="utf-8")
    (corpus / "bad.txt").write_bytes(b"\xff\xfe")
    (corpus / "readme.md").write_text("ignored")
    data = TextFileDataset([corpus], seq_len=64)
    assert [p.name for p in data.files] == ["a.txt", "b.txt"]
    assert data.skipped == {"invalid UTF-8": 1}
    assert len(data) == 1 and bytes(data[0]) == "alpha\nbéta".encode()
    only_bad = tmp_path / "only_bad"
    only_bad.mkdir()
    (only_bad / "bad.txt").write_bytes(b"\xc3(")
    with pytest.raises(DataError, match=r"empty corpus \(skipped: \{'invalid UTF-8': 1\}\)") as error:
        TextFileDataset([only_bad], seq_len=4)
    assert str(only_bad) in str(error.value)
    with pytest.raises(DataError, match="empty corpus"):
        TextFileDataset.from_texts(["", ""], seq_len=4)
    with pytest.raises(DataError, match="no such file"):
        TextFileDataset([tmp_path / "missing.txt"], seq_len=4)


def test_text_windows_and_stride(tmp_path: Path) -> None:
    data = TextFileDataset.from_texts(["abcdefghij"], seq_len=4)
    assert [bytes(data[i]) for i in range(len(data))] == [b"abcd", b"efgh"]  # the partial tail is dropped
    assert data[0].dtype == np.uint8 and data[0].shape == (4,) and data[0].flags.writeable
    strided = TextFileDataset.from_texts(["abcdefghij"], seq_len=4, stride=3)
    assert [bytes(strided[i]) for i in range(len(strided))] == [b"abcd", b"defg", b"ghij"]
    short = TextFileDataset.from_texts(["ab", "c"], seq_len=8)
    assert len(short) == 1 and bytes(short[0]) == b"ab\nc"
    path = tmp_path / "one.txt"
    path.write_text("é" * 5, encoding="utf-8")  # 10 bytes, windows split characters: bytes, not text
    from_file = TextFileDataset([str(path)], seq_len=3, stride=2)
    assert len(from_file) == 4 and bytes(from_file[0]) == "é".encode() + "é".encode()[:1]


def write(path: Path, text: str) -> Path:
    """Write text exactly as given (no newline translation)."""
    path.write_text(text, encoding="utf-8", newline="")
    return path


def test_glue_single_sentences_with_quotes_and_integer_labels(tmp_path: Path) -> None:
    path = write(tmp_path / "train.tsv", 'sentence\tlabel\r\nit \'s a "gem" \t1\r\nawful\t0\r\nfine\t1\r\n')
    data = GlueTSVDataset(path)
    assert data.rows == 3 and len(data) == 3 and data.labels == ["0", "1"]
    assert data[0] == (('it \'s a "gem" ',), 1) and data[1] == (("awful",), 0)


def test_glue_pairs_and_label_mapping(tmp_path: Path) -> None:
    path = write(
        tmp_path / "dev_matched.tsv",
        "index\tsentence1\tsentence2\tgold_label\n"
        "0\tA man sleeps.\tA person rests.\tentailment\n"
        "1\tA dog runs.\tA cat runs.\tcontradiction\n"
        "2\tIt rains.\tIt is Monday.\tneutral\n",
    )
    data = GlueTSVDataset(path, text_columns=["sentence1", "sentence2"], label_column="gold_label")
    assert data.labels == ["contradiction", "entailment", "neutral"]
    assert data[0] == (("A man sleeps.", "A person rests."), 1)
    order = ["entailment", "neutral", "contradiction"]
    given = GlueTSVDataset(path, text_columns=["sentence1", "sentence2"], label_column="gold_label", labels=order)
    assert given.labels == order and [given[i][1] for i in range(3)] == [0, 2, 1]
    test = write(tmp_path / "test.tsv", "index\tsentence1\tsentence2\n0\tx\ty\n")
    unlabelled = GlueTSVDataset(test, text_columns=["sentence1", "sentence2"], label_column=None)
    assert unlabelled[0] == (("x", "y"), -1) and unlabelled.labels == []


@pytest.mark.parametrize(
    ("content", "kwargs", "line", "pattern"),
    [
        ("sentence\tlabel\nok\t1\ntoo\tmany\t1\n", {}, 3, r"expected 2 tab-separated fields .* found 3"),
        ("text\tlabel\nok\t1\n", {}, 1, r"missing column\(s\) \['sentence'\]; header has \['text', 'label'\]"),
        ("sentence\tlabel\nok\t1\nno label\t \n", {}, 3, "empty label"),
        ("sentence\tlabel\nok\tpositive\nhm\tmaybe\n", {"labels": ["negative", "positive"]}, 3, "'maybe' is not one"),
        ("", {}, 1, "empty file"),
    ],
)
def test_glue_errors_name_file_and_line(tmp_path: Path, content: str, kwargs: dict, line: int, pattern: str) -> None:
    path = write(tmp_path / "broken.tsv", content)
    with pytest.raises(DataError, match=pattern) as error:
        GlueTSVDataset(path, **kwargs)
    assert str(error.value).startswith(f"{path}:{line}: ") and error.value.line == line


def test_reference_corpus_splits_are_disjoint_and_cover_all_topics() -> None:
    from pydoc_data.topics import topics

    train, val = reference_corpus("train"), reference_corpus("val")
    assert train and val and not set(train) & set(val)
    assert sorted(train + val) == sorted(topics.values())
    share = sum(map(len, val)) / sum(map(len, train + val))
    assert 0.03 < share < 0.25
    assert reference_corpus("val") == val
    with pytest.raises(ValueError, match="split"):
        reference_corpus("test")


def polarity_rule(sentence: str) -> int | None:
    """The label the grammar promises: last clause decides, negation flips; None where a typo hid the key word."""
    clause = sentence.lower().split(f", {CONTRAST} ")[-1]
    words = re.findall(r"[a-z]+", clause)
    polar = [word for word in words if word in POSITIVE_WORDS or word in NEGATIVE_WORDS]
    if len(polar) != 1:
        return None
    return int((polar[0] in POSITIVE_WORDS) != any(word in NEGATIONS for word in words))


def test_generated_sentiment_balanced_deterministic_and_order_matters(tmp_path: Path) -> None:
    rows = generated_sentiment(600, seed=2)
    assert rows == generated_sentiment(600, seed=2) and rows != generated_sentiment(600, seed=3)
    assert sum(label for _, label in rows) == 300
    checked = [(polarity_rule(text), label) for text, label in rows if polarity_rule(text) is not None]
    assert len(checked) > 0.8 * len(rows)
    assert all(rule == label for rule, label in checked)
    negated = [(text, label) for text, label in rows if any(f" {word} " in f" {text.lower()} " for word in NEGATIONS)]
    flipped = [label for text, label in negated if CONTRAST not in text.split() and polarity_rule(text) is not None]
    assert len(negated) > 0.2 * len(rows) and 0 < sum(flipped) < len(flipped)

    def first_word_polarity(text: str) -> int:
        words = [w for w in re.findall(r"[a-z]+", text.lower()) if w in POSITIVE_WORDS or w in NEGATIVE_WORDS]
        return int(bool(words) and words[0] in POSITIVE_WORDS)

    bag_accuracy = np.mean([first_word_polarity(text) == label for text, label in rows])
    assert bag_accuracy < 0.75  # word polarity without order/negation is far from enough

    path = write_glue_tsv(tmp_path / "sst.tsv", rows[:50])
    data = GlueTSVDataset(path)
    assert [(data[i][0][0], data[i][1]) for i in range(50)] == rows[:50]
    with pytest.raises(ValueError, match="tabs"):
        write_glue_tsv(tmp_path / "x.tsv", [("a\tb", 1)])


def test_naive_bayes_learns_word_evidence_and_ignores_unseen_words() -> None:
    examples = [("a great film",), ("great acting, great cast",), ("a dull film",), ("dull and slow",)]
    bayes = NaiveBayes(2).fit(examples, [1, 1, 0, 0])
    assert bayes.predict([("great",), ("dull",), ("so GREAT!",), ("slow film",)]).tolist() == [1, 0, 1, 0]
    # only unseen words: the (equal) priors decide, and the tie goes to the first class
    assert bayes.predict([("unknown words",)]).tolist() == [0]
    assert words(("It's fine", "fine")) == ["it's", "fine", "b:fine"]
    with pytest.raises(ValueError, match="num_classes"):
        NaiveBayes(1)


def test_naive_bayes_cannot_solve_the_generated_sentiment() -> None:
    """Word polarity is a foothold on the built-in classification data, but a bag of words is far from solving it."""
    train, val = generated_sentiment(2000, seed=0), generated_sentiment(500, seed=1)
    bayes = NaiveBayes(2).fit([(text,) for text, _ in train], [label for _, label in train])
    accuracy = np.mean(bayes.predict([(text,) for text, _ in val]) == [label for _, label in val])
    assert 0.55 < accuracy < 0.75
