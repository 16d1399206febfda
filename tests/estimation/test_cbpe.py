"""CBPE: when calibration is kept, the expected confusion matrix, and estimates against realized metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score

from exporter.estimation.cbpe import (
    calibrate,
    estimate,
    estimate_accuracy,
    expected_confusion,
    fit_calibrator,
)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _calibrated_by_construction() -> tuple[np.ndarray, np.ndarray]:
    """Five score levels, each with exactly that share of positives: the raw scores are the best constant per
    level, so every out-of-fold isotonic fit can only do worse."""
    scores, labels = [], []
    for level in (0.1, 0.3, 0.5, 0.7, 0.9):
        scores += [level] * 200
        labels += [True] * round(200 * level) + [False] * round(200 * (1 - level))
    order = np.random.default_rng(1).permutation(len(scores))
    return np.array(scores)[order], np.array(labels)[order]


def _miscalibrated(seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0, 1, 1000)
    return truth**3, rng.random(1000) < truth


def test_calibration_dropped_when_scores_are_already_calibrated() -> None:
    scores, labels = _calibrated_by_construction()
    fitted = fit_calibrator(scores, labels)
    assert not fitted["calibrated"][0]
    assert np.array_equal(calibrate(scores, fitted), scores)


def test_calibration_kept_when_it_helps_and_matches_isotonic() -> None:
    scores, labels = _miscalibrated()
    fitted = fit_calibrator(scores, labels)
    assert fitted["calibrated"][0]
    oracle = IsotonicRegression(out_of_bounds="clip").fit(scores, labels.astype(float))
    probes = np.concatenate([np.linspace(-0.2, 1.2, 57), scores[:50]])
    np.testing.assert_allclose(calibrate(probes, fitted), oracle.predict(probes), rtol=0, atol=1e-9)
    fresh_scores, fresh_labels = _miscalibrated(seed=3)
    assert brier_score_loss(fresh_labels, calibrate(fresh_scores, fitted)) < brier_score_loss(
        fresh_labels, fresh_scores
    )


def test_calibrated_arrays_are_plain() -> None:
    for fitted in (fit_calibrator(*_miscalibrated()), fit_calibrator(*_calibrated_by_construction())):
        assert all(value.dtype != object for value in fitted.values())


@pytest.mark.parametrize(
    "labels", [np.zeros(30, dtype=bool), np.array([True] + [False] * 29)], ids=["one class", "one positive"]
)
def test_too_few_of_a_class_is_not_calibrated(labels: np.ndarray) -> None:
    scores = np.linspace(0.05, 0.95, labels.size)
    assert not fit_calibrator(scores, labels)["calibrated"][0]


CONFUSION = {
    "mixed": (np.array([0.9, 0.2, 0.6, 0.4, 0.05]), np.array([True, False, True, True, False])),
    "nothing predicted positive": (np.array([0.3, 0.1, 0.45]), np.array([False, False, False])),
    "everything predicted positive": (np.array([0.7, 0.95]), np.array([True, True])),
}


@pytest.mark.parametrize(("p", "called"), CONFUSION.values(), ids=CONFUSION.keys())
def test_expected_confusion_matches_row_by_row_sum(p: np.ndarray, called: np.ndarray) -> None:
    tp = fp = fn = tn = 0.0
    for probability, positive in zip(p.tolist(), called.tolist(), strict=True):
        if positive:
            tp, fp = tp + probability, fp + (1 - probability)
        else:
            fn, tn = fn + probability, tn + (1 - probability)
    got = expected_confusion(p, called)
    assert (got.tp, got.fp, got.fn, got.tn) == pytest.approx((tp, fp, fn, tn), abs=1e-12)
    expected = estimate(p, called)
    # the expected accuracy is the mean chance each row's prediction is right
    assert expected["accuracy"] == pytest.approx(np.mean(np.where(called, p, 1 - p)), abs=1e-12)
    assert expected["precision"] == pytest.approx(tp / (tp + fp) if tp + fp else 0.0, abs=1e-12)
    assert expected["recall"] == pytest.approx(tp / (tp + fn), abs=1e-12)
    assert expected["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-12)


def test_multiclass_accuracy_is_mean_confidence() -> None:
    assert estimate_accuracy(np.array([0.5, 0.75, 1.0])) == pytest.approx(0.75, abs=1e-12)
    assert estimate_accuracy(np.array([])) is None


@pytest.mark.parametrize("miscalibration", [1.0, 2.0], ids=["calibrated scores", "scores squared"])
def test_estimate_tracks_realized_performance_under_covariate_shift(miscalibration: float) -> None:
    """Labels drawn as Bernoulli of the true chance; production oversamples confident positives. The estimate
    fitted on the reference still lands within 0.03 of the realized accuracy and F1."""
    rng = np.random.default_rng(42)
    chance = _sigmoid(rng.normal(0, 1.5, 8000))
    reference_labels = rng.random(chance.size) < chance
    fitted = fit_calibrator(chance**miscalibration, reference_labels)

    pool = _sigmoid(rng.normal(0, 1.5, 50000))
    weights = pool**3
    shifted = pool[rng.choice(pool.size, 10000, p=weights / weights.sum())]
    labels = rng.random(shifted.size) < shifted
    scores = shifted**miscalibration
    called = scores >= 0.5

    # the shift is large enough that the reference accuracy alone would miss the mark
    reference_accuracy = accuracy_score(reference_labels, chance**miscalibration >= 0.5)
    assert abs(accuracy_score(labels, called) - reference_accuracy) > 0.03

    expected = estimate(calibrate(scores, fitted), called)
    assert expected["accuracy"] == pytest.approx(accuracy_score(labels, called), abs=0.03)
    assert expected["f1"] == pytest.approx(f1_score(labels, called), abs=0.03)
