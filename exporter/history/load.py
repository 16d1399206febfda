"""Reading a time range of the run history out of the state store."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from exporter.history.frame import to_frame
from exporter.state import StateStore


def parse_time(text: str) -> float:
    """Unix time of ``2026-11-01``, ``2026-11-01T12:30`` or a full ISO 8601 time; UTC unless it says otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date or time (use ISO 8601, e.g. 2026-11-01 or 2026-11-01T12:30)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def history_frame(
    state: StateStore, model: str | None = None, since: float | None = None, until: float | None = None
) -> pd.DataFrame:
    """The runs of ``model`` (every version; every model when None) between ``since`` and ``until``."""
    return to_frame(state.runs(model, since, until))
