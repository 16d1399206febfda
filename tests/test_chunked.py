"""A batch larger than ``limits.max_batch_rows`` goes through the job in chunks and gives the figures
and counters of the same batch read whole: exactly, except the Wasserstein distance (within its
bound) and sums added in another order (to their last bits)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from exporter.app import build_app
from exporter.config import ConfigError, load_config
from exporter.histogram import DURATION_BUCKETS, le_label
from exporter.mergeable.batch import BatchMonitor, monitor_in_chunks
from exporter.mergeable.chunks import more_rows_than
from exporter.mergeable.ranking import PUBLISHED_BOUND
from exporter.state import StateStore, counter_key

from helpers import (
    binary_data,
    deploy_model,
    multiclass_data,
    regression_data,
    value,
    values,
    write_batch,
    write_project,
)

BINARY = "binary_classification"

ROWS = 2_500
LIMITS = {"max_batch_rows": 1_000, "chunk_rows": 300}


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _project(
    root: Path, limits: dict[str, int] | None, reference_rows: int, task: str = BINARY, **overrides: Any
) -> Path:
    # f2 by Jensen-Shannon, whose bins span the window's own range: its values are kept, counted
    model = {"id_column": None, "drift": {"feature_methods": {"f2": "jensenshannon"}}, **overrides}
    if limits is not None:
        model["limits"] = limits
    return write_project(root, task, reference_rows=reference_rows, model_overrides=model)


def _batch(rows: int, seed: int, task: str = BINARY) -> tuple[pd.DataFrame, np.ndarray]:
    """A labelled batch with a few rows of every invalid kind, spread over the chunks."""
    make = {BINARY: binary_data, "multiclass_classification": multiclass_data, "regression": regression_data}
    x, y = make[task](rows, seed=seed)
    frame = x.astype(object)
    frame.loc[[5, 700, 1_900], "f0"] = None  # missing_value
    frame.loc[[20, 1_250], "f1"] = "twelve"  # bad_type
    labels = y.astype(object)
    labels[[40, 2_400]] = "seven"  # unknown_label: scored, without a label
    return frame, labels


def _run(config: Path) -> tuple[Any, dict[Any, float]]:
    app = build_app(load_config(config), clock=Clock())
    report = app.jobs[0].run()
    state = StateStore(config.parent / "state" / "mlmon.db")
    counters = state.counters("m:1")
    state.close()
    return report, counters


def _by_series(figures: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Each figure's value by name and labels; the reference's fingerprint is each project's own."""
    return {
        (f.name, tuple(sorted(f.labels.items()))): f.value
        for f in figures
        if hasattr(f, "value") and f.name != "mlmon_reference"
    }


@pytest.mark.parametrize(
    ("name", "reference_rows", "task"),
    [
        ("b.csv", 600, BINARY),
        ("b.parquet", 1_500, BINARY),
        ("b.csv.gz", 1_500, BINARY),
        ("b.csv", 1_500, "multiclass_classification"),
        ("b.parquet", 600, "regression"),
    ],
)
def test_a_chunked_batch_gives_the_whole_batchs_figures_and_counters(
    tmp_path: Path, name: str, reference_rows: int, task: str
) -> None:
    frame, labels = _batch(ROWS, 11, task)
    runs = {}
    if name.endswith(".parquet"):
        # a Parquet column has one type: numbers as text here
        frame["f1"], labels = frame["f1"].astype(str), labels.astype(str)
    for path, limits in (("chunked", LIMITS), ("whole", None)):
        config = _project(tmp_path / path, limits, reference_rows, task)
        written = write_batch(tmp_path / path, name.removesuffix(".gz"), frame, labels)
        if name.endswith(".gz"):
            with open(written, "rb") as plain, gzip.open(written.with_name(name), "wb") as packed:
                shutil.copyfileobj(plain, packed)
            written.unlink()
        runs[path] = (config, *_run(config))
    (config, chunked, chunked_counters), (_, whole, whole_counters) = runs["chunked"], runs["whole"]

    # counters: the same, but for the scoring time, which is one observation either way
    duration = {k for k in whole_counters if k[0].startswith("mlmon_scoring_duration_seconds")}
    assert chunked_counters.keys() == whole_counters.keys()
    for key, want in whole_counters.items():
        if key not in duration:
            assert chunked_counters[key] == pytest.approx(want, rel=1e-12), key
    buckets = [counter_key("mlmon_scoring_duration_seconds_bucket", {"le": le_label(b)}) for b in DURATION_BUCKETS]
    assert sum(chunked_counters.get(k, 0) for k in buckets) <= 1
    assert chunked_counters[counter_key("mlmon_predictions")] == ROWS - 5
    assert chunked_counters[counter_key("mlmon_invalid_rows", {"reason": "unknown_label"})] == 2

    # figures: every series of the whole batch that a chunked batch publishes, with its value
    ours, theirs = _by_series(chunked.figures), _by_series(whole.figures)
    timing = {
        "mlmon_calculator_duration_seconds",
        "mlmon_last_run_duration_seconds",
        "mlmon_source_read_duration_seconds",
    }
    assert ours.keys() == theirs.keys()  # every series of the whole batch, ROC AUC too
    wasserstein = [s for s in ours if dict(s[1]).get("method") == "wasserstein" and "threshold" not in s[0]]
    assert bool(wasserstein) == (reference_rows > 1_000)
    bounds = _wasserstein_bounds(config)
    for series, got in ours.items():
        if series[0] in timing:
            continue
        want = theirs[series]
        if series in wasserstein:
            # the severity is the distance over its threshold (0.1)
            scale = 10.0 if series[0].endswith("severity") else 1.0
            # a feature's series, or an output's (mlmon_prediction_drift_...)
            bound = bounds[dict(series[1]).get("feature") or series[0].split("_")[1]]
            assert abs(got - want) <= bound * scale + 1e-12, series
        elif series[0] == "mlmon_roc_auc_ratio":
            # from score counts in bins: within the bound they give, published only up to this
            assert abs(got - want) <= PUBLISHED_BOUND, series
        else:
            assert got == pytest.approx(want, rel=1e-12, abs=1e-15), series
    assert value(chunked.figures, "mlmon_window_rows") == ROWS - 5
    published = {series[0] for series in ours}
    assert ("mlmon_feature_drift_distance", (("feature", "f2"), ("method", "jensenshannon"))) in ours
    if task == "regression":
        assert {"mlmon_r2_score", "mlmon_mean_absolute_error", "mlmon_residual_drift_severity"} <= published
    else:
        assert value(chunked.figures, "mlmon_accuracy_ratio") == value(whole.figures, "mlmon_accuracy_ratio")
        assert {"mlmon_f1_ratio", "mlmon_log_loss", "mlmon_label_drift_severity"} <= published
        assert "mlmon_estimated_accuracy_ratio" in published
    if task != "regression":
        assert "mlmon_roc_auc_ratio" in published
    if task == "multiclass_classification":
        assert {"mlmon_weighted_f1_ratio", "mlmon_class_precision_ratio", "mlmon_class_recall_ratio"} <= published
    assert {"mlmon_prediction_drift_severity", "mlmon_multivariate_drift_score"} <= published
    assert value(chunked.figures, "mlmon_batch_rows") == ROWS - 5
    # nothing of the batch is kept per row: no window file
    assert not list((config.parent / "state").rglob("*.arrow"))


def _wasserstein_bounds(config: Path) -> dict[str, float]:
    """The documented bound of each feature's distance, from the same batch merged outside the job."""
    app = build_app(load_config(config), clock=Clock())
    job = app.jobs[0]
    loaded = job.ensure_model()
    job.reference.refresh(loaded)
    archived = list((config.parent / "incoming").iterdir())
    assert len(archived) == 1
    figures = monitor_in_chunks(BatchMonitor(job.model, loaded, job.profile), archived[0], 300)
    return {name: f.bound for name, f in [*figures.drift.items(), *figures.output_drift.items()]}


class NanModel:
    """Scores like ``inner``, but with NaN probabilities for rows whose first feature is above 3."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.classes_ = inner.classes_
        self.feature_names_in_ = inner.feature_names_in_

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return self.inner.predict(x)

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        proba = self.inner.predict_proba(x)
        proba[np.asarray(x)[:, 0] > 3] = np.nan
        return proba


def _quarantined(config: Path, name: str) -> str:
    return (config.parent / "state" / "mlmon-quarantine" / "m" / "1" / f"{name}.reason.txt").read_text()


def test_a_chunk_that_fails_fails_the_whole_batch(tmp_path: Path) -> None:
    import joblib

    config = _project(tmp_path, LIMITS, 600)
    x, y = binary_data(ROWS, seed=12)
    x.loc[:, "f0"] = x["f0"].clip(-2.9, 2.9)
    x.loc[2_200, "f0"] = 4.0  # in the last chunk but one
    deploy_model(config, NanModel(joblib.load(tmp_path / "model.joblib")))
    write_batch(tmp_path, "nan.csv", x, y, mtime=1_000)
    # a line with a cell too many, far into the file: the chunk holding it cannot be parsed
    lines = (tmp_path / "incoming" / "nan.csv").read_text().splitlines()
    broken = [*lines[:1_800], lines[1_800] + ",1", *lines[1_801:]]
    (tmp_path / "incoming" / "broken.csv").write_text("\n".join(broken) + "\n")
    report, counters = _run(config)
    assert (report.failed, report.scored) == (2, 0)
    assert counters[counter_key("mlmon_batch_failures", {"reason": "scoring"})] == 1
    assert counters[counter_key("mlmon_batch_failures", {"reason": "unreadable"})] == 1
    assert counter_key("mlmon_predictions") not in counters
    assert "non-finite probabilities" in _quarantined(config, "nan.csv")
    assert _quarantined(config, "broken.csv").startswith("unreadable")
    assert not list((tmp_path / "incoming").iterdir())


def test_a_batch_whose_chunks_leave_no_valid_row_fails_as_empty(tmp_path: Path) -> None:
    config = _project(tmp_path, LIMITS, 600)
    x, y = binary_data(1_200, seed=13)
    frame = x.astype(object)
    frame["f2"] = None
    frame.loc[::2, "f3"] = "text"
    write_batch(tmp_path, "void.csv", frame, y)
    report, counters = _run(config)
    assert report.failed == 1
    assert counters[counter_key("mlmon_batch_failures", {"reason": "empty"})] == 1
    assert counters[counter_key("mlmon_invalid_rows", {"reason": "missing_value"})] == 1_200
    assert _quarantined(config, "void.csv").startswith("empty: no valid rows left (1200 missing_value")


def test_a_chunked_batch_is_a_window_of_its_own_until_the_next_batch(tmp_path: Path) -> None:
    config = _project(tmp_path, LIMITS, 600, window={"rows": 5_000})
    clock = Clock()
    app = build_app(load_config(config), clock=clock)
    job = app.jobs[0]
    x, y = binary_data(400, seed=14)
    write_batch(tmp_path, "small-1.csv", x, y, mtime=1_000)
    big, labels = binary_data(ROWS, seed=15)
    write_batch(tmp_path, "big.parquet", big, labels, mtime=2_000)
    report = job.run()
    assert report.scored == 2
    assert value(report.figures, "mlmon_window_rows") == ROWS
    clock.now += 60
    assert value(job.run().figures, "mlmon_window_rows") == ROWS  # no new batch: its figures stand
    write_batch(tmp_path, "small-2.csv", x, y, mtime=3_000)
    clock.now += 60
    report = job.run()
    # a window of rows covers the batches read whole; the chunked one kept no rows
    assert value(report.figures, "mlmon_window_rows") == 800
    assert values(report.figures, "mlmon_accuracy_ratio")


def test_a_model_with_ids_reads_a_large_batch_whole(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = write_project(tmp_path, model_overrides={"limits": LIMITS})
    x, y = binary_data(1_500, seed=16)
    write_batch(tmp_path, "ids.csv", x, y)
    report, counters = _run(config)
    assert report.scored == 1
    assert counters[counter_key("mlmon_predictions")] == 1_500
    assert "is read whole" in caplog.text
    assert len(list((tmp_path / "state").rglob("*.arrow"))) == 1


@pytest.mark.parametrize(
    ("text", "rows", "more"),
    [
        ("a\n1\n2\n", 2, False),
        ("a\n1\n2\n", 1, True),
        ("a\n1\n2", 1, True),  # a last line without a newline is a row
        ("a\n1\n2", 2, False),
        ("a\n", 0, False),
    ],
)
def test_rows_are_counted_without_reading_a_file_whole(tmp_path: Path, text: str, rows: int, more: bool) -> None:
    plain = tmp_path / "t.csv"
    plain.write_text(text)
    packed = tmp_path / "t.csv.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    table = tmp_path / "t.parquet"
    pd.read_csv(plain).to_parquet(table)
    for path in (plain, packed, table):
        assert more_rows_than(path, rows) is more, path


@pytest.mark.parametrize("key", ["max_batch_rows", "chunk_rows"])
def test_the_chunk_limits_must_be_positive(tmp_path: Path, key: str) -> None:
    config = _project(tmp_path, {key: 0}, 600)
    with pytest.raises(ConfigError, match=rf"models\[0\]\.limits\.{key}: Input should be greater than 0"):
        load_config(config)


def test_the_same_content_again_under_another_name_counts_as_duplicates_once(tmp_path: Path) -> None:
    config = _project(tmp_path, LIMITS, 600)
    app = build_app(load_config(config), clock=Clock())
    x, y = binary_data(1_500, seed=17)
    first = write_batch(tmp_path, "big.csv", x, y, mtime=1_000)
    content = first.read_bytes()
    assert app.jobs[0].run().scored == 1
    (tmp_path / "incoming" / "big-again.csv").write_bytes(content)
    report = app.jobs[0].run()
    state = StateStore(config.parent / "state" / "mlmon.db")
    counters = state.counters("m:1")
    state.close()
    assert (report.failed, report.scored) == (1, 0)
    assert counters[counter_key("mlmon_predictions")] == 1_500
    assert counters[counter_key("mlmon_invalid_rows", {"reason": "duplicate_id"})] == 1_500
    assert _quarantined(config, "big-again.csv").startswith("empty: no valid rows left (1500 duplicate_id")
