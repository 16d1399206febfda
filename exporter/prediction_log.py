"""Models served elsewhere: their batches already carry the prediction and, optionally, probabilities.

A model entry without ``model_path`` names the logged columns instead: ``prediction_column``, and
optionally ``probability_columns`` (class -> column) and ``latency_column`` (seconds per prediction).
Nothing is loaded: the task comes from the config, the classes from ``probability_columns`` or,
without them, from the labels and predictions of the reference. From there on a logged output is
treated exactly as an output mlmon computed: every metric, drift, quality figure and label-free
estimate is the same, and late labels join by id as for any model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from exporter.config import ModelConfig
from exporter.performance import UNMATCHED, class_indices


class LoggedModelError(Exception):
    """The logged model cannot be described (its classes are unknown)."""


def output_columns(model: ModelConfig) -> list[str]:
    """The columns a batch of a logged model carries besides its features."""
    if model.prediction_column is None:
        return []
    columns = [model.prediction_column, *(model.probability_columns or {}).values()]
    if model.latency_column is not None:
        columns.append(model.latency_column)
    return columns


def required_columns(model: ModelConfig) -> list[str]:
    """The logged columns without which a batch cannot be used (latency is optional)."""
    return [c for c in output_columns(model) if c != model.latency_column]


def logged_classes(model: ModelConfig, reference: pd.DataFrame | None) -> np.ndarray | None:
    """The classes, sorted as scikit-learn sorts ``classes_``: from the config, else the reference."""
    if model.task == "regression":
        return None
    if model.probability_columns:
        return _sorted(list(model.probability_columns))
    values: list[object] = []
    if reference is not None:
        for column in (model.target_column, model.prediction_column):
            if column is not None and column in reference.columns:
                values += reference[column].dropna().tolist()
    if not values:
        raise LoggedModelError(
            "the classes are unknown: give probability_columns, or a reference with the target or prediction column"
        )
    return _sorted(values)


def _sorted(values: list[object]) -> np.ndarray:
    # integers logged as floats (1.0) are the class 1
    normalised = [v.item() if hasattr(v, "item") else v for v in values]
    normalised = [int(v) if isinstance(v, float) and v.is_integer() else v for v in normalised]
    try:
        return np.unique(np.asarray(normalised))
    except TypeError:  # mixed types: order by their text, as the labels are compared
        return np.asarray(sorted(set(normalised), key=str), dtype=object)


def settings_digest(model: ModelConfig) -> str:
    """Stands for the model file's digest: changes when what the logged outputs mean changes."""
    settings = model.model_dump(mode="json", include={"task", "prediction_column", "probability_columns"})
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


@dataclass
class OutputCheck:
    missing: np.ndarray  # rows without a prediction or a probability
    bad_type: np.ndarray  # rows whose prediction is no class (or no number) or whose probability is no number


def check_outputs(frame: pd.DataFrame, model: ModelConfig, classes: np.ndarray | None) -> OutputCheck:
    """Rows whose logged outputs cannot stand for a model's: missing values, unknown classes, non-numbers."""
    rows = len(frame)
    missing = np.zeros(rows, dtype=bool)
    bad = np.zeros(rows, dtype=bool)
    if model.prediction_column is None:
        return OutputCheck(missing, bad)
    predicted = frame[model.prediction_column]
    missing |= predicted.isna().to_numpy()
    if classes is None:
        bad |= ~_finite(predicted)
    else:
        bad |= class_indices(predicted.to_numpy(dtype=object), classes) == UNMATCHED
    for column in (model.probability_columns or {}).values():
        missing |= frame[column].isna().to_numpy()
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        bad |= ~(np.isfinite(values) & (values >= 0) & (values <= 1))
    return OutputCheck(missing, bad & ~missing)


def _finite(column: pd.Series) -> np.ndarray:
    return np.isfinite(pd.to_numeric(column, errors="coerce").to_numpy(dtype=float))


@dataclass
class LoggedOutputs:
    predictions: np.ndarray
    probabilities: np.ndarray | None  # (rows, classes), columns in the order of the classes
    latencies: np.ndarray  # seconds, one per row that logged one


def read_outputs(frame: pd.DataFrame, model: ModelConfig, classes: np.ndarray | None) -> LoggedOutputs:
    """The logged outputs of rows ``check_outputs`` passed, as a model would have returned them."""
    assert model.prediction_column is not None
    raw = frame[model.prediction_column]
    if classes is None:
        predictions = pd.to_numeric(raw).to_numpy(dtype=float)
    else:
        predictions = np.asarray(classes)[class_indices(raw.to_numpy(dtype=object), classes)]
    probabilities = None
    if model.probability_columns:
        by_class = {str(k): v for k, v in model.probability_columns.items()}
        columns = [by_class[str(c.item() if hasattr(c, "item") else c)] for c in classes]  # type: ignore[union-attr]
        probabilities = frame[columns].apply(pd.to_numeric).to_numpy(dtype=float)
    latencies = np.empty(0)
    if model.latency_column is not None and model.latency_column in frame.columns:
        values = pd.to_numeric(frame[model.latency_column], errors="coerce").to_numpy(dtype=float)
        latencies = values[np.isfinite(values) & (values >= 0)]
    return LoggedOutputs(predictions, probabilities, latencies)


def features_exclude(model: ModelConfig) -> Collection[str]:
    """Columns never taken as features: the logged outputs."""
    return set(output_columns(model))
