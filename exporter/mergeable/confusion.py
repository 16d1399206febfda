"""Confusion counts: the performance figures of classification rows, mergeable by addition."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from exporter.performance.binary import ratio


@dataclass
class ConfusionCounts:
    """``counts[true, predicted]`` over class indices."""

    counts: np.ndarray

    @classmethod
    def empty(cls, classes: int) -> ConfusionCounts:
        return cls(np.zeros((classes, classes), dtype=np.int64))

    def update(self, true: np.ndarray, predicted: np.ndarray) -> None:
        k = self.counts.shape[0]
        self.counts += np.bincount(true * k + predicted, minlength=k * k).reshape(k, k)

    def merge(self, other: ConfusionCounts) -> ConfusionCounts:
        return ConfusionCounts(self.counts + other.counts)

    def binary(self, positive: int) -> dict[str, float]:
        """Accuracy, precision, recall and F1 of the class ``positive``, as ``binary_metrics`` gives them."""
        total = int(self.counts.sum())
        if total == 0:
            return {}
        tp = int(self.counts[positive, positive])
        fp = int(self.counts[:, positive].sum()) - tp
        fn = int(self.counts[positive, :].sum()) - tp
        return {
            "accuracy": float(np.trace(self.counts) / total),
            "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn),
            "f1": ratio(2 * tp, 2 * tp + fp + fn),
        }

    def rows_behind(self, positive: int) -> dict[str, float]:
        """How many rows each of ``binary``'s figures is a share of, as ``rows_behind`` counts them."""
        tp = int(self.counts[positive, positive])
        called, actual = int(self.counts[:, positive].sum()), int(self.counts[positive, :].sum())
        return {
            "accuracy": float(self.counts.sum()),
            "precision": float(called),
            "recall": float(actual),
            "f1": tp + (called - tp + actual - tp) / 2,
        }

    @property
    def correct(self) -> int:
        return int(np.trace(self.counts))
