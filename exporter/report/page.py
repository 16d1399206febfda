"""The one-page HTML summary: latest values, breached thresholds, most drifted features and the charts.

Plain HTML and CSS with the charts beside it; no script and nothing fetched from elsewhere, so it
opens the same from a ticket attachment, a file share or an air-gapped machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import pandas as pd

from exporter.history.breaches import breach_table
from exporter.report.charts import Chart
from exporter.report.series import drift_methods, feature_severity

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1700px; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.8rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.breach { color: #b00020; font-weight: 600; } .ok { color: #1b7f3b; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 1rem; }
.charts img { width: 100%; height: auto; border: 1px solid #eee; }
"""
LATEST = (
    ("accuracy", "accuracy", "{:.4f}"),
    ("estimated accuracy", "mlmon_estimated_accuracy_ratio", "{:.4f}"),
    ("prediction volume (latest run)", "prediction_volume", "{:.0f}"),
    ("average confidence", "avg_confidence", "{:.4f}"),
    ("drifted features", "mlmon_drifted_features_ratio", "{:.2f}"),
    ("window rows", "window_rows", "{:.0f}"),
)


@dataclass
class ModelReport:
    name: str
    version: str
    frame: pd.DataFrame
    charts: list[Chart]
    images: dict[str, str]  # chart slug -> image file name, relative to the page


def _cell(value: object, fmt: str) -> str:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "-"
    return "-" if pd.isna(number) else fmt.format(number)


def latest_values(frame: pd.DataFrame) -> list[tuple[str, str]]:
    last = frame.iloc[-1]
    return [(label, _cell(last.get(column), fmt)) for label, column, fmt in LATEST if column in frame]


def breached_thresholds(frame: pd.DataFrame) -> list[tuple[str, int, bool]]:
    """Each threshold breached in the range: (metric, runs that breached it, breached in the latest run)."""
    table = breach_table(frame)
    return [(metric, int(table[metric].sum()), bool(table[metric].iloc[-1])) for metric in table if table[metric].any()]


def most_drifted(frame: pd.DataFrame, limit: int = 10) -> list[tuple[str, str, float]]:
    """(feature, method, severity) of the latest run, most drifted first."""
    severity = feature_severity(frame)
    if severity.empty or not len(severity.columns):
        return []
    latest = severity.iloc[-1].dropna().sort_values(ascending=False)
    methods = drift_methods(frame)
    return [(str(f), methods.get(str(f), "-"), float(v)) for f, v in latest.head(limit).items()]


def _section(report: ModelReport) -> str:
    frame = report.frame
    first, last = frame["date"].min(), frame["date"].max()
    rows = "".join(
        f"<tr><th>{escape(label)}</th><td class='num'>{escape(value)}</td></tr>"
        for label, value in latest_values(frame)
    )
    breached = breached_thresholds(frame)
    if breached:
        breach_rows = "".join(
            f"<tr><td>{escape(metric)}</td><td class='num'>{runs}</td>"
            f"<td class='{'breach' if now else 'ok'}'>{'yes' if now else 'no'}</td></tr>"
            for metric, runs, now in breached
        )
        breaches = (
            "<table><tr><th>threshold</th><th>runs breaching it</th><th>breached in the latest run</th></tr>"
            f"{breach_rows}</table>"
        )
    else:
        breaches = "<p class='ok'>No threshold was breached in this range.</p>"
    drifted = most_drifted(frame)
    if drifted:
        drift_rows = "".join(
            f"<tr><td>{escape(feature)}</td><td>{escape(method)}</td>"
            f"<td class='num {'breach' if value >= 1 else ''}'>{value:.3f}</td></tr>"
            for feature, method, value in drifted
        )
        drift = f"<table><tr><th>feature</th><th>method</th><th>severity</th></tr>{drift_rows}</table>"
    else:
        drift = "<p>No drift figures in this range.</p>"
    images = "".join(
        f"<figure><img src='{escape(report.images[chart.slug])}' alt='{escape(chart.title)}'></figure>"
        for chart in report.charts
        if chart.slug in report.images
    )
    return (
        f"<section><h2>{escape(report.name)} <small>version {escape(report.version)}</small></h2>"
        f"<p class='meta'>{len(frame)} run(s) from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC</p>"
        f"<h3>Latest values</h3><table>{rows}</table>"
        f"<h3>Breached thresholds</h3>{breaches}"
        f"<h3>Most drifted features (latest run; severity at least 1 means drifted)</h3>{drift}"
        f"<h3>Trends</h3><div class='charts'>{images}</div></section>"
    )


def render_page(reports: list[ModelReport], source: str, generated: pd.Timestamp) -> str:
    sections = "".join(_section(report) for report in reports)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<link rel='icon' href='data:,'>"
        f"<title>mlmon report</title><style>{STYLE}</style></head><body>"
        f"<h1>mlmon report</h1><p class='meta'>From {escape(source)}; generated {generated:%Y-%m-%d %H:%M} UTC.</p>"
        f"{sections}</body></html>\n"
    )
