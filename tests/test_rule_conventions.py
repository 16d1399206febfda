"""Conventions of the alert and recording rules, checked against the metric catalogue, the threshold
names in the config, the runbook and the promtool unit tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.catalogue import SPECS
from exporter.thresholds import FITTED_THRESHOLDS, KNOWN_THRESHOLDS, LOWER_BOUNDS, UPPER_BOUNDS

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "prometheus" / "rules"
RUNBOOK = ROOT / "docs" / "runbook.md"
RUNBOOK_URL = "https://github.com/mlmon/mlmon/blob/main/docs/runbook.md#"

SEVERITIES = {"critical", "warning", "info"}
SIGNALS = {
    "performance",
    "confidence",
    "volume",
    "drift",
    "quality",
    "errors",
    "latency",
    "staleness",
    "labels",
    "availability",
    "retraining",
}
# Series the dashboards read by name.
TRENDS = ("accuracy", "precision", "recall", "f1", "mean_confidence", "estimated_accuracy")
DASHBOARD_RECORDS = {
    *(f"model:mlmon_{x}_ratio:{window}" for x in TRENDS for window in ("avg1h", "avg1d")),
    "model:mlmon_predictions:rate5m",
    "model:mlmon_predictions:rate1h",
    "model:mlmon_batch_failures:rate5m",
    "model:mlmon_batches_processed:rate5m",
    "model:mlmon_invalid_rows:rate5m",
    "model:mlmon_scoring_duration_seconds:p99_5m",
    # the seed's questions on the overview's top row
    "model:mlmon_accuracy_changing:status",
    "model:mlmon_prediction_patterns_shifting:status",
    "model:mlmon_confidence_decreasing:status",
    "model:mlmon_user_behaviour_changed:status",
    "model:mlmon_retraining_required:status",
}
RECORD_NAME = re.compile(r"^[a-z_]+:mlmon_[a-z0-9_]+:[a-z0-9_]+$")
RECORD_REF = re.compile(r"[a-z_]+:mlmon_[a-z0-9_]+:[a-z0-9_]+")
# A raw metric name: not preceded by the level of a recording rule name.
METRIC_REF = re.compile(r"(?<![\w:])mlmon_[a-z0-9_]+")
THRESHOLD_REF = re.compile(r'mlmon_threshold\{[^}]*metric=\\?"([a-z0-9_]+)')
# `value < on(model, version) group_left() (k * mlmon_threshold{metric="x"} ...)`: the side the value must stay on.
COMPARISON = re.compile(
    r'([<>])\s*on\(model, version\) group_left\(\)\s*\(?[^{<>]*mlmon_threshold\{metric="([a-z0-9_]+)"\}'
)


def _rules(path: Path, kind: str) -> list[dict[str, Any]]:
    groups = yaml.safe_load(path.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if kind in rule]


ALERTS = _rules(RULES / "mlmon-alerts.yml", "alert")
RECORDS = _rules(RULES / "mlmon-recording.yml", "record")
ALERT_NAMES = [a["alert"] for a in ALERTS]
# Alerts about the exporter target itself, or on its exporter-wide families (no model label), have no
# model or version to name.
EXPORTER_WIDE = {name for spec in SPECS if "model" not in spec.labels for name in spec.exposed_names}
TARGET_ALERTS = {a["alert"] for a in ALERTS if set(re.findall(r"\bmlmon_[a-z0-9_]+", a["expr"])) <= EXPORTER_WIDE}


def _runbook_sections() -> list[str]:
    return re.findall(r"^## (\S+)\s*$", RUNBOOK.read_text(), flags=re.MULTILINE)


def _exposed_names() -> set[str]:
    return {name for spec in SPECS for name in spec.exposed_names}


def test_alert_names_are_unique_and_prefixed() -> None:
    assert len(ALERT_NAMES) == len(set(ALERT_NAMES))
    assert all(re.fullmatch(r"Mlmon[A-Z][A-Za-z0-9]+", name) for name in ALERT_NAMES)


def test_seed_alerts_wait_one_minute() -> None:
    by_name = {a["alert"]: a for a in ALERTS}
    assert by_name["MlmonAccuracyBelowThreshold"]["for"] == "1m"
    assert by_name["MlmonMeanConfidenceBelowThreshold"]["for"] == "1m"


@pytest.mark.parametrize("alert", ALERTS, ids=ALERT_NAMES)
def test_alert_has_for_severity_signal_and_annotations(alert: dict[str, Any]) -> None:
    assert re.fullmatch(r"\d+[smhd]", alert.get("for", "")), "every alert needs a `for:` duration"
    # a short gap in the data (restart, scrape gap, a window below min_rows) must not resolve it
    assert re.fullmatch(r"\d+[smhd]", alert.get("keep_firing_for", "")), "every alert needs keep_firing_for"
    assert alert["labels"]["severity"] in SEVERITIES
    assert alert["labels"]["signal"] in SIGNALS
    annotations = alert["annotations"]
    assert annotations["summary"].strip()
    description = annotations["description"]
    assert "$value" in description
    if alert["alert"] not in TARGET_ALERTS:
        assert "$labels.model" in description
        assert "$labels.version" in description
        assert annotations["dashboard_url"].endswith("?var-model={{ $labels.model }}&var-version={{ $labels.version }}")
        assert "threshold" in description or "band" in description


@pytest.mark.parametrize("alert", ALERTS, ids=ALERT_NAMES)
def test_runbook_url_points_to_its_section(alert: dict[str, Any]) -> None:
    url = alert["annotations"]["runbook_url"]
    assert url == RUNBOOK_URL + alert["alert"].lower()
    assert alert["alert"] in _runbook_sections()


def test_every_runbook_section_has_an_alert() -> None:
    sections = _runbook_sections()
    assert len(sections) == len(set(sections))
    assert set(sections) == set(ALERT_NAMES)


def test_model_alerts_keep_model_and_version() -> None:
    """Grouping and inhibition match on model and version: no model alert may aggregate them away."""
    for alert in ALERTS:
        if alert["alert"] in TARGET_ALERTS:
            continue
        for by in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", alert["expr"]):
            labels = {label.strip() for label in by.split(",")}
            assert {"model", "version"} <= labels, f"{alert['alert']}: by/on ({by}) drops model or version"


def test_recording_rule_names() -> None:
    names = [r["record"] for r in RECORDS]
    assert len(names) == len(set(names))
    assert all(RECORD_NAME.fullmatch(name) for name in names), names
    assert set(names) >= DASHBOARD_RECORDS


def test_referenced_metrics_are_in_the_catalogue() -> None:
    exposed = _exposed_names()
    texts = [r["expr"] for r in RECORDS] + [a["expr"] + a["annotations"]["description"] for a in ALERTS]
    referenced = {name for text in texts for name in METRIC_REF.findall(text)}
    assert referenced, "no mlmon_ metric found: the pattern is broken"
    assert referenced <= exposed, sorted(referenced - exposed)


def test_referenced_recording_rules_exist() -> None:
    recorded = {r["record"] for r in RECORDS}
    texts = [r["expr"] for r in RECORDS] + [a["expr"] + a["annotations"]["description"] for a in ALERTS]
    referenced = {name for text in texts for name in RECORD_REF.findall(text)}
    assert referenced <= recorded, sorted(referenced - recorded)


def test_thresholds_are_known_and_each_has_an_alert() -> None:
    texts = [a["expr"] + a["annotations"]["description"] for a in ALERTS]
    referenced = {name for text in texts for name in THRESHOLD_REF.findall(text)}
    assert referenced <= {*KNOWN_THRESHOLDS, *FITTED_THRESHOLDS}, sorted(referenced)
    assert set(KNOWN_THRESHOLDS) <= referenced, sorted(set(KNOWN_THRESHOLDS) - referenced)


def test_threshold_comparisons_follow_the_configured_direction() -> None:
    checked = set()
    for alert in ALERTS:
        for operator, threshold in COMPARISON.findall(alert["expr"]):
            upper = threshold in UPPER_BOUNDS or threshold in FITTED_THRESHOLDS
            assert threshold in LOWER_BOUNDS or upper, threshold
            assert operator == (">" if upper else "<"), f"{alert['alert']} compares {threshold} with {operator}"
            checked.add(threshold)
    assert set(KNOWN_THRESHOLDS) <= checked


def _unit_tests() -> dict[str, dict[str, list[list[dict[str, Any]]]]]:
    """alertname -> {"firing": [exp_alerts...], "quiet": [...]} over every promtool test file."""
    cases: dict[str, dict[str, list[list[dict[str, Any]]]]] = {}
    for path in sorted((ROOT / "prometheus" / "tests").glob("*.yml")):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                expected = case.get("exp_alerts") or []
                kind = "firing" if expected else "quiet"
                cases.setdefault(case["alertname"], {"firing": [], "quiet": []})[kind].append(expected)
    return cases


def test_unit_tests_name_only_real_alerts() -> None:
    assert set(_unit_tests()) <= set(ALERT_NAMES)


@pytest.mark.parametrize("alert", ALERTS, ids=ALERT_NAMES)
def test_every_alert_has_a_firing_and_a_quiet_unit_test(alert: dict[str, Any]) -> None:
    cases = _unit_tests().get(alert["alert"], {"firing": [], "quiet": []})
    assert cases["firing"], f"no promtool test where {alert['alert']} fires"
    assert cases["quiet"], f"no promtool test where {alert['alert']} stays quiet"
    for expected in cases["firing"]:
        for exp in expected:
            assert exp["exp_labels"]["alertname"] == alert["alert"]
            assert exp["exp_labels"]["severity"] == alert["labels"]["severity"]
            assert exp["exp_annotations"]["runbook_url"] == alert["annotations"]["runbook_url"]
            if alert["alert"] not in TARGET_ALERTS:
                assert {"model", "version"} <= set(exp["exp_labels"])
