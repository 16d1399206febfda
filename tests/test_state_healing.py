"""A state store that heals: corrupt files moved aside, an unopenable store picked up later, readiness."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from exporter.app import Runtime, build_app
from exporter.config import load_config
from exporter.state import StateStore, StateUnavailable
from exporter.web import MetricsServer

from helpers import binary_data, value, write_batch, write_project


def _filled_state(path: Path) -> None:
    state = StateStore(path)
    for i in range(2000):
        state.record_batch(
            "m:1",
            f"k{i}",
            status="ok",
            rows=5,
            processed_at=1.0,
            counters={("mlmon_predictions", ()): 5.0},
        )
    state.close()


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_corrupt_state_file_is_moved_aside_and_a_fresh_store_starts(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    _filled_state(path)
    if damage == "truncated":
        os.truncate(path, path.stat().st_size // 2)
    else:
        path.write_bytes(b"not a database\n" * 100)
    with caplog.at_level(logging.ERROR, logger="exporter.state"):
        state = StateStore(path, clock=lambda: 1234.0)
    assert state.resets == 1
    assert state.seen_batches("m:1") == set()
    state.record_batch("m:1", "new", status="ok", rows=1, processed_at=2.0, counters={})
    assert state.seen_batches("m:1") == {"new"}
    state.close()
    assert (tmp_path / "state.db.corrupt-1234").exists()
    assert "STATE STORE CORRUPT" in caplog.text and "state.db.corrupt-1234" in caplog.text
    # a second corruption in the same second keeps the first copy
    path.write_bytes(b"broken again")
    assert StateStore(path, clock=lambda: 1234.0).resets == 1
    assert (tmp_path / "state.db.corrupt-1234-2").exists()


def test_the_reset_is_published_for_the_alert(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "mlmon.db").write_bytes(b"garbage" * 50)
    runtime = Runtime(load_config(config), config)
    try:
        resets = [f.value for f in runtime.results.globals() if f.name == "mlmon_state_store_resets"]
        assert resets == [1.0]
        assert runtime.app.jobs[0].run().scored == 0
        assert value(runtime.app.jobs[0].run().figures, "mlmon_model_up") == 1
    finally:
        runtime.shutdown()


def test_run_once_on_a_half_corrupt_state_starts_clean_without_a_traceback(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(40, seed=1)
    write_batch(tmp_path, "b.csv", x, y)
    _filled_state(tmp_path / "state" / "mlmon.db")
    state = tmp_path / "state" / "mlmon.db"
    os.truncate(state, state.stat().st_size // 2)
    done = subprocess.run(
        [sys.executable, "-m", "exporter", "run-once", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "STATE STORE CORRUPT" in done.stderr
    assert list((tmp_path / "state").glob("mlmon.db.corrupt-*"))


def _blocked_project(tmp_path: Path) -> tuple[Path, Path]:
    """A project whose state folder cannot be created yet: a file stands where it would go."""
    config = write_project(tmp_path)
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the state folder would go")
    data = yaml.safe_load(config.read_text())
    data["state_path"] = str(blocker / "state.db")
    config.write_text(yaml.safe_dump(data))
    return config, blocker


def test_a_store_that_cannot_be_opened_is_picked_up_once_it_can_without_a_restart(tmp_path: Path) -> None:
    config, blocker = _blocked_project(tmp_path)
    x, y = binary_data(40, seed=2)
    write_batch(tmp_path, "b.csv", x, y)
    with pytest.raises(StateUnavailable):
        build_app(load_config(config))  # run-once and reload refuse it at once
    runtime = Runtime(load_config(config), config)  # serve starts anyway
    try:
        job = runtime.app.jobs[0]
        report = job.run()
        assert value(report.figures, "mlmon_model_up") == 0 and report.scored == 0
        assert runtime.ready() == (False, ["m:1"])
        blocker.unlink()
        report = job.run()
        assert value(report.figures, "mlmon_model_up") == 1 and report.scored == 1
        assert value(report.figures, "mlmon_predictions") == 40
        assert runtime.ready() == (True, [])
    finally:
        runtime.shutdown()


def test_run_once_says_why_the_store_cannot_be_opened(tmp_path: Path) -> None:
    config, _ = _blocked_project(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "exporter", "run-once", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "state store" in done.stderr and "cannot be opened" in done.stderr


def test_ready_follows_the_last_runs_and_healthy_stays_liveness(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    runtime = Runtime(load_config(config), config)
    server = MetricsServer(runtime.page, "127.0.0.1:0", runtime.models, ready=runtime.not_ready)
    server.start()

    def status(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    try:
        assert status("/-/ready") == (503, "last run failed or pending: m:1\n")  # nothing has run yet
        assert status("/-/healthy") == (200, "OK\n")
        runtime.app.jobs[0].run()
        assert status("/-/ready") == (200, "OK\n")
        (tmp_path / "model.joblib").write_bytes(b"no longer a model")
        runtime.app.jobs[0].run()
        assert status("/-/ready") == (503, "last run failed or pending: m:1\n")
        assert status("/-/healthy") == (200, "OK\n")
    finally:
        server.stop()
        runtime.shutdown()


def test_a_state_file_that_turns_corrupt_while_serving_is_set_aside_and_the_next_run_starts_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(40, seed=3)
    write_batch(tmp_path, "a.csv", x, y, mtime=1_000)
    runtime = Runtime(load_config(config), config)
    try:
        job = runtime.app.jobs[0]
        assert job.run().scored == 1
        write_batch(tmp_path, "b.csv", x, y, mtime=2_000, id_prefix="b")

        def damaged(*args: object, **kwargs: object) -> None:
            # what SQLite raises when it reads a damaged page of an open database
            raise sqlite3.DatabaseError("database disk image is malformed")

        monkeypatch.setattr(runtime.app.state, "record_batch", damaged)
        report = job.run()
        assert value(report.figures, "mlmon_model_up") == 0
        assert [f.value for f in runtime.results.globals() if f.name == "mlmon_state_store_resets"] == [1.0]
        assert len(list((tmp_path / "state").glob("mlmon.db.corrupt-*"))) == 1
        monkeypatch.undo()
        report = job.run()
        assert value(report.figures, "mlmon_model_up") == 1
        # a fresh store: both files still in the folder are read again, and counted from zero
        assert value(report.figures, "mlmon_predictions") == 80
        # a lock or a full disk is not the file's fault: nothing is set aside for it
        assert not runtime.app.state.heal(sqlite3.OperationalError("database is locked"))
        assert not runtime.app.state.heal(OSError(28, "No space left on device"))
    finally:
        runtime.shutdown()
