"""The reference profile: kinds, values, and the pickle-free round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from exporter.reference.building import REFERENCE_ROWS, build_profile, infer_kind, observed_values
from exporter.reference.profile import ReferenceProfile
from exporter.reference.storage import FORMAT, encode, fingerprint_of, profile_from_bytes, profile_to_bytes


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [31.0, np.nan, 45.0, 22.0, np.inf, 58.0],
            "city": ["Oslo", "Lima", None, "Oslo", "Pune", "Lima"],
            "member": [True, False, True, True, False, True],
            "grade": [1, 2, 3, 2, 1, 4],
            "score": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5],
        }
    )


def _profile() -> ReferenceProfile:
    profile = build_profile(
        _frame(),
        ["grade"],
        fingerprint="abc",
        classes=np.array(["no", "yes"]),
        predictions=np.array(["yes", "no", "no", "yes", "yes", "no"], dtype=object),
        probabilities=np.linspace(0, 1, 12).reshape(6, 2),
        labels=np.array(["yes", None, "no", "yes", None, "no"], dtype=object),
    )
    profile.fitted["multivariate_drift"] = {"mean": np.array([1.5, -2.0]), "columns": np.array(["age", "score"])}
    return profile


@pytest.mark.parametrize(
    ("values", "forced", "kind"),
    [
        ([1.5, 2.5, 3.5], False, "numeric"),
        ([1, 2, 3], False, "numeric"),
        ([1, 2, 3], True, "categorical"),
        ([0, 1, 1, np.nan], False, "categorical"),
        ([True, False, True], False, "categorical"),
        (["a", "b", "c"], False, "categorical"),
        (pd.Categorical(["x", "y", "z"]), False, "categorical"),
    ],
)
def test_infer_kind(values: list, forced: bool, kind: str) -> None:
    assert infer_kind(pd.Series(values), forced) == kind


def test_profile_contents() -> None:
    profile = _profile()
    age, city, grade = profile.features["age"], profile.features["city"], profile.features["grade"]
    assert profile.rows == 6
    assert age.kind == "numeric"
    assert age.values.tolist() == [22.0, 31.0, 45.0, 58.0]
    assert (age.minimum, age.maximum, age.missing_ratio) == (22.0, 58.0, pytest.approx(2 / 6))
    assert city.categories == pytest.approx({"Lima": 0.4, "Oslo": 0.4, "Pune": 0.2})
    assert grade.kind == "categorical" and grade.categories["2"] == pytest.approx(2 / 6)
    assert profile.features["member"].categories == pytest.approx({"False": 2 / 6, "True": 4 / 6})
    rows = profile.fitted[REFERENCE_ROWS]
    assert rows["columns"].tolist() == ["age", "score"]
    np.testing.assert_array_equal(rows["matrix"][:, 0], [31.0, np.nan, 45.0, 22.0, np.nan, 58.0])


def test_integer_categories_survive_missing_values() -> None:
    with_gap = pd.Series([3, None, 4], dtype="float64")
    assert observed_values(with_gap, "categorical").tolist() == ["3", "4"]
    assert observed_values(pd.Series([3.5, None]), "categorical").tolist() == ["3.5"]


def test_round_trip_preserves_everything() -> None:
    original = _profile()
    restored = profile_from_bytes(profile_to_bytes(original))
    assert (restored.fingerprint, restored.rows) == (original.fingerprint, original.rows)
    assert list(restored.features) == list(original.features)
    for name, feature in original.features.items():
        back = restored.features[name]
        assert (back.kind, back.missing_ratio, back.minimum, back.maximum) == (
            feature.kind,
            feature.missing_ratio,
            feature.minimum,
            feature.maximum,
        )
        assert back.categories == feature.categories
        assert back.values.dtype == feature.values.dtype
        np.testing.assert_array_equal(back.values, feature.values)
    for name in ("classes", "predictions", "probabilities", "labels"):
        np.testing.assert_array_equal(getattr(restored, name), getattr(original, name))
    assert restored.labels.tolist() == ["yes", "", "no", "yes", "", "no"]
    # the rows multivariate drift is fitted on are an input of the fit, not kept once it is done
    assert restored.fitted.keys() == original.fitted.keys() - {REFERENCE_ROWS}
    for monitor, state in original.fitted.items():
        if monitor == REFERENCE_ROWS:
            continue
        assert restored.fitted[monitor].keys() == state.keys()
        for key, value in state.items():
            np.testing.assert_array_equal(restored.fitted[monitor][key], value)


def test_round_trip_of_a_profile_without_optional_parts() -> None:
    profile = build_profile(pd.DataFrame({"city": ["a", "b"]}), [], fingerprint="f")
    restored = profile_from_bytes(profile_to_bytes(profile))
    assert restored.classes is None and restored.predictions is None and restored.fitted == {}
    assert restored.features["city"].values.tolist() == ["a", "b"]


def test_stored_without_pickle() -> None:
    encoded = encode(_profile())
    assert encoded.arrays and all(array.dtype.kind != "O" for array in encoded.arrays.values())
    assert json.loads(encoded.document)["format"] == FORMAT


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("data",), ("datb",)),
        (("ab", "c"), ("a", "bc")),
        ((b"rows", "model"), (b"rows", "model2")),
    ],
)
def test_fingerprint_changes_with_the_data(a: tuple, b: tuple) -> None:
    assert fingerprint_of(*a) != fingerprint_of(*b)
    assert fingerprint_of(*a) == fingerprint_of(*a)
    assert len(fingerprint_of(*a)) == 16


def test_fingerprint_treats_text_as_its_utf8_bytes() -> None:
    assert fingerprint_of("café") == fingerprint_of("café".encode())
