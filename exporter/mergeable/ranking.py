"""ROC AUC of a batch monitored in pieces, from score counts that merge by addition.

ROC AUC is the chance a positive row scores above a negative one, ties counting one half. Exact, it
ranks every row's score against every other. Here each row's score (a probability, in [0, 1]) is
counted in one of ``BINS`` equal bins, separately for positive and negative rows. A pair in different
bins is ordered exactly as its scores are, so only pairs sharing a bin are uncertain. Counting each
such pair as a tie (one half) is off by at most one half per pair, so the area is within

    bound = (1/2) * sum over bins of positives[b] * negatives[b] / (positives * negatives)

of the exact one. The bound comes from the counts themselves, so a batch whose scores bunch in a few
bins shows it. The area is published when the bound is at most ``PUBLISHED_BOUND``.

A binary model counts the positive class's column. A multiclass model counts every class's column,
one against the rest, and its area is their mean, as ``multiclass_metrics`` takes it, when every class
has labelled rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 1 << 15
# an area further than this from the exact one is not published
PUBLISHED_BOUND = 1e-3
# above this many classes a multiclass model keeps no counts (each class takes 2 x BINS counters)
MAX_CLASSES = 64


@dataclass
class ScoreRanks:
    """``counts[k, 1, b]``: labelled rows of class ``columns[k]`` whose score for it falls in bin ``b``;
    ``counts[k, 0, b]``: the other labelled rows."""

    columns: np.ndarray
    counts: np.ndarray
    finite: bool = True  # False once a score was not a number: the area is then NaN, as ``roc_auc`` gives

    @classmethod
    def empty(cls, columns: list[int]) -> ScoreRanks:
        return cls(np.asarray(columns, dtype=np.int64), np.zeros((len(columns), 2, BINS), dtype=np.int64))

    def update(self, true: np.ndarray, probabilities: np.ndarray) -> None:
        """Add labelled rows: ``true`` their class indices, ``probabilities`` their rows of scores."""
        for k, column in enumerate(self.columns):
            score = probabilities[:, column]
            finite = np.isfinite(score)
            if not finite.all():
                self.finite = False  # the rows that have a score still say which classes are there
            bins = np.clip((score[finite] * BINS).astype(np.int64), 0, BINS - 1)
            positive = (true[finite] == column).astype(np.int64)
            self.counts[k] += np.bincount(positive * BINS + bins, minlength=2 * BINS).reshape(2, BINS)

    def merge(self, other: ScoreRanks) -> ScoreRanks:
        return ScoreRanks(self.columns, self.counts + other.counts, self.finite and other.finite)

    def area(self, k: int) -> tuple[float, float] | None:
        """The area of ``columns[k]`` against the rest and its bound; None with a single class."""
        negative, positive = self.counts[k].astype(np.float64)
        positives, negatives = positive.sum(), negative.sum()
        if positives == 0 or negatives == 0:
            return None
        if not self.finite:
            return float("nan"), 0.0
        below = np.cumsum(negative) - negative  # negatives in lower bins
        pairs = positives * negatives
        shared = float(np.dot(positive, negative))
        return (float(np.dot(positive, below)) + shared / 2) / pairs, shared / 2 / pairs

    def roc_auc(self) -> tuple[float, float] | None:
        """The published area (the mean over the columns for several) and its bound; None when a
        column has a single class among the labelled rows."""
        areas = [self.area(k) for k in range(len(self.columns))]
        if not areas or any(a is None for a in areas):
            return None
        return float(np.mean([a[0] for a in areas])), float(np.mean([a[1] for a in areas]))  # type: ignore[index]

    def published(self) -> float | None:
        """The area as a chunked batch publishes it: only when its bound is at most ``PUBLISHED_BOUND``."""
        area = self.roc_auc()
        return area[0] if area is not None and area[1] <= PUBLISHED_BOUND else None
