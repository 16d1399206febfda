"""Turning an arrived batch into valid rows, and scoring them.

A batch that cannot be used at all raises ``BatchFailure`` with one of ``BATCH_FAILURE_REASONS``;
rows that cannot be scored are dropped and counted by one of ``INVALID_ROW_REASONS``. A row whose
features are fine but whose label is not one of the model's classes is scored, counted as
``unknown_label``, and kept without a label.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from exporter.config import ModelConfig
from exporter.model import LoadedModel
from exporter.performance import UNMATCHED, class_indices
from exporter.values import canonical

BATCH_FAILURE_REASONS = ("unreadable", "schema", "empty", "scoring")
INVALID_ROW_REASONS = ("missing_value", "bad_type", "unknown_label", "duplicate_id")
SCHEMA_VIOLATION_KINDS = ("missing_column", "extra_column", "wrong_dtype")


class BatchFailure(Exception):
    def __init__(self, reason: str, message: str, invalid: Counter[str] | None = None) -> None:
        assert reason in BATCH_FAILURE_REASONS, reason
        super().__init__(message)
        self.reason = reason
        self.invalid: Counter[str] = invalid or Counter()  # rows found invalid before the batch was given up


@dataclass
class PreparedBatch:
    features: pd.DataFrame  # valid rows, feature columns only
    arrived: pd.DataFrame  # every arrived row, feature columns present in the batch
    labels: np.ndarray | None  # aligned with features; None when the batch carries no target column
    labelled: np.ndarray  # bool mask
    row_ids: list[str]
    invalid: Counter[str] = field(default_factory=Counter)
    schema_violations: Counter[str] = field(default_factory=Counter)
    # (row id, label) for rows scored in an earlier batch that now come with their label
    late_labels: list[tuple[str, object]] = field(default_factory=list)


def feature_columns(
    model: ModelConfig, loaded: LoadedModel, frame_columns: Sequence[str], known: Sequence[str] | None = None
) -> list[str]:
    """The feature columns, in the order the model takes them.

    Configured columns first, then the model's own ``feature_names_in_``, then the reference's
    columns (``known``); only with none of these is the file's own order used.
    """
    if model.feature_columns is not None:
        return list(model.feature_columns)
    if loaded.feature_names is not None:
        return list(loaded.feature_names)
    if known:
        return list(known)
    skip = {model.target_column, model.id_column, model.timestamp_column}
    return [c for c in frame_columns if c not in skip]


def match_labels(raw: pd.Series, classes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Arrived labels as the model's own class values (or numbers, for regression), and which are known.

    Classification labels are matched to the classes by ``exporter.performance.class_indices``, the
    one matcher the metrics use too; a label matching no class is not known.
    """
    if classes is None:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        return values, ~np.isnan(values)
    index = class_indices(raw.to_numpy(dtype=object), classes)
    known = index != UNMATCHED
    matched = np.empty(len(raw), dtype=object)
    matched[known] = np.asarray(classes, dtype=object)[index[known]]
    return matched, known


def prepare_batch(
    frame: pd.DataFrame,
    model: ModelConfig,
    loaded: LoadedModel,
    *,
    categorical: Collection[str],
    batch_key: str,
    is_known_id: Callable[[list[str]], dict[str, bool]] = lambda ids: {},
    require_id: bool = True,
    known_features: Sequence[str] | None = None,
) -> PreparedBatch:
    if frame.empty:
        raise BatchFailure("empty", "the batch has no rows")
    frame = frame.reset_index(drop=True)
    columns = feature_columns(model, loaded, [str(c) for c in frame.columns], known_features)
    violations: Counter[str] = Counter()
    missing = [c for c in columns if c not in frame.columns]
    has_ids = model.id_column is not None and model.id_column in frame.columns
    needed = [model.id_column] if require_id and model.id_column is not None and not has_ids else []
    if missing or needed:
        violations["missing_column"] += len(missing) + len(needed)
        raise BatchFailure("schema", f"missing column(s): {', '.join(missing + needed)}")
    known_columns = set(columns) | {model.target_column, model.id_column, model.timestamp_column}
    violations["extra_column"] += sum(1 for c in frame.columns if c not in known_columns)

    arrived = frame[columns].copy()
    features = arrived.copy()
    invalid: Counter[str] = Counter()
    bad = np.zeros(len(frame), dtype=bool)
    missing_rows = features.isna().any(axis=1).to_numpy()
    bad_type = np.zeros(len(frame), dtype=bool)
    for column in columns:
        if column in categorical:
            continue
        if not pd.api.types.is_numeric_dtype(features[column]):
            coerced = pd.to_numeric(features[column], errors="coerce")
            wrong = coerced.isna().to_numpy() & features[column].notna().to_numpy()
            if wrong.any():
                violations["wrong_dtype"] += 1
                bad_type |= wrong
            features[column] = coerced
        if pd.api.types.is_float_dtype(features[column]):
            # an infinity passes as a number but no estimator takes it
            bad_type |= np.isinf(features[column].to_numpy(dtype=float))
    bad_type &= ~missing_rows
    invalid["missing_value"] += int(missing_rows.sum())
    invalid["bad_type"] += int(bad_type.sum())
    bad |= missing_rows | bad_type

    labels = None
    labelled = np.zeros(len(frame), dtype=bool)
    if model.target_column is not None and model.target_column in frame.columns:
        raw = frame[model.target_column]
        labels, labelled = match_labels(raw, loaded.classes)
        invalid["unknown_label"] += int((raw.notna().to_numpy() & ~labelled & ~bad).sum())

    if has_ids:
        texts = frame[model.id_column].map(canonical)
        no_id = texts.isna().to_numpy() & ~bad
        invalid["missing_value"] += int(no_id.sum())
        bad |= no_id
        ids = texts.fillna("").to_numpy(dtype=str)
        within = np.array(pd.Series(ids).duplicated().to_numpy(), dtype=bool) & ~no_id
        seen = is_known_id([i for i, b in zip(ids, bad | within) if not b])
        earlier = np.isin(ids, list(seen)) & ~bad & ~within if seen else np.zeros(len(ids), dtype=bool)
        awaiting = np.array([seen.get(i) is False for i in ids], dtype=bool)
        # a row scored before, still waiting for its label, that now carries one is a label delivery
        # (the label column was filled in later), not a duplicate
        late = earlier & awaiting & labelled
        duplicate = (within | (earlier & ~late)) & ~bad
        invalid["duplicate_id"] += int(duplicate.sum())
        bad |= duplicate | late
        row_ids = [str(i) for i in ids]
        late_labels = [(row_ids[i], labels[i]) for i in np.flatnonzero(late)] if labels is not None else []
    else:
        row_ids = [f"{batch_key}#{i}" for i in range(len(frame))]
        late_labels = []

    keep = ~bad
    if not keep.any() and not late_labels:
        reasons = ", ".join(f"{n} {r}" for r, n in invalid.items() if n)
        raise BatchFailure("empty", f"no valid rows left ({reasons})", invalid)
    return PreparedBatch(
        features=features.loc[keep].reset_index(drop=True),
        arrived=arrived,
        labels=labels[keep] if labels is not None else None,
        labelled=labelled[keep],
        row_ids=[r for r, k in zip(row_ids, keep) if k],
        invalid=invalid,
        schema_violations=violations,
        late_labels=late_labels,
    )


@dataclass
class Scored:
    predictions: np.ndarray
    probabilities: np.ndarray | None
    seconds: float


def score(loaded: LoadedModel, features: pd.DataFrame, clock: Callable[[], float] = time.perf_counter) -> Scored:
    # an estimator fitted on a bare array gets one: the column order was settled when preparing the batch
    inputs = features if loaded.feature_names is not None else features.to_numpy()
    start = clock()
    try:
        predictions = np.asarray(loaded.estimator.predict(inputs))
        probabilities = np.asarray(loaded.estimator.predict_proba(inputs), dtype=float) if loaded.has_proba else None
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
