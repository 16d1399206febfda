"""`mlmon report --config FILE --out DIR`: charts and an HTML page, from local history or Prometheus."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from exporter.backfill.commands import duration
from exporter.history.commands import add_range_arguments, checked_config, stored_runs
from exporter.history.frame import to_frame
from exporter.progress import Progress
from exporter.prometheus_api import PrometheusAPI
from exporter.report.charts import build_charts, render
from exporter.report.page import ModelReport, render_page
from exporter.report.series import slug
from exporter.report.source import prometheus_frame

DEFAULT_RANGE = 30 * 86400.0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    report = sub.add_parser("report", help="PNG trend charts and a one-page HTML summary")
    add_range_arguments(report)
    report.add_argument("--out", required=True, type=Path, help="folder for index.html, the PNGs and report.json")
    report.add_argument("--prometheus-url", help="read the figures from this Prometheus instead of the local history")
    report.add_argument("--step", type=duration, help="with --prometheus-url: one point per step (default: range/200)")


def _frame(args: argparse.Namespace) -> tuple[pd.DataFrame, str]:
    config = checked_config(args.config, args.model)
    models = [(m.name, m.version) for m in config.models if args.model in (None, m.name)]
    if args.prometheus_url is None:
        runs = stored_runs(config, args.model, args.since, args.until)
        return to_frame(runs), f"the run history in {config.state_path}"
    end = args.until if args.until is not None else time.time()
    start = args.since if args.since is not None else end - DEFAULT_RANGE
    if end <= start:
        raise ValueError("--to must be after --from")
    step = args.step or max(60.0, round((end - start) / 200.0))
    api = PrometheusAPI(args.prometheus_url)
    return prometheus_frame(api, models, start, end, step), f"Prometheus at {args.prometheus_url}"


def run(args: argparse.Namespace) -> int:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ValueError("mlmon report draws with matplotlib: pip install 'mlmon-exporter[report]'") from None
    frame, source = _frame(args)
    if frame.empty:
        raise ValueError("no runs in that selection: nothing to report")
    args.out.mkdir(parents=True, exist_ok=True)
    reports = []
    groups = list(frame.groupby(["model", "version"], sort=False))
    summary: dict[str, object] = {"source": source, "models": []}
    with Progress(6 * len(groups), "report") as bar:
        for (name, version), rows in groups:
            charts = build_charts(rows)
            images = {}
            for chart in charts:
                image = f"{slug(str(name))}-{slug(str(version))}-{chart.slug}.png"
                render(chart, args.out / image)
                images[chart.slug] = image
                bar.advance()
            reports.append(ModelReport(str(name), str(version), rows.reset_index(drop=True), charts, images))
            summary["models"].append(  # type: ignore[union-attr]
                {
                    "model": name,
                    "version": version,
                    "charts": {c.slug: {**c.as_dict(), "image": images[c.slug]} for c in charts},
                }
            )
    page = args.out / "index.html"
    page.write_text(render_page(reports, source, pd.Timestamp.now(tz="UTC")))
    (args.out / "report.json").write_text(json.dumps(summary, indent=1))
    print(f"report of {len(reports)} model(s), {len(frame)} run(s): {page}")
    return 0
