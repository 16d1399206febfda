"""The run history as a table: one row per run, the seed's columns first, then every other sample.

``date``, ``accuracy``, ``prediction_volume`` and ``avg_confidence`` are the seed tutorial's
columns: the run's time (UTC), the window accuracy, the rows scored in that run and the window's
mean confidence. After them come the run's identity and counts, then every other published sample
under its query name, families in catalogue order. ``read_csv`` reads an exported CSV back into
exactly the frame that was written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from exporter.catalogue import SPECS
from exporter.history.samples import family_of, parse_series_key
from exporter.state import StoredRun

SEED_COLUMNS = ("date", "accuracy", "prediction_volume", "avg_confidence")
# seed column -> the sample it shows (prediction_volume is the run's own scored rows)
SEED_SAMPLES = {"accuracy": "mlmon_accuracy_ratio", "avg_confidence": "mlmon_mean_confidence_ratio"}
RUN_COLUMNS = (
    "model",
    "version",
    "window_start",
    "window_end",
    "window_rows",
    "labelled_rows",
    "correct_rows",
)
TIME_COLUMNS = ("date", "window_start", "window_end")
COUNT_COLUMNS = ("labelled_rows", "correct_rows")
TEXT_COLUMNS = ("model", "version")
INT_COLUMNS = ("prediction_volume", "window_rows")
_ORDER = {spec.name: index for index, spec in enumerate(SPECS)}


def _sample_order(key: str) -> tuple[int, str]:
    family, _ = family_of(parse_series_key(key)[0])
    return _ORDER.get(family, len(_ORDER)), key


def _times(values: Sequence[float | None]) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype=float), unit="s", utc=True)


def to_frame(runs: Sequence[StoredRun]) -> pd.DataFrame:
    keys = sorted({k for run in runs for k in run.samples} - set(SEED_SAMPLES.values()), key=_sample_order)
    columns: dict[str, object] = {
        "date": _times([run.run_at for run in runs]),
        "accuracy": [run.samples.get(SEED_SAMPLES["accuracy"], np.nan) for run in runs],
        "prediction_volume": pd.Series([run.scored_rows for run in runs], dtype="int64"),
        "avg_confidence": [run.samples.get(SEED_SAMPLES["avg_confidence"], np.nan) for run in runs],
        "model": pd.Series([run.name for run in runs], dtype="str"),
        "version": pd.Series([run.version for run in runs], dtype="str"),
        "window_start": _times([run.window_start for run in runs]),
        "window_end": _times([run.window_end for run in runs]),
        "window_rows": pd.Series([run.window_rows for run in runs], dtype="int64"),
        "labelled_rows": pd.Series([run.labelled_rows for run in runs], dtype="Int64"),
        "correct_rows": pd.Series([run.correct_rows for run in runs], dtype="Int64"),
    }
    frame = pd.DataFrame({name: pd.Series(values).reset_index(drop=True) for name, values in columns.items()})
    for name in ("accuracy", "avg_confidence"):
        frame[name] = frame[name].astype(float)
    samples = pd.DataFrame([[run.samples.get(key, np.nan) for key in keys] for run in runs], columns=keys, dtype=float)
    return pd.concat([frame, samples], axis=1)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def read_csv(path: Path) -> pd.DataFrame:
    """An exported CSV as the frame it was written from (types, missing values and full float precision)."""
    header = pd.read_csv(path, nrows=0).columns
    dtypes: dict[str, object] = {name: "float64" for name in header}
    dtypes.update({name: "Int64" for name in COUNT_COLUMNS if name in header})
    dtypes.update({name: "int64" for name in INT_COLUMNS if name in header})
    dtypes.update({name: "str" for name in TEXT_COLUMNS if name in header})
    for name in TIME_COLUMNS:
        dtypes.pop(name, None)
    # pandas 3 parses floats exactly by default; before it, only the round_trip parser does
    precise = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    frame = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""], **precise)
    for name in TIME_COLUMNS:
        if name in frame:
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    return frame
