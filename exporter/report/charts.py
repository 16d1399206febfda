"""The report's trend charts: what each one draws (plain numbers), and drawing it as a PNG.

The first three are the seed tutorial's plots (accuracy, prediction volume, average confidence);
then estimated accuracy with its band, drift severity and data quality. Each has its threshold
lines and a red cross on every run that breached one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from exporter.report import series as s

SEVERITY_FEATURES = 5


@dataclass
class Line:
    label: str
    values: list[float]
    style: str = "solid"  # solid: a measured figure; dashed: a threshold


@dataclass
class Chart:
    slug: str
    title: str
    ylabel: str
    dates: list[pd.Timestamp]
    lines: list[Line]
    thresholds: list[Line] = field(default_factory=list)
    band: tuple[list[float], list[float], str] | None = None
    breaches: list[int] = field(default_factory=list)  # row positions that breached a threshold
    marks: list[float] = field(default_factory=list)  # the value that breached, at each of them

    def line(self, label: str) -> list[float]:
        return next(line.values for line in self.lines if line.label == label)

    def as_dict(self) -> dict[str, object]:
        return {
            "title": self.title,
            "ylabel": self.ylabel,
            "dates": [d.isoformat() for d in self.dates],
            "lines": {line.label: _plain(line.values) for line in self.lines},
            "thresholds": {line.label: _plain(line.values) for line in self.thresholds},
            "band": None if self.band is None else {"lower": _plain(self.band[0]), "upper": _plain(self.band[1])},
            "breaches": [{"date": self.dates[i].isoformat(), "value": v} for i, v in zip(self.breaches, self.marks)],
        }


def _plain(values: list[float]) -> list[float | None]:
    return [None if v is None or np.isnan(v) else float(v) for v in values]


def _values(series: pd.Series) -> list[float]:
    return [float(v) for v in series.astype(float)]


def _breached(values: pd.Series, limit: pd.Series | None, lower: bool) -> pd.Series:
    if limit is None:
        return pd.Series(False, index=values.index)
    return (values < limit) if lower else (values > limit)


def _chart(
    slug: str,
    title: str,
    ylabel: str,
    frame: pd.DataFrame,
    values: dict[str, pd.Series],
    limits: dict[str, tuple[pd.Series | None, pd.Series, bool]],
) -> Chart:
    """``limits``: threshold label -> (threshold series, the values it judges, breached when below)."""
    marks: dict[int, float] = {}
    thresholds = []
    for label, (limit, judged, lower) in limits.items():
        if limit is None or limit.isna().all():
            continue
        thresholds.append(Line(label, _values(limit), "dashed"))
        for i, hit in enumerate(_breached(judged, limit, lower).fillna(False).to_numpy()):
            if hit:
                marks.setdefault(i, float(judged.iloc[i]))
    return Chart(
        slug=slug,
        title=title,
        ylabel=ylabel,
        dates=list(frame["date"]),
        lines=[Line(label, _values(v)) for label, v in values.items()],
        thresholds=thresholds,
        breaches=sorted(marks),
        marks=[marks[i] for i in sorted(marks)],
    )


def volume_baseline(volume: pd.Series, runs: int = 7) -> pd.Series:
    """The median volume of the previous ``runs`` runs, the level a change is measured against."""
    return volume.astype(float).shift(1).rolling(runs, min_periods=1).median()


def build_charts(frame: pd.DataFrame) -> list[Chart]:
    """The six charts of one model's history (rows in time order)."""
    frame = frame.reset_index(drop=True)
    accuracy = frame["accuracy"].astype(float)
    volume = frame["prediction_volume"].astype(float)
    confidence = frame["avg_confidence"].astype(float)
    charts = [
        _chart(
            "accuracy",
            "Model Accuracy Trend",
            "Accuracy",
            frame,
            {"accuracy": accuracy},
            {"accuracy threshold": (s.threshold(frame, "accuracy"), accuracy, True)},
        )
    ]
    change = s.threshold(frame, "volume_change_ratio")
    baseline = volume_baseline(volume)
    limits: dict[str, tuple[pd.Series | None, pd.Series, bool]] = {}
    if change is not None:
        limits = {
            "baseline + change limit": (baseline * (1 + change), volume, False),
            "baseline - change limit": (baseline * (1 - change), volume, True),
        }
    charts.append(
        _chart("prediction_volume", "Prediction Volume Trend", "Prediction Count", frame, {"volume": volume}, limits)
    )
    charts.append(
        _chart(
            "avg_confidence",
            "Average Prediction Confidence",
            "Confidence",
            frame,
            {"average confidence": confidence},
            {"confidence threshold": (s.threshold(frame, "mean_confidence"), confidence, True)},
        )
    )
    estimate = s.column(frame, "mlmon_estimated_accuracy_ratio")
    if estimate is None:
        estimate = pd.Series(np.nan, index=frame.index)
    estimated = _chart(
        "estimated_accuracy",
        "Estimated Accuracy (without labels) and its 95 % band",
        "Accuracy",
        frame,
        {"estimated accuracy": estimate, "realized accuracy": accuracy},
        {"estimated accuracy threshold": (s.threshold(frame, "estimated_accuracy"), estimate, True)},
    )
    lower, upper, how = s.estimated_band(frame, estimate)
    estimated.band = (_values(lower), _values(upper), how)
    charts.append(estimated)
    severity = s.feature_severity(frame)
    top = severity.max().sort_values(ascending=False).index[:SEVERITY_FEATURES] if len(severity.columns) else []
    strongest = severity.max(axis=1) if len(severity.columns) else pd.Series(np.nan, index=frame.index)
    flagged = [i for i, value in enumerate(strongest.to_numpy()) if value >= 1]
    charts.append(
        Chart(
            slug="drift_severity",
            title="Drift Severity (at least 1 = drifted)",
            ylabel="Severity",
            dates=list(frame["date"]),
            lines=[Line(f"{feature}", _values(severity[feature])) for feature in top],
            thresholds=[Line("drifted at 1", [1.0] * len(frame), "dashed")],
            breaches=flagged,
            marks=[float(strongest.iloc[i]) for i in flagged],
        )
    )
    quality: dict[str, pd.Series] = {}
    quality_limits: dict[str, tuple[pd.Series | None, pd.Series, bool]] = {}
    for family, metric, label in (
        ("mlmon_feature_missing_ratio", "missing_ratio", "missing"),
        ("mlmon_feature_out_of_range_ratio", "out_of_range_ratio", "out of range"),
        ("mlmon_feature_unseen_category_ratio", "unseen_category_ratio", "unseen category"),
    ):
        values = s.worst(frame, family)
        if values is None:
            continue
        quality[f"worst feature {label}"] = values
        quality_limits[f"{label} threshold"] = (s.threshold(frame, metric), values, False)
    charts.append(
        _chart("data_quality", "Data Quality (worst feature)", "Share of rows", frame, quality, quality_limits)
    )
    return charts


def render(chart: Chart, path: Path) -> None:
    """Draw ``chart`` as a PNG at ``path`` (matplotlib's Agg backend, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4))
    try:
        dates = [d.to_pydatetime() for d in chart.dates]
        if chart.band is not None:
            lower, upper, how = chart.band
            axes.fill_between(dates, lower, upper, alpha=0.2, label=how)
        for line in chart.lines:
            axes.plot(dates, line.values, marker="o", markersize=3, label=line.label)
        for line in chart.thresholds:
            axes.plot(dates, line.values, linestyle="--", color="tab:red", linewidth=1, label=line.label)
        if chart.breaches:
            axes.plot(
                [dates[i] for i in chart.breaches],
                chart.marks,
                linestyle="none",
                marker="x",
                markersize=8,
                color="red",
                label="breach",
            )
        axes.set_title(chart.title)
        axes.set_xlabel("Date")
        axes.set_ylabel(chart.ylabel)
        axes.grid(True)
        if chart.lines or chart.thresholds:
            axes.legend(fontsize="small", loc="best")
        figure.autofmt_xdate()
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=100, metadata={"Title": chart.title})
    finally:
        plt.close(figure)
