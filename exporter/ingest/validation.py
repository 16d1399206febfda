"""Turning an arrived batch into valid rows, in small pure steps that ``prepare_batch`` composes.

A batch that cannot be used at all raises ``BatchFailure`` with one of ``BATCH_FAILURE_REASONS``;
rows that cannot be scored are dropped and counted by one of ``INVALID_ROW_REASONS``. A row whose
features are fine but whose label is not one of the model's classes is scored, counted as
``unknown_label``, and kept without a label.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

import numpy as np
import pandas as pd

from exporter.config import ModelConfig
from exporter.model import LoadedModel
from exporter.performance import UNMATCHED, class_indices
from exporter.prediction_log import check_outputs, output_columns, required_columns
from exporter.values import canonical_texts

BATCH_FAILURE_REASONS = ("unreadable", "schema", "empty", "scoring")
INVALID_ROW_REASONS = ("missing_value", "bad_type", "unknown_label", "duplicate_id")
SCHEMA_VIOLATION_KINDS = ("missing_column", "extra_column", "wrong_dtype")


# A finite number whose square overflows float64 is no number a model can compute with (a scaler or
# a distance turns it into infinity): such a cell costs its row, as an infinity does.
LARGEST_USABLE = float(np.sqrt(np.finfo(np.float64).max))


class BatchFailure(Exception):
    def __init__(
        self,
        reason: str,
        message: str,
        invalid: Counter[str] | None = None,
        violations: Counter[str] | None = None,
    ) -> None:
        assert reason in BATCH_FAILURE_REASONS, reason
        super().__init__(message)
        self.reason = reason
        self.invalid: Counter[str] = invalid or Counter()  # rows found invalid before the batch was given up
        self.violations: Counter[str] = violations or Counter()  # schema violations that gave it up


@dataclass
class PreparedBatch:
    features: pd.DataFrame  # valid rows, feature columns only
    arrived: pd.DataFrame  # every arrived row, feature columns present in the batch
    labels: np.ndarray | None  # aligned with features; None when the batch carries no target column
    labelled: np.ndarray  # bool mask
    row_ids: Sequence[str]
    invalid: Counter[str] = field(default_factory=Counter)
    schema_violations: Counter[str] = field(default_factory=Counter)
    # (row id, label) for rows scored in an earlier batch that now come with their label
    late_labels: list[tuple[str, object]] = field(default_factory=list)
    # a model served elsewhere: the logged output columns of the valid rows, aligned with features
    outputs: pd.DataFrame | None = None
    # the numeric feature columns holding values that are not numbers (``schema_violations`` counts them)
    wrong_dtype_columns: frozenset[str] = frozenset()


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
    skip = {model.target_column, model.id_column, model.timestamp_column, *output_columns(model)}
    return [c for c in frame_columns if c not in skip]


def match_labels(raw: pd.Series, classes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Arrived labels as the model's own class values (or numbers, for regression), and which are known.

    Classification labels are matched to the classes by ``exporter.performance.class_indices``, the
    one matcher the metrics use too; a label matching no class is not known.
    """
    if classes is None:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        return values, ~np.isnan(values)
    typed = pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw)
    index = class_indices(raw.to_numpy() if typed else raw.to_numpy(dtype=object), classes)
    known = index != UNMATCHED
    # the classes' own type (numbers stay numbers); a row without a known label holds the first class
    return np.asarray(classes)[np.where(known, index, 0)], known


def logged_outputs(frame: pd.DataFrame, model: ModelConfig, keep: np.ndarray) -> pd.DataFrame | None:
    """The logged output columns of the kept rows, for a model served elsewhere (else None)."""
    if not model.served_elsewhere:
        return None
    columns = [c for c in output_columns(model) if c in frame.columns]
    return frame.loc[keep, columns].reset_index(drop=True)


def require_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The batch with a fresh 0..n-1 index; a batch without rows fails as ``empty``."""
    if frame.empty:
        raise BatchFailure("empty", "the batch has no rows")
    return frame.reset_index(drop=True)


def check_cells(frame: pd.DataFrame, max_length: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Text cells no column may hold: longer than ``max_length`` characters, or with undecodable bytes.

    Returns the frame with those cells emptied (so no later step copies a huge or broken value) and
    the rows that held one. Reading replaces a byte that is not UTF-8 with U+FFFD.
    """
    bad = np.zeros(len(frame), dtype=bool)
    cleaned = {}
    # the dtypes are looked at first: fetching every column of a wide frame costs more than checking it
    for position, (column, dtype) in enumerate(frame.dtypes.items()):
        if not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)):
            continue
        series = frame.iloc[:, position]
        text = series.where(series.map(lambda cell: isinstance(cell, str)))
        broken = (text.str.len() > max_length) | text.str.contains("\ufffd", regex=False)
        broken = broken.fillna(False).to_numpy(dtype=bool)
        if broken.any():
            bad |= broken
            cleaned[column] = series.mask(broken)
    return (frame.assign(**cleaned) if cleaned else frame), bad


def check_columns(
    frame_columns: Sequence[str], columns: Sequence[str], model: ModelConfig, require_id: bool
) -> Counter[str]:
    """Schema violations of the batch's columns; a missing feature (or required id) column fails the batch."""
    present = set(frame_columns)
    missing = [c for c in [*columns, *required_columns(model)] if c not in present]
    if require_id and model.id_column is not None and model.id_column not in present:
        missing.append(model.id_column)
    if missing:
        violations = Counter({"missing_column": len(missing)})
        raise BatchFailure("schema", f"missing column(s): {', '.join(missing)}", violations=violations)
    known = set(columns) | {model.target_column, model.id_column, model.timestamp_column, *output_columns(model)}
    return Counter({"extra_column": sum(1 for c in frame_columns if c not in known)})


@dataclass
class FeatureCheck:
    features: pd.DataFrame  # numeric columns coerced to numbers
    missing: np.ndarray  # rows with a missing feature value
    bad_type: np.ndarray  # rows with a non-number (or infinity) in a numeric feature, not already missing
    wrong_dtype: int  # numeric columns holding values that are not numbers
    wrong_columns: frozenset[str] = frozenset()  # which ones


def _not_numbers(dtype: object) -> bool:
    """Dtypes that pandas can turn into numbers but that hold no numbers: dates, durations, flags, categories."""
    return (
        pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
        or pd.api.types.is_complex_dtype(dtype)
        or isinstance(dtype, (pd.CategoricalDtype, pd.PeriodDtype, pd.IntervalDtype))
    )


def check_feature_dtypes(arrived: pd.DataFrame, categorical: Collection[str]) -> None:
    """A numeric feature (as the reference declares it) whose column holds no numbers fails the batch."""
    wrong = [f"{c} ({dtype})" for c, dtype in arrived.dtypes.items() if c not in categorical and _not_numbers(dtype)]
    if wrong:
        raise BatchFailure(
            "schema",
            f"numeric feature(s) of another type: {', '.join(wrong)}",
            violations=Counter({"wrong_dtype": len(wrong)}),
        )


def _float_rows(values: np.ndarray, missing: np.ndarray, bad_type: np.ndarray | None) -> None:
    """Marks, in place, the rows where a float column is missing (NaN) and, with ``bad_type``, where
    it holds an infinity or a number too large to compute with.

    A column's smallest and largest values answer for all of it first (NaN passes through both), so
    a clean column costs two reductions and no mask of its own.
    """
    if values.size == 0:
        return
    low, high = float(values.min()), float(values.max())
    if low >= -LARGEST_USABLE and high <= LARGEST_USABLE:
        return
    if math.isnan(low) or math.isnan(high):
        missing |= np.isnan(values)
    if bad_type is not None:
        with np.errstate(invalid="ignore"):
            bad_type |= np.abs(values.astype(np.float64, copy=False)) > LARGEST_USABLE


def check_features(arrived: pd.DataFrame, categorical: Collection[str]) -> FeatureCheck:
    """Rows whose features the model cannot take: missing values, and non-numbers in numeric columns.

    A non-number is text that is not a number, an infinity, or a number too large to compute with.
    Only the columns that need coercing are replaced; the others stay the arrived columns themselves,
    so a clean batch is never copied here. Integer and boolean columns hold no missing value and no
    number too large, so they are not looked at.
    """
    missing = np.zeros(len(arrived), dtype=bool)
    bad_type = np.zeros(len(arrived), dtype=bool)
    wrong_columns: set[str] = set()
    coerced: dict[str, pd.Series] = {}
    for position, (column, dtype) in enumerate(arrived.dtypes.items()):
        if isinstance(dtype, np.dtype) and dtype.kind in "iub":
            continue
        values = arrived.iloc[:, position]
        numeric = column not in categorical
        if isinstance(dtype, np.dtype) and dtype.kind == "f":
            _float_rows(values.to_numpy(copy=False), missing, bad_type if numeric else None)
            continue
        missing |= values.isna().to_numpy(dtype=bool)
        if not numeric or pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            continue  # a category, or numbers already and none too large to compute with
        if not pd.api.types.is_numeric_dtype(values):
            numbers = pd.to_numeric(values, errors="coerce")
            wrong = numbers.isna().to_numpy() & values.notna().to_numpy()
            if wrong.any():
                wrong_columns.add(str(column))
                bad_type |= wrong
            coerced[str(column)] = values = numbers
        if pd.api.types.is_float_dtype(values):
            # an infinity passes as a number but no estimator takes it
            with np.errstate(invalid="ignore"):
                bad_type |= np.abs(values.to_numpy(dtype=float, na_value=np.nan)) > LARGEST_USABLE
    features = arrived.assign(**coerced) if coerced else arrived
    return FeatureCheck(features, missing, bad_type & ~missing, len(wrong_columns), frozenset(wrong_columns))


@dataclass
class IdCheck:
    row_ids: Sequence[str]
    missing: np.ndarray  # rows without an id
    duplicate: np.ndarray  # ids seen earlier in the batch, or scored before and not a label delivery
    late: np.ndarray  # rows scored before, still waiting for their label, that now carry one


def check_ids(
    raw: pd.Series,
    bad: np.ndarray,
    labelled: np.ndarray,
    is_known_id: Callable[[list[str]], dict[str, bool]],
) -> IdCheck:
    """Which rows lack an id, repeat one, or deliver the label of a row scored earlier.

    ``is_known_id`` answers, for ids already stored, whether their label is in (True) or awaited
    (False). ``bad`` marks rows already invalid for another reason: they are not judged again.
    """
    texts = pd.Series(canonical_texts(raw), index=raw.index, dtype=object)
    no_id = texts.isna().to_numpy() & ~bad
    bad = bad | no_id
    ids = texts.fillna("")
    within = ids.duplicated().to_numpy() & ~no_id
    seen = is_known_id(ids[~(bad | within)].tolist())
    earlier = ids.isin(seen.keys()).to_numpy() & ~bad & ~within
    awaiting = ids.isin([i for i, labelled_before in seen.items() if labelled_before is False]).to_numpy()
    # a row scored before, still waiting for its label, that now carries one is a label delivery
    # (the label column was filled in later), not a duplicate
    late = earlier & awaiting & labelled
    duplicate = (within | (earlier & ~late)) & ~bad
    return IdCheck(ids.tolist(), no_id, duplicate, late)


class PositionalIds(Sequence[str]):
    """The ids ``{batch}#{position}`` of rows at ``positions``, made only when one is asked for.

    A batch without an id column keeps nothing per row, so a million of these strings are usually
    never needed: the sequence holds the positions alone.
    """

    def __init__(self, batch: str, positions: np.ndarray) -> None:
        self.batch, self.positions = batch, positions

    def __len__(self) -> int:
        return len(self.positions)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [f"{self.batch}#{p}" for p in self.positions[index].tolist()]
        return f"{self.batch}#{int(self.positions[index])}"

    def __iter__(self) -> Iterator[str]:
        return (f"{self.batch}#{p}" for p in self.positions.tolist())

    def kept(self, keep: np.ndarray) -> PositionalIds:
        return PositionalIds(self.batch, self.positions[keep])


def batch_seen(batch: str, is_known_id: Callable[[list[str]], dict[str, bool]]) -> bool:
    """Whether the rows of ``batch`` (rows without an id column, known by position) were scored
    before: they were scored all together or not at all, so the first one answers for every row."""
    return bool(is_known_id(PositionalIds(batch, np.zeros(1, dtype=np.int64))[:1]))


def positional_ids(batch: str, bad: np.ndarray, is_known_id: Callable[[list[str]], dict[str, bool]]) -> IdCheck:
    """Ids for rows without an id column: their batch's content (or key) and position.

    They are unique within the batch by construction, and a batch's rows were scored all together or
    not at all, so asking about the first one answers for every row: a whole batch of the same
    content seen before is duplicates, with no per-row work or lookup.
    """
    rows = len(bad)
    row_ids = PositionalIds(batch, np.arange(rows))
    seen = bool(rows) and batch_seen(batch, is_known_id)
    nothing = np.zeros(rows, dtype=bool)
    return IdCheck(row_ids, nothing, ~bad if seen else nothing, nothing)


def _kept_ids(row_ids: Sequence[str], keep: np.ndarray) -> Sequence[str]:
    if isinstance(row_ids, PositionalIds):
        return row_ids.kept(keep)
    return [r for r, k in zip(row_ids, keep) if k]


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
    content_key: str | None = None,
) -> PreparedBatch:
    """The valid rows of ``frame``; raises ``BatchFailure`` when none is left or the batch is unusable.

    Rows without an id column are known by their batch's content and position (``content_key``,
    else ``batch_key``), so the same content read again is seen as already scored.
    """
    frame = require_rows(frame)
    columns = feature_columns(model, loaded, [str(c) for c in frame.columns], known_features)
    violations = check_columns(list(frame.columns), columns, model, require_id)
    frame, bad_cells = check_cells(frame, model.limits.max_cell_length)

    arrived = frame[columns]
    check_feature_dtypes(arrived, categorical)
    checked = check_features(arrived, categorical)
    violations["wrong_dtype"] += checked.wrong_dtype
    # a cell emptied for being too long or undecodable is a bad value, not a missing one
    bad_type = checked.bad_type | bad_cells
    missing = checked.missing & ~bad_cells
    invalid: Counter[str] = Counter({"missing_value": int(missing.sum()), "bad_type": int(bad_type.sum())})
    bad = missing | bad_type
    if model.served_elsewhere:
        logged = check_outputs(frame, model, loaded.classes)
        invalid["missing_value"] += int((logged.missing & ~bad).sum())
        invalid["bad_type"] += int((logged.bad_type & ~bad).sum())
        bad = bad | logged.missing | logged.bad_type

    labels = None
    labelled = np.zeros(len(frame), dtype=bool)
    if model.target_column is not None and model.target_column in frame.columns:
        raw = frame[model.target_column]
        labels, labelled = match_labels(raw, loaded.classes)
        invalid["unknown_label"] += int((raw.notna().to_numpy() & ~labelled & ~bad).sum())

    late_labels: list[tuple[str, object]] = []
    if model.id_column is not None and model.id_column in frame.columns:
        ids = check_ids(frame[model.id_column], bad, labelled, is_known_id)
    else:
        ids = positional_ids(content_key or batch_key, bad, is_known_id)
    invalid["missing_value"] += int(ids.missing.sum())
    invalid["duplicate_id"] += int(ids.duplicate.sum())
    bad = bad | ids.missing | ids.duplicate | ids.late
    row_ids = ids.row_ids
    if labels is not None:
        late_labels = [(row_ids[i], labels[i]) for i in np.flatnonzero(ids.late)]

    keep = ~bad
    if not keep.any() and not late_labels:
        reasons = ", ".join(f"{n} {r}" for r, n in invalid.items() if n)
        raise BatchFailure("empty", f"no valid rows left ({reasons})", invalid)
    return PreparedBatch(
        # the index is 0..n-1 already (require_rows): a batch without invalid rows is not copied
        features=checked.features if keep.all() else checked.features.loc[keep].reset_index(drop=True),
        arrived=arrived,
        labels=labels[keep] if labels is not None else None,
        labelled=labelled[keep],
        row_ids=_kept_ids(row_ids, keep),
        invalid=invalid,
        schema_violations=violations,
        late_labels=late_labels,
        outputs=logged_outputs(frame, model, keep),
        wrong_dtype_columns=checked.wrong_columns,
    )
