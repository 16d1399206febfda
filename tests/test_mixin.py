"""The rule files are a mixin: rendered from exporter/mixin with a `_config` of selectors and links."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from exporter.mixin.config import DEFAULTS, MixinConfig, load
from exporter.mixin.render import SHIPPED, main, render
from exporter.mixin.rules import scale_duration

from support.binaries import require_binary


def test_the_shipped_rule_files_are_the_default_rendering() -> None:
    rendered = render(DEFAULTS)
    assert sorted(rendered) == sorted(p.name for p in SHIPPED.glob("*.yml"))
    for name, text in rendered.items():
        assert (SHIPPED / name).read_text() == text, f"{name}: run python -m exporter.mixin"
    assert main(["--check"]) == 0


def _alerts(config: MixinConfig) -> dict[str, dict]:
    groups = yaml.safe_load(render(config)["mlmon-alerts.yml"])["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def test_an_operator_setup_changes_selector_links_and_durations(tmp_path: Path) -> None:
    settings = tmp_path / "mixin.yml"
    settings.write_text(
        'job_selector: \'job="ml", env="prod"\'\n'
        "runbook_url: https://wiki.example.org/mlmon\n"
        "dashboard_url: https://grafana.example.org/d/mlmon-overview\n"
        "duration_scale: 0.5\n"
    )
    config = load(settings)
    alerts = _alerts(config)
    assert alerts["MlmonExporterDown"]["expr"].strip() == 'up{job="ml", env="prod"} == 0'
    assert alerts["MlmonExporterAbsent"]["labels"] == {
        "severity": "critical",
        "signal": "availability",
        "job": "ml",
        "env": "prod",
    }
    accuracy = alerts["MlmonAccuracyBelowThreshold"]
    assert accuracy["annotations"]["runbook_url"] == "https://wiki.example.org/mlmon#mlmonaccuracybelowthreshold"
    assert accuracy["annotations"]["dashboard_url"].startswith("https://grafana.example.org/d/mlmon-overview?")
    assert (accuracy["for"], accuracy["keep_firing_for"]) == ("30s", "450s")
    # the operator's files pass promtool like the shipped ones
    out = tmp_path / "rules"
    assert main(["--config", str(settings), "--out", str(out)]) == 0
    promtool = require_binary("promtool")
    for path in out.glob("*.yml"):
        check = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr


def test_check_reports_a_stale_file(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    (tmp_path / "mlmon-alerts.yml").write_text("groups: []\n")
    assert main(["--check", "--out", str(tmp_path)]) == 1


def test_an_unknown_setting_is_named(tmp_path: Path) -> None:
    settings = tmp_path / "mixin.yml"
    settings.write_text("job_selektor: x\n")
    with pytest.raises(ValueError, match="job_selektor"):
        load(settings)
    result = subprocess.run(
        [sys.executable, "-m", "exporter.mixin", "--config", str(settings), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "job_selektor" in result.stderr


@pytest.mark.parametrize(
    ("duration", "factor", "expected"),
    [
        ("15m", 1, "15m"),
        ("1h", 1, "1h"),
        ("15m", 1 / 60, "15s"),
        ("1m", 1 / 60, "1s"),
        ("90s", 1, "90s"),
        ("1d", 0.5, "12h"),
    ],
)
def test_scale_duration(duration: str, factor: float, expected: str) -> None:
    assert scale_duration(duration, factor) == expected


def test_the_demo_alertmanager_config_keeps_the_routing_tree(tmp_path: Path) -> None:
    from exporter.mixin.alertmanager import SHIPPED as AM_SHIPPED
    from exporter.mixin.alertmanager import main as alertmanager_main

    out = tmp_path / "alertmanager.yml"
    assert alertmanager_main(["--webhook", "http://127.0.0.1:9095/", "--out", str(out), "--group-wait", "5s"]) == 0
    amtool = require_binary("amtool")
    check = subprocess.run([amtool, "check-config", str(out)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    local, shipped = yaml.safe_load(out.read_text()), yaml.safe_load((AM_SHIPPED / "alertmanager.yml").read_text())
    assert local["inhibit_rules"] == shipped["inhibit_rules"]
    assert local["route"]["group_by"] == shipped["route"]["group_by"]
    assert [r["receiver"] for r in local["route"]["routes"]] == [r["receiver"] for r in shipped["route"]["routes"]]
    assert local["route"]["group_wait"] == "5s"
    for receiver in local["receivers"]:
        configs = [key for key in receiver if key.endswith("_configs")]
        assert configs in ([], ["webhook_configs"]), receiver
        for webhook in receiver.get("webhook_configs", []):
            assert webhook == {"url": "http://127.0.0.1:9095/", "send_resolved": True}
