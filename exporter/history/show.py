"""`mlmon history show`: the recent runs as a table and the seed's summary below it.

On a terminal the table has a bold header and breaches in red; anywhere else (a pipe, a file, a
cron mail) it is plain aligned text with no escape codes.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from exporter.history.breaches import breaches_per_run
from exporter.history.summary import summarize

BOLD, RED, RESET = "\033[1m", "\033[31m", "\033[0m"
HEADER = ("date (UTC)", "model", "version", "window", "accuracy", "volume", "confidence", "breaches")


def _cell(value: object, fmt: str) -> str:
    return "-" if value is None or pd.isna(value) else fmt.format(value)


def _rows(frame: pd.DataFrame, breaches: Sequence[list[str]]) -> list[list[str]]:
    rows = []
    for (_, run), breached in zip(frame.iterrows(), breaches):
        rows.append(
            [
                f"{run['date']:%Y-%m-%d %H:%M:%S}",
                str(run["model"]),
                str(run["version"]),
                _cell(run["window_rows"], "{:d}"),
                _cell(run["accuracy"], "{:.4f}"),
                _cell(run["prediction_volume"], "{:d}"),
                _cell(run["avg_confidence"], "{:.4f}"),
                ", ".join(breached) or "-",
            ]
        )
    return rows


def render_table(rows: list[list[str]], tty: bool) -> str:
    widths = [max(len(row[i]) for row in [list(HEADER), *rows]) for i in range(len(HEADER))]
    numeric = {3, 4, 5, 6}

    def line(cells: Sequence[str], style: str = "") -> str:
        parts = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        if tty and style:
            return style + "  ".join(parts).rstrip() + RESET
        if tty and cells[-1] != "-":
            parts[-1] = RED + parts[-1].rstrip() + RESET
        return "  ".join(parts).rstrip()

    rule = ("─" if tty else "-") * (sum(widths) + 2 * (len(widths) - 1))
    return "\n".join([line(HEADER, BOLD), rule, *(line(row) for row in rows)])


def show(frame: pd.DataFrame, last: int, tty: bool) -> str:
    """The last ``last`` runs and one summary per model, as text."""
    if frame.empty:
        return "no runs in the history for this selection"
    breaches = breaches_per_run(frame)
    recent = frame.tail(last)
    out = [
        f"Recent runs ({len(recent)} of {len(frame)}):",
        render_table(_rows(recent, breaches[-len(recent) :]), tty),
    ]
    for summary in summarize(frame):
        out += ["", *((BOLD + line + RESET) if tty and i == 0 else line for i, line in enumerate(summary.lines()))]
    return "\n".join(out)
