"""Running the model on a batch's valid rows, timed; bad model output fails the batch."""

from __future__ import annotations

import time
from collections.abc import Callable
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


def one_block(features: pd.DataFrame) -> pd.DataFrame:
    """``features`` over one two-dimensional array when every column is float64, else as it is.

    A batch is read with each column in its own block; an estimator turns its input into one array
    on every call (``predict``, then ``predict_proba``), so the array is made once here instead.
    """
    if features.shape[1] > 1 and (features.dtypes == np.float64).all():
        return pd.DataFrame(features.to_numpy(), index=features.index, columns=features.columns, copy=False)
    return features


def score(loaded: LoadedModel, features: pd.DataFrame, clock: Callable[[], float] = time.perf_counter) -> Scored:
    # an estimator fitted on a bare array gets one: the column order was settled when preparing the batch
    inputs = one_block(features) if loaded.feature_names is not None else features.to_numpy()
    start = clock()
    try:
        # Validation has dropped every row with a missing value, an infinity or a number too large to
        # compute with, so scikit-learn's own pass over every cell for them is skipped (two thirds of
        # a logistic regression's predict on a million rows). An estimator that makes a non-finite
        # value itself is still caught: non-finite outputs fail the batch below.
        with sklearn.config_context(assume_finite=True):
            predictions = np.asarray(loaded.estimator.predict(inputs))
            probabilities = (
                np.asarray(loaded.estimator.predict_proba(inputs), dtype=float) if loaded.has_proba else None
            )
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
