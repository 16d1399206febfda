"""The automatic method choice (Evidently's rule) and how configuration overrides it."""

from __future__ import annotations

import pytest

from exporter.config import DriftConfig
from exporter.drift.selection import choose_method, resolve_method


@pytest.mark.parametrize(
    ("kind", "rows", "unique", "expected"),
    [
        ("numeric", 1000, 6, "ks"),
        ("numeric", 1000, 5, "chisquare"),
        ("numeric", 20, 2, "chisquare"),
        ("categorical", 1000, 50, "chisquare"),
        ("numeric", 1001, 6, "wasserstein"),
        ("numeric", 1001, 5, "jensenshannon"),
        ("categorical", 50000, 3, "jensenshannon"),
    ],
)
def test_choose_method(kind: str, rows: int, unique: int, expected: str) -> None:
    assert choose_method(kind, rows, unique) == expected


@pytest.mark.parametrize(
    ("config", "feature", "kind", "expected"),
    [
        ({}, "age", "numeric", ("ks", 0.05)),
        ({}, "city", "categorical", ("chisquare", 0.05)),
        ({"method": "psi"}, "age", "numeric", ("psi", 0.1)),
        ({"method": "psi", "thresholds": {"psi": 0.25}}, "city", "categorical", ("psi", 0.25)),
        ({"thresholds": {"ks": 0.01}}, "age", "numeric", ("ks", 0.01)),
        ({"method": "psi", "feature_methods": {"age": "wasserstein"}}, "age", "numeric", ("wasserstein", 0.1)),
        ({"method": "psi", "feature_methods": {"age": "wasserstein"}}, "income", "numeric", ("psi", 0.1)),
        ({"method": "psi", "feature_methods": {"age": "wasserstein"}}, None, "numeric", ("psi", 0.1)),
        # a method that cannot take the kind falls back to the automatic choice
        ({"method": "ks"}, "city", "categorical", ("chisquare", 0.05)),
        ({"feature_methods": {"city": "wasserstein"}}, "city", "categorical", ("chisquare", 0.05)),
    ],
)
def test_resolve_method(config: dict, feature: str | None, kind: str, expected: tuple[str, float]) -> None:
    assert resolve_method(feature, kind, 500, 40, DriftConfig(**config)) == expected


def test_unknown_method_is_refused_by_the_config() -> None:
    with pytest.raises(ValueError, match="unknown drift method 'kl'"):
        DriftConfig(method="kl")
