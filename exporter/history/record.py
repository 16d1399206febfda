"""What a run leaves in the history: its time, window, row counts and every sample it published."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from exporter.config import ModelConfig
from exporter.figures import Figure, HistogramFigure
from exporter.history.samples import samples_of
from exporter.performance import class_label
from exporter.state import StateStore, StoredRun
from exporter.window import Window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowCounts:
    """The evaluation window of a run: its rows, labelled rows, rows predicted right, and time span."""

    rows: int
    labelled: int | None
    correct: int | None
    start: float | None
    end: float | None


def _text_codes(values: np.ndarray, codes_by_text: dict[str, int]) -> np.ndarray:
    """A number per value, the same for values published under the same ``class_label`` text.

    Each distinct value is converted once; ``codes_by_text`` is shared by the arrays to compare.
    """
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    lookup = [codes_by_text.setdefault(class_label(value), len(codes_by_text)) for value in distinct]
    return np.asarray(lookup, dtype=np.int64)[codes]


def window_counts(window: Window, task: str) -> WindowCounts:
    """Counts of ``window``; ``correct`` is left out for regression, where no prediction is simply right."""
    labelled = np.asarray(window.labelled, dtype=bool)
    correct: int | None = None
    if task != "regression":
        predictions, labels = np.asarray(window.predictions)[labelled], np.asarray(window.labels)[labelled]
        if predictions.dtype.kind == labels.dtype.kind and labels.dtype.kind in "iu":
            # integers of one signedness are published as their decimal text: equal texts, equal numbers
            correct = int(np.count_nonzero(predictions == labels))
        else:
            codes_by_text: dict[str, int] = {}
            correct = int(
                np.count_nonzero(_text_codes(predictions, codes_by_text) == _text_codes(labels, codes_by_text))
            )
    scored_at = np.asarray(window.scored_at, dtype=float)
    scored_at = scored_at[np.isfinite(scored_at)]
    return WindowCounts(
        rows=window.rows,
        labelled=int(labelled.sum()),
        correct=correct,
        start=float(scored_at.min()) if len(scored_at) else None,
        end=float(scored_at.max()) if len(scored_at) else None,
    )


def build_run(
    model: ModelConfig,
    run_at: float,
    scored_rows: int,
    figures: Iterable[Figure | HistogramFigure],
    counts: WindowCounts | None,
) -> StoredRun:
    samples = samples_of(figures)
    rows = counts.rows if counts is not None else int(samples.get("mlmon_window_rows", 0))
    return StoredRun(
        name=model.name,
        version=model.version,
        run_at=float(run_at),
        window_start=counts.start if counts else None,
        window_end=counts.end if counts else None,
        window_rows=rows,
        scored_rows=int(scored_rows),
        labelled_rows=counts.labelled if counts else None,
        correct_rows=counts.correct if counts else None,
        samples=samples,
    )


def record_run(
    state: StateStore,
    model: ModelConfig,
    run_at: float,
    scored_rows: int,
    figures: Iterable[Figure | HistogramFigure],
    counts: WindowCounts | None,
) -> None:
    """Keep the run in the history. A store that fails here costs the history one run, never the run."""
    try:
        state.record_run(build_run(model, run_at, scored_rows, figures, counts))
    except Exception:  # noqa: BLE001  (the figures are published already; losing one history row is the lesser harm)
        log.exception("model %s:%s: cannot keep the run in the history", model.name, model.version)
