"""The SQL and HTTP sources in a model's config and run: positions, failures, dead letters, labels, references."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy
import yaml

from exporter.app import build_app
from exporter.config import ConfigError, load_config, parse_config

from helpers import binary_data, value, write_project
from support.endpoint import Endpoint
from support.postgres import PASSWORD
from support.processes import free_port

NOW = 1_700_000_000.0


def frame(rows: int, seed: int, start: int = 0) -> pd.DataFrame:
    x, y = binary_data(rows, seed)
    x.insert(0, "id", np.arange(start, start + rows))
    x["target"] = y
    return x


def write_table(url: str, data: pd.DataFrame, table: str = "preds") -> None:
    engine = sqlalchemy.create_engine(url)
    try:
        data.to_sql(table, engine, if_exists="append", index=False)
    finally:
        engine.dispose()


def run(config: Path) -> Any:
    return build_app(load_config(config), clock=lambda: NOW).jobs[0].run().figures


def models(tmp_path: Path, source: dict[str, Any], **entry: Any) -> dict[str, Any]:
    return {"models": [{"name": "m", "model_path": "m.joblib", "source": source, **entry}]}


def test_sql_and_http_sources_are_configured_as_the_contract_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PG_PASSWORD", "from-env")
    sql = {"type": "sql", "url": "postgresql://reader:${PG_PASSWORD}@db/preds", "table": "t", "watermark_column": "ts"}
    config = parse_config(models(tmp_path, sql), tmp_path)
    source = config.models[0].source
    assert source.type == "sql" and source.url.endswith(":from-env@db/preds")
    assert "from-env" not in source.describe() and "***" in source.describe()

    relative = {"type": "sql", "url": "sqlite:///data/preds.db", "query": "SELECT * FROM t", "watermark_column": "id"}
    relative["password_file"] = "pw"
    source = parse_config(models(tmp_path, relative), tmp_path).models[0].source
    assert source.url == f"sqlite:///{tmp_path / 'data' / 'preds.db'}"
    assert source.password_file == tmp_path / "pw"

    http = {
        "type": "http",
        "url": "https://api.example.org/predictions",
        "format": "csv",
        "cursor_param": "after",
        "cursor_column": "id",
        "basic_auth": {"username": "reader", "password_file": "secrets/pw"},
    }
    source = parse_config(models(tmp_path, http), tmp_path).models[0].source
    assert source.basic_auth.password_file == tmp_path / "secrets" / "pw"
    token = {**http, "basic_auth": None, "bearer_token_file": "token"}
    assert parse_config(models(tmp_path, token), tmp_path).models[0].source.bearer_token_file == tmp_path / "token"

    for broken, message in [
        ({**sql, "query": "SELECT 1"}, "set exactly one of table or query"),
        ({**http, "cursor_column": None}, "cursor_column: required with cursor_param"),
        ({**http, "page_param": "page"}, "set exactly one of cursor_param"),
        ({**http, "format": "xml"}, "format"),
        ({"type": "ftp", "url": "x"}, "unknown source type"),
        ({**sql, "watermark_column": None}, r"models\[0\]\.source\.watermark_column: required to read new rows"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_config(models(tmp_path, broken), tmp_path)


def sqlite_project(tmp_path: Path, **source: Any) -> Path:
    settings = {
        "type": "sql",
        "url": "sqlite:///preds.db",
        "table": "preds",
        "watermark_column": "id",
        "chunk_rows": 100,
        **source,
    }
    return write_project(tmp_path, model_overrides={"source": settings, "window": {"rows": 5000}})


def test_reads_are_bounded_per_run_and_counted(tmp_path: Path) -> None:
    config = sqlite_project(tmp_path, max_rows_per_run=250)
    write_table(f"sqlite:///{tmp_path / 'preds.db'}", frame(600, seed=1))
    first = run(config)
    assert value(first, "mlmon_batches_processed") == 3  # 100, 100 and the rest of the 250 budget in chunks
    assert value(first, "mlmon_source_rows_read", source="batches") == 250
    assert value(first, "mlmon_source_read_duration_seconds", source="batches") > 0
    second = run(config)
    assert value(second, "mlmon_source_rows_read", source="batches") == 500
    third = run(config)
    assert value(third, "mlmon_predictions") == 600
    assert value(third, "mlmon_source_rows_read", source="batches") == 600


def test_an_unreachable_database_costs_only_that_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"postgresql://reader:{PASSWORD}@127.0.0.1:{free_port()}/preds"
    config = sqlite_project(tmp_path, url=url, connect_timeout_seconds=2)
    caplog.set_level(logging.DEBUG)
    figures = run(config)
    assert value(figures, "mlmon_model_up") == 1
    assert value(figures, "mlmon_source_failures", source="batches", reason="connection") == 1
    assert value(figures, "mlmon_source_failures", source="batches", reason="auth") == 0
    assert value(figures, "mlmon_batches_processed") == 0
    assert any("unavailable (connection)" in r.getMessage() for r in caplog.records)
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)


def test_a_rejected_chunk_goes_to_the_dead_letter_log_and_the_watermark_moves_on(tmp_path: Path) -> None:
    config = sqlite_project(tmp_path)
    url = f"sqlite:///{tmp_path / 'preds.db'}"
    broken = frame(100, seed=2)
    broken["f0"] = np.nan  # every row misses a feature: the chunk fails as empty
    write_table(url, pd.concat([broken, frame(100, seed=3, start=100)], ignore_index=True))
    figures = run(config)
    assert value(figures, "mlmon_batch_failures", reason="empty") == 1
    assert value(figures, "mlmon_batches_processed") == 1
    (entry,) = [
        json.loads(line)
        for line in (tmp_path / "state" / "mlmon-quarantine" / "m" / "1" / "sql-rejected.jsonl")
        .read_text()
        .splitlines()
    ]
    assert entry["reason"] == "empty" and entry["batch"] == "id <= 99"
    assert value(run(config), "mlmon_batch_failures", reason="empty") == 1  # not read again


def test_a_failing_endpoint_is_counted_by_reason_and_read_when_it_recovers(tmp_path: Path) -> None:
    rows = frame(150, seed=4)
    with Endpoint(rows=rows, page_size=100, statuses=[503] * 4) as endpoint:
        source = {
            "type": "http",
            "url": f"{endpoint.url}/rows",
            "cursor_param": "since",
            "cursor_column": "id",
            "retries": 3,
            "backoff_seconds": 0.01,
        }
        config = write_project(tmp_path, model_overrides={"source": source, "window": {"rows": 5000}})
        down = run(config)
        assert value(down, "mlmon_source_failures", source="batches", reason="status") == 1
        assert value(down, "mlmon_batches_processed") == 0
        up = run(config)
    assert value(up, "mlmon_predictions") == 150
    assert value(up, "mlmon_source_failures", source="batches", reason="status") == 1


def test_a_malformed_page_is_kept_with_its_reason(tmp_path: Path) -> None:
    with Endpoint(rows=frame(50, seed=5), page_size=100, bodies=[b"{not json\n"]) as endpoint:
        source = {"type": "http", "url": f"{endpoint.url}/pages", "page_param": "page"}
        config = write_project(tmp_path, model_overrides={"source": source, "window": {"rows": 5000}})
        figures = run(config)
        assert value(figures, "mlmon_batch_failures", reason="unreadable") == 1
        rejected = tmp_path / "state" / "mlmon-quarantine" / "m" / "1"
        (body,) = rejected.glob("http-*.body")
        assert body.read_bytes() == b"{not json\n"
        assert "unreadable" in (rejected / body.name.replace(".body", ".reason.txt")).read_text()
        # the page number moves past it; the rows on the next page are read
        endpoint.append(frame(100, seed=6, start=50))
        assert value(run(config), "mlmon_predictions") == 50


def test_late_labels_come_from_a_table_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'preds.db'}"
    batch = frame(120, seed=7)
    write_table(url, batch.drop(columns="target"))
    labels = {"source": {"type": "sql", "url": "sqlite:///preds.db", "table": "labels", "watermark_column": "seq"}}
    config = sqlite_project(tmp_path, table="preds")
    entry = yaml.safe_load(config.read_text())
    entry["models"][0]["labels"] = labels
    config.write_text(yaml.safe_dump(entry))
    write_table(url, pd.DataFrame({"seq": [1]}).iloc[:0].assign(id=[], target=[]), table="labels")
    first = run(config)
    assert value(first, "mlmon_labelled_rows_ratio") == 0
    arrived = pd.DataFrame({"seq": range(60), "id": batch["id"][:60], "target": batch["target"][:60]})
    write_table(url, arrived, table="labels")
    second = run(config)
    assert value(second, "mlmon_labels_received") == 60
    assert value(second, "mlmon_labelled_rows_ratio") == pytest.approx(0.5)
    assert value(second, "mlmon_source_rows_read", source="labels") == 60
    assert value(run(config), "mlmon_labels_received") == 60  # read once


def test_a_reference_from_a_query_is_refitted_when_its_result_changes(tmp_path: Path) -> None:
    config = write_project(tmp_path, model_overrides={"window": {"rows": 5000}})
    url = f"sqlite:///{tmp_path / 'ref.db'}"
    reference = pd.read_parquet(tmp_path / "reference.parquet")
    reference.insert(0, "period", "2024-01")
    write_table(url, reference, table="training")
    entry = yaml.safe_load(config.read_text())
    del entry["models"][0]["reference_path"]
    query = "SELECT f0, f1, f2, f3, f4, target FROM training WHERE period = '2024-01'"
    entry["models"][0]["reference"] = {"source": {"type": "sql", "url": "sqlite:///ref.db", "query": query}}
    config.write_text(yaml.safe_dump(entry))
    batch = frame(100, seed=8)
    batch.to_csv(tmp_path / "incoming" / "b.csv", index=False)

    from_file = write_project(tmp_path / "file", model_overrides={"window": {"rows": 5000}})
    batch.to_csv(tmp_path / "file" / "incoming" / "b.csv", index=False)

    app = build_app(load_config(config), clock=lambda: NOW)
    job = app.jobs[0]
    first = job.run().figures
    fingerprint = job.profile.fingerprint
    assert value(first, "mlmon_reference_rows") == len(reference)
    assert value(first, "mlmon_source_rows_read", source="reference") == len(reference)
    # the same rows as the reference file give the same drift figures
    filed = run(from_file)
    for name in ("mlmon_drifted_features_ratio", "mlmon_multivariate_drift_score", "mlmon_estimated_accuracy_ratio"):
        assert value(first, name) == value(filed, name)

    assert job.run() and job.profile.fingerprint == fingerprint  # same result, same profile
    write_table(url, reference.iloc[:300], table="training")  # more rows in the same period
    job.run()
    assert job.profile.fingerprint != fingerprint
    assert job.profile.rows == len(reference) + 300


def test_check_config_shows_where_the_data_comes_from_without_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from exporter.cli import main

    config = write_project(
        tmp_path,
        model_overrides={
            "source": {
                "type": "sql",
                "url": f"postgresql://reader:{PASSWORD}@db/serving",
                "table": "log",
                "watermark_column": "id",
            },
            "model_path": None,
            "prediction_column": "predicted",
            "probability_columns": {0: "p0", 1: "p1"},
            "reference": {"source": {"type": "http", "url": "https://api.internal/ref?token=x", "page_param": "p"}},
            "reference_path": None,
        },
    )
    assert main(["check-config", str(config)]) == 0
    out = capsys.readouterr().out
    assert PASSWORD not in out and "postgresql://reader:***@db/serving" in out
    assert "served elsewhere, outputs logged in predicted" in out
    assert "reference: jsonl pages of https://api.internal/ref by page p" in out


def test_check_config_names_the_secret_files_and_databases_that_are_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from exporter.cli import main

    config = write_project(
        tmp_path,
        model_overrides={
            "source": {"type": "sql", "url": "sqlite:///absent.db", "table": "log", "watermark_column": "id"},
            "labels": {
                "source": {
                    "type": "http",
                    "url": "https://api.internal/labels",
                    "page_param": "page",
                    "basic_auth": {"username": "reader", "password_file": "secrets/absent"},
                }
            },
        },
    )
    assert main(["check-config", str(config)]) != 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert f"source.url: database file {tmp_path / 'absent.db'} does not exist" in text
    assert f"labels.source.basic_auth.password_file: {tmp_path / 'secrets' / 'absent'} does not exist" in text
