"""Render each generated Grafana dashboard to a PNG from a live Prometheus, for the docs.

    python scripts/render_dashboards.py --prometheus http://127.0.0.1:9090 --range 10m

Panels are placed by their gridPos and filled with their own queries: time series as lines, stats as big
numbers, tables as text. Grafana itself is not needed. Exits 1 if any query fails (the images are still written).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GRID_COLUMNS = 24
INCHES_PER_ROW = 0.32
TITLE_INCHES = 0.6
BOTTOM_INCHES = 0.2
FIGURE_WIDTH = 18.0
MAX_LEGEND = 8
MAX_TABLE_ROWS = 12
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


class QueryError(Exception):
    """Prometheus refused a query."""


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as ``10m`` or ``1h30m``."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 10m, 1h, 2d)")
    return sum(int(n) * _SECONDS[u] for n, u in parts)


@dataclass(frozen=True)
class Window:
    """The time range drawn and the values Grafana would give its built-in variables for it."""

    end: float
    seconds: float
    step: float
    rate_interval: float

    @classmethod
    def ending_now(cls, seconds: float, scrape_interval: float, points: int = 240) -> Window:
        step = max(math.ceil(seconds / points), 1)
        # Grafana's $__rate_interval: at least four scrapes, and at least one step plus one scrape.
        rate_interval = max(step + scrape_interval, 4 * scrape_interval)
        return cls(time.time(), seconds, step, rate_interval)


class Prometheus:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                message = json.load(exc).get("error", exc.reason)
            except ValueError:
                message = exc.reason
            raise QueryError(f"{message} in {params['query']!r}") from None
        data = body["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def range(self, query: str, window: Window) -> list[dict[str, Any]]:
        params = {
            "query": query,
            "start": f"{window.end - window.seconds:.3f}",
            "end": f"{window.end:.3f}",
            "step": f"{window.step:g}",
        }
        return self._get("/api/v1/query_range", params)

    def instant(self, query: str, window: Window) -> list[dict[str, Any]]:
        return self._get("/api/v1/query", {"query": query, "time": f"{window.end:.3f}"})


def substitute(expr: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise QueryError(f"no value for ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


def legend(template: str, labels: dict[str, str]) -> str:
    text = _LEGEND.sub(lambda m: labels.get(m.group(1), ""), template or "")
    return " ".join(text.split()) or json.dumps(labels, sort_keys=True)


def format_value(value: float, unit: str) -> str:
    if math.isnan(value):
        return "NaN"
    if unit == "percentunit":
        return f"{value * 100:.1f}%"
    if unit == "s":
        if abs(value) >= 7200:
            return f"{value / 3600:.1f} h"
        if abs(value) >= 120:
            return f"{value / 60:.1f} min"
        return f"{value:.3g} s"
    return f"{value:.4g}"


def mapped(value: float, mappings: list[dict[str, Any]], unit: str) -> tuple[str, str | None]:
    """The text and colour Grafana shows for ``value``, after the panel's value mappings."""
    for mapping in mappings:
        if mapping.get("type") != "value":
            continue
        for key, result in mapping["options"].items():
            if not math.isnan(value) and float(key) == value:
                return result.get("text", key), result.get("color")
    return format_value(value, unit), None


def no_data(ax: Axes, text: str = "no data", color: str = "grey") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", color=color, fontsize=10, transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


class Renderer:
    def __init__(self, prometheus: Prometheus, window: Window, variables: dict[str, str]) -> None:
        self.prometheus = prometheus
        self.window = window
        self.variables = variables | {
            "__rate_interval": f"{self.window.rate_interval:g}s",
            "__interval": f"{self.window.step:g}s",
            "__range": f"{self.window.seconds:g}s",
        }
        self.errors: list[str] = []

    def _query(self, panel: dict[str, Any], target: dict[str, Any], instant: bool) -> list[dict[str, Any]] | None:
        try:
            expr = substitute(target["expr"], self.variables)
            if instant:
                return self.prometheus.instant(expr, self.window)
            return self.prometheus.range(expr, self.window)
        except QueryError as exc:
            self.errors.append(f"{panel['title']}: {exc}")
            return None

    def timeseries(self, ax: Axes, panel: dict[str, Any]) -> None:
        unit = panel["fieldConfig"]["defaults"].get("unit", "short")
        drawn = 0
        failed = False
        for target in panel["targets"]:
            result = self._query(panel, target, instant=False)
            if result is None:
                failed = True
                continue
            for series in result:
                times = [datetime.fromtimestamp(float(t)) for t, _ in series["values"]]
                values = [float(v) for _, v in series["values"]]
                name = legend(target.get("legendFormat", ""), series["metric"])
                style = {"linestyle": "--", "color": "red"} if name.startswith("threshold") else {}
                ax.plot(times, values, label=name, linewidth=1.5, **style)
                drawn += 1
        if not drawn:
            no_data(ax, "query error" if failed else "no data", "red" if failed else "grey")
            return
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(v, unit)))
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, show_offset=False))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles[:MAX_LEGEND], labels[:MAX_LEGEND], fontsize=6, loc="upper left", framealpha=0.6)

    def stat(self, ax: Axes, panel: dict[str, Any]) -> None:
        defaults = panel["fieldConfig"]["defaults"]
        shown: list[tuple[str, str, str | None]] = []
        for target in panel["targets"]:
            for series in self._query(panel, target, instant=True) or []:
                text, color = mapped(float(series["value"][1]), defaults.get("mappings", []), defaults.get("unit", ""))
                shown.append((legend(target.get("legendFormat", ""), series["metric"]), text, color))
        ax.set_xticks([])
        ax.set_yticks([])
        if not shown:
            no_data(ax)
            return
        columns = min(len(shown), 4)
        rows = math.ceil(len(shown) / columns)
        size = 26 if len(shown) == 1 else 14
        for i, (name, text, color) in enumerate(shown):
            x = (i % columns + 0.5) / columns
            y = 1 - (i // columns + 0.5) / rows
            ax.text(x, y, text, ha="center", va="center", fontsize=size, color=color or "tab:blue", weight="bold")
            if len(shown) > 1:
                ax.text(x, y - 0.35 / rows, name, ha="center", va="center", fontsize=7, color="dimgrey")

    def table(self, ax: Axes, panel: dict[str, Any]) -> None:
        """Join the instant queries on their labels, as Grafana's merge transformation does."""
        rename: dict[str, str] = {}
        exclude: set[str] = set()
        for transformation in panel.get("transformations", []):
            if transformation["id"] == "organize":
                rename = transformation["options"].get("renameByName", {})
                exclude = set(transformation["options"].get("excludeByName", {}))
        single = len(panel["targets"]) == 1
        rows: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        value_columns: list[str] = []
        for target in panel["targets"]:
            column = "Value" if single else f"Value #{target['refId']}"
            value_columns.append(column)
            for series in self._query(panel, target, instant=True) or []:
                labels = {k: v for k, v in series["metric"].items() if k not in exclude}
                key = tuple(sorted(labels.items()))
                rows.setdefault(key, dict(labels))[column] = series["value"][1]
        ax.axis("off")
        if not rows:
            no_data(ax)
            return
        label_columns = sorted({k for key in rows for k, _ in key})
        columns = [c for c in label_columns + value_columns if c not in exclude]
        sort_by = panel.get("options", {}).get("sortBy", [])
        ordered = list(rows.values())
        if sort_by:
            by = next((c for c in columns if rename.get(c, c) == sort_by[0]["displayName"]), None)
            if by is not None:
                ordered.sort(key=lambda r: float(r.get(by, "nan")), reverse=sort_by[0].get("desc", False))
        cells = [[self._cell(panel, rename.get(c, c), row.get(c, "")) for c in columns] for row in ordered]
        shown = ax.table(
            cellText=cells[:MAX_TABLE_ROWS], colLabels=[rename.get(c, c) for c in columns], loc="upper center"
        )
        shown.auto_set_font_size(False)
        shown.set_fontsize(7)
        if len(cells) > MAX_TABLE_ROWS:
            ax.text(0.5, 0.0, f"... {len(cells) - MAX_TABLE_ROWS} more rows", ha="center", fontsize=7)

    @staticmethod
    def _cell(panel: dict[str, Any], column: str, raw: str) -> str:
        try:
            value = float(raw)
        except ValueError:
            return raw
        defaults = panel["fieldConfig"]["defaults"]
        unit, mappings = defaults.get("unit", ""), defaults.get("mappings", [])
        for override in panel["fieldConfig"].get("overrides", []):
            if override["matcher"] == {"id": "byName", "options": column}:
                for prop in override["properties"]:
                    if prop["id"] == "unit":
                        unit = prop["value"]
                    elif prop["id"] == "mappings":
                        mappings = prop["value"]
        return mapped(value, mappings, unit)[0]

    def dashboard(self, board: dict[str, Any], out: Path) -> None:
        panels = [p for row in board["panels"] for p in (row, *row.get("panels", []))]
        height = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
        inches = height * INCHES_PER_ROW + TITLE_INCHES + BOTTOM_INCHES
        fig = plt.figure(figsize=(FIGURE_WIDTH, inches))
        fig.suptitle(
            f"{board['title']}   (last {format_value(self.window.seconds, 's')})", fontsize=13, x=0.01, ha="left"
        )
        base = BOTTOM_INCHES / inches
        span = height * INCHES_PER_ROW / inches
        draw = {"timeseries": self.timeseries, "stat": self.stat, "table": self.table}
        for panel in panels:
            grid = panel["gridPos"]
            left = grid["x"] / GRID_COLUMNS
            width = grid["w"] / GRID_COLUMNS
            bottom = base + span * (1 - (grid["y"] + grid["h"]) / height)
            tall = span * grid["h"] / height
            if panel["type"] == "row":
                fig.text(left + 0.005, bottom + tall / 2, panel["title"], fontsize=11, weight="bold", va="center")
                continue
            # Fixed margins, in figure fractions, leave room for the tick labels of narrow panels too.
            ax = fig.add_axes((left + 0.04, bottom + 0.12 * tall, width - 0.05, 0.74 * tall))
            ax.set_title(panel["title"], fontsize=9, loc="left")
            if panel["type"] in draw:
                draw[panel["type"]](ax, panel)
            else:
                no_data(ax, f"{panel['type']} panels are not drawn")
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=100)
        plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", required=True, help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("--range", type=parse_duration, default="1h", help="time range drawn, e.g. 10m (default 1h)")
    parser.add_argument("--scrape-interval", type=parse_duration, default="15s", help="for $__rate_interval")
    parser.add_argument("--model", default=".*", help="regex for $model (default: all)")
    parser.add_argument("--version", default=".*", help="regex for $version (default: all)")
    parser.add_argument("--dashboards", type=Path, default=ROOT / "grafana" / "dashboards")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args(argv)

    window = Window.ending_now(args.range, args.scrape_interval)
    renderer = Renderer(Prometheus(args.prometheus), window, {"model": args.model, "version": args.version})
    paths = sorted(args.dashboards.glob("*.json"))
    if not paths:
        print(f"no dashboards in {args.dashboards}", file=sys.stderr)
        return 1
    try:
        for path in paths:
            board = json.loads(path.read_text(encoding="utf-8"))
            out = args.out / f"{board['uid']}.png"
            renderer.dashboard(board, out)
            print(out)
    except urllib.error.URLError as exc:
        print(f"cannot reach Prometheus at {args.prometheus}: {exc.reason}", file=sys.stderr)
        return 1
    for error in renderer.errors:
        print(f"query failed: {error}", file=sys.stderr)
    return 1 if renderer.errors else 0


if __name__ == "__main__":
    sys.exit(main())
