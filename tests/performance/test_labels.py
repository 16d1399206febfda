"""Matching arrived labels to the model's classes, whatever type the file gave them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exporter.ingest.validation import match_labels
from exporter.performance import UNMATCHED, class_indices


@pytest.mark.parametrize(
    ("classes", "arrived", "expected"),
    [
        (np.array([0, 1]), ["1", 0, 1.0, "1.0", " 0 ", "2", None], [1, 0, 1, 1, 0, UNMATCHED, UNMATCHED]),
        (np.array([0.0, 1.0]), ["1", 0, "0.0"], [1, 0, 0]),
        (np.array(["no", "yes"]), [" yes", "no", "maybe"], [1, 0, UNMATCHED]),
        (np.array([False, True]), [True, "False", "1", 0], [1, 0, 1, 0]),
    ],
    ids=["int classes", "float classes", "text classes", "boolean classes"],
)
def test_labels_reach_their_class_by_text_or_by_number(classes: np.ndarray, arrived: list, expected: list) -> None:
    assert class_indices(np.array(arrived, dtype=object), classes).tolist() == expected


def test_match_labels_gives_the_models_own_class_values_and_numbers_for_regression() -> None:
    values, known = match_labels(pd.Series(["1", "x", None, 0.0]), np.array([0, 1]))
    assert known.tolist() == [True, False, False, True]
    assert values[known].tolist() == [1, 0]
    numbers, known = match_labels(pd.Series(["2.5", "n/a", None, 7]), None)
    assert known.tolist() == [True, False, False, True]
    assert numbers[known].tolist() == [2.5, 7.0]


@pytest.mark.parametrize(
    ("classes", "values"),
    [
        (np.array([0, 1]), np.array([1, 0, 1, 2, -3], dtype=np.int64)),
        (np.array([-100, 100]), np.array([100, -100, 5, 100], dtype=np.int8)),
        (np.array(["1", "2"]), np.array([2, 1, 3], dtype=np.int16)),
        (np.array([1.0, 2.0, 2.5]), np.array([2, 1, 0], dtype=np.int32)),
        (np.array([False, True]), np.array([1, 0, 2], dtype=np.uint8)),
        (np.array([2**63, 2**63 + 1], dtype=np.uint64), np.array([2**63 + 1, 2**63], dtype=np.uint64)),
        (np.array([0, 10**9]), np.array([10**9, 0, 7], dtype=np.int64)),  # too wide a span: hashed
    ],
    ids=["int64", "int8 wide", "text classes", "float classes", "boolean classes", "uint64 high", "wide span"],
)
def test_integer_values_match_as_the_same_values_as_objects(classes: np.ndarray, values: np.ndarray) -> None:
    expected = class_indices(values.astype(object), classes)
    assert class_indices(values, classes).tolist() == expected.tolist()
