"""Monitors run side by side give the figures they give one after another, and a failing one costs only itself."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from exporter import evaluation
from exporter.config import ModelConfig
from exporter.figures import Figure
from exporter.monitors import MONITORS, monitors_for
from exporter.reference.building import build_profile
from exporter.reference.profile import ReferenceProfile
from exporter.window import Window

RNG = np.random.default_rng(5)
CLASSES = np.array([0, 1])


def _model() -> ModelConfig:
    return ModelConfig(name="m", model_path="m.joblib", source={"path": "in"}, target_column="y")


def _frame(rows: int, shift: float) -> pd.DataFrame:
    base = RNG.normal(shift, 1, rows)
    return pd.DataFrame({"a": base, "b": base + RNG.normal(0, 0.5, rows), "c": RNG.lognormal(shift, 1, rows)})


def _outputs(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    score = 1 / (1 + np.exp(-frame["a"].to_numpy()))
    truth = (RNG.random(len(frame)) < score).astype(int)
    return (score >= 0.5).astype(int), np.column_stack([1 - score, score]), truth


def _reference(model: ModelConfig) -> ReferenceProfile:
    frame = _frame(3_000, 0.0)
    predictions, probabilities, truth = _outputs(frame)
    profile = build_profile(
        frame,
        [],
        fingerprint="r",
        classes=CLASSES,
        predictions=predictions,
        probabilities=probabilities,
        labels=truth,
    )
    for monitor in monitors_for(model):
        profile.fitted[monitor.name] = monitor.fit(profile, model)
    return profile


def _window(rows: int) -> Window:
    frame = _frame(rows, 0.2)
    predictions, probabilities, truth = _outputs(frame)
    labelled = RNG.random(rows) < 0.7
    return Window(
        features=frame,
        predictions=predictions,
        probabilities=probabilities,
        classes=CLASSES,
        labels=truth.astype(object),
        labelled=labelled,
        scored_at=np.zeros(rows),
        labelled_at=np.where(labelled, 30.0, np.nan),
        arrived=frame,
    )


def _without_durations(figures: list) -> list:
    return [f for f in figures if not (isinstance(f, Figure) and f.name == "mlmon_calculator_duration_seconds")]


def test_side_by_side_figures_equal_one_after_another(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model()
    profile, window = _reference(model), _window(2_000)
    monkeypatch.setattr(evaluation, "PARALLEL_ROWS", 10**9)
    serial = evaluation.run_monitors(model, "m", window, profile)
    names = threading.Event()
    calculate = MONITORS["output"].calculate

    def noting_the_thread(*args: object) -> list:
        if threading.current_thread() is not threading.main_thread():
            names.set()
        return calculate(*args)

    monkeypatch.setattr(MONITORS["output"], "calculate", noting_the_thread)
    monkeypatch.setattr(evaluation, "PARALLEL_ROWS", 0)
    side_by_side = evaluation.run_monitors(model, "m", window, profile)
    assert names.is_set()  # the monitors really ran away from the calling thread
    assert _without_durations(side_by_side) == _without_durations(serial)
    durations = [f for f in side_by_side if f.name == "mlmon_calculator_duration_seconds"]
    assert [f.labels["calculator"] for f in durations] == [m.name for m in monitors_for(model)]
    assert all(f.value >= 0 for f in durations)


def test_a_failing_monitor_side_by_side_costs_only_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model()
    profile, window = _reference(model), _window(2_000)

    def broken(*args: object) -> list:
        raise RuntimeError("boom")

    monkeypatch.setattr(evaluation, "PARALLEL_ROWS", 0)
    healthy = evaluation.run_monitors(model, "m", window, profile)
    drift = MONITORS["feature_drift"].calculate(window, profile, profile.fitted["feature_drift"], model)
    monkeypatch.setattr(MONITORS["feature_drift"], "calculate", broken)
    figures = evaluation.run_monitors(model, "m", window, profile)
    success = {f.labels["calculator"]: f.value for f in figures if f.name == "mlmon_calculator_success"}
    assert success.pop("feature_drift") == 0.0
    assert set(success.values()) == {1.0}
    assert drift
    expected = [
        f for f in _without_durations(healthy) if f not in drift and f.labels != {"calculator": "feature_drift"}
    ]
    got = [f for f in _without_durations(figures) if f.labels != {"calculator": "feature_drift"}]
    assert got == expected


def test_the_linear_algebra_library_runs_one_thread_while_monitors_run_side_by_side(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    model = _model()
    profile, window = _reference(model), _window(500)
    seen: list[int] = []
    calculate = MONITORS["multivariate_drift"].calculate

    def noting_blas_threads(*args: object) -> list:
        seen.extend(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")
        return calculate(*args)

    monkeypatch.setattr(MONITORS["multivariate_drift"], "calculate", noting_blas_threads)
    monkeypatch.setattr(evaluation, "PARALLEL_ROWS", 0)
    with threadpool_limits(limits=2, user_api="blas"):  # so the limit can be told from none
        for _ in range(2):  # the limit is set, and lifted again, on every evaluation
            evaluation.run_monitors(model, "m", window, profile)
            assert {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"} == {2}
    assert seen and set(seen) == {1}
