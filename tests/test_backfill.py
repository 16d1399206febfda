"""Backfill: runs as OpenMetrics with timestamps, from the history, a CSV or a replay of batches."""

from __future__ import annotations

import io
import os
from pathlib import Path

import joblib
import pandas as pd
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from sklearn.metrics import accuracy_score

from exporter.backfill import openmetrics
from exporter.backfill.sources import from_csv
from exporter.cli import main
from exporter.config import load_config
from exporter.history.samples import series_key
from exporter.state import StateStore, StoredRun

from helpers import binary_data, write_batch, write_project

T0 = 1_780_000_000.0


def run(at: float, **samples: float) -> StoredRun:
    return StoredRun("m", "1", at, None, None, 0, 0, None, None, dict(samples))


def without_histograms(text: str) -> str:
    """The text less its histogram families: prometheus_client's parser rejects histograms with
    several timestamps (Prometheus itself reads them; the live backfill test covers that)."""
    kept, skipping = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("# TYPE "):
            skipping = line.rstrip().endswith(" histogram")
        if not skipping or line.startswith("# EOF"):
            kept.append(line)
    return "".join(kept)


def parsed(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[float, float]]]:
    """Series -> [(timestamp, value)] read back with prometheus_client's own OpenMetrics parser."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            out.setdefault(key, []).append((float(sample.timestamp), sample.value))
    return out


def test_each_run_is_held_until_the_next_like_a_scrape_would_see_it() -> None:
    assert openmetrics.hold_times([0, 300, 600], 60, None) == [[0, 60, 120, 180, 240], [300, 360, 420, 480, 540], [600]]
    # a gap longer than twice the usual one is left a gap
    assert openmetrics.hold_times([0, 120, 1200], 60, None) == [[0, 60], [120, 180, 240, 300], [1200]]
    assert openmetrics.hold_times([0, 1000], 60, 120) == [[0, 60], [1000]]


def test_openmetrics_reads_back_with_an_independent_parser() -> None:
    runs = [
        run(T0, mlmon_accuracy_ratio=0.9, mlmon_predictions_total=100.0),
        run(
            T0 + 120,
            mlmon_accuracy_ratio=0.8,
            mlmon_predictions_total=250.0,
            **{series_key("mlmon_feature_drift_score", {"feature": 'a "b"', "method": "ks"}): 0.25},
        ),
    ]
    out = io.StringIO()
    written = openmetrics.write(runs, out, step=60)
    text = out.getvalue()
    assert text.endswith("# EOF\n")
    assert "# TYPE mlmon_predictions counter\n" in text and "# TYPE mlmon_accuracy_ratio gauge\n" in text
    series = parsed(text)
    base = (("model", "m"), ("version", "1"))
    assert series[("mlmon_accuracy_ratio", base)] == [(T0, 0.9), (T0 + 60, 0.9), (T0 + 120, 0.8)]
    assert series[("mlmon_predictions_total", base)] == [(T0, 100.0), (T0 + 60, 100.0), (T0 + 120, 250.0)]
    drift = ("mlmon_feature_drift_score", tuple(sorted({*base, ("feature", 'a "b"'), ("method", "ks")})))
    assert series[drift] == [(T0 + 120, 0.25)]
    assert written == sum(len(v) for v in series.values()) == openmetrics.count_samples(runs, 60) == 7


def test_histograms_and_info_families_are_written_whole(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    from exporter.app import build_app

    app = build_app(load_config(config), clock=lambda: T0)
    x, y = binary_data(80, seed=3)
    write_batch(tmp_path, "b.csv", x, y)
    app.jobs[0].run()
    runs = app.state.runs()
    app.state.close()
    out = io.StringIO()
    openmetrics.write(runs, out)
    series = parsed(out.getvalue())
    names = {name for name, _ in series}
    assert {"mlmon_prediction_confidence_bucket", "mlmon_prediction_confidence_count", "mlmon_reference_info"} <= names
    assert all(len(points) == 1 and points[0][0] == T0 for points in series.values())
    assert len(series) == len(runs[0].samples)


def test_a_csv_of_the_seeds_shape_becomes_gauges_and_a_running_total(tmp_path: Path) -> None:
    path = tmp_path / "model_monitoring_metrics.csv"
    pd.DataFrame(
        {
            "date": pd.date_range(start="2025-01-01", periods=3, freq="D"),
            "accuracy": [0.97, 0.96, 0.97],
            "prediction_volume": [500, 520, 510],
            "avg_confidence": [0.95, 0.95, 0.94],
        }
    ).to_csv(path, index=False)
    runs = from_csv(path, "seed", None)
    assert [r.run_at for r in runs] == [1_735_689_600.0 + d * 86400 for d in range(3)]
    assert [r.samples["mlmon_predictions_total"] for r in runs] == [500.0, 1020.0, 1530.0]
    assert [r.samples["mlmon_accuracy_ratio"] for r in runs] == [0.97, 0.96, 0.97]
    assert [r.samples["mlmon_mean_confidence_ratio"] for r in runs] == [0.95, 0.95, 0.94]
    assert {(r.name, r.version) for r in runs} == {("seed", "1")}
    with pytest.raises(ValueError, match="--model"):
        from_csv(path, None, None)
    broken = tmp_path / "broken.csv"
    broken.write_text("date,accuracy\n2025-01-01,0.9\nyesterday,0.8\n")
    with pytest.raises(ValueError, match=r"line\(s\) \[3\]"):
        from_csv(broken, "seed", None)


def test_the_export_backfills_as_it_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_project(tmp_path)
    state = StateStore(load_config(config).state_path)
    for k in range(3):
        state.record_run(
            StoredRun("m", "1", T0 + 600 * k, None, None, 10, 10, None, None, {"mlmon_predictions_total": 10.0 * k})
        )
    state.close()
    exported = tmp_path / "h.csv"
    assert main(["history", "export", "--config", str(config), "--csv", str(exported)]) == 0
    assert from_csv(exported, None, None) == StateStore(load_config(config).state_path).runs()


def test_replay_scores_archived_batches_at_their_own_times_and_leaves_the_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "")  # no promtool: the command says how to build the blocks
    config = write_project(tmp_path)
    model = joblib.load(tmp_path / "model.joblib")
    archive = tmp_path / "archive"
    archive.mkdir()
    expected = []
    for day in range(3):
        x, y = binary_data(60 + 10 * day, seed=20 + day)
        path = write_batch(tmp_path, f"day{day}.csv", x, y, mtime=T0 + day * 86400)
        moved = archive / path.name
        path.rename(moved)
        os.utime(moved, (T0 + day * 86400, T0 + day * 86400))
        expected.append(accuracy_score(y, model.predict(x)))
    before = sorted((p.name, p.stat().st_mtime) for p in archive.iterdir())
    out = tmp_path / "out"
    argv = ["backfill", "--config", str(config), "--replay", str(archive), "--out", str(out), "--step", "1h"]
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "promtool is not installed; build the blocks with:" in said
    assert "tsdb create-blocks-from openmetrics" in said and "copy the blocks into Prometheus's data folder" in said
    assert sorted((p.name, p.stat().st_mtime) for p in archive.iterdir()) == before
    text = (out / "mlmon.om").read_text()
    assert text.count("# TYPE mlmon_prediction_confidence histogram") == 1 and text.endswith("# EOF\n")
    series = parsed(without_histograms(text))
    accuracy = series[("mlmon_accuracy_ratio", (("model", "m"), ("version", "1")))]
    at_runs = [(t, v) for t, v in accuracy if t in {T0 + d * 86400 for d in range(3)}]
    assert [t for t, _ in at_runs] == [T0 + d * 86400 for d in range(3)]
    assert [v for _, v in at_runs] == pytest.approx(expected, abs=1e-12)
    volume = series[("mlmon_predictions_total", (("model", "m"), ("version", "1")))]
    assert volume[-1] == (T0 + 2 * 86400, 60.0 + 70.0 + 80.0)
    assert not StateStore(load_config(config).state_path).runs()  # the live state is not touched


class FakePrometheus:
    """Answers the presence queries of the rules plan from a set of series names."""

    def __init__(self, held: set[str]) -> None:
        self.held = held

    def query(self, expr: str, at: float) -> list[dict[str, object]]:
        name = expr.split("count_over_time(")[1].split("[")[0]
        return [{"value": [at, "1"]}] if name in self.held else []


def test_rules_reading_recorded_series_wait_for_them_and_rules_without_input_are_skipped(tmp_path: Path) -> None:
    from exporter.backfill import rules

    path = tmp_path / "rules.yml"
    path.write_text(
        """
groups:
  - name: g
    rules:
      - record: model:mlmon_predictions:rate1h
        expr: sum by (model, version) (rate(mlmon_predictions_total[1h]))
      - record: model:mlmon_predictions:rate1h_change1d
        expr: model:mlmon_predictions:rate1h / (model:mlmon_predictions:rate1h offset 1d > 0) - 1
      - record: model:mlmon_batch_failures:rate5m
        expr: sum by (model, version) (rate(mlmon_batch_failures_total[5m]))
      - alert: NotARecordingRule
        expr: vector(1)
"""
    )
    found = rules.recording_rules(path)
    assert [r["record"] for r in found] == [
        "model:mlmon_predictions:rate1h",
        "model:mlmon_predictions:rate1h_change1d",
        "model:mlmon_batch_failures:rate5m",
    ]
    first = rules.plan(found, FakePrometheus({"mlmon_predictions_total"}), T0, T0 + 30 * 86400)  # type: ignore[arg-type]
    assert [r["record"] for r in first.now] == ["model:mlmon_predictions:rate1h"]
    assert first.later == ["model:mlmon_predictions:rate1h_change1d"]
    assert first.no_input == ["model:mlmon_batch_failures:rate5m"]
    held = {"mlmon_predictions_total", "model:mlmon_predictions:rate1h"}
    second = rules.plan(found, FakePrometheus(held), T0, T0 + 30 * 86400)  # type: ignore[arg-type]
    assert second.present == ["model:mlmon_predictions:rate1h"]
    assert [r["record"] for r in second.now] == ["model:mlmon_predictions:rate1h_change1d"]
    only = rules.plan(found, FakePrometheus(held), T0, T0 + 86400, only=["model:mlmon_batch_failures:rate5m"])  # type: ignore[arg-type]
    assert (only.now, only.later, only.present, only.no_input) == ([], [], [], ["model:mlmon_batch_failures:rate5m"])
    with pytest.raises(ValueError, match="not recorded by any rule"):
        rules.plan(found, FakePrometheus(held), T0, T0 + 86400, only=["nope"])  # type: ignore[arg-type]
