"""95 % intervals for the realized classification figures: how far the window's figure may be from
the model's true one by chance alone.

Each figure is a share of some rows: accuracy of the labelled rows, precision of the rows predicted
positive (TP + FP), recall of the positive rows (TP + FN), and F1 = TP / (TP + (FP + FN) / 2) of
TP + (FP + FN) / 2 rows. The Wilson score interval of that share on that many rows is what
``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")`` gives. For the macro averages of a
multiclass model the number of rows is the mean of the per-class ones. The alerts fire only when
the whole interval is past the threshold, so a dip that sampling alone explains stays quiet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from exporter.figures import Figure

# scipy.stats.norm.ppf(0.975): the two-sided 95 % normal quantile.
Z95 = 1.959963984540054
INTERVAL_FAMILIES = ("mlmon_performance_interval_lower_ratio", "mlmon_performance_interval_upper_ratio")


def wilson(share: float, rows: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``share`` observed on ``rows`` rows; (0, 1) without rows."""
    if rows <= 0:
        return 0.0, 1.0
    z2 = z * z
    centre = (share + z2 / (2 * rows)) / (1 + z2 / rows)
    half = z / (1 + z2 / rows) * math.sqrt(share * (1 - share) / rows + z2 / (4 * rows * rows))
    return max(0.0, centre - half), min(1.0, centre + half)


def rows_behind(y_true: np.ndarray, y_pred: np.ndarray, positives: Iterable[int]) -> dict[str, float]:
    """How many rows accuracy, precision, recall and F1 are each a share of (averaged over ``positives``)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    called, actual, dice = [], [], []
    for cls in positives:
        tp = np.count_nonzero((y_true == cls) & (y_pred == cls))
        fp = np.count_nonzero((y_true != cls) & (y_pred == cls))
        fn = np.count_nonzero((y_true == cls) & (y_pred != cls))
        called.append(tp + fp)
        actual.append(tp + fn)
        dice.append(tp + (fp + fn) / 2)
    return {
        "accuracy": float(y_true.size),
        "precision": float(np.mean(called)),
        "recall": float(np.mean(actual)),
        "f1": float(np.mean(dice)),
    }


def interval_figures(values: dict[str, float], rows: dict[str, float]) -> list[Figure]:
    """Lower and upper 95 % bounds of each figure in ``values`` that has a row count in ``rows``."""
    figures = []
    for metric, share in values.items():
        if metric not in rows:
            continue
        for family, bound in zip(INTERVAL_FAMILIES, wilson(share, rows[metric]), strict=True):
            figures.append(Figure(family, bound, {"metric": metric}))
    return figures
