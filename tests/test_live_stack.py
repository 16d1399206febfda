"""The whole stack with real processes: the demo exporter, Prometheus with the project's rules,
Alertmanager with the project's routing tree, and a webhook receiver standing in for every channel.

One stack serves every test in this module (they run in file order): starting it costs a minute of
wall time that each test would otherwise pay again.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from exporter.catalogue import SPECS
from exporter.mixin.alertmanager import local_config

from support.binaries import require_binary
from support.dashboards import load_dashboards, panel_queries, substitute, variable_queries
from support.processes import AlertmanagerServer, ExporterProcess, PrometheusServer

pytestmark = pytest.mark.live

DEMO_MODEL = {"model": "breast-cancer", "version": "1"}
DRIFT_KINDS = ("statistic", "pvalue", "significance_level", "distance", "distance_threshold", "severity")
TEST_KINDS = ("statistic", "pvalue", "significance_level")
# Families every demo run serves once the first batches are scored (the seed model has labels,
# a reference and a schedule; the ticket model adds multiclass and categorical families).
ALWAYS_SERVED = {
    spec.name
    for spec in SPECS
    if spec.group in ("core", "output", "runs", "drift", "estimation", "labels")
    and spec.name
    not in {
        "mlmon_mean_prediction",
        *(f"mlmon_residual_drift_{kind}" for kind in DRIFT_KINDS),
        # the demo's references are large: output drift is measured by distances, not tests
        *(f"mlmon_{x}_drift_{kind}" for x in ("prediction", "label") for kind in TEST_KINDS),
        "mlmon_label_delay_seconds",
        "mlmon_unmatched_labels",
    }
}


class Webhook:
    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                for alert in body.get("alerts", []):
                    outer.alerts.append({**alert, "receiver": body.get("receiver")})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def firing(self, name: str) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a["labels"].get("alertname") == name and a["status"] == "firing"]


class Stack:
    def __init__(self, webhook: Webhook, am: AlertmanagerServer, exporter: ExporterProcess, prom: PrometheusServer):
        self.webhook, self.am, self.exporter, self.prom = webhook, am, exporter, prom


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_binary("prometheus")
    require_binary("prometheus-alertmanager", "alertmanager")
    root = tmp_path_factory.mktemp("live")
    webhook = Webhook()
    # Four seconds a simulated day, starting on day seven: accuracy drops below 0.90 on day eight and
    # stays there until day forty (over two minutes), well beyond the accuracy rule's `for: 1m`, so the
    # alert is still firing when the dashboard test looks for it.
    with (
        AlertmanagerServer(root / "am", config=local_config(webhook.url)) as am,
        ExporterProcess(
            "demo",
            ["--day-seconds", "4", "--start-day", "7", "--workdir", str(root / "demo")],
            workdir=root / "exporter",
        ) as exporter,
        PrometheusServer(root / "prom", targets=[exporter.target], alertmanager=am.target) as prom,
    ):
        yield Stack(webhook, am, exporter, prom)
    webhook.server.shutdown()


def _served(exporter: ExporterProcess) -> str | None:
    body = requests.get(f"{exporter.url}/metrics", timeout=10).text
    names = {line.split("{", 1)[0].split(" ", 1)[0] for line in body.splitlines() if line and line[0] != "#"}
    missing = {
        spec.name
        for spec in SPECS
        if spec.name in ALWAYS_SERVED and not any(name in names for name in spec.exposed_names)
    }
    return body if not missing else None


def test_the_demo_serves_the_contract_and_promtool_accepts_it(stack: Stack) -> None:
    promtool = require_binary("promtool")
    body = stack.exporter.wait_for(lambda: _served(stack.exporter), timeout=90, description="the contract served")
    check = subprocess.run([promtool, "check", "metrics"], input=body.encode(), capture_output=True, timeout=60)
    assert check.returncode == 0 and not check.stdout.strip(), check.stdout + check.stderr


def _samples(body: str, name: str) -> dict[tuple[str, str], float]:
    """(model, feature) -> value of every sample of ``name`` in an exposition text."""
    out = {}
    for line in body.splitlines():
        if line.startswith(name + "{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
            out[(labels["model"], labels["feature"])] = float(line.rsplit(" ", 1)[1])
    return out


def test_severity_is_at_least_one_exactly_for_the_drifted_features(stack: Stack) -> None:
    body = stack.exporter.wait_for(lambda: _served(stack.exporter), timeout=90, description="the contract served")
    severity = _samples(body, "mlmon_feature_drift_severity")
    detected = _samples(body, "mlmon_feature_drift_detected")
    assert set(severity) == set(detected) and len(detected) > 5
    assert {key: value >= 1 for key, value in severity.items()} == {key: value == 1 for key, value in detected.items()}


def test_the_accuracy_alert_reaches_the_webhook_through_the_routing_tree(stack: Stack) -> None:
    alerts = stack.prom.wait_for(
        lambda: stack.webhook.firing("MlmonAccuracyBelowThreshold"),
        timeout=240,
        description="MlmonAccuracyBelowThreshold delivered to the webhook",
    )
    alert = alerts[0]
    assert alert["labels"]["model"] == "breast-cancer"
    assert alert["labels"]["severity"] in ("warning", "critical")
    assert alert["annotations"]["runbook_url"].endswith("#mlmonaccuracybelowthreshold")
    assert "breast-cancer" in alert["annotations"]["description"]
    expected = {"critical": "pagerduty", "warning": "slack-and-email"}
    assert alert["receiver"].startswith(expected.get(alert["labels"]["severity"], "")), alert["receiver"]
    # what the alert rests on: accuracy in Prometheus went below the exported threshold
    history = stack.prom.query('min_over_time(mlmon_accuracy_ratio{model="breast-cancer"}[10m])')
    assert float(history[0]["value"][1]) < 0.90


def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    # recording rules over an hour or a day answer as soon as one evaluation has run
    stack.prom.wait_for(
        lambda: stack.prom.query("model:mlmon_accuracy_ratio:avg1h"), timeout=60, description="recording rules"
    )
    empty = []
    for board in load_dashboards():
        # as the dashboard opens: every variable at its default, "All" standing for its allValue
        defaults = {
            v["name"]: v.get("allValue", ".*") if v.get("includeAll") else v.get("current", {}).get("value", "")
            for v in board["templating"]["list"]
        }
        for title, expr in panel_queries(board):
            query = substitute(expr, {**defaults, "datasource": "mlmon-prometheus"}, rate_interval="1m")
            if not stack.prom.query(query):
                empty.append(f"{board['uid']} / {title}: {query}")
    assert not empty, "queries without data:\n" + "\n".join(empty)


def test_template_variables_find_the_demo_models(stack: Stack) -> None:
    for board in load_dashboards():
        for name, definition in variable_queries(board).items():
            inner = definition.removeprefix("label_values(").removesuffix(")")
            selector, _, label = inner.rpartition(",")
            query = substitute(selector.strip(), {**DEMO_MODEL}) if selector else label
            found = {
                series["metric"].get(label.strip()) for series in stack.prom.query(f"count by ({label}) ({query})")
            }
            if name in DEMO_MODEL:
                assert DEMO_MODEL[name] in found, f"{board['uid']}: {name} from {definition}"
    models = {s["metric"]["model"] for s in stack.prom.query("mlmon_model_up == 1")}
    assert models == {"breast-cancer", "ticket-routing"}
