"""The run history: kept by every run, exported as CSV or Parquet, shown with the seed's summary."""

from __future__ import annotations

import io
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

from exporter.app import build_app
from exporter.cli import main
from exporter.config import load_config
from exporter.history.frame import SEED_COLUMNS, read_csv, to_frame
from exporter.history.samples import parse_series_key, samples_of, series_key
from exporter.history.show import show
from exporter.progress import Progress
from exporter.state import StateStore, StoredRun

from helpers import binary_data, write_batch, write_project

DAY = 86400.0
START = 1_735_689_600.0  # 2025-01-01 00:00 UTC, the seed's first day
# the seed tutorial's simulated ten days
SEED_ACCURACY = [0.97, 0.96, 0.97, 0.95, 0.94, 0.93, 0.92, 0.91, 0.90, 0.89]
SEED_VOLUME = [500, 520, 510, 540, 550, 560, 590, 600, 610, 620]
SEED_CONFIDENCE = [0.95, 0.95, 0.94, 0.93, 0.92, 0.91, 0.90, 0.89, 0.88, 0.87]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def seed_runs(name: str = "seed", version: str = "1") -> list[StoredRun]:
    runs = []
    total = 0
    for day, (accuracy, volume, confidence) in enumerate(zip(SEED_ACCURACY, SEED_VOLUME, SEED_CONFIDENCE)):
        total += volume
        labelled = volume - 100
        runs.append(
            StoredRun(
                name=name,
                version=version,
                run_at=START + day * DAY,
                window_start=START + day * DAY - 3600,
                window_end=START + day * DAY,
                window_rows=volume,
                scored_rows=volume,
                labelled_rows=labelled,
                correct_rows=int(round(accuracy * labelled)),
                samples={
                    "mlmon_accuracy_ratio": accuracy,
                    "mlmon_mean_confidence_ratio": confidence,
                    "mlmon_predictions_total": float(total),
                    "mlmon_window_rows": float(volume),
                    series_key("mlmon_feature_drift_statistic", {"feature": "mean radius", "method": "ks"}): day / 30,
                    series_key("mlmon_threshold", {"metric": "accuracy"}): 0.90,
                    series_key("mlmon_threshold", {"metric": "mean_confidence"}): 0.88,
                },
            )
        )
    return runs


def seed_project(root: Path) -> Path:
    """A config whose state store holds the seed's ten days of runs for the model `seed`."""
    config = write_project(root, model_overrides={"name": "seed"})
    state = StateStore(load_config(config).state_path)
    for run in seed_runs():
        state.record_run(run)
    state.close()
    return config


# --- kept by every run -------------------------------------------------------------------------
def test_every_run_is_kept_with_its_window_counts_and_every_sample_it_published(tmp_path: Path) -> None:
    config = write_project(tmp_path, model_overrides={"window": {"rows": 100000}})
    clock = Clock(1_800_000_000.0)
    app = build_app(load_config(config), clock=clock)
    (job,) = app.jobs
    model = joblib.load(tmp_path / "model.joblib")
    xs, ys, reports = [], [], []
    for i, rows in enumerate([120, 80, 150]):
        x, y = binary_data(rows, seed=10 + i)
        write_batch(tmp_path, f"b{i}.csv", x, y)
        xs.append(x)
        ys.append(y)
        clock.now += 600
        reports.append(job.run())
    clock.now += 600
    reports.append(job.run())  # nothing new: still a run, with the same window

    runs = app.state.runs()
    assert [r.run_at for r in runs] == [1_800_000_000.0 + 600 * k for k in range(1, 5)]
    assert [r.scored_rows for r in runs] == [120, 80, 150, 0]
    assert [r.window_rows for r in runs] == [120, 200, 350, 350]
    for k, (run, report) in enumerate(zip(runs, reports)):
        assert dict(run.samples) == samples_of(report.figures)
        upto = min(k, 2) + 1
        y = np.concatenate(ys[:upto])
        predicted = model.predict(pd.concat(xs[:upto]))
        assert run.labelled_rows == len(y)
        assert run.correct_rows == int((predicted == y).sum())
        assert run.correct_rows / run.labelled_rows == pytest.approx(accuracy_score(y, predicted), abs=1e-12)
        assert run.samples["mlmon_accuracy_ratio"] == pytest.approx(accuracy_score(y, predicted), abs=1e-12)
        assert run.samples["mlmon_predictions_total"] == len(y)
        assert run.window_start is not None and run.window_end == run.window_start + 600 * (upto - 1)
    assert 'mlmon_prediction_confidence_bucket{le="+Inf"}' in runs[0].samples
    assert 'mlmon_threshold{metric="missing_ratio"}' in runs[0].samples
    app.state.close()


@pytest.mark.parametrize(
    ("predictions", "labels"),
    [
        (np.array([0, 1, 2, 1, 250], dtype=np.int64), np.array([0, 2, 2, 1, 250], dtype=np.int16)),
        (np.array([0, 1, 2, 1, 7], dtype=np.uint8), np.array([0, 1, 2, 2, 7], dtype=np.uint64)),
        (np.array([0, 1, 2, 1, 3], dtype=np.int64), np.array([0, 1, 2, 1, 3], dtype=np.uint32)),
        (np.array([0, 1, 1, 0, 1], dtype=np.int64), np.array([False, True, True, True, False])),
        (np.array([0, 1, 2, 1, 3], dtype=np.int64), np.array([0, "1", 2.0, 1, None], dtype=object)),
        (np.array(["a", "b", "b", "a", "c"], dtype=object), np.array(["a", "b", "a", "a", "c"], dtype=object)),
    ],
)
def test_a_window_counts_rows_predicted_right_by_the_texts_they_are_published_under(
    predictions: np.ndarray, labels: np.ndarray
) -> None:
    from exporter.history.record import window_counts
    from exporter.performance import class_label
    from exporter.window import Window

    rows = len(predictions)
    labelled = np.array([True, True, True, True, False]) if labels[-1] is None else np.ones(rows, dtype=bool)
    window = Window(
        features=pd.DataFrame({"x": np.zeros(rows)}),
        predictions=predictions,
        probabilities=None,
        classes=None,
        labels=labels,
        labelled=labelled,
        scored_at=np.arange(rows, dtype=float),
        labelled_at=np.arange(rows, dtype=float),
    )
    counts = window_counts(window, "multiclass_classification")
    expected = sum(class_label(p) == class_label(t) for p, t, kept in zip(predictions, labels, labelled) if kept)
    assert counts.correct == expected
    assert counts.labelled == int(labelled.sum())
    assert (counts.rows, counts.start, counts.end) == (rows, 0.0, rows - 1.0)


def test_runs_older_than_the_retention_are_deleted(tmp_path: Path) -> None:
    config = write_project(tmp_path, top={"prediction_retention_days": 1})
    clock = Clock(1_800_000_000.0)
    app = build_app(load_config(config), clock=clock)
    (job,) = app.jobs
    for _ in range(3):
        job.run()
        clock.now += 0.4 * DAY
    assert len(app.state.runs()) == 3
    job.run()  # at +1.2 days: the first run (at 0) is past the one-day retention
    assert [r.run_at for r in app.state.runs()] == [1_800_000_000.0 + d * DAY for d in (0.4, 0.8, 1.2)]
    app.state.close()


def test_series_keys_read_back() -> None:
    labels = {"feature": 'odd "name", with\\ comma', "method": "ks"}
    key = series_key("mlmon_feature_drift_statistic", labels)
    assert parse_series_key(key) == ("mlmon_feature_drift_statistic", labels)
    assert parse_series_key("mlmon_window_rows") == ("mlmon_window_rows", {})
    with pytest.raises(ValueError):
        parse_series_key("not a name{")


# --- export --------------------------------------------------------------------------------------
def test_csv_round_trips_exactly_with_the_seeds_columns_first(tmp_path: Path) -> None:
    config = seed_project(tmp_path)
    out = tmp_path / "out" / "history.csv"
    assert main(["history", "export", "--config", str(config), "--csv", str(out)]) == 0

    expected = to_frame(seed_runs())
    assert list(expected.columns[:4]) == list(SEED_COLUMNS)
    back = read_csv(out)
    pd.testing.assert_frame_equal(back, expected, check_exact=True)
    # the seed's own way of reading it back gives the seed's numbers
    plain = pd.read_csv(out)
    assert list(plain.columns[:4]) == ["date", "accuracy", "prediction_volume", "avg_confidence"]
    assert plain["accuracy"].tolist() == SEED_ACCURACY
    assert plain["prediction_volume"].tolist() == SEED_VOLUME
    assert plain["avg_confidence"].tolist() == SEED_CONFIDENCE
    assert "mlmon_accuracy_ratio" not in plain.columns  # the seed's column stands for it
    assert plain["mlmon_predictions_total"].tolist() == list(np.cumsum(SEED_VOLUME).astype(float))


def test_csv_round_trips_awkward_values(tmp_path: Path) -> None:
    runs = seed_runs()[:3]
    odd = runs[1]
    runs[1] = StoredRun(
        odd.name, "2.0", odd.run_at + 0.123456, None, None, 0, 0, None, None,
        {"mlmon_accuracy_ratio": 0.1 + 0.2, series_key("mlmon_x", {"feature": 'a,"b"\nc'}): 1e-300},
    )  # fmt: skip
    frame = to_frame(runs)
    path = tmp_path / "h.csv"
    frame.to_csv(path, index=False)
    pd.testing.assert_frame_equal(read_csv(path), frame, check_exact=True)


def test_parquet_export_and_selection_by_model_and_time(tmp_path: Path) -> None:
    config = seed_project(tmp_path)
    state = StateStore(load_config(config).state_path)
    for run in seed_runs(name="other"):
        state.record_run(run)
    state.close()
    out = tmp_path / "h.parquet"
    argv = ["history", "export", "--config", str(config), "--parquet", str(out), "--model", "seed"]
    argv += ["--from", "2025-01-03", "--to", "2025-01-05T00:00"]
    assert main(argv) == 0
    frame = pd.read_parquet(out)
    pd.testing.assert_frame_equal(frame, to_frame(seed_runs()[2:5]), check_exact=True)
    assert main(["history", "export", "--config", str(config), "--parquet", str(out)]) == 0
    assert sorted(set(pd.read_parquet(out)["model"])) == ["other", "seed"]


def test_unknown_model_and_bad_dates_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = seed_project(tmp_path)
    assert main(["history", "show", "--config", str(config), "--model", "nope"]) == 2
    assert "--model nope: not a model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["history", "show", "--config", str(config), "--from", "last tuesday"])
    assert "is not a date or time" in capsys.readouterr().err


# --- show ----------------------------------------------------------------------------------------
def summary_values(out: str) -> dict[str, str]:
    return {k: v.strip() for k, _, v in (line.partition(":") for line in out.splitlines() if ":" in line)}


def test_show_summary_equals_the_csvs_own_averages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = seed_project(tmp_path)
    out = tmp_path / "history.csv"
    assert main(["history", "export", "--config", str(config), "--csv", str(out)]) == 0
    capsys.readouterr()
    assert main(["history", "show", "--config", str(config), "--last", "3"]) == 0
    text = capsys.readouterr().out
    assert "\033" not in text  # not a terminal: plain text
    csv = pd.read_csv(out)
    shown = summary_values(text)
    assert float(shown["Average Accuracy"]) == round(csv["accuracy"].mean(), 4) == 0.934
    assert float(shown["Average Prediction Volume"]) == round(csv["prediction_volume"].mean(), 4) == 560.0
    assert float(shown["Average Confidence"]) == round(csv["avg_confidence"].mean(), 4) == 0.914
    below_accuracy = int((csv["accuracy"] < csv['mlmon_threshold{metric="accuracy"}']).sum())
    below_confidence = int((csv["avg_confidence"] < csv['mlmon_threshold{metric="mean_confidence"}']).sum())
    assert (below_accuracy, below_confidence) == (1, 1)  # the seed's last day: 0.89 and 0.87
    assert shown["Breaches"] == "1 run(s) (accuracy 1, mean_confidence 1)"
    assert shown["Latest run breaches"] == "accuracy, mean_confidence"
    lines = text.splitlines()
    assert lines[0] == "Recent runs (3 of 10):"
    assert lines[1].split() == [
        "date",
        "(UTC)",
        "model",
        "version",
        "window",
        "accuracy",
        "volume",
        "confidence",
        "breaches",
    ]
    assert lines[3].split()[:8] == ["2025-01-08", "00:00:00", "seed", "1", "600", "0.9100", "600", "0.8900"]
    assert lines[5].split()[-2:] == ["accuracy,", "mean_confidence"]


def test_show_on_a_terminal_is_styled_and_empty_history_says_so() -> None:
    frame = to_frame(seed_runs())
    styled = show(frame, 2, tty=True)
    assert "\033[1m" in styled and "\033[31m" in styled and "─" in styled
    assert show(frame.iloc[0:0], 2, tty=False) == "no runs in the history for this selection"


def test_show_without_a_state_store_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_project(tmp_path)
    assert main(["history", "show", "--config", str(config)]) == 2
    assert "no state store at" in capsys.readouterr().err


# --- progress ------------------------------------------------------------------------------------
class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_quiet_off_a_terminal_and_drawn_on_one() -> None:
    quiet = io.StringIO()
    with Progress(4, "backfill", stream=quiet) as bar:
        for _ in range(4):
            bar.advance()
    assert quiet.getvalue() == ""
    terminal = Terminal()
    with Progress(4, "backfill", stream=terminal, every=0) as bar:
        for _ in range(4):
            bar.advance()
    drawn = terminal.getvalue()
    assert drawn.endswith("100% 4/4\n") and " 50% 2/4" in drawn and drawn.count("\r") >= 5


def test_samples_are_stored_compressed_and_earlier_text_rows_still_read(tmp_path: Path) -> None:
    import json
    import sqlite3

    state = StateStore(tmp_path / "state.db")
    run = seed_runs()[0]
    state.record_run(run)
    state.close()
    db = sqlite3.connect(tmp_path / "state.db")
    (stored,) = db.execute("SELECT samples FROM runs").fetchone()
    assert isinstance(stored, bytes) and len(stored) < len(json.dumps(dict(run.samples)))
    text = json.dumps({"mlmon_accuracy_ratio": 0.5})
    db.execute("UPDATE runs SET samples = ?", (text,))
    db.commit()
    db.close()
    state = StateStore(tmp_path / "state.db")
    assert dict(state.runs()[0].samples) == {"mlmon_accuracy_ratio": 0.5}
    state.close()
