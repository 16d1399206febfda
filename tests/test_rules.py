"""The Prometheus rule files, their unit tests and the Prometheus config pass promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from support.binaries import require_binary

PROMETHEUS = Path(__file__).resolve().parent.parent / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.yml"))


def _promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    promtool = require_binary("promtool")
    return subprocess.run([promtool, *map(str, args)], capture_output=True, text=True, timeout=60, check=False)


def test_rule_and_test_files_exist() -> None:
    assert {p.name for p in RULE_FILES} == {"mlmon-alerts.yml", "mlmon-recording.yml"}
    assert TEST_FILES


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(rule_file: Path) -> None:
    result = _promtool("check", "rules", rule_file)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests(test_file: Path) -> None:
    result = _promtool("test", "rules", test_file)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_config() -> None:
    result = _promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    # rule_files must resolve next to the config, or promtool finds none and still succeeds.
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout
