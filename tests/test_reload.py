"""Reloading the config of a running `mlmon serve`: SIGHUP or POST /-/reload, as Prometheus does."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import requests
import yaml

from helpers import binary_data, write_batch, write_project
from support.processes import ExporterProcess

pytestmark = pytest.mark.live


def _models(body: str) -> set[str]:
    return {
        line.split('model="', 1)[1].split('"', 1)[0] for line in body.splitlines() if line.startswith("mlmon_model_up{")
    }


def _metrics(exporter: ExporterProcess) -> str:
    return requests.get(f"{exporter.url}/metrics", timeout=5).text


def test_a_reload_swaps_models_and_a_bad_config_keeps_the_running_one(tmp_path: Path) -> None:
    config = write_project(tmp_path, model_overrides={"schedule": {"interval_seconds": 1}})
    x, y = binary_data(60, seed=30)
    write_batch(tmp_path, "b.csv", x, y)
    args = ["--config", str(config), "--web.enable-lifecycle"]
    with ExporterProcess("serve", args, workdir=tmp_path / "run") as exporter:
        exporter.wait_for(lambda: _models(_metrics(exporter)) == {"m"}, timeout=60, description="model m served")
        assert "mlmon_config_last_reload_successful 1.0" in _metrics(exporter)

        # rename the model and send SIGHUP: the new name is served, the old one is gone
        data = yaml.safe_load(config.read_text())
        data["models"][0]["name"] = "renamed"
        config.write_text(yaml.safe_dump(data))
        assert exporter.proc is not None
        os.kill(exporter.proc.pid, signal.SIGHUP)
        exporter.wait_for(
            lambda: _models(_metrics(exporter)) == {"renamed"}, timeout=60, description="the renamed model only"
        )
        assert "renamed" in requests.get(f"{exporter.url}/", timeout=5).text

        # a broken config is refused over HTTP; the running models stay and the failure is visible
        config.write_text("models: [{name: broken}]\n")
        answer = requests.post(f"{exporter.url}/-/reload", timeout=30)
        assert answer.status_code == 500 and "models[0].model_path" in answer.text
        body = _metrics(exporter)
        assert "mlmon_config_last_reload_successful 0.0" in body
        assert _models(body) == {"renamed"}

        # and a good one again is taken
        config.write_text(yaml.safe_dump(data))
        assert requests.post(f"{exporter.url}/-/reload", timeout=30).status_code == 200
        assert "mlmon_config_last_reload_successful 1.0" in _metrics(exporter)


def test_a_reload_before_the_scheduler_starts_is_safe_and_retains_only_configured_models(tmp_path: Path) -> None:
    from exporter.app import Runtime
    from exporter.config import load_config
    from exporter.results import Snapshot

    config = write_project(tmp_path)
    runtime = Runtime(load_config(config), config)
    runtime.results.publish(Snapshot("gone", "1", ()))
    assert runtime.reload() is None
    assert {s.model for s in runtime.results.snapshots()} == set()  # "gone" is not configured
    assert runtime.models() == ["m:1"]
    runtime.start()
    runtime.shutdown()
    assert Runtime(load_config(config)).reload() == "no config file to reload"


def test_a_config_that_validates_but_cannot_start_leaves_the_running_one(tmp_path: Path) -> None:
    from exporter.app import Runtime
    from exporter.config import load_config

    config = write_project(tmp_path)
    runtime = Runtime(load_config(config), config)
    runtime.start()
    try:
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a file where the new state folder would go")
        data = yaml.safe_load(config.read_text())
        data["state_path"] = str(blocker / "state.db")
        config.write_text(yaml.safe_dump(data))
        assert runtime.reload() is not None
        assert runtime.scheduler.running
        assert runtime.models() == ["m:1"]
        assert runtime.results.globals()[0].value == 0.0
    finally:
        runtime.shutdown()


def test_the_lifecycle_api_is_off_by_default_and_a_reload_error_echoes_no_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLMON_TEST_SECRET_CRON", "s3cr3t-not-a-cron")
    config = write_project(tmp_path, model_overrides={"schedule": {"interval_seconds": 1}})
    with ExporterProcess("serve", ["--config", str(config)], workdir=tmp_path / "off") as exporter:
        answer = requests.post(f"{exporter.url}/-/reload", timeout=30)
        assert answer.status_code == 403 and "--web.enable-lifecycle" in answer.text

    args = ["--config", str(config), "--web.enable-lifecycle"]
    with ExporterProcess("serve", args, workdir=tmp_path / "on") as exporter:
        data = yaml.safe_load(config.read_text())
        data["models"][0]["schedule"] = {"cron": "${MLMON_TEST_SECRET_CRON}"}
        config.write_text(yaml.safe_dump(data))
        answer = requests.post(f"{exporter.url}/-/reload", timeout=30)
        assert answer.status_code == 500
        assert "models[0].schedule" in answer.text
        assert "s3cr3t" not in answer.text
    log = exporter.log_path.read_text()
    assert "reload of" in log and "${MLMON_TEST_SECRET_CRON}" in log
    assert "s3cr3t" not in log
