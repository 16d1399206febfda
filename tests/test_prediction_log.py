"""Models served elsewhere: config, classes and the logged outputs read as a model's own."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn import metrics

from exporter.app import build_app
from exporter.config import ConfigError, ModelConfig, load_config, parse_config
from exporter.prediction_log import (
    LoggedModelError,
    check_outputs,
    logged_classes,
    output_columns,
    read_outputs,
    settings_digest,
)

from helpers import FEATURES, binary_data, multiclass_data, regression_data, value, values, write_project


def logged(**overrides: Any) -> ModelConfig:
    entry: dict[str, Any] = {
        "name": "served",
        "source": {"type": "files", "path": "in"},
        "prediction_column": "pred",
        "target_column": "y",
    }
    entry.update(overrides)
    return ModelConfig.model_validate(entry)


def test_a_model_entry_needs_a_model_or_a_prediction_column(tmp_path: Path) -> None:
    base = {"name": "m", "source": {"type": "files", "path": "in"}}
    with pytest.raises(
        ConfigError,
        match=r"models\[0\]\.model_path: Field required \(or, for a model served elsewhere, prediction_column\)",
    ):
        parse_config({"models": [base]}, tmp_path)
    with pytest.raises(ConfigError, match="not both"):
        parse_config({"models": [{**base, "model_path": "m.joblib", "prediction_column": "p"}]}, tmp_path)
    with pytest.raises(ConfigError, match="need prediction_column"):
        parse_config({"models": [{**base, "model_path": "m.joblib", "latency_column": "ms"}]}, tmp_path)
    with pytest.raises(ConfigError, match="regression model has no class probabilities"):
        parse_config(
            {
                "models": [
                    {**base, "task": "regression", "prediction_column": "p", "probability_columns": {0: "a", 1: "b"}}
                ]
            },
            tmp_path,
        )
    config = parse_config({"models": [{**base, "prediction_column": "p"}]}, tmp_path)
    assert config.models[0].served_elsewhere and config.models[0].model_path is None


def test_classes_come_from_the_probability_columns_else_the_reference() -> None:
    with_probabilities = logged(probability_columns={1: "p1", 0: "p0"})
    assert logged_classes(with_probabilities, None).tolist() == [0, 1]
    reference = pd.DataFrame({"y": [2.0, 0.0, np.nan], "pred": [1, 0, 2]})
    assert logged_classes(logged(task="multiclass_classification"), reference).tolist() == [0, 1, 2]
    texts = pd.DataFrame({"y": ["spam", "ham"], "pred": ["ham", "ham"]})
    assert logged_classes(logged(), texts).tolist() == ["ham", "spam"]
    assert logged_classes(logged(task="regression"), None) is None
    with pytest.raises(LoggedModelError):
        logged_classes(logged(), None)


def test_logged_columns_are_not_features_and_change_the_digest() -> None:
    model = logged(probability_columns={0: "p0", 1: "p1"}, latency_column="seconds")
    assert output_columns(model) == ["pred", "p0", "p1", "seconds"]
    assert settings_digest(model) != settings_digest(logged(probability_columns={0: "p1", 1: "p0"}))
    assert settings_digest(model) == settings_digest(logged(probability_columns={0: "p0", 1: "p1"}))


def test_rows_with_unusable_outputs_are_found() -> None:
    model = logged(probability_columns={0: "p0", 1: "p1"})
    frame = pd.DataFrame(
        {
            "pred": [1, 0, None, 7, "1", 1],
            "p0": [0.2, 0.9, 0.5, 0.5, 0.3, "x"],
            "p1": [0.8, 0.1, 0.5, 0.5, 0.7, 0.5],
        }
    )
    checked = check_outputs(frame, model, np.array([0, 1]))
    assert checked.missing.tolist() == [False, False, True, False, False, False]
    assert checked.bad_type.tolist() == [False, False, False, True, False, True]
    regression = check_outputs(pd.DataFrame({"pred": [1.5, np.inf, "a"]}), logged(task="regression"), None)
    assert regression.bad_type.tolist() == [False, True, True]


def test_outputs_read_as_the_model_would_have_returned_them() -> None:
    model = logged(probability_columns={"no": "p_no", "yes": "p_yes"}, latency_column="seconds")
    frame = pd.DataFrame(
        {
            "pred": ["yes", " no", "yes"],
            "p_yes": [0.9, 0.3, 0.6],
            "p_no": [0.1, 0.7, 0.4],
            "seconds": [0.01, None, 0.03],
        }
    )
    classes = np.array(["no", "yes"])
    outputs = read_outputs(frame, model, classes)
    assert outputs.predictions.tolist() == ["yes", "no", "yes"]
    np.testing.assert_array_equal(outputs.probabilities, [[0.1, 0.9], [0.7, 0.3], [0.4, 0.6]])
    assert outputs.latencies.tolist() == [0.01, 0.03]
    numeric = read_outputs(pd.DataFrame({"pred": [1.0, 0.0]}), logged(), np.array([0, 1]))
    assert numeric.predictions.tolist() == [1, 0] and numeric.probabilities is None


# --- end to end: a model served elsewhere publishes what mlmon would have computed ---------------

CLOCKED = {
    "mlmon_last_run_duration_seconds",
    "mlmon_calculator_duration_seconds",
    "mlmon_scoring_duration_seconds",
    "mlmon_source_read_duration_seconds",
    "mlmon_reference",  # its fingerprint covers the model file, which a logged model has none of
}


def comparable(figures: Any) -> dict[Any, Any]:
    return {
        (f.name, tuple(sorted(f.labels.items()))): f.value if hasattr(f, "value") else (f.buckets, f.sum)
        for f in figures
        if f.name not in CLOCKED
    }


def with_outputs(frame: pd.DataFrame, estimator: Any, task: str, rng: np.random.Generator) -> pd.DataFrame:
    """``frame`` as the serving system would log it: the features, plus what the model returned."""
    logged = frame.copy()
    features = frame[[c for c in frame.columns if c.startswith("f")]]
    logged["pred"] = estimator.predict(features)
    if task != "regression":
        for index, cls in enumerate(estimator.classes_):
            logged[f"p_{cls}"] = estimator.predict_proba(features)[:, index]
    logged["latency"] = rng.uniform(0.001, 0.2, len(frame))
    return logged


@pytest.mark.parametrize(
    ("task", "make"),
    [
        ("binary_classification", binary_data),
        ("multiclass_classification", multiclass_data),
        ("regression", regression_data),
    ],
)
def test_a_logged_model_publishes_the_figures_of_the_same_model_scored_by_mlmon(
    tmp_path: Path, task: str, make: Any
) -> None:
    scored_config = write_project(tmp_path / "scored", task, model_overrides={"window": {"rows": 5000}})
    estimator = joblib.load(tmp_path / "scored" / "model.joblib")
    rng = np.random.default_rng(0)
    batches = []
    for number in range(2):
        x, y = make(150, seed=20 + number)
        batch = x + 0.3 * number
        batch.insert(0, "id", [f"b{number}-{i}" for i in range(len(batch))])
        batch["target"] = y
        batch.loc[batch.index[:5], "target"] = np.nan  # a few labels not in yet
        batches.append(batch)
        batch.to_parquet(tmp_path / "scored" / "incoming" / f"b{number}.parquet", index=False)
        os.utime(tmp_path / "scored" / "incoming" / f"b{number}.parquet", (1e9 + number, 1e9 + number))

    logged_root = tmp_path / "logged"
    columns: dict[str, Any] = {"prediction_column": "pred", "latency_column": "latency"}
    if task != "regression":
        columns["probability_columns"] = {cls.item(): f"p_{cls}" for cls in estimator.classes_}
    logged_config = write_project(logged_root, task, model_overrides={"window": {"rows": 5000}, **columns})
    entry = yaml.safe_load(logged_config.read_text())
    del entry["models"][0]["model_path"]
    entry["models"][0]["reference_path"] = "reference-logged.parquet"
    logged_config.write_text(yaml.safe_dump(entry))
    reference = pd.read_parquet(tmp_path / "scored" / "reference.parquet")
    with_outputs(reference, estimator, task, rng).to_parquet(logged_root / "reference-logged.parquet", index=False)
    latencies = []
    for number, batch in enumerate(batches):
        logged = with_outputs(batch, estimator, task, rng)
        latencies += logged["latency"].tolist()
        path = logged_root / "incoming" / f"b{number}.parquet"
        logged.to_parquet(path, index=False)
        os.utime(path, (1e9 + number, 1e9 + number))

    clock = lambda: 1_700_000_000.0  # noqa: E731
    scored = build_app(load_config(scored_config), clock=clock).jobs[0].run().figures
    logged = build_app(load_config(logged_config), clock=clock).jobs[0].run().figures
    assert value(logged, "mlmon_model_up") == 1
    assert value(logged, "mlmon_predictions") == 300
    assert comparable(logged) == comparable(scored)
    published = {name for name, _ in comparable(scored)}
    expected = {"mlmon_feature_drift_severity", "mlmon_prediction_drift_severity", "mlmon_labelled_rows_ratio"}
    expected |= (
        {"mlmon_r2_score"} if task == "regression" else {"mlmon_accuracy_ratio", "mlmon_estimated_accuracy_ratio"}
    )
    assert expected <= published
    # latency comes from the logged column: one observation per row
    (histogram,) = [f for f in logged if f.name == "mlmon_scoring_duration_seconds"]
    assert histogram.sum == pytest.approx(sum(latencies))
    assert histogram.buckets[-1][1] == 300


def test_without_probability_columns_the_classes_come_from_the_reference(tmp_path: Path) -> None:
    config = write_project(tmp_path, model_overrides={"prediction_column": "pred", "window": {"rows": 5000}})
    estimator = joblib.load(tmp_path / "model.joblib")
    entry = yaml.safe_load(config.read_text())
    del entry["models"][0]["model_path"]
    config.write_text(yaml.safe_dump(entry))
    reference = pd.read_parquet(tmp_path / "reference.parquet")
    reference["pred"] = estimator.predict(reference[FEATURES])
    reference.to_parquet(tmp_path / "reference.parquet", index=False)
    x, y = binary_data(200, seed=3)
    batch = x.copy()
    batch.insert(0, "id", range(200))
    batch["target"] = y
    batch["pred"] = estimator.predict(x)
    batch.loc[0, "pred"] = 7  # not a class: dropped and counted
    batch.loc[1, "pred"] = None
    batch.to_csv(tmp_path / "incoming" / "b.csv", index=False)
    figures = build_app(load_config(config)).jobs[0].run().figures
    assert value(figures, "mlmon_predictions") == 198
    assert value(figures, "mlmon_invalid_rows", reason="bad_type") == 1
    assert value(figures, "mlmon_invalid_rows", reason="missing_value") == 1
    kept = slice(2, None)
    assert value(figures, "mlmon_accuracy_ratio") == pytest.approx(
        metrics.accuracy_score(y[kept], batch["pred"].iloc[kept].astype(int)), abs=1e-12
    )
    assert not values(figures, "mlmon_mean_confidence_ratio")  # no probabilities logged, none made up


def test_a_batch_without_the_prediction_column_fails_as_schema(tmp_path: Path) -> None:
    config = write_project(
        tmp_path, model_overrides={"prediction_column": "pred", "probability_columns": {0: "p0", 1: "p1"}}
    )
    entry = yaml.safe_load(config.read_text())
    del entry["models"][0]["model_path"]
    del entry["models"][0]["reference_path"]
    config.write_text(yaml.safe_dump(entry))
    x, _ = binary_data(50, seed=4)
    x.insert(0, "id", range(50))
    x.to_csv(tmp_path / "incoming" / "b.csv", index=False)
    figures = build_app(load_config(config)).jobs[0].run().figures
    assert value(figures, "mlmon_batch_failures", reason="schema") == 1
    assert (tmp_path / "state" / "mlmon-quarantine" / "m" / "1" / "b.csv.reason.txt").read_text().startswith("schema")


def test_late_labels_join_a_logged_model_by_id(tmp_path: Path) -> None:
    (tmp_path / "labels").mkdir(parents=True)
    config = write_project(
        tmp_path,
        model_overrides={
            "prediction_column": "pred",
            "probability_columns": {0: "p0", 1: "p1"},
            "latency_column": "latency",
            "labels": {"source": {"type": "files", "path": "labels", "settle_seconds": 0}},
            "window": {"rows": 1000},
        },
    )
    entry = yaml.safe_load(config.read_text())
    del entry["models"][0]["model_path"]
    config.write_text(yaml.safe_dump(entry))
    estimator = joblib.load(tmp_path / "model.joblib")
    reference = pd.read_parquet(tmp_path / "reference.parquet")
    rng = np.random.default_rng(1)
    with_outputs(reference, estimator, "binary_classification", rng).rename(
        columns={"p_0": "p0", "p_1": "p1"}
    ).to_parquet(tmp_path / "reference.parquet", index=False)
    x, y = binary_data(200, seed=9)
    batch = with_outputs(x, estimator, "binary_classification", rng).rename(columns={"p_0": "p0", "p_1": "p1"})
    batch.insert(0, "id", [f"r-{i}" for i in range(200)])
    batch.to_csv(tmp_path / "incoming" / "b.csv", index=False)
    app = build_app(load_config(config))
    assert value(app.jobs[0].run().figures, "mlmon_labelled_rows_ratio") == 0

    pd.DataFrame({"id": [f"r-{i}" for i in range(100)], "target": y[:100]}).to_csv(
        tmp_path / "labels" / "l.csv", index=False
    )
    figures = app.jobs[0].run().figures
    assert value(figures, "mlmon_labels_received") == 100
    assert value(figures, "mlmon_labelled_rows_ratio") == pytest.approx(0.5)
    want = metrics.accuracy_score(y[:100], estimator.predict(x.iloc[:100]))
    assert value(figures, "mlmon_accuracy_ratio") == pytest.approx(want, abs=1e-12)
