"""The demo's notification printer, and the demo script's port check."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import requests

from exporter.receiver import Receiver, format_notification, printer

ROOT = Path(__file__).resolve().parent.parent


def _alert(name: str, status: str, description: str) -> dict:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": "warning", "model": "breast-cancer", "version": "1"},
        "annotations": {
            "description": description,
            "runbook_url": f"https://example.org/runbook#{name.lower()}",
            "dashboard_url": "http://127.0.0.1:3000/d/mlmon-overview?var-model=breast-cancer&var-version=1",
        },
    }


PAYLOAD = {
    "receiver": "slack-and-email",
    "status": "firing",
    "groupKey": '{}/{severity="warning"}:{model="breast-cancer", version="1"}',
    "groupLabels": {"model": "breast-cancer", "version": "1"},
    "commonLabels": {"severity": "warning", "model": "breast-cancer", "version": "1"},
    "alerts": [
        _alert("MlmonAccuracyBelowThreshold", "firing", "Accuracy of model breast-cancer version 1 is 82%, below 90%."),
        _alert("MlmonMeanConfidenceBelowThreshold", "resolved", "Mean confidence is 86%, below 88%."),
    ],
}


def test_a_notification_names_its_group_each_alert_and_where_to_go() -> None:
    text = format_notification(PAYLOAD)
    lines = text.splitlines()
    assert lines[0] == "── notification [FIRING:1] model breast-cancer version 1 (warning, to slack-and-email)"
    assert "   firing:" in lines and "   resolved:" in lines
    assert "   ✖ MlmonAccuracyBelowThreshold (warning)" in lines
    assert "     Accuracy of model breast-cancer version 1 is 82%, below 90%." in lines
    assert any(
        line.strip().startswith("runbook https://example.org/runbook#mlmonaccuracybelowthreshold") for line in lines
    )
    assert "   ✔ MlmonMeanConfidenceBelowThreshold (warning)" in lines
    # a resolved alert needs no links
    assert text.count("runbook ") == 1


def test_the_receiver_prints_what_alertmanager_posts() -> None:
    out = io.StringIO()
    receiver = Receiver("127.0.0.1", 0, printer(out)).start()
    try:
        assert requests.post(receiver.url, json=PAYLOAD, timeout=10).status_code == 200
        assert requests.post(receiver.url, data=b"{not json", timeout=10).status_code == 400
    finally:
        receiver.stop()
    assert out.getvalue() == format_notification(PAYLOAD) + "\n"


def test_the_demo_says_which_port_is_taken() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        env = {**os.environ, "MLMON_PORT": str(port), "MLMON_DEMO_DIR": "/nonexistent-demo-dir"}
        mlmon = str(Path(sys.executable).parent / "mlmon")
        result = subprocess.run(
            [str(ROOT / "scripts" / "run-demo-stack.sh"), mlmon], capture_output=True, text=True, env=env, timeout=30
        )
    assert result.returncode == 1
    assert f"port {port} (MLMON_PORT) is already in use" in result.stderr
    assert "MLMON_PORT=<port> make demo" in result.stderr


def _readme_notifications() -> list[list[str]]:
    """The notification blocks of the README's demo output, line by line."""
    readme = (ROOT / "README.md").read_text()
    blocks: list[list[str]] = []
    open_block = False
    for line in readme.splitlines():
        if line.startswith("── notification"):
            blocks.append([line])
            open_block = True
        elif open_block and line.startswith("   "):
            blocks[-1].append(line)
        else:
            open_block = False
    return blocks


def test_the_readme_shows_notifications_as_the_demo_prints_them() -> None:
    blocks = _readme_notifications()
    assert len(blocks) >= 2
    for block in blocks:
        header = block[0]
        model, version = header.split(" model ", 1)[1].split(" (", 1)[0].split(" version ")
        alerts = []
        for index in range(1, len(block), 3):
            name = block[index].strip().removeprefix("✖ ").split(" (", 1)[0]
            runbook, dashboard = block[index + 2].strip().removeprefix("runbook ").split("  dashboard ")
            annotations = {"description": block[index + 1].strip(), "runbook_url": runbook, "dashboard_url": dashboard}
            labels = {"alertname": name, "severity": "warning", "model": model, "version": version}
            alerts.append({"status": "firing", "labels": labels, "annotations": annotations})
        payload = {
            "receiver": "slack-and-email",
            "status": "firing",
            "groupLabels": {"model": model, "version": version},
            "commonLabels": {"severity": "warning"},
            "alerts": alerts,
        }
        assert format_notification(payload).splitlines() == block
