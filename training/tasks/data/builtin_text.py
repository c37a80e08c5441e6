"""Built-in offline text data: a real prose corpus shipped with Python, and a generated sentiment task.

``reference_corpus`` returns the help texts behind ``help("topic")`` (the ``pydoc_data.topics`` module that ships
with CPython: 79 topics, about 465k characters of English prose and Python examples on 3.11). They are excerpts of
the Python language reference and library manual (PSF-licensed), so they are real, varied text but narrow in
subject and small: fine for checking that masked byte-level language modelling learns, not a substitute for a
real pre-training corpus. Topics are split by a hash of their name, so a topic's split never changes.

``generated_sentiment`` makes short review-like sentences from a small grammar with a binary label. Negation
("not", "never", "hardly") flips the polarity of a clause and in "A, but B" the second clause decides, so a model
that only counts bytes or words cannot get them all right; typos and case changes add noise. It is a synthetic
stand-in for SST-2, with none of the real data's vocabulary or ambiguity. ``write_glue_tsv`` writes such rows in
the SST-2 file format.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

SPLITS = ("train", "val")
VAL_BUCKET = 0  # a topic is in "val" when the hash of its name is 0 mod 10 (about 10% of topics)
# Sentiment grammar: how often a clause is negated and a sentence is "A, but B". Kept below one half so that word
# polarity still correlates with the label (a first foothold for learning; a bag of words scores ~0.68) while
# about half the sentences need word order to get right.
NEGATION_PROBABILITY = 0.25
CONTRAST_PROBABILITY = 0.3

SUBJECTS = (
    "the movie",
    "this film",
    "the plot",
    "the acting",
    "the soundtrack",
    "the ending",
    "the cast",
    "the script",
    "the dialogue",
    "this sequel",
    "the story",
    "the camera work",
    "the pacing",
    "the characters",
    "the final act",
)
PEOPLE = ("I", "we", "my friends", "the audience", "critics", "my sister", "everyone")
POSITIVE_ADJECTIVES = (
    "good",
    "great",
    "wonderful",
    "brilliant",
    "charming",
    "moving",
    "clever",
    "delightful",
    "gripping",
    "beautiful",
    "funny",
    "superb",
    "fresh",
    "memorable",
)
NEGATIVE_ADJECTIVES = (
    "bad",
    "awful",
    "dull",
    "boring",
    "terrible",
    "clumsy",
    "tedious",
    "bland",
    "messy",
    "forgettable",
    "weak",
    "painful",
    "lifeless",
    "predictable",
)
POSITIVE_VERBS = (
    ("love", "loved"),
    ("enjoy", "enjoyed"),
    ("like", "liked"),
    ("admire", "admired"),
    ("recommend", "recommended"),
    ("adore", "adored"),
)
NEGATIVE_VERBS = (
    ("hate", "hated"),
    ("dislike", "disliked"),
    ("regret", "regretted"),
    ("resent", "resented"),
    ("despise", "despised"),
)
INTENSIFIERS = ("very", "really", "truly", "remarkably", "quite", "utterly", "so", "extremely")
NEGATIONS = ("not", "never", "hardly")
CONTRAST = "but"
POSITIVE_WORDS = frozenset(POSITIVE_ADJECTIVES) | {form for pair in POSITIVE_VERBS for form in pair}
NEGATIVE_WORDS = frozenset(NEGATIVE_ADJECTIVES) | {form for pair in NEGATIVE_VERBS for form in pair}
_OPENERS = ("honestly, ", "well, ", "in the end, ", "frankly, ")
_ENDINGS = (".", "!", "", "...", " overall.")
_PROTECTED = frozenset((*NEGATIONS, CONTRAST))  # typos never touch the words that decide the label


def _in_val(topic: str) -> bool:
    """Whether a topic belongs to the validation split (a stable hash of its name)."""
    return int(hashlib.sha256(topic.encode("utf-8")).hexdigest(), 16) % 10 == VAL_BUCKET


def reference_corpus(split: str) -> list[str]:
    """The ``pydoc_data`` topic texts of one split ("train": ~90% of topics, "val": ~10%), sorted by topic name."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    try:
        from pydoc_data.topics import topics
    except ImportError as error:
        raise RuntimeError(
            "the built-in text corpus needs the pydoc_data module of the standard library, which this Python"
            " installation lacks (some distributions strip it); pass your own UTF-8 text files instead"
        ) from error
    return [topics[name] for name in sorted(topics) if _in_val(name) == (split == "val")]


def _pick(rng: np.random.Generator, options: tuple) -> object:
    """One option, uniformly."""
    return options[int(rng.integers(len(options)))]


def _clause(rng: np.random.Generator, polarity: int) -> str:
    """One clause of the given polarity (1 positive); a negated clause uses a word of the opposite polarity."""
    negated = bool(rng.random() < NEGATION_PROBABILITY)
    word_positive = bool(polarity) != negated
    intensifier = f"{_pick(rng, INTENSIFIERS)} " if rng.random() < 0.4 else ""
    if rng.random() < 0.6:
        adjective = _pick(rng, POSITIVE_ADJECTIVES if word_positive else NEGATIVE_ADJECTIVES)
        copula = _pick(rng, ("is", "was"))
        negation = f"{_pick(rng, NEGATIONS)} " if negated else ""
        return f"{_pick(rng, SUBJECTS)} {copula} {negation}{intensifier}{adjective}"
    base, past = _pick(rng, POSITIVE_VERBS if word_positive else NEGATIVE_VERBS)
    thing = _pick(rng, (*SUBJECTS, "it"))
    person = _pick(rng, PEOPLE)
    if not negated:
        return f"{person} {intensifier}{past} {thing}"
    negation = _pick(rng, NEGATIONS)
    return f"{person} did not {base} {thing}" if negation == "not" else f"{person} {negation} {past} {thing}"


def _typo(rng: np.random.Generator, word: str) -> str:
    """The word with one character swapped, dropped, doubled or replaced."""
    at = int(rng.integers(len(word) - 1))
    kind = int(rng.integers(4))
    if kind == 0:
        return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    if kind == 1:
        return word[:at] + word[at + 1 :]
    if kind == 2:
        return word[: at + 1] + word[at:]
    return word[:at] + chr(ord("a") + int(rng.integers(26))) + word[at + 1 :]


def _sentence(rng: np.random.Generator, label: int) -> str:
    """A review-like sentence whose sentiment is ``label``: one clause, or "opposite clause, but deciding clause"."""
    if rng.random() >= CONTRAST_PROBABILITY:
        text = _clause(rng, label)
    else:
        text = f"{_clause(rng, 1 - label)}, {CONTRAST} {_clause(rng, label)}"
    if rng.random() < 0.2:
        text = f"{_pick(rng, _OPENERS)}{text}"
    text += _pick(rng, _ENDINGS)
    words = text.split(" ")
    candidates = [i for i, word in enumerate(words) if word.isalpha() and len(word) >= 4 and word not in _PROTECTED]
    if candidates and rng.random() < 0.3:
        for i in rng.choice(candidates, size=min(len(candidates), int(rng.integers(1, 3))), replace=False):
            words[i] = _typo(rng, words[i])
    text = " ".join(words)
    return text[0].upper() + text[1:] if rng.random() < 0.5 else text


def generated_sentiment(num_samples: int, seed: int = 0) -> list[tuple[str, int]]:
    """``num_samples`` (sentence, label) pairs, label 0 negative / 1 positive, balanced and deterministic in seed."""
    if num_samples < 1:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_samples) % 2)
    return [(_sentence(rng, int(label)), int(label)) for label in labels]


def write_glue_tsv(
    path: str | Path, rows: list[tuple[str, int]], text_column: str = "sentence", label_column: str = "label"
) -> Path:
    """Write (text, label) rows as an SST-2-style TSV: a header line, then ``text<TAB>label`` per line."""
    path = Path(path)
    lines = [f"{text_column}\t{label_column}"]
    for number, (text, label) in enumerate(rows):
        if "\t" in text or "\n" in text or "\r" in text:
            raise ValueError(f"row {number}: a TSV field cannot hold tabs or line breaks: {text!r}")
        lines.append(f"{text}\t{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
