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
