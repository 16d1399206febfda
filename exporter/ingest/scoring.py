"""Running the model on a batch's valid rows, timed; bad model output fails the batch."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sklearn

from exporter.config import ModelConfig
from exporter.ingest.validation import BatchFailure, PreparedBatch
from exporter.model import LoadedModel
from exporter.prediction_log import read_outputs


@dataclass
class Scored:
    predictions: np.ndarray
    probabilities: np.ndarray | None
    seconds: float
    # a model served elsewhere: the latency each row logged, observed instead of ``seconds``
    latencies: np.ndarray | None = None

    @property
    def durations(self) -> list[float]:
        """The observations of the scoring-duration histogram this batch gives."""
        return [float(s) for s in self.latencies] if self.latencies is not None else [self.seconds]


def score_prepared(model: ModelConfig, loaded: LoadedModel, prepared: PreparedBatch) -> Scored:
    """The outputs of a batch's valid rows: computed by the model, or, for a model served elsewhere, as logged."""
    if prepared.outputs is None:
        return score(loaded, prepared.features)
    logged = read_outputs(prepared.outputs, model, loaded.classes)
    return Scored(logged.predictions, logged.probabilities, 0.0, logged.latencies)


# Rows scored at a time. A model scores each row on its own (scikit-learn's contract, which chunked
# batches rely on too), so a large batch is scored in pieces: the matrix the estimator makes of its
# input is a piece's, never a second copy of the whole batch. A piece holds about SCORING_BYTES of
# features (280,000 rows of 30 features, 8,000 of 1,000), never fewer than SCORING_ROWS rows: fewer,
# larger pieces spend less in the estimator's checks of its input, which cost the same for any size.
SCORING_BYTES = 64 << 20
SCORING_ROWS = 4_096


def piece_rows(columns: int) -> int:
    """Rows per scoring piece for a batch of ``columns`` features (8 bytes each)."""
    return max(SCORING_ROWS, SCORING_BYTES // (8 * max(columns, 1)))


def one_block(features: pd.DataFrame) -> pd.DataFrame:
    """``features`` over one two-dimensional array when every column is float64, else as it is.

    A batch is read with each column in its own block; an estimator turns its input into one array
    on every call (``predict``, then ``predict_proba``), so the array is made once here instead.
    """
    if features.shape[1] > 1 and (features.dtypes == np.float64).all():
        return pd.DataFrame(features.to_numpy(), index=features.index, columns=features.columns, copy=False)
    return features


def _pieces(features: pd.DataFrame, named: bool) -> Iterator[pd.DataFrame | np.ndarray]:
    # an estimator fitted on a bare array gets one: the column order was settled when preparing the batch
    rows = piece_rows(features.shape[1])
    for begin in range(0, max(len(features), 1), rows):
        piece = features.iloc[begin : begin + rows]
        yield one_block(piece) if named else piece.to_numpy()


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def score(loaded: LoadedModel, features: pd.DataFrame, clock: Callable[[], float] = time.perf_counter) -> Scored:
    start = clock()
    predicted: list[np.ndarray] = []
    probable: list[np.ndarray] = []
    try:
        # Validation has dropped every row with a missing value, an infinity or a number too large to
        # compute with, so scikit-learn's own pass over every cell for them is skipped (two thirds of
        # a logistic regression's predict on a million rows). An estimator that makes a non-finite
        # value itself is still caught: non-finite outputs fail the batch below.
        with sklearn.config_context(assume_finite=True):
            for inputs in _pieces(features, loaded.feature_names is not None):
                predicted.append(np.asarray(loaded.estimator.predict(inputs)))
                if loaded.has_proba:
                    probable.append(np.asarray(loaded.estimator.predict_proba(inputs), dtype=float))
                # freed before the next piece is made, or two pieces' matrices would be held at once
                del inputs
        predictions = _joined(predicted)
        probabilities = _joined(probable) if loaded.has_proba else None
    except Exception as exc:  # noqa: BLE001  (the estimator's own error is the reason, whatever it is)
        raise BatchFailure("scoring", f"the model could not score the batch: {type(exc).__name__}: {exc}") from exc
    seconds = clock() - start
    if len(predictions) != len(features):
        raise BatchFailure("scoring", f"the model returned {len(predictions)} predictions for {len(features)} rows")
    for name, output in (("probabilities", probabilities), ("predictions", predictions)):
        if output is not None and np.issubdtype(output.dtype, np.number) and not np.isfinite(output).all():
            bad = int((~np.isfinite(output.reshape(len(output), -1))).any(axis=1).sum())
            raise BatchFailure("scoring", f"the model returned non-finite {name} for {bad} of {len(output)} rows")
    return Scored(predictions=predictions, probabilities=probabilities, seconds=seconds)
