"""The scoring job end to end in-process: real models, real files, a real SQLite state store."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from exporter.app import build_app
from exporter.config import load_config
from exporter.monitors import MONITORS, monitors_for

from helpers import (
    FEATURES,
    binary_data,
    deploy_model,
    multiclass_data,
    regression_data,
    value,
    values,
    write_batch,
    write_project,
)


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def app_for(config: Path, clock: Clock | None = None):  # type: ignore[no-untyped-def]
    return build_app(load_config(config), clock=clock or Clock())


def test_binary_gauges_equal_sklearn_on_the_same_rows(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(300, seed=1)
    write_batch(tmp_path, "b1.csv", x, y)
    figures = app_for(config).jobs[0].run().figures

    model = joblib.load(tmp_path / "model.joblib")
    predicted = model.predict(x)
    proba = model.predict_proba(x)
    expected = {
        "mlmon_accuracy_ratio": metrics.accuracy_score(y, predicted),
        "mlmon_precision_ratio": metrics.precision_score(y, predicted),
        "mlmon_recall_ratio": metrics.recall_score(y, predicted),
        "mlmon_f1_ratio": metrics.f1_score(y, predicted),
        "mlmon_roc_auc_ratio": metrics.roc_auc_score(y, proba[:, 1]),
        "mlmon_log_loss": metrics.log_loss(y, proba, labels=model.classes_),
        "mlmon_mean_confidence_ratio": proba.max(axis=1).mean(),
    }
    for name, want in expected.items():
        assert value(figures, name) == pytest.approx(want, abs=1e-9), name
    assert value(figures, "mlmon_predictions") == 300
    assert value(figures, "mlmon_batch_rows") == 300
    assert value(figures, "mlmon_window_rows") == 300
    assert value(figures, "mlmon_model_up") == 1


def test_a_restart_never_scores_a_batch_twice_and_counters_carry_over(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(200, seed=2)
    write_batch(tmp_path, "b1.csv", x, y)
    first = app_for(config)
    assert value(first.jobs[0].run().figures, "mlmon_predictions") == 200
    first.state.close()

    second = app_for(config)
    assert value(second.jobs[0].run().figures, "mlmon_predictions") == 200
    write_batch(tmp_path, "b2.csv", x.iloc[:50], y[:50])
    report = second.jobs[0].run()
    assert report.scored == 1
    assert value(report.figures, "mlmon_predictions") == 250
    assert value(report.figures, "mlmon_batches_processed") == 2
    confidence = next(f for f in report.figures if f.name == "mlmon_prediction_confidence")
    assert confidence.count == 250


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.parquet", b"this is not parquet", "unreadable"),
        ("schema.csv", b"id,f0,f1\n1,0.1,0.2\n", "schema"),
        ("empty.csv", ("id," + ",".join(FEATURES) + ",target\n").encode(), "empty"),
    ],
)
def test_a_bad_batch_is_counted_quarantined_and_the_figures_stay(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(100, seed=3)
    write_batch(tmp_path, "good.csv", x, y)
    app = app_for(config)
    good = value(app.jobs[0].run().figures, "mlmon_accuracy_ratio")
    (tmp_path / "incoming" / name).write_bytes(content)

    report = app.jobs[0].run()
    assert report.failed == 1
    assert value(report.figures, "mlmon_batch_failures", reason=reason) == 1
    assert sum(values(report.figures, "mlmon_batch_failures")) == 1
    assert value(report.figures, "mlmon_accuracy_ratio") == good
    assert value(report.figures, "mlmon_model_up") == 1
    assert not (tmp_path / "incoming" / name).exists()
    kept = tmp_path / "state" / "mlmon-quarantine" / "m" / "1" / name
    assert kept.read_bytes() == content
    assert kept.with_name(name + ".reason.txt").read_text().startswith(reason)
    # the quarantined batch is not retried on the next run
    assert app.jobs[0].run().failed == 0


def test_bad_rows_are_dropped_and_counted_by_reason(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(20, seed=4)
    frame = x.astype(object).copy()
    frame.insert(0, "id", [f"r{i}" for i in range(20)])
    frame["target"] = y
    frame.loc[0, "f0"] = None  # missing_value
    frame.loc[1, "f1"] = "twelve"  # bad_type
    frame.loc[2, "target"] = 7  # unknown_label
    frame.loc[3, "id"] = "r4"  # duplicate_id (r4 comes again in row 4)
    frame.to_csv(tmp_path / "incoming" / "rows.csv", index=False)
    figures = app_for(config).jobs[0].run().figures
    for reason in ("missing_value", "bad_type", "unknown_label", "duplicate_id"):
        assert value(figures, "mlmon_invalid_rows", reason=reason) == 1, reason
    # the row with an unknown label is scored; it only loses its label
    assert value(figures, "mlmon_predictions") == 17
    assert value(figures, "mlmon_window_rows") == 17
    assert value(figures, "mlmon_schema_violations", kind="wrong_dtype") == 1


def test_an_id_scored_in_an_earlier_batch_is_a_duplicate(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(30, seed=5)
    write_batch(tmp_path, "a.csv", x, y, id_prefix="same", mtime=1_000)
    write_batch(tmp_path, "b.csv", x, y, id_prefix="same", mtime=2_000)
    figures = app_for(config).jobs[0].run().figures
    assert value(figures, "mlmon_invalid_rows", reason="duplicate_id") == 30
    assert value(figures, "mlmon_predictions") == 30
    # a batch with no row left is given up as a whole, and its rows are still counted
    assert value(figures, "mlmon_batch_failures", reason="empty") == 1


def test_the_row_window_spans_batches(tmp_path: Path) -> None:
    config = write_project(tmp_path, model_overrides={"window": {"rows": 500}})
    x, y = binary_data(900, seed=6)
    app = app_for(config)
    for i in range(3):
        write_batch(tmp_path, f"b{i}.csv", x.iloc[i * 300 : (i + 1) * 300], y[i * 300 : (i + 1) * 300], mtime=1_000 + i)
    figures = app.jobs[0].run().figures
    model = joblib.load(tmp_path / "model.joblib")
    last = slice(400, 900)
    assert value(figures, "mlmon_window_rows") == 500
    want = metrics.accuracy_score(y[last], model.predict(x.iloc[last]))
    assert value(figures, "mlmon_accuracy_ratio") == pytest.approx(want, abs=1e-9)


def test_the_duration_window_keeps_recent_batches(tmp_path: Path) -> None:
    config = write_project(tmp_path, model_overrides={"window": {"seconds": 150}})
    x, y = binary_data(300, seed=7)
    clock = Clock(10_000)
    app = app_for(config, clock)
    for i in range(3):
        write_batch(tmp_path, f"b{i}.csv", x.iloc[i * 100 : (i + 1) * 100], y[i * 100 : (i + 1) * 100])
        figures = app.jobs[0].run().figures
        clock.now += 100
    # batches scored at 10000, 10100, 10200; at 10200 the window reaches back to 10050
    assert value(figures, "mlmon_window_rows") == 200
    # with nothing new for longer than the window, the window empties instead of freezing
    clock.now += 1_000
    figures = app.jobs[0].run().figures
    assert value(figures, "mlmon_window_rows") == 0
    assert values(figures, "mlmon_accuracy_ratio") == []


def test_below_min_rows_no_window_figure_is_published(tmp_path: Path) -> None:
    config = write_project(tmp_path, model_overrides={"min_rows": 50})
    x, y = binary_data(20, seed=8)
    write_batch(tmp_path, "small.csv", x, y)
    figures = app_for(config).jobs[0].run().figures
    assert value(figures, "mlmon_window_rows") == 20
    assert values(figures, "mlmon_accuracy_ratio") == []
    assert values(figures, "mlmon_feature_drift_severity") == []


def _late_label_project(tmp_path: Path) -> Path:
    (tmp_path / "labels").mkdir(parents=True)
    return write_project(
        tmp_path,
        model_overrides={
            "labels": {"source": {"type": "files", "path": "labels", "settle_seconds": 0}},
            "window": {"rows": 1000},
        },
    )


def test_late_labels_update_the_window_they_belong_to(tmp_path: Path) -> None:
    config = _late_label_project(tmp_path)
    x, y = binary_data(200, seed=9)
    write_batch(tmp_path, "b1.csv", x)  # no target column: labels come later
    clock = Clock(50_000)
    app = app_for(config, clock)
    figures = app.jobs[0].run().figures
    assert values(figures, "mlmon_accuracy_ratio") == []
    assert value(figures, "mlmon_labelled_rows_ratio") == 0
    assert values(figures, "mlmon_estimated_accuracy_ratio"), "estimation needs no labels"

    clock.now += 3_600
    half = pd.DataFrame({"id": [f"b1-{i}" for i in range(100)], "target": y[:100]})
    half.to_csv(tmp_path / "labels" / "l1.csv", index=False)
    figures = app.jobs[0].run().figures
    model = joblib.load(tmp_path / "model.joblib")
    want = metrics.accuracy_score(y[:100], model.predict(x.iloc[:100]))
    assert value(figures, "mlmon_accuracy_ratio") == pytest.approx(want, abs=1e-9)
    assert value(figures, "mlmon_labelled_rows_ratio") == pytest.approx(0.5)
    assert value(figures, "mlmon_label_delay_seconds") == pytest.approx(3_600)
    assert value(figures, "mlmon_labels_received") == 100
    # a label file is applied once
    assert app.jobs[0].run().labels == 0

    # a repeated id keeps its first label and is counted; an id never scored waits, and is shown
    clock.now += 60
    pd.DataFrame({"id": ["b1-100", "b1-100", "nope-1"], "target": [y[100], 1 - y[100], 1]}).to_csv(
        tmp_path / "labels" / "l2.csv", index=False
    )
    figures = app.jobs[0].run().figures
    assert value(figures, "mlmon_invalid_rows", reason="duplicate_id") == 1
    assert value(figures, "mlmon_labels_received") == 101
    assert value(figures, "mlmon_unmatched_labels") == 1
    want = metrics.accuracy_score(y[:101], model.predict(x.iloc[:101]))
    assert value(figures, "mlmon_accuracy_ratio") == pytest.approx(want, abs=1e-9)


def test_labels_that_arrive_before_their_predictions_are_kept(tmp_path: Path) -> None:
    config = _late_label_project(tmp_path)
    x, y = binary_data(60, seed=10)
    pd.DataFrame({"id": [f"b1-{i}" for i in range(60)], "target": y}).to_csv(tmp_path / "labels" / "l.csv", index=False)
    app = app_for(config)
    app.jobs[0].run()
    write_batch(tmp_path, "b1.csv", x)
    figures = app.jobs[0].run().figures
    assert value(figures, "mlmon_labelled_rows_ratio") == 1
    assert value(figures, "mlmon_labels_received") == 60
    model = joblib.load(tmp_path / "model.joblib")
    assert value(figures, "mlmon_accuracy_ratio") == pytest.approx(metrics.accuracy_score(y, model.predict(x)))


def test_a_failing_calculator_costs_only_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_project(tmp_path)
    monitors_for(load_config(config).models[0])  # make sure the registry is filled

    def broken(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("boom")

    monkeypatch.setattr(MONITORS["feature_drift"], "calculate", broken)
    x, y = binary_data(100, seed=11)
    write_batch(tmp_path, "b.csv", x, y)
    figures = app_for(config).jobs[0].run().figures
    assert value(figures, "mlmon_calculator_success", calculator="feature_drift") == 0
    assert value(figures, "mlmon_calculator_success", calculator="performance") == 1
    assert values(figures, "mlmon_accuracy_ratio")
    assert values(figures, "mlmon_feature_drift_severity") == []


def test_a_model_that_cannot_load_is_reported_down_and_the_rest_stays(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    (tmp_path / "model.joblib").write_bytes(b"not a model")
    report = app_for(config).jobs[0].run()
    assert value(report.figures, "mlmon_model_up") == 0
    assert value(report.figures, "mlmon_predictions") == 0
    assert values(report.figures, "mlmon_last_run_success_timestamp_seconds") == []


def test_multiclass_gauges_equal_sklearn(tmp_path: Path) -> None:
    config = write_project(tmp_path, "multiclass_classification")
    x, y = multiclass_data(300, seed=12)
    write_batch(tmp_path, "b.csv", x, y)
    figures = app_for(config).jobs[0].run().figures
    model = joblib.load(tmp_path / "model.joblib")
    predicted, proba = model.predict(x), model.predict_proba(x)
    assert value(figures, "mlmon_accuracy_ratio") == pytest.approx(metrics.accuracy_score(y, predicted), abs=1e-9)
    assert value(figures, "mlmon_precision_ratio") == pytest.approx(
        metrics.precision_score(y, predicted, average="macro"), abs=1e-9
    )
    assert value(figures, "mlmon_weighted_f1_ratio") == pytest.approx(
        metrics.f1_score(y, predicted, average="weighted"), abs=1e-9
    )
    per_class = metrics.recall_score(y, predicted, average=None, labels=model.classes_)
    for cls, want in zip(model.classes_, per_class):
        assert value(figures, "mlmon_class_recall_ratio", **{"class": str(cls)}) == pytest.approx(want, abs=1e-9)
    assert value(figures, "mlmon_log_loss") == pytest.approx(metrics.log_loss(y, proba, labels=model.classes_))


def test_regression_gauges_equal_sklearn(tmp_path: Path) -> None:
    config = write_project(tmp_path, "regression")
    x, y = regression_data(300, seed=13)
    write_batch(tmp_path, "b.csv", x, y)
    figures = app_for(config).jobs[0].run().figures
    predicted = joblib.load(tmp_path / "model.joblib").predict(x)
    expected = {
        "mlmon_mean_absolute_error": metrics.mean_absolute_error(y, predicted),
        "mlmon_root_mean_squared_error": np.sqrt(metrics.mean_squared_error(y, predicted)),
        "mlmon_mean_absolute_percentage_error_ratio": metrics.mean_absolute_percentage_error(y, predicted),
        "mlmon_r2_score": metrics.r2_score(y, predicted),
        "mlmon_mean_prediction": predicted.mean(),
    }
    for name, want in expected.items():
        assert value(figures, name) == pytest.approx(want, abs=1e-9), name
    assert values(figures, "mlmon_residual_drift_severity")
    assert values(figures, "mlmon_prediction_confidence") == []


def test_the_reference_profile_is_cached_and_refitted_only_when_the_reference_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exporter.cli import main

    config = write_project(tmp_path)
    assert main(["reference", "build", "--config", str(config)]) == 0
    first = app_for(config)
    cached = first.state.reference("m:1")
    first.state.close()
    assert cached is not None

    # a restart reads the cached profile instead of fitting again
    second = app_for(config)
    monkeypatch.setattr(second.jobs[0].reference, "fit", lambda *a: pytest.fail("refitted an unchanged reference"))
    x, y = binary_data(100, seed=14)
    write_batch(tmp_path, "b.csv", x, y)
    figures = second.jobs[0].run().figures
    assert value(figures, "mlmon_reference", fingerprint=cached[0]) == 1
    monkeypatch.undo()

    # a changed reference gets a new fingerprint and a new profile
    reference = pd.read_parquet(tmp_path / "reference.parquet")
    reference.iloc[:300].to_parquet(tmp_path / "reference.parquet", index=False)
    figures = second.jobs[0].run().figures
    (info,) = [f for f in figures if f.name == "mlmon_reference"]
    assert info.labels["fingerprint"] != cached[0]
    assert value(figures, "mlmon_reference_rows") == 300


def test_a_redeployed_model_file_is_loaded_on_the_next_run(tmp_path: Path) -> None:
    import os

    import skops.io
    from sklearn.tree import DecisionTreeClassifier

    # a skops file needs no pin, so a new one deployed under the same name is taken as it is
    config = write_project(tmp_path, model_overrides={"model_path": "model.skops", "model_sha256": None})
    skops.io.dump(joblib.load(tmp_path / "model.joblib"), tmp_path / "model.skops")
    x, y = binary_data(200, seed=15)
    app = app_for(config)
    write_batch(tmp_path, "b1.csv", x, y)
    first = app.jobs[0].run().figures
    tree = DecisionTreeClassifier(max_depth=1, random_state=0).fit(x, y)
    skops.io.dump(tree, tmp_path / "model.skops")
    os.utime(tmp_path / "model.skops", ns=(1, 1))
    write_batch(tmp_path, "b2.csv", x, y)
    second = app.jobs[0].run().figures
    assert value(second, "mlmon_accuracy_ratio") == pytest.approx(metrics.accuracy_score(y, tree.predict(x)))
    (old,) = [f.labels["fingerprint"] for f in first if f.name == "mlmon_reference"]
    (new,) = [f.labels["fingerprint"] for f in second if f.name == "mlmon_reference"]
    assert old != new


def test_text_columns_reach_the_model_as_categories_even_without_a_reference(tmp_path: Path) -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    x, y = binary_data(300, seed=16)
    x["colour"] = np.where(y == 1, "red", "blue")
    encode = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["colour"]), remainder="passthrough")
    pipeline = make_pipeline(encode, LogisticRegression(max_iter=1000)).fit(x, y)
    config = write_project(tmp_path, model_overrides={"reference_path": None})
    deploy_model(config, pipeline)
    write_batch(tmp_path, "b.csv", x, y)
    figures = app_for(config).jobs[0].run().figures
    assert values(figures, "mlmon_invalid_rows", reason="bad_type") == [0]
    assert value(figures, "mlmon_accuracy_ratio") == pytest.approx(metrics.accuracy_score(y, pipeline.predict(x)))


class NanModel(LogisticRegression):
    """A classifier whose probabilities are NaN for rows with a negative first feature."""

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        proba = super().predict_proba(x)
        proba[np.asarray(x)[:, 0] < 0] = np.nan
        return proba


def test_a_model_that_returns_nan_costs_only_that_batch(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(200, seed=17)
    deploy_model(config, NanModel(max_iter=1000).fit(x, y))
    write_batch(tmp_path, "nan.csv", x, y, mtime=1_000)
    clean = x[x["f0"] >= 0]
    write_batch(tmp_path, "clean.csv", clean, y[x["f0"] >= 0], mtime=2_000)
    report = app_for(config).jobs[0].run()
    assert (report.failed, report.scored) == (1, 1)
    assert value(report.figures, "mlmon_batch_failures", reason="scoring") == 1
    assert value(report.figures, "mlmon_predictions") == len(clean)
    assert value(report.figures, "mlmon_model_up") == 1
    confidence = next(f for f in report.figures if f.name == "mlmon_prediction_confidence")
    assert np.isfinite(confidence.sum) and confidence.count == len(clean)
    reason = tmp_path / "state" / "mlmon-quarantine" / "m" / "1" / "nan.csv.reason.txt"
    assert "non-finite probabilities" in reason.read_text()


@pytest.mark.filterwarnings("ignore:invalid value encountered in log:RuntimeWarning")
def test_a_pipeline_that_makes_a_non_finite_value_inside_fails_only_that_batch(tmp_path: Path) -> None:
    """Scoring skips scikit-learn's finiteness pass over validated inputs; a step of the model's own that
    makes a NaN (the log of a negative number) still fails the batch as a scoring failure."""
    config = write_project(tmp_path)
    x, y = binary_data(200, seed=5)
    shifted = x - x.min() + 1.0  # every value positive: the log is finite on the training data
    pipeline = make_pipeline(FunctionTransformer(np.log), LogisticRegression(max_iter=1000)).fit(shifted, y)
    deploy_model(config, pipeline)
    write_batch(tmp_path, "negative.csv", x - x.max() - 1.0, y, mtime=1_000)  # every value negative
    write_batch(tmp_path, "positive.csv", shifted, y, mtime=2_000)
    report = app_for(config).jobs[0].run()
    assert (report.failed, report.scored) == (1, 1)
    assert value(report.figures, "mlmon_batch_failures", reason="scoring") == 1
    assert value(report.figures, "mlmon_predictions") == len(shifted)
    assert value(report.figures, "mlmon_accuracy_ratio") == pytest.approx(
        metrics.accuracy_score(y, pipeline.predict(shifted))
    )


def test_a_failing_state_store_is_reported_and_the_batch_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(100, seed=18)
    write_batch(tmp_path, "b.csv", x, y)
    app = app_for(config)
    job = app.jobs[0]

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(job.windows, "write", disk_full)
    report = job.run()
    assert value(report.figures, "mlmon_model_up") == 0
    assert value(report.figures, "mlmon_predictions") == 0
    assert app.results.get("m", "1") is not None  # the scrape still has something to show
    # with the store unreadable too, the last counts stay published instead of vanishing
    monkeypatch.setattr(job.state, "counters", disk_full)
    report = job.run()
    assert value(report.figures, "mlmon_model_up") == 0
    assert value(report.figures, "mlmon_predictions") == 0
    monkeypatch.undo()
    report = job.run()
    assert value(report.figures, "mlmon_model_up") == 1
    assert value(report.figures, "mlmon_predictions") == 100


@pytest.mark.parametrize("with_ids", [False, True])
def test_a_batch_recorded_by_another_process_is_not_counted_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_ids: bool
) -> None:
    config = write_project(tmp_path, model_overrides={} if with_ids else {"id_column": None})
    x, y = binary_data(100, seed=19)
    write_batch(tmp_path, "b.csv", x, y)
    first, second = app_for(config), app_for(config)
    # the second process read the processed marks before the first one committed
    monkeypatch.setattr(second.state, "seen_batches", lambda model: set())
    first.jobs[0].run()
    report = second.jobs[0].run()
    assert (report.scored, report.failed) == (0, 0)
    assert value(report.figures, "mlmon_predictions") == 100
    assert value(report.figures, "mlmon_batches_processed") == 1
    assert sum(values(report.figures, "mlmon_batch_failures")) == 0
    assert (tmp_path / "incoming" / "b.csv").exists()


def test_infinities_and_stray_text_drop_rows_not_batches_even_without_a_reference(tmp_path: Path) -> None:
    config = write_project(tmp_path, model_overrides={"reference_path": None})
    x, y = binary_data(40, seed=20)
    frame = x.astype(object)
    frame.loc[0, "f2"] = "n.a."
    frame.loc[1, "f3"] = float("inf")
    write_batch(tmp_path, "b.csv", frame, y)
    report = app_for(config).jobs[0].run()
    assert report.failed == 0
    assert value(report.figures, "mlmon_invalid_rows", reason="bad_type") == 2
    assert value(report.figures, "mlmon_predictions") == 38


def test_ids_keep_their_identity_through_blank_cells_and_float_columns(tmp_path: Path) -> None:
    config = _late_label_project(tmp_path)
    x, _ = binary_data(50, seed=21)
    batch = x.copy()
    batch.insert(0, "id", np.arange(1000, 1050))
    batch.loc[49, "id"] = None  # one blank id turns the column into floats
    batch.to_csv(tmp_path / "incoming" / "b.csv", index=False)
    labels = pd.DataFrame({"id": [*range(1000, 1040), None], "target": [1] * 41})
    labels.to_csv(tmp_path / "labels" / "l.csv", index=False)
    app = app_for(config)
    app.jobs[0].run()
    figures = app.jobs[0].run().figures
    assert value(figures, "mlmon_invalid_rows", reason="missing_value") == 1
    assert value(figures, "mlmon_labels_received") == 40
    assert value(figures, "mlmon_labelled_rows_ratio") == pytest.approx(40 / 49)


def test_float_flags_do_not_drift_against_themselves(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    reference = pd.read_parquet(tmp_path / "reference.parquet")
    reference["f4"] = (reference["f4"] > 0).astype(float)  # a 0.0/1.0 flag: categorical
    reference.to_parquet(tmp_path / "reference.parquet", index=False)
    model = LogisticRegression(max_iter=1000).fit(reference[FEATURES], reference["target"])
    deploy_model(config, model)
    batch = reference.iloc[:300]
    write_batch(tmp_path, "b.csv", batch[FEATURES], batch["target"].to_numpy())
    figures = app_for(config).jobs[0].run().figures
    assert value(figures, "mlmon_feature_drift_statistic", feature="f4", method="chisquare") < 5
    assert value(figures, "mlmon_feature_drift_detected", feature="f4") == 0


def test_a_model_without_feature_names_takes_the_reference_column_order(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    reference = pd.read_parquet(tmp_path / "reference.parquet")
    unnamed = LogisticRegression(max_iter=1000).fit(reference[FEATURES].to_numpy(), reference["target"])
    deploy_model(config, unnamed)
    x, y = binary_data(200, seed=22)
    write_batch(tmp_path, "b.csv", x[FEATURES[::-1]], y)  # the same columns, in reverse order
    figures = app_for(config).jobs[0].run().figures
    want = metrics.accuracy_score(y, unnamed.predict(x[FEATURES].to_numpy()))
    assert value(figures, "mlmon_accuracy_ratio") == pytest.approx(want, abs=1e-9)


def test_what_the_config_leaves_to_chance_is_said_at_load(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "labels").mkdir(parents=True)
    config = write_project(
        tmp_path,
        model_overrides={
            "positive_class": "yes",
            "labels": {"source": {"type": "files", "path": "labels", "settle_seconds": 0}},
            "drift": {"feature_methods": {"f_typo": "ks"}},
        },
    )
    with caplog.at_level("WARNING", logger="exporter"):
        app_for(config).jobs[0].run()
    assert "positive_class 'yes' is not one of the classes [0, 1]" in caplog.text
    assert "late labels only update the window they fall in" in caplog.text
    assert "drift.feature_methods names no feature called f_typo" in caplog.text


def test_a_batch_dropped_again_with_its_label_column_filled_in_delivers_labels(tmp_path: Path) -> None:
    config = write_project(tmp_path, model_overrides={"window": {"rows": 1000}})
    x, y = binary_data(120, seed=23)
    clock = Clock(70_000)
    app = app_for(config, clock)
    write_batch(tmp_path, "b.csv", x, mtime=1_000)  # scored before anyone knows the outcome
    figures = app.jobs[0].run().figures
    assert values(figures, "mlmon_accuracy_ratio") == []

    clock.now += 600
    write_batch(tmp_path, "b.csv", x, y, mtime=2_000)  # the same rows, the target column now filled in
    report = app.jobs[0].run()
    model = joblib.load(tmp_path / "model.joblib")
    assert (report.failed, report.labels) == (0, 120)
    assert value(report.figures, "mlmon_predictions") == 120
    assert value(report.figures, "mlmon_invalid_rows", reason="duplicate_id") == 0
    assert value(report.figures, "mlmon_accuracy_ratio") == pytest.approx(metrics.accuracy_score(y, model.predict(x)))
    assert value(report.figures, "mlmon_label_delay_seconds") == pytest.approx(600)
    assert (tmp_path / "incoming" / "b.csv").exists()


def test_stored_predictions_past_the_retention_are_deleted_and_counts_stay(tmp_path: Path) -> None:
    (tmp_path / "labels").mkdir(parents=True)
    config = write_project(
        tmp_path,
        model_overrides={
            "labels": {"source": {"type": "files", "path": "labels", "settle_seconds": 0}},
            "window": {"rows": 1000},
        },
        top={"prediction_retention_days": 1},
    )
    x, y = binary_data(80, seed=24)
    clock = Clock(100_000)
    app = app_for(config, clock)
    write_batch(tmp_path, "old.csv", x.iloc[:40])
    app.jobs[0].run()
    clock.now += 2 * 86400  # two days later: the first batch's predictions are past the retention
    write_batch(tmp_path, "new.csv", x.iloc[40:])
    pd.DataFrame({"id": [f"old-{i}" for i in range(40)], "target": y[:40]}).to_csv(
        tmp_path / "labels" / "late.csv", index=False
    )
    figures = app.jobs[0].run().figures
    assert value(figures, "mlmon_predictions") == 80
    assert value(figures, "mlmon_labels_received") == 0
    assert app.state.known_row_ids("m:1", [f"old-{i}" for i in range(40)]) == {}
    assert app.state.known_row_ids("m:1", ["new-0"]) == {"new-0": False}
    # the labels for deleted predictions waited a run, then went past the retention themselves
    clock.now += 2 * 86400
    assert value(app.jobs[0].run().figures, "mlmon_unmatched_labels") == 0
    # the old batch file is still in its folder and still never scored again
    assert value(app.jobs[0].run().figures, "mlmon_batches_processed") == 2


def test_feature_columns_that_differ_from_the_models_own_names_keep_it_down(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = write_project(tmp_path, model_overrides={"feature_columns": ["f0", "f1", "f2", "f3", "f9"]})
    x, y = binary_data(50, seed=25)
    write_batch(tmp_path, "b.csv", x, y)
    with caplog.at_level("ERROR", logger="exporter.job"):
        report = app_for(config).jobs[0].run()
    assert value(report.figures, "mlmon_model_up") == 0
    assert report.scored == 0 and (tmp_path / "incoming" / "b.csv").exists()
    assert "differ from the model's feature_names_in_" in caplog.text


def test_an_unchanged_reference_file_is_read_once_however_many_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import exporter.model

    config = write_project(tmp_path)
    hashed: list[Path] = []
    real = exporter.model.file_digest
    monkeypatch.setattr(exporter.model, "file_digest", lambda path: hashed.append(path) or real(path))
    app = app_for(config)
    for _ in range(3):
        app.jobs[0].run()
    assert hashed.count(tmp_path / "reference.parquet") == 1
    pd.read_parquet(tmp_path / "reference.parquet").iloc[:100].to_parquet(tmp_path / "reference.parquet")
    assert value(app.jobs[0].run().figures, "mlmon_reference_rows") == 100
    assert hashed.count(tmp_path / "reference.parquet") == 2


def test_last_run_duration_is_the_last_run_that_did_work_and_an_empty_run_says_so(tmp_path: Path) -> None:
    import os

    config = write_project(tmp_path)
    app = app_for(config)
    job = app.jobs[0]
    x, y = binary_data(200, seed=30)
    write_batch(tmp_path, "b1.csv", x, y)
    worked = job.run().figures
    assert value(worked, "mlmon_last_run_empty") == 0
    busy = value(worked, "mlmon_last_run_duration_seconds")
    assert busy > 0
    for _ in range(2):  # nothing new: the runs say they were empty and keep the busy run's duration
        empty = job.run().figures
        assert value(empty, "mlmon_last_run_empty") == 1
        assert value(empty, "mlmon_last_run_duration_seconds") == busy
    write_batch(tmp_path, "b2.csv", x, y)
    again = job.run().figures
    assert value(again, "mlmon_last_run_empty") == 0
    assert value(again, "mlmon_last_run_duration_seconds") != busy
    # a model that cannot load did no work and was not an empty run either
    (tmp_path / "model.joblib").write_bytes(b"not the pinned model")
    os.utime(tmp_path / "model.joblib", ns=(1, 1))
    down = job.run().figures
    assert value(down, "mlmon_model_up") == 0 and value(down, "mlmon_last_run_empty") == 0


@pytest.mark.parametrize(
    ("overrides", "direct"),
    [({"id_column": None}, True), ({"id_column": None, "window": {"rows": 500}}, False), ({}, False)],
    ids=["latest-batch", "rows-window", "with-ids"],
)
def test_a_latest_batch_window_is_evaluated_while_its_file_is_written_then_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: dict[str, object], direct: bool
) -> None:
    import threading

    import exporter.job

    config = write_project(tmp_path, model_overrides=overrides)
    x, y = binary_data(120, seed=33)
    write_batch(tmp_path, "b.csv", x, y)
    job = app_for(config).jobs[0]
    evaluated = threading.Event()
    seen: list[tuple[bool, bool, bool]] = []
    evaluate, write = exporter.job.evaluate, job.windows.write

    def watched_evaluate(*args, **kwargs):  # type: ignore[no-untyped-def]
        evaluated.set()
        return evaluate(*args, **kwargs)

    def watched_write(model_key: str, batch_key: str, table, *, direct: bool = False) -> None:  # type: ignore[no-untyped-def]
        # only a latest-batch window is evaluated before its file is done (the others read the store)
        seen.append((direct, evaluated.wait(10 if direct else 0.2), job.state.has_batch(model_key, batch_key)))
        write(model_key, batch_key, table, direct=direct)

    monkeypatch.setattr(exporter.job, "evaluate", watched_evaluate)
    monkeypatch.setattr(job.windows, "write", watched_write)
    report = job.run()

    # written past the page cache only when the file is read back after a restart alone; the batch
    # is never recorded before its file is written
    assert seen == [(direct, direct, False)]
    assert (report.scored, value(report.figures, "mlmon_model_up")) == (1, 1)
    assert value(report.figures, "mlmon_window_rows") == 120
    assert value(report.figures, "mlmon_accuracy_ratio") == pytest.approx(
        metrics.accuracy_score(y, joblib.load(tmp_path / "model.joblib").predict(x))
    )
    assert job.state.has_batch(job.key, "blake3:")


def test_a_run_scores_and_evaluates_with_one_linear_algebra_thread_and_sets_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's own threads share the processors; BLAS threads would compete with them, small window or large."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    config = write_project(tmp_path)
    x, y = binary_data(80, seed=4)
    write_batch(tmp_path, "b.csv", x, y)
    app = build_app(load_config(config))
    seen: dict[str, set[int]] = {}
    estimator = app.jobs[0].ensure_model().estimator
    predict, calculate = estimator.predict, MONITORS["multivariate_drift"].calculate

    def noting_predict(*args: object) -> object:
        seen["scoring"] = blas_threads()
        return predict(*args)

    def noting_calculate(*args: object) -> list:
        seen["evaluation"] = blas_threads()
        return calculate(*args)

    monkeypatch.setattr(estimator, "predict", noting_predict)
    monkeypatch.setattr(MONITORS["multivariate_drift"], "calculate", noting_calculate)
    with threadpool_limits(limits=2, user_api="blas"):  # so the limit can be told from none
        report = app.jobs[0].run()
        assert blas_threads() == {2}
    assert report.rows == 80
    assert seen == {"scoring": {1}, "evaluation": {1}}
