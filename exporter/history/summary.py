"""The seed's monitoring summary over the run history: averages and breaches, per model."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from exporter.history.breaches import breach_table


@dataclass(frozen=True)
class Summary:
    model: str
    version: str
    runs: int
    first: pd.Timestamp
    last: pd.Timestamp
    average_accuracy: float
    average_prediction_volume: float
    average_confidence: float
    breached_runs: int
    breaches: dict[str, int] = field(default_factory=dict)
    latest_breaches: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The seed's printed summary, each average rounded to four places as the seed does."""
        by_metric = ", ".join(f"{metric} {count}" for metric, count in self.breaches.items())
        lines = [
            f"Monitoring Summary: {self.model} version {self.version}, {self.runs} run(s),"
            f" {self.first:%Y-%m-%d %H:%M} to {self.last:%Y-%m-%d %H:%M} UTC",
            f"Average Accuracy: {_rounded(self.average_accuracy)}",
            f"Average Prediction Volume: {_rounded(self.average_prediction_volume)}",
            f"Average Confidence: {_rounded(self.average_confidence)}",
            f"Breaches: {self.breached_runs} run(s)" + (f" ({by_metric})" if by_metric else ""),
        ]
        latest = ", ".join(self.latest_breaches) or "none"
        lines.append(f"Latest run breaches: {latest}")
        return lines


def _rounded(value: float) -> str:
    return "-" if pd.isna(value) else f"{round(float(value), 4)}"


def summarize(frame: pd.DataFrame) -> list[Summary]:
    """One summary per model and version, in the order they first appear."""
    table = breach_table(frame)
    out = []
    for (model, version), rows in frame.groupby(["model", "version"], sort=False):
        breached = table.loc[rows.index]
        counts = {metric: int(breached[metric].sum()) for metric in breached.columns if breached[metric].any()}
        latest = breached.iloc[-1] if len(breached) else pd.Series(dtype=bool)
        out.append(
            Summary(
                model=str(model),
                version=str(version),
                runs=len(rows),
                first=rows["date"].min(),
                last=rows["date"].max(),
                average_accuracy=float(rows["accuracy"].mean()),
                average_prediction_volume=float(rows["prediction_volume"].mean()),
                average_confidence=float(rows["avg_confidence"].mean()),
                breached_runs=int(breached.any(axis=1).sum()) if len(breached.columns) else 0,
                breaches=counts,
                latest_breaches=tuple(metric for metric in breached.columns if latest.get(metric, False)),
            )
        )
    return out
