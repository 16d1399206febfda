"""The same hidden batches read from files, SQLite, PostgreSQL and HTTP give identical figures, and
each row is read exactly once across restarts, a SIGKILL between the read and the record included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy

from exporter.app import build_app
from exporter.config import load_config
from exporter.state import StateStore, counter_key

from helpers import binary_data, value, write_project
from support.endpoint import Endpoint

BATCH_ROWS = 200
# figures that measure time, or where rows came from, rather than what the rows say
CLOCKED = {
    "mlmon_last_run_duration_seconds",
    "mlmon_calculator_duration_seconds",
    "mlmon_scoring_duration_seconds",
    "mlmon_source_read_duration_seconds",
}


def hidden_batches() -> list[pd.DataFrame]:
    """Three labelled batches whose mix drifts, with integer ids increasing across them."""
    frames = []
    for number in range(3):
        x, y = binary_data(BATCH_ROWS, seed=10 + number)
        x = x + 0.4 * number  # a drift the figures will show
        frame = x.copy()
        frame.insert(0, "id", np.arange(number * BATCH_ROWS, (number + 1) * BATCH_ROWS))
        frame["target"] = y
        frames.append(frame)
    return frames


def project(root: Path, source: dict[str, Any]) -> Path:
    return write_project(root, model_overrides={"source": source, "window": {"rows": 5000}})


def run_once(config: Path) -> tuple[Any, ...]:
    return build_app(load_config(config), clock=lambda: 1_700_000_000.0).jobs[0].run().figures


def comparable(figures: tuple[Any, ...]) -> dict[tuple[str, tuple[tuple[str, str], ...]], Any]:
    out = {}
    for figure in figures:
        if figure.name in CLOCKED:
            continue
        key = (figure.name, tuple(sorted(figure.labels.items())))
        out[key] = figure.value if hasattr(figure, "value") else (figure.buckets, figure.sum)
    return out


def write_table(url: str, frames: list[pd.DataFrame]) -> None:
    engine = sqlalchemy.create_engine(url)
    try:
        for frame in frames:
            frame.to_sql("predictions_log", engine, if_exists="append", index=False)
    finally:
        engine.dispose()


def test_files_sqlite_postgresql_and_http_give_identical_figures(tmp_path: Path, postgres: Any) -> None:
    batches = hidden_batches()
    results = {}

    files = project(tmp_path / "files", {"type": "files", "path": "incoming"})
    for number, frame in enumerate(batches):
        path = tmp_path / "files" / "incoming" / f"b{number}.parquet"
        frame.to_parquet(path, index=False)
        os.utime(path, (1_600_000_000 + number, 1_600_000_000 + number))
    results["files"] = run_once(files)

    sql = {"type": "sql", "table": "predictions_log", "watermark_column": "id", "chunk_rows": BATCH_ROWS}
    sqlite = project(tmp_path / "sqlite", {**sql, "url": "sqlite:///preds.db"})
    write_table(f"sqlite:///{tmp_path / 'sqlite' / 'preds.db'}", batches)
    results["sqlite"] = run_once(sqlite)

    url = postgres.create_database("same_figures")
    write_table(url, batches)
    results["postgresql"] = run_once(project(tmp_path / "postgresql", {**sql, "url": url}))

    with Endpoint(rows=pd.concat(batches, ignore_index=True), page_size=BATCH_ROWS) as endpoint:
        http = {"type": "http", "url": f"{endpoint.url}/rows", "cursor_param": "since", "cursor_column": "id"}
        results["http"] = run_once(project(tmp_path / "http", http))

    reference = comparable(results["files"])
    assert value(results["files"], "mlmon_predictions") == 3 * BATCH_ROWS
    assert value(results["files"], "mlmon_batches_processed") == 3
    assert value(results["files"], "mlmon_drifted_features_ratio") > 0
    assert value(results["files"], "mlmon_source_rows_read", source="batches") == 3 * BATCH_ROWS
    for name in ("sqlite", "postgresql", "http"):
        assert comparable(results[name]) == reference, name


def killed_between_read_and_record(config: Path, batch: int) -> subprocess.CompletedProcess[str]:
    """One run in another process, killed (SIGKILL) right before the ``batch``-th record commits."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from exporter.app import build_app
        from exporter.config import load_config
        from exporter.state import StateStore

        original = StateStore.record_batch
        calls = []

        def record_batch(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == {batch}:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self, *args, **kwargs)

        StateStore.record_batch = record_batch
        build_app(load_config({str(config)!r})).jobs[0].run()
        """
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


def stored(config: Path) -> tuple[dict[Any, float], int]:
    loaded = load_config(config)
    state = StateStore(loaded.state_path)
    try:
        counters = state.counters("m:1")
        ids = state.rows.predictions("m:1", state.seen_batches("m:1"))["key"]
        assert ids.is_unique
        return counters, len(ids)
    finally:
        state.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "http"])
def test_each_row_is_read_once_across_restarts_and_a_sigkill(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    batches = hidden_batches()
    url = f"sqlite:///{tmp_path / 'preds.db'}"
    if kind == "postgresql":
        url = request.getfixturevalue("postgres").create_database("read_once")
    with Endpoint(rows=pd.concat(batches[:2], ignore_index=True), page_size=BATCH_ROWS) as endpoint:
        if kind != "http":
            write_table(url, batches[:2])
            source = {
                "type": "sql",
                "url": url,
                "table": "predictions_log",
                "watermark_column": "id",
                "chunk_rows": BATCH_ROWS,
            }
        else:
            source = {"type": "http", "url": f"{endpoint.url}/rows", "cursor_param": "since", "cursor_column": "id"}
        config = project(tmp_path, source)

        killed = killed_between_read_and_record(config, batch=2)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        counters, rows = stored(config)
        assert rows == BATCH_ROWS  # the first batch was recorded; the second was read, never recorded

        run_once(config)  # the restart reads the second batch again, and only it
        counters, rows = stored(config)
        assert rows == 2 * BATCH_ROWS
        assert counters[counter_key("mlmon_predictions")] == 2 * BATCH_ROWS
        assert counters[counter_key("mlmon_batches_processed")] == 2

        run_once(config)  # nothing new: nothing read
        assert stored(config)[1] == 2 * BATCH_ROWS

        if kind != "http":
            write_table(url, batches[2:])
        else:
            endpoint.append(batches[2])
        figures = run_once(config)
    counters, rows = stored(config)
    assert rows == 3 * BATCH_ROWS
    assert counters[counter_key("mlmon_predictions")] == 3 * BATCH_ROWS
    assert counters.get(counter_key("mlmon_invalid_rows", {"reason": "duplicate_id"}), 0) == 0
    assert value(figures, "mlmon_batches_processed") == 3
