"""The whole stack with real processes: the demo exporter, Prometheus with the project's rules,
Alertmanager with the project's routing tree, and a webhook receiver standing in for every channel.

One stack serves every test in this module (they run in file order): starting it costs a minute of
wall time that each test would otherwise pay again.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from exporter.catalogue import SPECS
from exporter.mixin.alertmanager import local_config
from exporter.mixin.render import main as mixin_main
from exporter.receiver import Receiver

from support.binaries import require_binary
from support.dashboards import load_dashboards, panel_queries, substitute, variable_queries
from support.processes import REPO, AlertmanagerServer, ExporterProcess, PrometheusServer

pytestmark = pytest.mark.live

DEMO_MODEL = {"model": "breast-cancer", "version": "1"}
README = (REPO / "README.md").read_text()
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
    """The demo's notification receiver, keeping every notification as Alertmanager posted it."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self.receiver = Receiver("127.0.0.1", 0, self.notifications.append).start()
        self.url = self.receiver.url

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return [{**alert, "receiver": n.get("receiver")} for n in list(self.notifications) for alert in n["alerts"]]

    def firing(self, name: str) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a["labels"].get("alertname") == name and a["status"] == "firing"]

    def groups(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """model -> group key -> the notifications of that group, in order."""
        out: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for notification in list(self.notifications):
            model = notification["groupLabels"].get("model", "")
            out.setdefault(model, {}).setdefault(notification["groupKey"], []).append(notification)
        return out


class Stack:
    def __init__(self, webhook: Webhook, am: AlertmanagerServer, exporter: ExporterProcess, prom: PrometheusServer):
        self.webhook, self.am, self.exporter, self.prom = webhook, am, exporter, prom


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_binary("prometheus")
    require_binary("prometheus-alertmanager", "alertmanager")
    root = tmp_path_factory.mktemp("live")
    webhook = Webhook()
    # The rules as `make demo` renders them (durations in seconds for its fast days).
    rules = root / "rules"
    assert mixin_main(["--config", str(REPO / "prometheus" / "demo-mixin.yml"), "--out", str(rules)]) == 0
    # Two seconds a simulated day, from day seven to day forty-four, then no more batches: accuracy drops
    # below 0.90 around day nine and stays there until day forty (about a minute), so the alerts are
    # firing when the dashboard test looks for them; day forty-four, the last batch, is fully recovered
    # (the next cycle's drift starts the day after), which ends the episode. The rules' `for` and
    # `keep_firing_for` are read in seconds (15 s at most), still shorter than the episode's parts.
    with (
        AlertmanagerServer(root / "am", config=local_config(webhook.url)) as am,
        ExporterProcess(
            "demo",
            ["--day-seconds", "2", "--start-day", "7", "--days", "38", "--workdir", str(root / "demo")],
            workdir=root / "exporter",
        ) as exporter,
        PrometheusServer(root / "prom", targets=[exporter.target], alertmanager=am.target, rules_dir=rules) as prom,
    ):
        yield Stack(webhook, am, exporter, prom)
    webhook.receiver.stop()


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


def _rule_health(prom: PrometheusServer, query: str) -> str:
    """How Prometheus last evaluated the recording rules that ``query`` reads, for a failure message."""
    groups = requests.get(f"{prom.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    return "; ".join(
        f"{rule['name']}: health {rule.get('health')}, error {rule.get('lastError') or '-'},"
        f" last evaluated {rule.get('lastEvaluation')}"
        for group in groups
        for rule in group["rules"]
        if rule.get("type") == "recording" and re.search(rf"(?<![\w:]){re.escape(rule['name'])}(?![\w:])", query)
    )


def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    # recording rules over an hour or a day answer as soon as one evaluation has run
    stack.prom.wait_for(
        lambda: stack.prom.query("model:mlmon_accuracy_ratio:avg1h"), timeout=60, description="recording rules"
    )
    queries = []
    for board in load_dashboards():
        # as the dashboard opens: every variable at its default, "All" standing for its allValue
        defaults = {
            v["name"]: v.get("allValue", ".*") if v.get("includeAll") else v.get("current", {}).get("value", "")
            for v in board["templating"]["list"]
        }
        for title, expr in panel_queries(board):
            query = substitute(expr, {**defaults, "datasource": "mlmon-prometheus"}, rate_interval="1m")
            queries.append((f"{board['uid']} / {title}", query))
    # Each rule group evaluates on its own clock: a query still empty is asked again until a deadline
    # shared by all of them, so one group evaluating a second later than another is no failure.
    deadline = time.monotonic() + 60
    empty = []
    for name, query in queries:
        while not stack.prom.query(query):
            if time.monotonic() >= deadline:
                empty.append(f"{name}: {query} ({_rule_health(stack.prom, query) or 'reads no recording rule'})")
                break
            time.sleep(1)
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


def test_the_readme_links_work_with_the_debian_packages(stack: Stack) -> None:
    # Debian's Prometheus 2.42 serves the classic UI under /classic/; its Alertmanager has no UI, amtool answers
    assert "/classic/alerts" in README and "alert query" in README
    page = requests.get(f"{stack.prom.url}/classic/alerts", timeout=10)
    assert page.status_code == 200 and "Alerts" in page.text
    amtool = require_binary("amtool")
    query = subprocess.run(
        [amtool, f"--alertmanager.url={stack.am.url}", "alert", "query"], capture_output=True, text=True, timeout=30
    )
    assert query.returncode == 0 and "Alertname" in query.stdout, query.stderr


def test_the_templates_render_a_real_notification(stack: Stack, tmp_path: Path) -> None:
    """The Alertmanager templates on a notification the routing tree delivered, as Slack or email get it."""
    notification = stack.prom.wait_for(
        lambda: next(
            (
                n
                for n in stack.webhook.notifications
                if n["groupLabels"].get("model") == "breast-cancer"
                and any(a["labels"]["alertname"] == "MlmonAccuracyBelowThreshold" for a in n["alerts"])
            ),
            None,
        ),
        timeout=240,
        description="a breast-cancer notification with the accuracy alert",
    )
    data = tmp_path / "notification.json"
    data.write_text(json.dumps(notification))
    rendered = subprocess.run(
        [
            require_binary("amtool"),
            "template",
            "render",
            f"--template.glob={REPO / 'prometheus' / 'alertmanager' / 'templates' / '*.tmpl'}",
            f"--template.data={data}",
            '--template.text={{ template "mlmon.title" . }}\n{{ template "mlmon.text" . }}',
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert rendered.returncode == 0, rendered.stderr
    title, _, body = rendered.stdout.partition("\n")
    assert title.startswith("[FIRING:") and "model breast-cancer version 1" in title
    accuracy = next(a for a in notification["alerts"] if a["labels"]["alertname"] == "MlmonAccuracyBelowThreshold")
    # every breached signal with its value and threshold, and where to go next
    assert accuracy["annotations"]["description"] in body
    assert re.search(r"Accuracy of model breast-cancer version 1 is [0-9.]+%, below the threshold of 90%", body)
    assert "Runbook: https://github.com/mlmon/mlmon/blob/main/docs/runbook.md#mlmonaccuracybelowthreshold" in body
    assert "Dashboard: http://127.0.0.1:3000/d/mlmon-overview?var-model=breast-cancer&var-version=1" in body


def test_one_drift_episode_opens_at_most_two_groups_per_model_and_resolves(stack: Stack) -> None:
    """Through the project's routing tree: one warning group (and a page only if it turns critical) per
    model over the whole episode, and a resolved notification for every group once the model recovers."""

    def settled() -> dict[str, dict[str, list[dict[str, Any]]]] | None:
        groups = stack.webhook.groups()
        if not {"breast-cancer", "ticket-routing"} <= set(groups):
            return None
        last = [notifications[-1] for by_key in groups.values() for notifications in by_key.values()]
        return groups if all(n["status"] == "resolved" for n in last) else None

    groups = stack.prom.wait_for(settled, timeout=420, description="every notification group resolved")
    for model in ("breast-cancer", "ticket-routing"):
        by_key = groups[model]
        assert 1 <= len(by_key) <= 2, f"{model}: {len(by_key)} groups: {list(by_key)}"
        for notifications in by_key.values():
            assert notifications[0]["status"] == "firing"
            assert notifications[-1]["status"] == "resolved"
            assert all(a["status"] == "resolved" for a in notifications[-1]["alerts"])
    print({model: {key: len(n) for key, n in by_key.items()} for model, by_key in groups.items()})
