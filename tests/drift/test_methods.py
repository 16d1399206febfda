"""Known answers for the drift methods against scipy and a plain-numpy PSI, plus the edge cases."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, chisquare, ks_2samp, wasserstein_distance

from exporter.drift import METHODS
from exporter.drift.registry import DriftMethod, DriftResult

RNG = np.random.default_rng(7)
NORMAL = np.sort(RNG.normal(0.0, 1.0, 400))
SHIFTED = RNG.normal(0.6, 1.0, 150)
WIDER = RNG.normal(0.0, 2.5, 90)
SAME = RNG.normal(0.0, 1.0, 200)
TIES = np.sort(RNG.integers(0, 4, 300).astype(float))
TIES_CURRENT = RNG.integers(1, 6, 60).astype(float)
NUMERIC_CASES = {
    "shifted": (NORMAL, SHIFTED),
    "wider": (NORMAL, WIDER),
    "same distribution": (NORMAL, SAME),
    "heavy ties": (TIES, TIES_CURRENT),
    "one row": (NORMAL, np.array([2.0])),
    "two rows": (NORMAL, np.array([-0.3, 0.1])),
    "three rows": (NORMAL, np.array([5.0, 6.0, 7.0])),
}
COLOURS = np.array(["red"] * 50 + ["green"] * 30 + ["blue"] * 20)
CATEGORICAL_CASES = {
    "reweighted": (COLOURS, np.array(["red"] * 10 + ["green"] * 30 + ["blue"] * 20)),
    "same shares": (COLOURS, np.array(["red"] * 5 + ["green"] * 3 + ["blue"] * 2)),
    "missing category": (COLOURS, np.array(["red"] * 7 + ["green"] * 3)),
    "unseen category": (COLOURS, np.array(["red"] * 5 + ["green"] * 3 + ["blue"] * 1 + ["violet"] * 1)),
    "one row": (COLOURS, np.array(["blue"])),
}


def _shares_over_union(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref, cur = Counter(reference.tolist()), Counter(current.tolist())
    keys = sorted(set(ref) | set(cur))
    return (
        np.array([ref[k] / len(reference) for k in keys]),
        np.array([cur[k] / len(current) for k in keys]),
    )


def _plain_psi(expected: np.ndarray, actual: np.ndarray) -> float:
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = e or 1e-4, a or 1e-4
        total += (a - e) * math.log(a / e)
    return total


def _decile_shares(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    edges = sorted(set(np.quantile(reference, [i / 10 for i in range(1, 10)]).tolist()))
    counts = [0] * (len(edges) + 1)
    for value in values:
        counts[sum(value >= edge for edge in edges)] += 1
    return np.array(counts) / len(values)


@pytest.mark.parametrize("case", NUMERIC_CASES)
def test_ks_matches_scipy(case: str) -> None:
    reference, current = NUMERIC_CASES[case]
    expected = ks_2samp(reference, current)
    result = METHODS["ks"].compute(reference, current)
    assert result.score == pytest.approx(expected.statistic, abs=1e-9)
    assert result.pvalue == pytest.approx(expected.pvalue, abs=1e-9)


@pytest.mark.parametrize("case", NUMERIC_CASES)
def test_wasserstein_matches_scipy_over_reference_std(case: str) -> None:
    reference, current = NUMERIC_CASES[case]
    expected = wasserstein_distance(reference, current) / np.std(reference)
    assert METHODS["wasserstein"].compute(reference, current).score == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("case", NUMERIC_CASES)
def test_jensenshannon_numeric_matches_scipy_on_shared_histogram(case: str) -> None:
    reference, current = NUMERIC_CASES[case]
    edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins=30)
    p, q = np.histogram(reference, edges)[0], np.histogram(current, edges)[0]
    expected = jensenshannon(p, q, base=2)
    assert METHODS["jensenshannon"].compute(reference, current).score == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("case", CATEGORICAL_CASES)
def test_jensenshannon_categorical_matches_scipy(case: str) -> None:
    reference, current = CATEGORICAL_CASES[case]
    expected = jensenshannon(*_shares_over_union(reference, current), base=2)
    assert METHODS["jensenshannon"].compute(reference, current).score == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("case", NUMERIC_CASES)
def test_psi_numeric_matches_plain_formula_on_reference_deciles(case: str) -> None:
    reference, current = NUMERIC_CASES[case]
    expected = _plain_psi(_decile_shares(reference, reference), _decile_shares(current, reference))
    assert METHODS["psi"].compute(reference, current).score == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("case", CATEGORICAL_CASES)
def test_psi_categorical_matches_plain_formula(case: str) -> None:
    reference, current = CATEGORICAL_CASES[case]
    expected = _plain_psi(*_shares_over_union(reference, current))
    assert METHODS["psi"].compute(reference, current).score == pytest.approx(expected, abs=1e-9)


def _contingency(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Counts per category on both sides, categories seen fewer than 5 times in all left out."""
    categories = sorted(set(reference.tolist()) | set(current.tolist()))
    table = np.array([[np.count_nonzero(side == c) for c in categories] for side in (reference, current)])
    return table[:, table.sum(axis=0) >= 5]


CHISQUARE_CASES = {
    **CATEGORICAL_CASES,
    "identical": (COLOURS, COLOURS.copy()),
    "new category with a real share": (COLOURS, np.array(["red"] * 5 + ["green"] * 3 + ["violet"] * 6)),
    "rare category just kept": (COLOURS, np.array(["red"] * 5 + ["green"] * 3 + ["violet"] * 5)),
    "rare category just left out": (COLOURS, np.array(["red"] * 5 + ["green"] * 3 + ["violet"] * 4)),
    "two rows": (COLOURS, np.array(["green", "blue"])),
    "three rows": (COLOURS, np.array(["red", "violet", "violet"])),
    "low-cardinality numeric": (TIES, TIES_CURRENT),
}


@pytest.mark.parametrize("case", CHISQUARE_CASES)
def test_chisquare_is_scipys_two_sample_test_of_homogeneity(case: str) -> None:
    reference, current = CHISQUARE_CASES[case]
    table = _contingency(reference, current)
    result = METHODS["chisquare"].compute(reference, current)
    statistic, pvalue, dof, expected = chi2_contingency(table, correction=False)
    assert result.score == pytest.approx(statistic, abs=1e-9)
    assert result.pvalue == pytest.approx(pvalue, abs=1e-9)
    # the same statistic as a goodness of fit of every cell to its margin-based expectation
    flat = chisquare(table.ravel(), expected.ravel(), ddof=table.shape[1])
    assert result.score == pytest.approx(flat.statistic, abs=1e-9)
    assert result.pvalue == pytest.approx(flat.pvalue, abs=1e-9)
    assert dof == table.shape[1] - 1


@pytest.mark.parametrize(
    ("reference", "current"),
    [
        (COLOURS, np.array(["red"])),
        (np.array(["red"] * 10), np.array(["red"] * 3)),
        (COLOURS[:1], np.array(["red", "red"])),
    ],
    ids=["tiny window", "single category", "one reference row"],
)
def test_chisquare_with_one_category_or_tiny_samples(reference: np.ndarray, current: np.ndarray) -> None:
    result = METHODS["chisquare"].compute(reference, current)
    table = _contingency(reference, current)
    if table.shape[1] < 2 or 0 in table.sum(axis=1):
        assert (result.score, result.pvalue) == (0.0, 1.0)
    else:
        assert result.pvalue == pytest.approx(chi2_contingency(table, correction=False).pvalue, abs=1e-9)


def test_one_new_category_among_many_rows_is_not_drift_but_a_real_share_is() -> None:
    reference = np.array(["red"] * 1000 + ["blue"] * 1000)
    one_new = np.array(["red"] * 99 + ["blue"] * 99 + ["purple"])
    assert not METHODS["chisquare"].drifted(METHODS["chisquare"].compute(reference, one_new), 0.05)
    real_share = np.array(["red"] * 70 + ["blue"] * 70 + ["purple"] * 60)
    assert METHODS["chisquare"].drifted(METHODS["chisquare"].compute(reference, real_share), 0.05)


def test_unseen_category_is_finite_for_every_categorical_method() -> None:
    reference = COLOURS
    current = np.array(["red"] * 5 + ["green"] * 3 + ["violet"] * 2)
    for name in ("chisquare", "psi", "jensenshannon"):
        assert math.isfinite(METHODS[name].compute(reference, current).score)


def _applicable(kind: str) -> list[str]:
    return [name for name, method in sorted(METHODS.items()) if kind in method.kinds]


@pytest.mark.parametrize("name", _applicable("numeric"))
def test_identical_numeric_samples_do_not_drift(name: str) -> None:
    method: DriftMethod = METHODS[name]
    result = method.compute(NORMAL, NORMAL.copy())
    assert not method.drifted(result, method.default_threshold)


@pytest.mark.parametrize("name", _applicable("categorical"))
def test_identical_categorical_samples_do_not_drift(name: str) -> None:
    method: DriftMethod = METHODS[name]
    result = method.compute(COLOURS, COLOURS.copy())
    assert not method.drifted(result, method.default_threshold)


@pytest.mark.parametrize("name", [n for n in _applicable("numeric") if n != "chisquare"])
def test_a_clear_shift_drifts(name: str) -> None:
    method: DriftMethod = METHODS[name]
    current = RNG.normal(1.5, 1.0, 300)
    assert method.drifted(method.compute(NORMAL, current), method.default_threshold)


@pytest.mark.parametrize("name", _applicable("numeric"))
def test_constant_column_unchanged_does_not_drift(name: str) -> None:
    method: DriftMethod = METHODS[name]
    result = method.compute(np.full(50, 3.0), np.full(7, 3.0))
    assert math.isfinite(result.score)
    assert result.pvalue is None or math.isfinite(result.pvalue)
    assert not method.drifted(result, method.default_threshold)


@pytest.mark.parametrize(("moved_by", "expected"), [(0.05, 0.05), (2.0, 2.0)])
def test_constant_reference_wasserstein_is_unscaled(moved_by: float, expected: float) -> None:
    result = METHODS["wasserstein"].compute(np.full(50, 3.0), np.full(4, 3.0 + moved_by))
    assert result.score == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("rows", [1, 2, 3])
def test_tiny_windows_give_finite_results(name: str, rows: int) -> None:
    method: DriftMethod = METHODS[name]
    if "numeric" in method.kinds:
        reference, current = TIES, TIES_CURRENT[:rows]
    else:
        reference, current = COLOURS, COLOURS[:rows]
    result = method.compute(reference, current)
    assert math.isfinite(result.score)
    assert (result.pvalue is not None) == method.has_pvalue
    assert result.pvalue is None or 0.0 <= result.pvalue <= 1.0


@pytest.mark.parametrize(
    ("name", "score", "pvalue", "threshold", "drifted"),
    [
        ("ks", 0.3, 0.049, 0.05, True),
        ("ks", 0.3, 0.05, 0.05, False),
        ("psi", 0.1, None, 0.1, True),
        ("psi", 0.0999, None, 0.1, False),
    ],
)
def test_drifted_direction(name: str, score: float, pvalue: float | None, threshold: float, drifted: bool) -> None:
    assert METHODS[name].drifted(DriftResult(score, pvalue), threshold) is drifted


def test_registry_declares_the_documented_defaults() -> None:
    declared = {n: (sorted(m.kinds), m.default_threshold, m.has_pvalue) for n, m in METHODS.items()}
    assert declared == {
        "ks": (["numeric"], 0.05, True),
        "psi": (["categorical", "numeric"], 0.1, False),
        "wasserstein": (["numeric"], 0.1, False),
        "jensenshannon": (["categorical", "numeric"], 0.1, False),
        "chisquare": (["categorical", "numeric"], 0.05, True),
    }
