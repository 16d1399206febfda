"""The label-free estimate's own error, against an exact Poisson-binomial distribution and simulation."""

from __future__ import annotations

import numpy as np
import pytest

from exporter.estimation.cbpe import accuracy_error, estimate, estimate_errors

RNG = np.random.default_rng(21)


def _poisson_binomial_sd(p: np.ndarray) -> float:
    """Standard deviation of the number of successes, from the distribution built by convolution."""
    distribution = np.array([1.0])
    for q in p:
        distribution = np.convolve(distribution, [1 - q, q])
    k = np.arange(distribution.size)
    mean = float(np.sum(k * distribution))
    return float(np.sqrt(np.sum((k - mean) ** 2 * distribution)))


def _case(n: int) -> tuple[np.ndarray, np.ndarray]:
    p = RNG.beta(2, 2, n)
    return p, p >= 0.5


def test_accuracy_and_precision_errors_are_exact() -> None:
    p, called = _case(300)
    errors = estimate_errors(p, called)
    correct = np.where(called, p, 1 - p)
    assert errors["accuracy"] == pytest.approx(_poisson_binomial_sd(correct) / 300, rel=1e-9)
    assert errors["precision"] == pytest.approx(_poisson_binomial_sd(p[called]) / called.sum(), rel=1e-9)
    assert accuracy_error(correct) == pytest.approx(errors["accuracy"], rel=1e-12)


def test_recall_and_f1_errors_match_simulation() -> None:
    p, called = _case(400)
    errors, expected = estimate_errors(p, called), estimate(p, called)
    draws = RNG.random((20_000, p.size)) < p
    tp = (draws & called).sum(axis=1)
    fn = (draws & ~called).sum(axis=1)
    fp = called.sum() - tp
    recall = tp / (tp + fn)
    f1 = 2 * tp / (2 * tp + fp + fn)
    # the delta method is first order: within a few percent on 400 rows
    assert errors["recall"] == pytest.approx(recall.std(), rel=0.05)
    assert errors["f1"] == pytest.approx(f1.std(), rel=0.05)
    assert expected["recall"] == pytest.approx(recall.mean(), abs=0.005)
