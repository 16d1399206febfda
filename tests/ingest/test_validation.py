"""The pure steps a batch goes through before scoring, one by one, on hand-built frames."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from exporter.config import ModelConfig
from exporter.ingest.batches import failure_counters, label_column, validation_counters
from exporter.ingest.validation import (
    BatchFailure,
    PreparedBatch,
    check_columns,
    check_features,
    check_ids,
    feature_columns,
    require_rows,
)
from exporter.model import LoadedModel
from exporter.state import counter_key


def _model(**overrides: Any) -> ModelConfig:
    return ModelConfig(name="m", model_path="m.joblib", source={"path": "in"}, **overrides)


def _loaded(feature_names: list[str] | None = None) -> LoadedModel:
    return LoadedModel(estimator=None, classes=np.array([0, 1]), feature_names=feature_names, digest="d")


def test_require_rows_refuses_an_empty_batch_and_renumbers_the_rest() -> None:
    with pytest.raises(BatchFailure) as failure:
        require_rows(pd.DataFrame({"a": []}))
    assert failure.value.reason == "empty"
    assert list(require_rows(pd.DataFrame({"a": [1, 2]}, index=[7, 9])).index) == [0, 1]


@pytest.mark.parametrize(
    ("configured", "model_names", "known", "expected"),
    [
        (["b", "a"], ["a", "b"], ["c"], ["b", "a"]),  # configured columns first
        (None, ["b", "a"], ["c"], ["b", "a"]),  # then the model's feature_names_in_
        (None, None, ["c", "a"], ["c", "a"]),  # then the reference's columns
        (None, None, None, ["a", "b"]),  # else the file's order, without target, id and timestamp
    ],
)
def test_feature_columns_by_precedence(
    configured: list[str] | None, model_names: list[str] | None, known: list[str] | None, expected: list[str]
) -> None:
    model = _model(feature_columns=configured, target_column="y", id_column="id", timestamp_column="ts")
    assert feature_columns(model, _loaded(model_names), ["id", "a", "y", "b", "ts"], known) == expected


def test_check_columns_counts_extra_columns_and_fails_on_missing_ones() -> None:
    model = _model(target_column="y", id_column="id")
    assert check_columns(["id", "a", "b", "y", "note", "other"], ["a", "b"], model, require_id=True) == Counter(
        {"extra_column": 2}
    )
    with pytest.raises(BatchFailure, match="missing column\\(s\\): b, id") as failure:
        check_columns(["a", "y"], ["a", "b"], model, require_id=True)
    assert failure.value.reason == "schema"
    # the reference need not carry ids
    assert check_columns(["a", "b"], ["a", "b"], model, require_id=False) == Counter({"extra_column": 0})


def test_check_features_separates_missing_values_from_bad_types() -> None:
    arrived = pd.DataFrame(
        {
            "n": [1.0, np.nan, np.inf, 2.0, 3.0],
            "t": ["1", "2", "x", None, "abc"],
            "c": ["red", None, "blue", "green", "red"],
        }
    )
    checked = check_features(arrived, categorical={"c"})
    assert checked.missing.tolist() == [False, True, False, True, False]
    # row 2: an infinity and a non-number; row 4: a non-number; missing rows are not counted twice
    assert checked.bad_type.tolist() == [False, False, True, False, True]
    assert checked.wrong_dtype == 1  # only "t" held text that is not a number
    assert checked.features["t"].tolist()[:2] == [1.0, 2.0]
    assert arrived["t"].tolist()[0] == "1"  # the arrived frame is left as it came


def _column(kind: str, rows: int, rng: np.random.Generator) -> pd.Series:
    """A column of one of the dtypes batches arrive in, with a random share of awkward cells."""
    values = rng.normal(scale=1e3, size=rows)
    odd = rng.random(rows) < rng.choice([0.0, 0.05, 0.5])
    awkward = rng.choice([np.nan, np.inf, -np.inf, 1e200, -1e160, 1e150], size=rows)
    floats = np.where(odd, awkward, values)
    if kind == "float64":
        return pd.Series(floats)
    if kind == "float32":
        with np.errstate(over="ignore"):
            return pd.Series(floats.astype(np.float32))  # 1e200 becomes an infinity here
    if kind == "int64":
        return pd.Series(rng.integers(-(10**12), 10**12, size=rows))
    if kind == "bool":
        return pd.Series(rng.random(rows) < 0.5)
    if kind == "Float64":
        return pd.Series(floats, dtype="Float64").mask(odd & (rng.random(rows) < 0.5))
    if kind == "Int64":
        return pd.Series(rng.integers(0, 9, size=rows), dtype="Int64").mask(odd)
    texts = np.where(odd & (rng.random(rows) < 0.3), "x", floats.astype(str)).astype(object)
    texts[odd & (rng.random(rows) < 0.3)] = None
    return pd.Series(texts, dtype="str" if kind == "str" else object)


def _expected_rows(arrived: pd.DataFrame, categorical: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """Missing and bad-type rows by their definitions, column by column, nothing skipped."""
    missing = arrived.isna().any(axis=1).to_numpy()
    bad = np.zeros(len(arrived), dtype=bool)
    for column in arrived.columns:
        if column in categorical or arrived[column].dtype == bool:
            continue
        numbers = pd.to_numeric(arrived[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        text_not_number = np.isnan(numbers) & arrived[column].notna().to_numpy()
        with np.errstate(invalid="ignore"):
            bad |= text_not_number | (np.abs(numbers) > np.sqrt(np.finfo(np.float64).max))
    return missing, bad & ~missing


@pytest.mark.parametrize("seed", range(40))
def test_check_features_marks_the_rows_its_definitions_mark_whatever_the_dtypes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(1, 300))
    kinds = ["float64", "float32", "int64", "bool", "Float64", "Int64", "object", "str"]
    width = int(rng.integers(1, 9))
    arrived = pd.DataFrame({f"f{i}": _column(str(rng.choice(kinds)), rows, rng) for i in range(width)})
    categorical = {c for c in arrived.columns if rng.random() < 0.25}
    checked = check_features(arrived, categorical)
    missing, bad = _expected_rows(arrived, categorical)
    assert checked.missing.tolist() == missing.tolist()
    assert checked.bad_type.tolist() == bad.tolist()


def test_a_clean_float_column_is_not_copied_and_a_huge_one_is_caught_without_nan() -> None:
    clean = np.linspace(-1e150, 1e150, 7)
    arrived = pd.DataFrame({"a": clean, "b": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 2e154], "c": np.arange(7)})
    checked = check_features(arrived, categorical={"c"})
    assert not checked.missing.any()
    assert checked.bad_type.tolist() == [False] * 6 + [True]
    assert np.shares_memory(checked.features["a"].to_numpy(), arrived["a"].to_numpy())
    # the same value in a categorical column is a category, not a bad number
    assert not check_features(arrived, categorical={"b"}).bad_type.any()


def test_check_ids_tells_missing_duplicate_and_late_label_rows_apart() -> None:
    raw = pd.Series(["a", None, "b", "a", "c", "d", 5.0])
    bad = np.array([False, False, False, False, False, True, False])
    labelled = np.array([True, True, True, True, True, True, True])
    stored = {"c": False, "5": True}  # c awaits its label; 5 has one already
    asked: list[list[str]] = []

    def is_known(ids: list[str]) -> dict[str, bool]:
        asked.append(ids)
        return {i: stored[i] for i in ids if i in stored}

    checked = check_ids(raw, bad, labelled, is_known)
    assert checked.row_ids == ["a", "", "b", "a", "c", "d", "5"]
    assert checked.missing.tolist() == [False, True, False, False, False, False, False]
    assert checked.duplicate.tolist() == [False, False, False, True, False, False, True]
    assert checked.late.tolist() == [False, False, False, False, True, False, False]
    assert asked == [["a", "b", "c", "5"]]  # invalid rows and repeats are not looked up


def test_check_ids_without_a_label_a_stored_id_is_a_duplicate() -> None:
    checked = check_ids(pd.Series(["c"]), np.zeros(1, dtype=bool), np.zeros(1, dtype=bool), lambda ids: {"c": False})
    assert checked.duplicate.tolist() == [True] and checked.late.tolist() == [False]


def _prepared(labels: np.ndarray | None, labelled: list[bool]) -> PreparedBatch:
    return PreparedBatch(
        features=pd.DataFrame({"a": range(len(labelled))}),
        arrived=pd.DataFrame({"a": range(len(labelled))}),
        labels=labels,
        labelled=np.array(labelled),
        row_ids=[f"r{i}" for i in range(len(labelled))],
        invalid=Counter({"missing_value": 2, "bad_type": 0}),
        schema_violations=Counter({"extra_column": 1, "wrong_dtype": 0}),
    )


def test_counters_count_only_what_happened() -> None:
    assert validation_counters(_prepared(None, [False])) == {
        counter_key("mlmon_invalid_rows", {"reason": "missing_value"}): 2,
        counter_key("mlmon_schema_violations", {"kind": "extra_column"}): 1,
    }
    failure = BatchFailure("empty", "no valid rows left", Counter({"duplicate_id": 3}))
    assert failure_counters(failure) == {
        counter_key("mlmon_batch_failures", {"reason": "empty"}): 1,
        counter_key("mlmon_invalid_rows", {"reason": "duplicate_id"}): 3,
    }


def test_stored_labels_keep_the_label_text_of_labelled_rows_only() -> None:
    assert label_column(_prepared(np.array([1, 0], dtype=object), [True, False])).to_pylist() == ["1", None]
    assert label_column(_prepared(None, [False])).to_pylist() == [None]


@pytest.mark.parametrize(
    "labels",
    [
        np.array([3, -2, 3, 0, 7, -2], dtype=np.int8),
        np.array([2**64 - 1, 2**64 - 3, 2**64 - 1, 2**64 - 2, 2**64 - 3, 2**64 - 1], dtype=np.uint64),
        np.array([2**63 - 1, 2**63 - 2, 2**63 - 1, 2**63 - 1, 2**63 - 5, 2**63 - 2], dtype=np.int64),
        np.array([0, 1_000_000, 0, 5, 1_000_000, 9], dtype=np.int64),  # wider than matched by offset
        np.array([1.0, 0.5, np.nan, 2.0, 0.5, 1.0]),  # a row without a label is not labelled
        np.array(["yes", 1, None, "no", 2.5, "yes"], dtype=object),
    ],
    ids=["int8", "uint64-near-the-top", "int64-near-the-top", "wide-span", "floats", "mixed-objects"],
)
def test_each_labelled_row_is_stored_under_its_class_label_text(labels: np.ndarray) -> None:
    from exporter.performance import class_label

    labelled = [True, True, False, True, True, True]
    expected = [class_label(value) if kept else None for value, kept in zip(labels, labelled)]
    column = label_column(_prepared(labels, labelled))
    assert column.to_pylist() == expected
    assert column.cast(pa.string()).to_pylist() == expected  # as a window file is read back
