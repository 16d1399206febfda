"""Multiclass and regression models served side by side by a real `mlmon serve` process.

One exporter serves both models for every assertion in this module: the figures on /metrics must
equal scikit-learn's on the same rows once they went through scheduling, the collector and the
text exposition.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sklearn import metrics

from helpers import multiclass_data, regression_data, write_batch, write_config, write_model
from support.processes import ExporterProcess

pytestmark = pytest.mark.live

MULTICLASS, REGRESSION = "tickets", "prices"
BATCH_ROWS = 300
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Served:
    def __init__(self, root: Path, samples: Samples) -> None:
        self.root = root
        self.samples = samples

    def value(self, name: str, model: str, **labels: str) -> float:
        key = (name, frozenset({"model": model, "version": "1", **labels}.items()))
        assert key in self.samples, f"{name}{{model={model!r}, {labels}}} is not on /metrics"
        return self.samples[key]

    def names(self, model: str) -> set[str]:
        return {name for name, labels in self.samples if ("model", model) in labels}

    def batch(self, model: str) -> tuple[pd.DataFrame, np.ndarray, Any]:
        """The rows of the model's batch, their labels and the fitted estimator."""
        make, seed = (multiclass_data, 12) if model == MULTICLASS else (regression_data, 13)
        x, y = make(BATCH_ROWS, seed)
        return x, y, joblib.load(self.root / model / "model.joblib")


def _scrape(url: str) -> Samples | None:
    text = requests.get(f"{url}/metrics", timeout=5).text
    samples: Samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    # both models have scored their batch once each has its headline figure
    served = {dict(labels).get("model") for name, labels in samples if name in ("mlmon_log_loss", "mlmon_r2_score")}
    return samples if {MULTICLASS, REGRESSION} <= served else None


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serve-tasks")
    models = []
    for name, task, make in [
        (MULTICLASS, "multiclass_classification", multiclass_data),
        (REGRESSION, "regression", regression_data),
    ]:
        x, y = make(1000, 0)
        models.append(
            write_model(
                root, name, task, (x.iloc[:400], y[:400]), (x.iloc[400:], y[400:]), schedule={"interval_seconds": 1}
            )
        )
    config = write_config(root, models)
    result = Served(root, {})
    for name in (MULTICLASS, REGRESSION):
        x, y, _ = result.batch(name)
        write_batch(root / name, "batch.csv", x, y)
    with ExporterProcess("serve", ["--config", str(config)], workdir=root) as exporter:
        result.samples = exporter.wait_for(lambda: _scrape(exporter.url), 15, "both models on /metrics")
        yield result


def test_multiclass_figures_equal_sklearn(served: Served) -> None:
    x, y, model = served.batch(MULTICLASS)
    predicted, proba = model.predict(x), model.predict_proba(x)
    expected = {
        "mlmon_accuracy_ratio": metrics.accuracy_score(y, predicted),
        "mlmon_precision_ratio": metrics.precision_score(y, predicted, average="macro"),
        "mlmon_weighted_f1_ratio": metrics.f1_score(y, predicted, average="weighted"),
        "mlmon_log_loss": metrics.log_loss(y, proba, labels=model.classes_),
    }
    for name, want in expected.items():
        assert served.value(name, MULTICLASS) == pytest.approx(want, abs=1e-9), name
    recalls = metrics.recall_score(y, predicted, average=None, labels=model.classes_)
    assert len(model.classes_) == 3
    for cls, want in zip(model.classes_, recalls):
        got = served.value("mlmon_class_recall_ratio", MULTICLASS, **{"class": str(cls)})
        assert got == pytest.approx(want, abs=1e-9), cls
    assert served.value("mlmon_predictions_total", MULTICLASS) == BATCH_ROWS


def test_regression_figures_equal_sklearn(served: Served) -> None:
    x, y, model = served.batch(REGRESSION)
    predicted = model.predict(x)
    expected = {
        "mlmon_mean_absolute_error": metrics.mean_absolute_error(y, predicted),
        "mlmon_root_mean_squared_error": np.sqrt(metrics.mean_squared_error(y, predicted)),
        "mlmon_r2_score": metrics.r2_score(y, predicted),
        "mlmon_mean_absolute_percentage_error_ratio": metrics.mean_absolute_percentage_error(y, predicted),
    }
    for name, want in expected.items():
        assert served.value(name, REGRESSION) == pytest.approx(want, abs=1e-9), name
    assert served.value("mlmon_predictions_total", REGRESSION) == BATCH_ROWS


def test_regression_has_residual_drift_and_no_confidence(served: Served) -> None:
    names = served.names(REGRESSION)
    assert "mlmon_residual_drift_severity" in names
    assert not {n for n in names if n.startswith("mlmon_prediction_confidence")}
    # the classifier does publish the confidence histogram, so its absence above is the task's doing
    assert "mlmon_prediction_confidence_count" in served.names(MULTICLASS)
