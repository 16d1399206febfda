"""A backfill's runs from a CSV of the seed tutorial's shape.

(The run history is read as `history export` reads it; a replay of archived batches is in ``replay.py``.)
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from exporter.history.frame import RUN_COLUMNS, SEED_SAMPLES
from exporter.history.samples import parse_series_key
from exporter.state import StoredRun

log = logging.getLogger(__name__)
PREDICTIONS = "mlmon_predictions_total"


def _number(value: object) -> float | None:
    number = pd.to_numeric(value, errors="coerce")
    return None if pd.isna(number) else float(number)


def from_csv(path: Path, name: str | None, version: str | None) -> list[StoredRun]:
    """Runs from a CSV with a ``date`` column and the seed's columns and/or sample columns.

    ``accuracy`` and ``avg_confidence`` become their gauges; ``prediction_volume``, the rows scored
    that day, becomes the running total ``mlmon_predictions_total`` unless the file has that column
    itself (as a `history export` does). Columns named like ``mlmon_...{label="..."}`` are taken as
    they are. ``model`` and ``version`` columns, when present, say whose each row is; otherwise
    ``name`` and ``version`` do.
    """
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read it as CSV: {exc}") from None
    if "date" not in frame.columns:
        raise ValueError(f"{path}: no `date` column (the seed's columns are date, accuracy, prediction_volume, ...)")
    dates = pd.to_datetime(frame["date"], utc=True, errors="coerce", format="mixed")
    bad = [int(i) + 2 for i in np.flatnonzero(dates.isna())]
    if bad:
        raise ValueError(f"{path}: line(s) {bad[:5]} have no readable date")
    if "model" not in frame.columns and name is None:
        raise ValueError(f"{path}: no `model` column, so say whose history it is with --model")
    samples: dict[str, str] = {}
    ignored = []
    for column in frame.columns:
        column = str(column)
        if column in SEED_SAMPLES:
            samples[column] = SEED_SAMPLES[column]
        elif column in ("date", "prediction_volume", *RUN_COLUMNS):
            continue
        elif column.startswith("mlmon_"):
            parse_series_key(column)
            samples[column] = column
        else:
            ignored.append(column)
    if ignored:
        log.warning("%s: column(s) %s are not mlmon samples; left out", path, ", ".join(ignored))
    volume_total = "prediction_volume" in frame.columns and PREDICTIONS not in frame.columns
    if not samples and not volume_total:
        raise ValueError(f"{path}: no column to backfill (expected accuracy, prediction_volume, avg_confidence, ...)")
    frame = frame.assign(__date=dates).sort_values("__date", kind="stable")
    runs = []
    totals: dict[tuple[str, str], float] = {}
    for _, row in frame.iterrows():
        model = str(row["model"]) if "model" in frame.columns else str(name)
        ver = str(row["version"]) if "version" in frame.columns else str(version or "1")
        values = {key: _number(row[column]) for column, key in samples.items()}
        volume = _number(row["prediction_volume"]) if "prediction_volume" in frame.columns else None
        if volume_total and volume is not None:
            totals[(model, ver)] = totals.get((model, ver), 0.0) + volume
            values[PREDICTIONS] = totals[(model, ver)]
        runs.append(
            StoredRun(
                name=model,
                version=ver,
                run_at=row["__date"].timestamp(),
                window_start=None,
                window_end=None,
                window_rows=int(_number(row.get("window_rows")) or 0),
                scored_rows=int(volume or 0),
                labelled_rows=None,
                correct_rows=None,
                samples={k: v for k, v in values.items() if v is not None},
            )
        )
    return runs
