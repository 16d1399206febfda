"""The series one model publishes stay within `limits`, whatever its number of features and classes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import make_classification

from exporter.app import build_app
from exporter.catalogue import SPECS, MetricSpec
from exporter.collector import render
from exporter.config import ModelConfig, load_config
from exporter.histogram import CONFIDENCE_BUCKETS, DURATION_BUCKETS
from exporter.ingest.validation import BATCH_FAILURE_REASONS, INVALID_ROW_REASONS, SCHEMA_VIOLATION_KINDS
from exporter.monitors import monitors_for
from exporter.sources import SOURCE_FAILURE_REASONS
from exporter.sources.metering import ROLES

from helpers import write_batch, write_config, write_model

WIDE, MANY = "wide", "many-classes"
FEATURES = [f"x{i:02d}" for i in range(60)]
SHIFTED = FEATURES[3:60:10]  # six features spread over the columns, not the first ones
MAX_FEATURES, MAX_CLASSES, CLASSES = 10, 5, 30
PER_FEATURE = (
    "mlmon_feature_drift_statistic",
    "mlmon_feature_drift_detected",
    "mlmon_feature_drift_significance_level",
    "mlmon_feature_drift_severity",
    "mlmon_feature_drift_pvalue",
    "mlmon_feature_missing_ratio",
    "mlmon_feature_out_of_range_ratio",
)
Sample = tuple[str, dict[str, str], float]


@dataclass
class Published:
    samples: list[Sample]
    models: dict[str, ModelConfig]

    def of(self, model: str, name: str | None = None) -> list[Sample]:
        return [s for s in self.samples if s[1].get("model") == model and (name is None or s[0] == name)]

    def label_values(self, model: str, name: str, label: str) -> set[str]:
        return {labels[label] for _, labels, _ in self.of(model, name)}

    def value(self, model: str, name: str, **labels: str) -> float:
        found = [v for _, got, v in self.of(model, name) if labels.items() <= got.items()]
        assert len(found) == 1, f"{name} {labels}: {found}"
        return found[0]


def _wide(root: Path) -> dict[str, object]:
    """A binary model on 60 features; its batch is the reference rows with SHIFTED moved by 10 std."""
    x, y = make_classification(n_samples=600, n_features=60, n_informative=8, random_state=0)
    frame = pd.DataFrame(x, columns=FEATURES)
    model = write_model(
        root,
        WIDE,
        "binary_classification",
        (frame[:300], y[:300]),
        (frame[300:], y[300:]),
        limits={"max_features": MAX_FEATURES},
    )
    batch = frame[300:].copy()
    batch[SHIFTED] += 10 * batch[SHIFTED].std()
    write_batch(root / WIDE, "batch.csv", batch, y[300:])
    return model


def _many_classes(root: Path) -> dict[str, object]:
    x, y = make_classification(
        n_samples=1500,
        n_features=8,
        n_informative=6,
        n_redundant=0,
        n_classes=CLASSES,
        n_clusters_per_class=1,
        random_state=1,
    )
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(8)])
    model = write_model(
        root,
        MANY,
        "multiclass_classification",
        (frame[:900], y[:900]),
        (frame[900:1200], y[900:1200]),
        limits={"max_classes": MAX_CLASSES},
    )
    write_batch(root / MANY, "batch.csv", frame[1200:], y[1200:])
    return model


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    root = tmp_path_factory.mktemp("cardinality")
    config = load_config(write_config(root, [_wide(root), _many_classes(root)]))
    app = build_app(config)
    for job in app.jobs:
        job.run()
    body, _ = render(app.registry, None)  # type: ignore[arg-type]
    app.state.close()
    samples = [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    ]
    yield Published(samples, {model.name: model for model in config.models})


@pytest.mark.parametrize("name", PER_FEATURE)
def test_per_feature_families_keep_at_most_max_features_and_the_shifted_ones(published: Published, name: str) -> None:
    features = published.label_values(WIDE, name, "feature")
    assert 0 < len(features) <= MAX_FEATURES
    # drifted features rank first for drift, the worst ratios first for quality
    assert set(SHIFTED) <= features


@pytest.mark.parametrize("name", [s.name for s in SPECS if "class" in s.labels])
def test_per_class_families_keep_at_most_max_classes(published: Published, name: str) -> None:
    assert 0 < len(published.label_values(MANY, name, "class")) <= MAX_CLASSES


@pytest.mark.parametrize(
    ("model", "kind", "dropped"),
    [(WIDE, "feature", len(FEATURES) - MAX_FEATURES), (MANY, "class", CLASSES - MAX_CLASSES), (MANY, "feature", 0)],
)
def test_dropped_series_are_counted(published: Published, model: str, kind: str, dropped: int) -> None:
    assert published.value(model, "mlmon_series_dropped", kind=kind) == dropped


def test_the_drifted_share_counts_every_feature(published: Published) -> None:
    assert published.value(WIDE, "mlmon_drifted_features_ratio") == pytest.approx(
        len(SHIFTED) / len(FEATURES), abs=1e-12
    )
    flagged = {labels["feature"] for _, labels, v in published.of(WIDE, "mlmon_feature_drift_detected") if v == 1}
    assert flagged == set(SHIFTED)


def series_bound(spec: MetricSpec, model: ModelConfig, features: int, classes: int) -> int:
    """The most series ``spec`` can carry for one model: samples per label set times the values each
    label beyond model and version can take."""
    values = {
        "feature": min(features, model.limits.max_features),
        "class": min(classes, model.limits.max_classes),
        # a feature, or a model output, is compared with exactly one method in a run
        "method": 1,
        "reason": max(len(BATCH_FAILURE_REASONS), len(INVALID_ROW_REASONS), len(SOURCE_FAILURE_REASONS)),
        # batches, labels, reference: each read from its own source
        "source": len(ROLES),
        "kind": max(len(SCHEMA_VIOLATION_KINDS), len(("feature", "class"))),
        # every monitor that applies to the model, and the reference fit
        "calculator": len(monitors_for(model)) + 1,
        "metric": len(model.effective_thresholds),
        "fingerprint": 1,
    }
    if spec.kind == "histogram":
        # one bucket per bound and +Inf, then _sum and _count
        per_set = max(len(CONFIDENCE_BUCKETS), len(DURATION_BUCKETS)) + 1 + 2
    else:
        per_set = len(spec.exposed_names)
    return per_set * int(np.prod([values[label] for label in spec.labels if label not in ("model", "version")]))


@pytest.mark.parametrize(("model", "features", "classes"), [(WIDE, len(FEATURES), 2), (MANY, 8, CLASSES)])
def test_total_series_of_a_model_stay_below_the_catalogue_bound(
    published: Published, model: str, features: int, classes: int
) -> None:
    config = published.models[model]
    family_of = {exposed: spec.name for spec in SPECS for exposed in spec.exposed_names}
    count: Counter[str] = Counter()
    for name, _, _ in published.of(model):
        assert name in family_of, f"{name} is outside the catalogue, so no bound covers it"
        count[family_of[name]] += 1
    bounds = {spec.name: series_bound(spec, config, features, classes) for spec in SPECS if "model" in spec.labels}
    assert {name: n for name, n in count.items() if n > bounds[name]} == {}
