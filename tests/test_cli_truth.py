"""The command line tells the truth: exit codes, global log flags anywhere, errors that point at the line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from exporter.cli import main
from exporter.config import ConfigError, load_config

from helpers import binary_data, write_batch, write_project

REPO = Path(__file__).resolve().parents[1]


def test_run_once_exits_3_when_the_model_cannot_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_project(tmp_path)
    (tmp_path / "model.joblib").write_bytes(b"not the pinned model")
    x, y = binary_data(50, seed=1)
    write_batch(tmp_path, "b.csv", x, y)
    for argv in (["run-once", "--config", str(config)], ["run-once", "--config", str(config), "--fail-on-alert"]):
        assert main(argv) == 3
        assert "FAILED m:1: the model could not load" in capsys.readouterr().err


def test_run_once_exits_3_when_a_batch_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(50, seed=2)
    write_batch(tmp_path, "good.csv", x, y)
    (tmp_path / "incoming" / "bad.csv").write_text("id,nothing,useful\n1,2,3\n")
    assert main(["run-once", "--config", str(config)]) == 3
    err = capsys.readouterr().err
    assert "FAILED m:1: 1 batch(es) could not be scored" in err
    # the next run has nothing new that fails: the failure was counted once and quarantined
    assert main(["run-once", "--config", str(config)]) == 0


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args], capture_output=True, text=True, cwd=REPO, timeout=120, check=False
    )


def test_log_flags_work_before_and_after_the_command(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    for args in (
        ["--log.format", "json", "--log.level=debug", "run-once", "--config", str(config)],
        ["run-once", "--config", str(config), "--log.level", "debug", "--log.format=json"],
    ):
        done = _run(*args)
        assert done.returncode == 0, done.stderr
        records = [json.loads(line) for line in done.stderr.splitlines()]
        assert {"ts", "level", "logger", "msg"} <= set(records[0])
        assert any(r["logger"] == "exporter.job" and r["msg"].startswith("model m:1:") for r in records)
    done = _run("run-once", "--config", str(config), "--log.level=warn")
    assert done.returncode == 0 and "level=info" not in done.stderr
    done = _run("run-once", "--config", str(config))
    assert 'level=info logger=exporter.job msg="model m:1: scored' in done.stderr
    done = _run("run-once", "--config", str(config), "--log.format", "xml")
    assert done.returncode == 2 and "--log.format 'xml': expected one of logfmt, json" in done.stderr


def test_a_misspelt_key_gets_the_nearest_valid_one_and_its_line(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["models"][0]["treshold"] = {"accuracy": 0.9}
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    line = next(i for i, text in enumerate(config.read_text().splitlines(), 1) if text.strip().startswith("treshold"))
    with pytest.raises(ConfigError) as error:
        load_config(config)
    assert str(error.value) == (
        f"models[0].treshold: Extra inputs are not permitted, did you mean `thresholds`? (line {line})"
    )
    assert error.value.keys == ("models[0].treshold",)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"state_pth": "x.db"}, "state_pth: Extra inputs are not permitted, did you mean `state_path`?"),
        ({"models": [{"name": "m", "sorce": {}}]}, "did you mean `source`?"),
        ({"models": [{"name": "m", "drift": {"metod": "ks"}}]}, "models[0].drift.metod:"),
        ({"models": [{"name": "m", "thresholds": {"acuracy": 0.9}}]}, "acuracy, did you mean `accuracy`?"),
    ],
    ids=["top level", "model", "nested", "threshold name"],
)
def test_suggestions_come_from_the_keys_valid_at_that_place(
    tmp_path: Path, change: dict[str, object], expected: str
) -> None:
    path = tmp_path / "mlmon.yml"
    path.write_text(yaml.safe_dump(change))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert expected in str(error.value)
    if "metod" in expected:
        assert "did you mean `method`?" in str(error.value)


def test_values_from_the_environment_never_reach_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLMON_TEST_TOKEN", "hunter2-token")
    config = write_project(tmp_path, model_overrides={"drift": {"method": "${MLMON_TEST_TOKEN}"}})
    with pytest.raises(ConfigError) as error:
        load_config(config)
    message = str(error.value)
    assert "models[0].drift.method" in message and "${MLMON_TEST_TOKEN}" in message
    assert "hunter2" not in message
    done = _run("check-config", str(config))
    assert done.returncode == 2 and "hunter2" not in done.stderr + done.stdout


def test_the_license_is_the_one_readme_and_pyproject_name() -> None:
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert 'license = "Apache-2.0"' in (REPO / "pyproject.toml").read_text()
    assert "Apache License 2.0" in (REPO / "README.md").read_text()
