"""A bag-of-words multinomial Naive Bayes classifier: the text-classification baseline that ignores word order.

It shows how much of a data set is solvable from which words occur; what a model gains beyond it comes from
order (negation, "x, but y"). Words are lower-cased runs of letters, digits and apostrophes; the second text
of a pair gets its own vocabulary (prefix ``b:``) so that pair tasks keep which side a word came from.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"[a-z0-9']+")


def words(texts: Sequence[str]) -> list[str]:
    """The lower-cased words of a (text,) or (text_a, text_b) example, side-prefixed for the second text."""
    out: list[str] = []
    for side, text in enumerate(texts):
        prefix = "" if side == 0 else "b:"
        out += [prefix + word for word in _WORD.findall(text.lower())]
    return out


class NaiveBayes:
    """Multinomial Naive Bayes over word counts with add-``alpha`` smoothing."""

    def __init__(self, num_classes: int, alpha: float = 1.0) -> None:
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.num_classes, self.alpha = num_classes, alpha
        self.vocabulary: dict[str, int] = {}
        self.log_prior = np.zeros(num_classes)
        self.log_likelihood = np.zeros((num_classes, 0))

    def fit(self, examples: Sequence[Sequence[str]], labels: Sequence[int]) -> NaiveBayes:
        """Count words per class from (texts, ...) examples and integer labels."""
        bags = [Counter(words(texts)) for texts in examples]
        for bag in bags:
            for word in bag:
                self.vocabulary.setdefault(word, len(self.vocabulary))
        counts = np.zeros((self.num_classes, len(self.vocabulary)))
        for bag, label in zip(bags, labels, strict=True):
            for word, n in bag.items():
                counts[label, self.vocabulary[word]] += n
        priors = np.bincount(np.asarray(labels), minlength=self.num_classes) + 1.0
        self.log_prior = np.log(priors / priors.sum())
        smoothed = counts + self.alpha
        self.log_likelihood = np.log(smoothed / smoothed.sum(1, keepdims=True))
        return self

    def predict(self, examples: Sequence[Sequence[str]]) -> np.ndarray:
        """The most probable class of each example; words never seen in training are ignored."""
        scores = np.tile(self.log_prior, (len(examples), 1))
        for row, texts in enumerate(examples):
            for word, n in Counter(words(texts)).items():
                column = self.vocabulary.get(word)
                if column is not None:
                    scores[row] += n * self.log_likelihood[:, column]
        return scores.argmax(1)
