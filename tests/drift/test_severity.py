"""The cross-method drift severity: >= 1 exactly when flagged, larger when the drift is larger."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import ks_2samp, wasserstein_distance

from exporter.drift import METHODS
from exporter.drift.registry import DriftResult


def test_test_severity_is_log_p_over_log_alpha() -> None:
    rng = np.random.default_rng(1)
    reference = np.sort(rng.normal(0, 1, 500))
    current = rng.normal(0.2, 1, 300)
    result = METHODS["ks"].compute(reference, current)
    expected = math.log(ks_2samp(reference, current).pvalue) / math.log(0.05)
    assert METHODS["ks"].severity(result, 0.05) == pytest.approx(expected, rel=1e-12)


def test_distance_severity_is_distance_over_cutoff() -> None:
    rng = np.random.default_rng(2)
    reference = np.sort(rng.normal(0, 2, 2000))
    current = rng.normal(0.5, 2, 500)
    result = METHODS["wasserstein"].compute(reference, current)
    expected = wasserstein_distance(reference, current) / np.std(reference) / 0.1
    assert METHODS["wasserstein"].severity(result, 0.1) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_severity_is_at_least_one_exactly_when_flagged(method: str) -> None:
    spec = METHODS[method]
    threshold = spec.default_threshold
    if spec.has_pvalue:
        cases = [DriftResult(1.0, p) for p in (1.0, 0.5, 0.0500001, 0.05, 0.0499999, 1e-12, 0.0)]
    else:
        cases = [DriftResult(d, None) for d in (0.0, 0.05, 0.0999999, 0.1, 0.1000001, 3.0)]
    severities = []
    for result in cases:
        severity = spec.severity(result, threshold)
        assert (severity >= 1) == spec.drifted(result, threshold), result
        assert math.isfinite(severity)
        severities.append(severity)
    # ordered from least to most drift: never decreasing
    assert severities == sorted(severities)
