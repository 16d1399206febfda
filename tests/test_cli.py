"""The `mlmon` command, run in-process (one subprocess checks `python -m exporter`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import pytest
import yaml
from sklearn.metrics import accuracy_score

from exporter import __version__
from exporter.app import build_app
from exporter.cli import main
from exporter.config import load_config
from exporter.figures import Figure

from helpers import binary_data, write_batch, write_project

REPO = Path(__file__).resolve().parents[1]
BATCH_ROWS = 120


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = write_project(root, model_overrides={"reference_path": None})
        self.features, self.labels = binary_data(BATCH_ROWS, seed=7)
        write_batch(root, "batch-1.csv", self.features, self.labels)

    def expected_accuracy(self) -> float:
        model = joblib.load(self.root / "model.joblib")
        return float(accuracy_score(self.labels, model.predict(self.features)))

    def set_model(self, **changes: Any) -> None:
        data = yaml.safe_load(self.config.read_text())
        data["models"][0].update(changes)
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "project")


def table_rows(out: str) -> dict[str, dict[str, str]]:
    """The run-once table as {model: {column: cell}}; other lines (ALERT ...) are left out."""
    lines = out.splitlines()
    header = lines[0].split()
    assert header[:2] == ["model", "version"], out
    rows = [line.split() for line in lines[1:] if not line.startswith("ALERT ")]
    return {row[0]: dict(zip(header, row)) for row in rows}


def counters_after_runs(config: Path) -> dict[str, float]:
    """Counters as published by one more run of every job (which finds nothing new to score)."""
    app = build_app(load_config(config))
    try:
        (job,) = app.jobs
        figures = job.run().figures
    finally:
        app.state.close()
    return {f.name: f.value for f in figures if isinstance(f, Figure) and not f.labels}


def test_check_config_explains_the_model(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(project.config)]) == 0
    out = capsys.readouterr().out
    assert f"{project.config}: OK, 1 model(s)" in out
    assert f"- m version 1 (binary_classification): {project.root.resolve() / 'model.joblib'}" in out
    assert f"batches from {project.root.resolve() / 'incoming'}, every 60 s" in out
    assert "thresholds: " in out and "missing_ratio=" in out


@pytest.mark.parametrize("command", ["check-config", "run-once"])
def test_invalid_config_is_one_line_without_traceback(
    project: Project, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    project.set_model(drift={"method": "nope"})
    argv = [command, str(project.config)] if command == "check-config" else [command, "--config", str(project.config)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("mlmon: invalid configuration: ")
    assert "models[0].drift.method" in line


def test_unreadable_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(tmp_path / "absent.yml")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("mlmon: invalid configuration: cannot read ")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"mlmon {__version__}"


def test_run_once_prints_sklearn_accuracy(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run-once", "--config", str(project.config)]) == 0
    out = capsys.readouterr().out
    row = table_rows(out)["m"]
    assert row["version"] == "1"
    assert row["rows"] == str(BATCH_ROWS)
    assert row["accuracy"] == f"{project.expected_accuracy():.3f}"
    assert "ALERT" not in out


@pytest.mark.parametrize(
    ("offset", "fail_on_alert", "code", "alert"),
    [(0.05, True, 1, True), (-0.05, True, 0, False), (0.05, False, 0, True)],
    ids=["breach fails", "no breach", "breach reported only"],
)
def test_run_once_accuracy_threshold(
    project: Project, capsys: pytest.CaptureFixture[str], offset: float, fail_on_alert: bool, code: int, alert: bool
) -> None:
    accuracy = project.expected_accuracy()
    threshold = round(accuracy + offset, 4)
    project.set_model(thresholds={"accuracy": threshold})
    argv = ["run-once", "--config", str(project.config)] + (["--fail-on-alert"] if fail_on_alert else [])
    assert main(argv) == code
    out = capsys.readouterr().out
    alerts = [line for line in out.splitlines() if line.startswith("ALERT ")]
    if alert:
        assert alerts == [f"ALERT m 1: accuracy {accuracy:.4f} below threshold {threshold:g}"]
    else:
        assert alerts == []


def test_run_once_twice_scores_each_batch_once(project: Project) -> None:
    assert main(["run-once", "--config", str(project.config)]) == 0
    assert main(["run-once", "--config", str(project.config)]) == 0
    counters = counters_after_runs(project.config)
    assert counters["mlmon_predictions"] == BATCH_ROWS
    assert counters["mlmon_batches_processed"] == 1


def test_run_once_scores_a_new_batch_on_the_next_run(project: Project) -> None:
    assert main(["run-once", "--config", str(project.config)]) == 0
    more, labels = binary_data(30, seed=8)
    write_batch(project.root, "batch-2.csv", more, labels)
    assert main(["run-once", "--config", str(project.config)]) == 0
    counters = counters_after_runs(project.config)
    assert counters["mlmon_predictions"] == BATCH_ROWS + len(more)
    assert counters["mlmon_batches_processed"] == 2


def test_python_dash_m_help() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "exporter", "--help"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for command in ("serve", "run-once", "check-config", "demo", "reference"):
        assert command in done.stdout
