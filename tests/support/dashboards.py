"""Read the generated Grafana dashboards the way Grafana would: panels, queries, variables."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DASHBOARD_DIR = Path(__file__).resolve().parents[2] / "grafana" / "dashboards"

# Grafana's built-in variables, as a test run of a query needs them; `values` may override any.
_BUILTINS = ("__rate_interval", "__interval", "__range")
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)")


def load_dashboards(directory: Path = DASHBOARD_DIR) -> list[dict[str, Any]]:
    """Every dashboard JSON in ``directory``, in file-name order."""
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.json"))]


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, and the panels nested in collapsed rows."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every target of every panel, then (annotation name, expr) of every annotation."""
    queries = [
        (panel["title"], target["expr"])
        for panel in panels(board)
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    queries += [
        (annotation["name"], annotation["expr"])
        for annotation in board.get("annotations", {}).get("list", [])
        if "expr" in annotation
    ]
    return queries


def variable_queries(board: dict[str, Any]) -> dict[str, str]:
    """Name to query (e.g. ``label_values(mlmon_model_up, model)``) of every query variable."""
    out = {}
    for var in board.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        query = var["query"]
        out[var["name"]] = query["query"] if isinstance(query, dict) else query
    return out


def substitute(expr: str, values: dict[str, str], rate_interval: str = "1m") -> str:
    """Replace Grafana variables in ``expr`` as Grafana does before sending it to Prometheus.

    ``$__rate_interval``, ``$__interval`` and ``$__range`` default to ``rate_interval``; every other variable
    must be in ``values`` (a KeyError names the one missing, so a test sees an unknown variable).
    """
    known = {name: rate_interval for name in _BUILTINS} | values

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group is not None)
        if name not in known:
            raise KeyError(f"no value for Grafana variable ${name} in {expr!r}")
        return known[name]

    return _VARIABLE.sub(replace, expr)
