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

    def multiclass(self) -> tuple[dict[str, float], dict[str, float]]:
        """``multiclass_metrics`` of the counted rows (without log loss and ROC AUC), and how many rows
        each is a share of, as ``rows_behind`` counts them over the classes present."""
        total = int(self.counts.sum())
        if total == 0:
            return {}, {}
        tp = np.diag(self.counts)
        called, actual = self.counts.sum(axis=0), self.counts.sum(axis=1)
        present = np.flatnonzero((called > 0) | (actual > 0))
        precision = [ratio(tp[c], called[c]) for c in present]
        recall = [ratio(tp[c], actual[c]) for c in present]
        f1 = [ratio(2 * tp[c], called[c] + actual[c]) for c in present]
        weights = actual[present].astype(np.float64) / total
        out = {"accuracy": float(np.trace(self.counts) / total)}
        for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
            out[name] = float(np.mean(values))
            out[f"weighted_{name}"] = float(np.dot(weights, values))
        dice = tp[present] + (called[present] - tp[present] + actual[present] - tp[present]) / 2
        rows = {
            "accuracy": float(total),
            "precision": float(np.mean(called[present])),
            "recall": float(np.mean(actual[present])),
            "f1": float(np.mean(dice)),
        }
        return out, rows

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
