"""The demo tells the seed's story by actually scoring drifting batches with the seed's model."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from exporter.app import build_app
from exporter.config import load_config
from exporter.demo import CYCLE, DECLINE_DAYS, Feeder, progress, seed_model_and_pool, write_workdir

from helpers import value


@pytest.fixture(scope="module")
def demo_days(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, float]]:
    """Score days 0 to 14 through the real job, one batch a day, and keep each day's figures."""
    workdir = tmp_path_factory.mktemp("demo")
    config_path, data = write_workdir(workdir, day_seconds=1)
    app = build_app(load_config(config_path))
    feeder = Feeder(data, workdir / "incoming", 1, threading.Event())
    days = {}
    for day in range(CYCLE):
        feeder.write_day(day)
        figures = app.jobs[0].run().figures
        days[day] = {f.name: f.value for f in figures if not f.labels and hasattr(f, "value")}
        tickets = app.jobs[1].run().figures
        days[day]["tickets_accuracy"] = value(tickets, "mlmon_accuracy_ratio")
    app.state.close()
    return days


def test_the_demo_model_is_the_seeds() -> None:
    data = seed_model_and_pool()
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    bunch = load_breast_cancer(as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(
        bunch.data, bunch.target, test_size=0.3, random_state=42, stratify=bunch.target
    )
    seed = LogisticRegression(max_iter=5000).fit(x_train, y_train)
    np.testing.assert_allclose(data.model.coef_, seed.coef_)
    assert accuracy_score(y_test, data.model.predict(x_test)) == accuracy_score(y_test, seed.predict(x_test))
    assert len(data.pool) == 60 * len(x_test)


def test_accuracy_starts_above_095_and_falls_below_090_by_day_ten(demo_days: dict[int, dict[str, float]]) -> None:
    assert demo_days[0]["mlmon_accuracy_ratio"] > 0.95
    assert demo_days[DECLINE_DAYS]["mlmon_accuracy_ratio"] < 0.90
    assert all(demo_days[d]["mlmon_accuracy_ratio"] < 0.90 for d in range(DECLINE_DAYS, 15))


def test_confidence_falls_below_088_and_volume_rises_to_about_620(demo_days: dict[int, dict[str, float]]) -> None:
    assert demo_days[0]["mlmon_mean_confidence_ratio"] > 0.95
    assert demo_days[DECLINE_DAYS]["mlmon_mean_confidence_ratio"] < 0.88
    assert 480 <= demo_days[0]["mlmon_batch_rows"] <= 520
    assert 600 <= demo_days[DECLINE_DAYS]["mlmon_batch_rows"] <= 640


def test_drift_is_detected_as_the_mix_moves(demo_days: dict[int, dict[str, float]]) -> None:
    assert demo_days[0]["mlmon_dataset_drift_detected"] == 0
    assert demo_days[DECLINE_DAYS]["mlmon_dataset_drift_detected"] == 1


def test_estimated_accuracy_tracks_realized_accuracy(demo_days: dict[int, dict[str, float]]) -> None:
    """Estimated (labels withheld) against realized accuracy, over a whole drift cycle.

    One day's realized accuracy rests on about 600 rows, so it carries a sampling error of about
    0.015 by itself: single days are allowed that noise, five-day blocks and the mean are not.
    """
    days = list(demo_days.values())
    gaps = np.array([d["mlmon_estimated_accuracy_ratio"] - d["mlmon_accuracy_ratio"] for d in days])
    assert abs(gaps.mean()) < 0.01, gaps
    assert np.mean(np.abs(gaps) < 0.03) >= 0.9, gaps
    rows = np.array([d["mlmon_window_rows"] for d in days])
    for start in range(0, len(days) - 4, 5):
        block = slice(start, start + 5)
        estimated = np.average([d["mlmon_estimated_accuracy_ratio"] for d in days[block]], weights=rows[block])
        realized = np.average([d["mlmon_accuracy_ratio"] for d in days[block]], weights=rows[block])
        assert abs(estimated - realized) < 0.03, (start, estimated, realized)


def test_the_ticket_model_scores_its_own_batches(demo_days: dict[int, dict[str, float]]) -> None:
    assert all(0.5 < day["tickets_accuracy"] <= 1.0 for day in demo_days.values())


def test_the_drift_cycle_degrades_then_recovers() -> None:
    assert progress(0) == 0 and progress(DECLINE_DAYS) == 1
    assert progress(CYCLE - 1) < 1 and progress(CYCLE) == 0
    assert np.all(np.diff([progress(d) for d in range(DECLINE_DAYS + 1)]) > 0)


def test_the_demo_config_lists_both_models(tmp_path: Path) -> None:
    config, _ = write_workdir(tmp_path, day_seconds=2)
    loaded = load_config(config)
    assert [m.name for m in loaded.models] == ["breast-cancer", "ticket-routing"]
    assert loaded.models[0].schedule.interval_seconds == 2
