"""Which runs breached which threshold, judged from the history table alone.

Every run keeps the thresholds in force at the time (``mlmon_threshold{metric="..."}``), so the
judgement needs no config and reads the same from the state store as from an exported CSV.
"""

from __future__ import annotations

import pandas as pd

from exporter.config import LOWER_BOUNDS
from exporter.history.frame import SEED_SAMPLES
from exporter.history.samples import parse_series_key
from exporter.summary import GAUGE_OF

THRESHOLD = "mlmon_threshold"


def _sample_columns(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Sample name -> the columns holding its series (the seed's columns stand for their samples)."""
    by_name: dict[str, list[str]] = {sample: [column] for column, sample in SEED_SAMPLES.items() if column in frame}
    for column in frame.columns:
        try:
            name, _ = parse_series_key(str(column))
        except ValueError:
            continue
        if "{" in str(column) or name.startswith("mlmon_"):
            by_name.setdefault(name, []).append(str(column))
    return by_name


def breach_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One boolean column per threshold metric: True where that run breached it."""
    columns = _sample_columns(frame)
    out = pd.DataFrame(index=frame.index)
    for column in columns.get(THRESHOLD, []):
        metric = parse_series_key(column)[1].get("metric", "")
        observed = columns.get(GAUGE_OF.get(metric, ""), [])
        if not observed:
            continue
        values = frame[observed].astype(float)
        threshold = frame[column].astype(float)
        lower = metric in LOWER_BOUNDS
        breached = values.min(axis=1) < threshold if lower else values.max(axis=1) > threshold
        out[metric] = breached.fillna(False).astype(bool)
    return out


def breaches_per_run(frame: pd.DataFrame) -> list[list[str]]:
    table = breach_table(frame)
    return [[metric for metric in table.columns if row[metric]] for _, row in table.iterrows()]
