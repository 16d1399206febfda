"""Scored batches kept on disk, and the evaluation window assembled from them.

Each scored batch is written as a Parquet file (features, predictions, probabilities, row ids)
before its processed mark is committed, so a crash in between only means the batch is scored
again and its file rewritten. Labels are not in these files: they live in the state store, where
late labels update them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from exporter.config import ModelConfig
from exporter.performance import class_label
from exporter.state import StateStore
from exporter.values import canonical


@dataclass
class Window:
    """The rows the figures of one run rest on.

    ``features`` holds the feature columns of the valid rows in the window, in the order they were
    scored; ``predictions`` / ``probabilities`` (columns ordered as ``classes``) / ``labels`` /
    ``labelled`` / ``scored_at`` / ``labelled_at`` are aligned with it. ``labels`` holds the true
    label where ``labelled`` is True (anything elsewhere). ``arrived`` holds the feature columns of
    the batches scored in this run exactly as they arrived, invalid rows included, for data quality.
    """

    features: pd.DataFrame
    predictions: np.ndarray
    probabilities: np.ndarray | None
    classes: np.ndarray | None
    labels: np.ndarray
    labelled: np.ndarray
    scored_at: np.ndarray
    labelled_at: np.ndarray
    arrived: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def rows(self) -> int:
        return len(self.predictions)

    @property
    def labelled_rows(self) -> int:
        return int(np.count_nonzero(self.labelled))


PREDICTION = "__prediction"
ROW_ID = "__row_id"
PROBA = "__proba_"


def _file_name(batch_key: str) -> str:
    return hashlib.sha256(batch_key.encode()).hexdigest()[:24] + ".parquet"


class WindowStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, model_key: str) -> Path:
        return self.root / hashlib.sha256(model_key.encode()).hexdigest()[:16]

    def save(
        self,
        model_key: str,
        batch_key: str,
        features: pd.DataFrame,
        row_ids: list[str],
        predictions: np.ndarray,
        probabilities: np.ndarray | None,
    ) -> None:
        frame = features.copy()
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = frame[column].map(canonical)
        frame[ROW_ID] = row_ids
        frame[PREDICTION] = predictions
        if probabilities is not None:
            for i in range(probabilities.shape[1]):
                frame[f"{PROBA}{i}"] = probabilities[:, i]
        folder = self._dir(model_key)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / _file_name(batch_key)
        partial = final.with_suffix(".tmp")
        frame.to_parquet(partial, index=False)
        os.replace(partial, final)

    def load(self, model_key: str, batch_key: str) -> pd.DataFrame | None:
        path = self._dir(model_key) / _file_name(batch_key)
        return pd.read_parquet(path) if path.exists() else None

    def prune(self, model_key: str, keep: set[str]) -> None:
        folder = self._dir(model_key)
        if not folder.is_dir():
            return
        wanted = {_file_name(key) for key in keep}
        for path in folder.glob("*.parquet"):
            if path.name not in wanted:
                path.unlink(missing_ok=True)


def window_batches(model: ModelConfig, state: StateStore, model_key: str, now: float) -> list[str]:
    """Keys of the batches the window covers, oldest first."""
    if model.window.rows is not None:
        chosen, total, page = [], 0, 64
        while total < model.window.rows:
            batches = state.recent_batches(model_key, limit=len(chosen) + page)[len(chosen) :]
            if not batches:
                break
            for batch in batches:
                chosen.append(batch)
                total += batch.rows
                if total >= model.window.rows:
                    break
    elif model.window.seconds is not None:
        # an empty window is honest: with no batch in the last N seconds there is nothing to judge
        chosen = state.recent_batches(model_key, since=now - model.window.seconds)
    else:
        chosen = state.recent_batches(model_key, limit=1)
    return [b.key for b in reversed(chosen)]


def assemble(
    model: ModelConfig,
    state: StateStore,
    store: WindowStore,
    model_key: str,
    keys: list[str],
    classes: np.ndarray | None,
    arrived: pd.DataFrame | None = None,
) -> Window | None:
    """The window over the batches ``keys`` (from ``window_batches``), oldest first."""
    frames = [f for f in (store.load(model_key, key) for key in keys) if f is not None]
    if not frames:
        return None
    frame = pd.concat(frames, ignore_index=True)
    if model.window.rows is not None and len(frame) > model.window.rows:
        frame = frame.iloc[len(frame) - model.window.rows :].reset_index(drop=True)
    stored = state.predictions_for(model_key, keys).drop_duplicates("row_id").set_index("row_id")
    joined = stored.reindex(frame[ROW_ID].astype(str))
    scored_at = joined["scored_at"].to_numpy(dtype=float)
    text = joined["label"]
    if classes is not None:
        by_text = {class_label(c): c for c in classes}  # the text labels are stored under
        decoded = text.map(by_text)
        labelled = decoded.notna().to_numpy()
        labels = np.empty(len(frame), dtype=object)
        labels[labelled] = decoded[labelled].to_numpy()
    else:
        labels = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
        labelled = ~np.isnan(labels)
    labelled_at = np.where(labelled, joined["labelled_at"].to_numpy(dtype=float), np.nan)
    proba_columns = sorted((c for c in frame.columns if c.startswith(PROBA)), key=lambda c: int(c[len(PROBA) :]))
    features = frame.drop(columns=[ROW_ID, PREDICTION, *proba_columns])
    predictions = frame[PREDICTION].to_numpy()
    return Window(
        features=features,
        predictions=predictions,
        probabilities=frame[proba_columns].to_numpy(dtype=float) if proba_columns else None,
        classes=classes,
        labels=labels,
        labelled=labelled,
        scored_at=scored_at,
        labelled_at=labelled_at,
        arrived=arrived if arrived is not None else pd.DataFrame(columns=features.columns),
    )
