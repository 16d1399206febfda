"""Small fitted models, batches and configs for the job tests."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import yaml
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression

FEATURES = [f"f{i}" for i in range(5)]


def binary_data(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    x, y = make_classification(n_samples=rows, n_features=5, n_informative=3, n_redundant=1, random_state=seed)
    return pd.DataFrame(x, columns=FEATURES), y


def multiclass_data(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    x, y = make_classification(
        n_samples=rows, n_features=5, n_informative=4, n_redundant=0, n_classes=3, random_state=seed
    )
    return pd.DataFrame(x, columns=FEATURES), y


def regression_data(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    x, y = make_regression(n_samples=rows, n_features=5, noise=10.0, random_state=seed)
    return pd.DataFrame(x, columns=FEATURES), y + 500.0


def write_project(
    root: Path,
    task: str = "binary_classification",
    *,
    reference_rows: int = 600,
    model_overrides: dict[str, Any] | None = None,
    top: dict[str, Any] | None = None,
) -> Path:
    """A fitted model, a labelled reference and a config in ``root``; returns the config path."""
    root.mkdir(parents=True, exist_ok=True)
    make = {"binary_classification": binary_data, "multiclass_classification": multiclass_data}.get(
        task, regression_data
    )
    x, y = make(reference_rows + 400, 0)
    estimator = LinearRegression() if task == "regression" else LogisticRegression(max_iter=1000)
    estimator.fit(x.iloc[:400], y[:400])
    digest = dump_model(estimator, root / "model.joblib")
    reference = x.iloc[400:].copy()
    reference["target"] = y[400:]
    reference.to_parquet(root / "reference.parquet", index=False)
    (root / "incoming").mkdir(exist_ok=True)
    model: dict[str, Any] = {
        "name": "m",
        "version": "1",
        "model_path": "model.joblib",
        "model_sha256": digest,
        "task": task,
        "source": {"type": "files", "path": "incoming", "settle_seconds": 0},
        "target_column": "target",
        "id_column": "id",
        "reference_path": "reference.parquet",
        "schedule": {"interval_seconds": 60},
        "min_rows": 10,
    }
    model.update(model_overrides or {})
    config = {"state_path": "state/mlmon.db", "models": [model], **(top or {})}
    path = root / "mlmon.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def dump_model(estimator: Any, path: Path) -> str:
    """Write ``estimator`` with joblib; returns the SHA-256 a config pins it with."""
    joblib.dump(estimator, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def deploy_model(config: Path, estimator: Any, index: int = 0) -> Path:
    """Replace the joblib file of the config's model ``index`` and pin the new file in the config."""
    data = yaml.safe_load(config.read_text())
    entry = data["models"][index]
    path = config.parent / entry["model_path"]
    entry["model_sha256"] = dump_model(estimator, path)
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_batch(
    root: Path,
    name: str,
    frame: pd.DataFrame,
    labels: np.ndarray | None = None,
    id_prefix: str | None = None,
    mtime: float | None = None,
) -> Path:
    import os

    frame = frame.copy()
    frame.insert(0, "id", [f"{id_prefix or Path(name).stem}-{i}" for i in range(len(frame))])
    if labels is not None:
        frame["target"] = labels
    path = root / "incoming" / name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def values(figures: Any, name: str, **labels: str) -> list[float]:
    return [
        f.value
        for f in figures
        if f.name == name and hasattr(f, "value") and all(f.labels.get(k) == v for k, v in labels.items())
    ]


def value(figures: Any, name: str, **labels: str) -> float:
    found = values(figures, name, **labels)
    assert len(found) == 1, f"{name} {labels}: {found}"
    return found[0]


def write_model(
    root: Path,
    name: str,
    task: str,
    train: tuple[pd.DataFrame, np.ndarray],
    reference: tuple[pd.DataFrame, np.ndarray],
    **overrides: Any,
) -> dict[str, Any]:
    """Fit a model on ``train`` and write it, its labelled ``reference`` and an empty incoming folder
    under ``root / name``; returns the model's config entry, its paths relative to ``root``."""
    folder = root / name
    (folder / "incoming").mkdir(parents=True, exist_ok=True)
    estimator = LinearRegression() if task == "regression" else LogisticRegression(max_iter=1000)
    estimator.fit(*train)
    digest = dump_model(estimator, folder / "model.joblib")
    frame = reference[0].copy()
    frame["target"] = reference[1]
    frame.to_parquet(folder / "reference.parquet", index=False)
    model: dict[str, Any] = {
        "name": name,
        "version": "1",
        "model_path": f"{name}/model.joblib",
        "model_sha256": digest,
        "task": task,
        "source": {"type": "files", "path": f"{name}/incoming", "settle_seconds": 0},
        "target_column": "target",
        "id_column": "id",
        "reference_path": f"{name}/reference.parquet",
        "schedule": {"interval_seconds": 60},
        "min_rows": 10,
    }
    model.update(overrides)
    return model


def write_config(root: Path, models: list[dict[str, Any]]) -> Path:
    """A config serving ``models`` (entries from ``write_model``) in ``root``; returns its path."""
    path = root / "mlmon.yml"
    path.write_text(yaml.safe_dump({"state_path": "state/mlmon.db", "models": models}, sort_keys=False))
    return path
