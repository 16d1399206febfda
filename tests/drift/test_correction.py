"""Multiple-testing correction: a hand-checked case and scipy's Benjamini-Hochberg adjustment."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from exporter.drift.correction import adjust, correct

# Hand-checked: m = 4, alpha = 0.05. Bonferroni compares with 0.0125, so only a. Benjamini-Hochberg
# compares the k-th smallest with k * 0.0125: a 0.001 <= 0.0125, b 0.02 <= 0.025, c 0.03 <= 0.0375,
# d 0.2 > 0.05, so a, b and c.
HAND = {"a": 0.001, "b": 0.02, "c": 0.03, "d": 0.2}


@pytest.mark.parametrize(
    ("method", "flagged"),
    [("none", {"a", "b", "c"}), ("bonferroni", {"a"}), ("fdr", {"a", "b", "c"})],
)
def test_hand_checked(method: str, flagged: set[str]) -> None:
    assert {name for name, drifted in correct(HAND, 0.05, method).items() if drifted} == flagged


def test_fdr_step_up_rescues_a_p_value_above_its_own_rank_bound() -> None:
    # m = 3: b = 0.04 exceeds its rank bound 2 * 0.05 / 3, but c = 0.045 is within 3 * 0.05 / 3, and the
    # step-up procedure rejects everything up to the largest rank within its bound.
    pvalues = {"a": 0.01, "b": 0.04, "c": 0.045}
    assert correct(pvalues, 0.05, "fdr") == {"a": True, "b": True, "c": True}
    assert correct(pvalues, 0.05, "bonferroni") == {"a": True, "b": False, "c": False}


@pytest.mark.skipif(not hasattr(scipy.stats, "false_discovery_control"), reason="scipy < 1.11")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fdr_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    raw = np.concatenate([rng.uniform(0, 0.01, 5), rng.uniform(0, 1, 25)])
    pvalues = {f"f{i}": float(p) for i, p in enumerate(raw)}
    expected = scipy.stats.false_discovery_control(raw, method="bh")
    adjusted = adjust(pvalues, "fdr")
    assert np.allclose([adjusted[f"f{i}"] for i in range(raw.size)], expected, rtol=0, atol=1e-9)
    assert correct(pvalues, 0.05, "fdr") == {f"f{i}": bool(p < 0.05) for i, p in enumerate(expected)}


def test_bonferroni_is_capped_at_one() -> None:
    assert adjust({"a": 0.5, "b": 0.01}, "bonferroni") == pytest.approx({"a": 1.0, "b": 0.02}, abs=1e-12)


def test_empty_input() -> None:
    assert correct({}, 0.05, "fdr") == {}
