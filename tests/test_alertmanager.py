"""The Alertmanager config is valid, routes each severity to the intended receivers and renders templates."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from exporter.mixin.alertmanager import local_config

from support.binaries import require_binary
from support.processes import AlertmanagerServer, wait_for

ALERTMANAGER = Path(__file__).resolve().parent.parent / "prometheus" / "alertmanager"
CONFIG = ALERTMANAGER / "alertmanager.yml"


def _amtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    amtool = require_binary("amtool")
    return subprocess.run([amtool, *map(str, args)], capture_output=True, text=True, timeout=30, check=False)


def test_check_config() -> None:
    result = _amtool("check-config", CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["severity=critical"], ["pagerduty"]),
        (["severity=warning"], ["slack-and-email"]),
        (["severity=info"], ["null"]),
        (["severity=critical", "notify=webhook"], ["webhook", "pagerduty"]),
        (["severity=warning", "notify=webhook"], ["webhook", "slack-and-email"]),
        (["alertname=SomethingElse"], ["null"]),
    ],
)
def test_routes(labels: list[str], receivers: list[str]) -> None:
    args = ["alertname=MlmonAccuracyBelowThreshold", "model=breast-cancer", "version=1", *labels]
    result = _amtool("config", "routes", "test", f"--config.file={CONFIG}", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().split(",") == receivers


def _config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_secrets_come_from_files() -> None:
    """No receiver carries a key, URL secret or password inline; each names a file instead."""
    config = _config()
    inline = {"routing_key", "service_key", "api_url", "auth_password", "smtp_auth_password", "credentials"}

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                assert key not in inline, f"{where}.{key} is inline; use the *_file field"
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")

    walk(config, "config")
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["pagerduty"]["pagerduty_configs"][0]["routing_key_file"]
    assert receivers["slack-and-email"]["slack_configs"][0]["api_url_file"]
    assert config["global"]["smtp_auth_password_file"]


def test_grouping_and_inhibition() -> None:
    config = _config()
    # One group per model version (per severity route), not one per alert name.
    assert config["route"]["group_by"] == ["model", "version"]
    assert all("group_by" not in route for route in config["route"]["routes"])
    rules = config["inhibit_rules"]
    assert {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity="warning"'],
        "equal": ["model", "version", "signal"],
    } in rules
    exporter_rule = next(r for r in rules if "MlmonExporterAbsent|MlmonExporterDown" in r["source_matchers"][0])
    # absent() carries no model label, so this rule must not require equal labels.
    assert "equal" not in exporter_rule


def test_template_renders_model_version_and_runbook(tmp_path: Path) -> None:
    alert = {
        "status": "firing",
        "labels": {
            "alertname": "MlmonAccuracyBelowThreshold",
            "model": "breast-cancer",
            "version": "1",
            "severity": "warning",
            "signal": "performance",
        },
        "annotations": {
            "summary": "Model accuracy is below its threshold.",
            "description": "Accuracy of model breast-cancer version 1 is 85%, below the threshold of 90%.",
            "runbook_url": "https://github.com/mlmon/mlmon/blob/main/docs/runbook.md#mlmonaccuracybelowthreshold",
            "dashboard_url": "http://127.0.0.1:3000/d/mlmon-overview?var-model=breast-cancer&var-version=1",
        },
        "startsAt": "2026-06-13T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
    }
    data = {
        "receiver": "slack-and-email",
        "status": "firing",
        "alerts": [alert],
        "groupLabels": {"model": "breast-cancer", "version": "1"},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://127.0.0.1:9093",
    }
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(data))
    result = _amtool(
        "template",
        "render",
        f"--template.glob={ALERTMANAGER / 'templates' / '*.tmpl'}",
        f"--template.data={data_file}",
        '--template.text={{ template "mlmon.title" . }}\n{{ template "mlmon.text" . }}',
    )
    assert result.returncode == 0, result.stdout + result.stderr
    title, _, body = result.stdout.partition("\n")
    assert title == "[FIRING:1] model breast-cancer version 1 (warning): MlmonAccuracyBelowThreshold"
    assert "Model: breast-cancer, version: 1" in body
    assert "is 85%, below the threshold of 90%" in body
    assert "Runbook: https://github.com/mlmon/mlmon/blob/main/docs/runbook.md#mlmonaccuracybelowthreshold" in body
    assert "Dashboard: http://127.0.0.1:3000/d/mlmon-overview?var-model=breast-cancer&var-version=1" in body
    assert "Since: 2026-06-13 10:00:00 UTC" in body


def _post_and_read(
    am: AlertmanagerServer, alerts: list[dict[str, str]], expected: dict[str, list[str]]
) -> dict[str, list[str]]:
    """Post alerts (label sets) to a real Alertmanager; alertname -> the alertnames inhibiting it.

    Alertmanager marks inhibition as it processes the alerts, a moment after storing them, so the
    state is read until it matches ``expected`` or half a minute has passed; the last state read is
    returned either way, for the caller to compare."""
    body = [{"labels": labels, "annotations": {}} for labels in alerts]
    assert requests.post(f"{am.url}/api/v2/alerts", json=body, timeout=10).status_code == 200
    last: dict[str, list[str]] = {}

    def read() -> bool:
        got = requests.get(f"{am.url}/api/v2/alerts", timeout=10).json()
        fingerprints = {a["fingerprint"]: a["labels"]["alertname"] for a in got}
        last.clear()
        last.update(
            {a["labels"]["alertname"]: sorted(fingerprints[f] for f in a["status"]["inhibitedBy"]) for a in got}
        )
        return last == expected

    with contextlib.suppress(AssertionError):  # a timeout leaves the last state for the caller's assert
        wait_for(read, timeout=30, description="the inhibition state")
    return last


MODEL_LABELS = {"model": "breast-cancer", "version": "1"}


@pytest.mark.parametrize(
    ("alerts", "inhibited"),
    [
        # model down silences everything about that model, and nothing about another model
        (
            [
                {"alertname": "MlmonModelDown", "severity": "critical", "signal": "availability", **MODEL_LABELS},
                {
                    "alertname": "MlmonAccuracyBelowThreshold",
                    "severity": "warning",
                    "signal": "performance",
                    **MODEL_LABELS,
                },
                {"alertname": "MlmonRunsStale", "severity": "critical", "signal": "staleness", **MODEL_LABELS},
                {
                    "alertname": "MlmonDatasetDriftDetected",
                    "severity": "warning",
                    "signal": "drift",
                    "model": "ticket-routing",
                    "version": "3",
                },
            ],
            {
                "MlmonModelDown": [],
                "MlmonAccuracyBelowThreshold": ["MlmonModelDown"],
                "MlmonRunsStale": ["MlmonModelDown"],
                "MlmonDatasetDriftDetected": [],
            },
        ),
        # exporter down silences model down
        (
            [
                {"alertname": "MlmonExporterDown", "severity": "critical", "signal": "availability", "job": "mlmon"},
                {"alertname": "MlmonModelDown", "severity": "critical", "signal": "availability", **MODEL_LABELS},
            ],
            {"MlmonExporterDown": [], "MlmonModelDown": ["MlmonExporterDown"]},
        ),
        # realized performance silences the estimate; dataset drift silences its echoes
        (
            [
                {
                    "alertname": "MlmonAccuracyBelowThreshold",
                    "severity": "warning",
                    "signal": "performance",
                    **MODEL_LABELS,
                },
                {
                    "alertname": "MlmonEstimatedAccuracyBelowThreshold",
                    "severity": "warning",
                    "signal": "performance",
                    **MODEL_LABELS,
                },
                {"alertname": "MlmonDatasetDriftDetected", "severity": "warning", "signal": "drift", **MODEL_LABELS},
                {
                    "alertname": "MlmonMultivariateDriftDetected",
                    "severity": "warning",
                    "signal": "drift",
                    **MODEL_LABELS,
                },
                {
                    "alertname": "MlmonDriftedFeaturesRatioAboveThreshold",
                    "severity": "info",
                    "signal": "drift",
                    **MODEL_LABELS,
                },
            ],
            {
                "MlmonAccuracyBelowThreshold": [],
                "MlmonEstimatedAccuracyBelowThreshold": ["MlmonAccuracyBelowThreshold"],
                "MlmonDatasetDriftDetected": [],
                "MlmonMultivariateDriftDetected": ["MlmonDatasetDriftDetected"],
                "MlmonDriftedFeaturesRatioAboveThreshold": ["MlmonDatasetDriftDetected"],
            },
        ),
    ],
    ids=["model-down", "exporter-down", "performance-and-drift"],
)
def test_inhibition_follows_the_chain_of_cause(
    tmp_path: Path, alerts: list[dict[str, str]], inhibited: dict[str, list[str]]
) -> None:
    with AlertmanagerServer(tmp_path, config=local_config("http://127.0.0.1:9/unused")) as am:
        assert _post_and_read(am, alerts, inhibited) == inhibited
