"""Loading and validating the YAML configuration."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import config as config_module
from exporter.config import Config, ConfigError, DriftConfig, load_config

Mutation = Callable[[dict[str, Any]], None]

VALID: dict[str, Any] = {
    "state_path": "state/mlmon.db",
    "models": [
        {
            "name": "churn",
            "version": "2",
            "model_path": "models/churn.joblib",
            "task": "binary_classification",
            "source": {"type": "files", "path": "incoming", "pattern": "*.csv"},
            "target_column": "label",
            "id_column": "id",
            "reference_path": "reference.parquet",
            "labels": {"source": {"path": "labels"}},
            "schedule": {"interval_seconds": 30},
            "window": {"rows": 500},
            "thresholds": {"accuracy": 0.8},
            "drift": {"method": "ks", "feature_methods": {"plan": "chisquare"}, "correction": "fdr"},
        }
    ],
}


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "conf" / "mlmon.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load(tmp_path: Path, mutate: Mutation | None = None) -> Config:
    data = copy.deepcopy(VALID)
    if mutate is not None:
        mutate(data)
    return load_config(write(tmp_path, data))


def set_model(key: str, value: Any, index: int = 0) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["models"][index][key] = value

    return mutate


def drop_model(key: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        del data["models"][0][key]

    return mutate


def set_top(key: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data[key] = value

    return mutate


def add_model(**changes: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["models"].append({**copy.deepcopy(data["models"][0]), **changes})

    return mutate


def test_valid_config_loads(tmp_path: Path) -> None:
    config = load(tmp_path)
    (model,) = config.models
    assert (model.name, model.version, model.task) == ("churn", "2", "binary_classification")
    assert model.schedule.interval_seconds == 30
    assert model.window.rows == 500 and model.window.seconds is None
    assert model.drift.method == "ks"
    assert model.drift.feature_methods == {"plan": "chisquare"}
    assert model.drift.correction == "fdr"
    assert model.source.pattern == "*.csv"


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    absolute = tmp_path / "absolute" / "model.joblib"
    config = load(tmp_path, set_model("model_path", str(absolute)))
    folder = (tmp_path / "conf").resolve()
    (model,) = config.models
    assert model.model_path == absolute
    assert model.source.path == folder / "incoming"
    assert model.reference_path == folder / "reference.parquet"
    assert model.labels is not None and model.labels.source.path == folder / "labels"
    assert config.state_path == folder / "state" / "mlmon.db"
    assert config.quarantine_dir.parent == folder / "state"


def test_quarantine_path_resolves_when_set(tmp_path: Path) -> None:
    config = load(tmp_path, set_top("quarantine_path", "bad-batches"))
    assert config.quarantine_dir == (tmp_path / "conf").resolve() / "bad-batches"


def test_environment_variables_expand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLMON_TEST_DATA", "shared/data")
    monkeypatch.setenv("MLMON_TEST_INTERVAL", "45")
    config = load(
        tmp_path,
        lambda d: d["models"][0].update(
            source={"path": "${MLMON_TEST_DATA}/incoming"}, schedule={"interval_seconds": "${MLMON_TEST_INTERVAL}"}
        ),
    )
    (model,) = config.models
    assert model.source.path == (tmp_path / "conf").resolve() / "shared" / "data" / "incoming"
    assert model.schedule.interval_seconds == 45


def test_missing_environment_variable_names_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLMON_TEST_UNSET", raising=False)
    with pytest.raises(ConfigError) as error:
        load(tmp_path, set_model("source", {"path": "${MLMON_TEST_UNSET}/incoming"}))
    message = str(error.value)
    assert message.startswith("models[0].source.path: ")
    assert "MLMON_TEST_UNSET" in message


def test_same_name_with_another_version_is_allowed(tmp_path: Path) -> None:
    config = load(tmp_path, add_model(version="3"))
    assert [(m.name, m.version) for m in config.models] == [("churn", "2"), ("churn", "3")]


INVALID = [
    ("unknown threshold", set_model("thresholds", {"acuracy": 0.8}), "models[0].thresholds", "acuracy"),
    (
        "threshold not a number",
        set_model("thresholds", {"accuracy": "high"}),
        "models[0].thresholds.accuracy",
        "number",
    ),
    (
        "interval and cron",
        set_model("schedule", {"interval_seconds": 30, "cron": "*/5 * * * *"}),
        "models[0].schedule",
        "exactly one",
    ),
    ("empty schedule", set_model("schedule", {}), "models[0].schedule", "exactly one"),
    ("bad cron", set_model("schedule", {"cron": "*/5 * * *"}), "models[0].schedule", "*/5 * * *"),
    ("cron out of range", set_model("schedule", {"cron": "61 * * * *"}), "models[0].schedule", "61"),
    (
        "negative interval",
        set_model("schedule", {"interval_seconds": -1}),
        "models[0].schedule.interval_seconds",
        "greater than 0",
    ),
    ("unknown drift method", set_model("drift", {"method": "nope"}), "models[0].drift.method", "'nope'"),
    (
        "unknown feature drift method",
        set_model("drift", {"feature_methods": {"plan": "nope"}}),
        "models[0].drift.feature_methods.plan",
        "'nope'",
    ),
    (
        "drift threshold of unknown method",
        set_model("drift", {"thresholds": {"nope": 0.1}}),
        "models[0].drift.thresholds",
        "'nope'",
    ),
    ("unknown correction", set_model("drift", {"correction": "holm"}), "models[0].drift.correction", "fdr"),
    ("unknown top-level key", set_top("state_dir", "state"), "state_dir", "not permitted"),
    ("unknown model key", set_model("modelpath", "x.joblib"), "models[0].modelpath", "not permitted"),
    ("missing model_path", drop_model("model_path"), "models[0].model_path", "required"),
    ("missing source", drop_model("source"), "models[0].source", "required"),
    ("window rows and seconds", set_model("window", {"rows": 10, "seconds": 60}), "models[0].window", "at most one"),
    ("labels without id_column", drop_model("id_column"), "models[0].labels", "id_column"),
    ("labels without target_column", drop_model("target_column"), "models[0].labels", "target_column"),
    ("duplicate name and version", add_model(), "models[1]", "churn version 2"),
    ("unknown task", set_model("task", "clustering"), "models[0].task", "regression"),
    ("bad model name", set_model("name", "churn model"), "models[0].name", "pattern"),
    ("error in a later model", add_model(name="other", schedule={}), "models[1].schedule", "exactly one"),
    ("no models", set_top("models", []), "models", "at least 1"),
]


@pytest.mark.parametrize(("mutate", "where", "fragment"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_config_gives_one_message_naming_the_key(
    tmp_path: Path, mutate: Mutation, where: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load(tmp_path, mutate)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{where}: "), message
    assert fragment in message


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "mlmon.yml"
    path.write_text("models:\n  - name: churn\n   model_path: [x\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message
    assert "line 3" in message


@pytest.mark.parametrize("text", ["- churn\n- fraud\n", "", "just a string\n"], ids=["list", "empty", "scalar"])
def test_non_mapping_file_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "mlmon.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="mapping with a `models` list"):
        load_config(path)


def test_unreadable_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.yml"
    with pytest.raises(ConfigError, match="cannot read .*absent.yml"):
        load_config(path)


DRIFT_SHARE = DriftConfig().dataset_drift_share


@pytest.mark.parametrize(
    ("thresholds", "drift", "expected_changes"),
    [
        ({}, {}, {}),
        ({"accuracy": 0.8}, {}, {"accuracy": 0.8, "estimated_accuracy": 0.8}),
        (
            {"accuracy": 0.8, "estimated_accuracy": 0.7},
            {},
            {"accuracy": 0.8, "estimated_accuracy": 0.7},
        ),
        ({"f1": 0.6}, {}, {"f1": 0.6, "estimated_f1": 0.6}),
        ({"missing_ratio": 0.3}, {}, {"missing_ratio": 0.3}),
        ({}, {"dataset_drift_share": 0.25}, {"drifted_features_ratio": 0.25}),
        ({"drifted_features_ratio": 0.4}, {"dataset_drift_share": 0.25}, {"drifted_features_ratio": 0.4}),
    ],
    ids=[
        "defaults",
        "estimated accuracy follows accuracy",
        "estimated accuracy set",
        "estimated f1 follows f1",
        "default overridden",
        "drift share",
        "explicit drift ratio wins",
    ],
)
def test_effective_thresholds_merge_defaults(
    tmp_path: Path, thresholds: dict[str, float], drift: dict[str, float], expected_changes: dict[str, float]
) -> None:
    model = load(tmp_path, lambda d: d["models"][0].update(thresholds=thresholds, drift=drift)).models[0]
    expected = {
        **config_module.DEFAULT_THRESHOLDS,
        "drifted_features_ratio": DRIFT_SHARE,
        **expected_changes,
    }
    assert model.effective_thresholds == expected


def test_default_thresholds_are_known_names() -> None:
    assert set(config_module.DEFAULT_THRESHOLDS) <= set(config_module.KNOWN_THRESHOLDS)
    assert not set(config_module.LOWER_BOUNDS) & set(config_module.UPPER_BOUNDS)


@pytest.mark.parametrize(
    ("schedule", "seconds"),
    [
        ({"cron": "*/5 * * * *"}, 5 * 60),
        ({"cron": "0 * * * *"}, 60 * 60),
        ({"cron": "30 2 * * *"}, 24 * 60 * 60),
        # the gap across the hour (56 -> 0) is shorter than the step
        ({"cron": "*/7 * * * *"}, 4 * 60),
        ({"interval_seconds": 45}, 45),
    ],
)
def test_interval_seconds(tmp_path: Path, schedule: dict[str, Any], seconds: float) -> None:
    model = load(tmp_path, set_model("schedule", schedule)).models[0]
    assert model.interval_seconds == seconds
