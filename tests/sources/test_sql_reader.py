"""Reading a table or query past a watermark, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy

from exporter.sources.reading import decode_position, encode_position
from exporter.sources.registry import SourceUnavailable
from exporter.sources.sql import (
    SqlReader,
    chunk_bounds,
    range_key,
    range_of,
    safe_url,
)

from support.postgres import PASSWORD


@pytest.mark.parametrize(
    ("values", "chunk", "expected"),
    [
        ([], 3, []),
        ([1, 2, 3, 4, 5, 6, 7], 3, [3, 6, 7]),
        ([1, 2, 3, 4, 5, 6], 3, [3, 6]),
        # rows sharing a value stay together: the bound moves on to the next distinct value
        ([1, 1, 1, 1, 2], 2, [1, 2]),
        ([5, 5, 5, 5], 2, [5]),
        ([1, 2, 2, 2, 3], 2, [2, 3]),
    ],
)
def test_chunk_bounds(values: list[int], chunk: int, expected: list[int]) -> None:
    assert chunk_bounds(values, chunk) == expected


@pytest.mark.parametrize(
    "value",
    [
        7,
        2.5,
        Decimal("10.25"),
        dt.datetime(2024, 5, 1, 12, 30, 15, 123456),
        dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc),
        dt.date(2024, 5, 1),
        "2024-05-01 12:30:00",
    ],
)
def test_watermarks_survive_the_batch_key(value: object) -> None:
    decoded = decode_position(encode_position(value))
    assert decoded == value and type(decoded) is type(value)
    assert range_of(range_key(None, value)) == (None, value)
    assert range_of(range_key(value, value)) == (value, value)


def test_unusable_watermarks_are_refused() -> None:
    for value in (None, True, object()):
        with pytest.raises(ValueError):
            encode_position(value)


def rows(n: int, start: int = 0) -> pd.DataFrame:
    ids = list(range(start, start + n))
    return pd.DataFrame(
        {
            "id": ids,
            "ts": [dt.datetime(2024, 1, 1) + dt.timedelta(minutes=i // 2) for i in ids],  # two rows per minute
            "f0": [i / 7 for i in ids],
            "region": [["north", "south", "east"][i % 3] for i in ids],
        }
    )


def write(url: str, frame: pd.DataFrame, table: str = "preds") -> None:
    engine = sqlalchemy.create_engine(url)
    try:
        frame.to_sql(table, engine, if_exists="append", index=False)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'preds.db'}"
    return request.getfixturevalue("postgres").create_database(f"reader_{request.node.name[-20:].strip('[]')}")


def read_everything(
    reader: SqlReader, chunk: int, limit: int, after: object = None
) -> tuple[list[pd.DataFrame], object]:
    """What a sequence of runs reads: chunks past the watermark, the watermark moving after each."""
    frames = []
    while True:
        bounds = chunk_bounds(reader.watermarks(after, limit), chunk)
        if not bounds:
            return frames, after
        for upto in bounds:
            frames.append(reader.read_range(after, upto))
            after = upto


@pytest.mark.parametrize("watermark", ["id", "ts"])
def test_every_row_is_read_once_in_chunks(database: str, watermark: str) -> None:
    write(database, rows(25))
    reader = SqlReader(database, table="preds", watermark_column=watermark)
    frames, after = read_everything(reader, chunk=4, limit=10)
    together = pd.concat(frames, ignore_index=True)
    assert sorted(together["id"]) == list(range(25))
    assert all(len(frame) <= 5 for frame in frames)  # a chunk exceeds chunk_rows only to keep a value whole
    # rows that arrive later (with a later watermark) are read from where it stopped, and only those
    write(database, rows(6, start=26))
    later, _ = read_everything(reader, chunk=4, limit=10, after=after)
    assert sorted(pd.concat(later)["id"]) == list(range(26, 32))
    reader.close()


def test_rows_sharing_a_timestamp_are_never_split(database: str) -> None:
    frame = rows(10)
    frame["ts"] = dt.datetime(2024, 1, 1)  # all ten at once
    write(database, frame)
    reader = SqlReader(database, table="preds", watermark_column="ts")
    frames, _ = read_everything(reader, chunk=3, limit=4)
    assert [len(f) for f in frames] == [10]
    reader.close()


def test_a_query_is_read_like_a_table(database: str) -> None:
    write(database, rows(12))
    reader = SqlReader(
        database, query="SELECT id, f0, region FROM preds WHERE region <> 'east';", watermark_column="id"
    )
    frames, _ = read_everything(reader, chunk=100, limit=100)
    assert sorted(frames[0]["id"]) == [i for i in range(12) if i % 3 != 2]
    assert list(frames[0].columns) == ["id", "f0", "region"]
    whole = reader.read_all()
    assert len(whole) == 8
    reader.close()


def test_values_come_back_as_written(database: str) -> None:
    frame = rows(9)
    write(database, frame)
    reader = SqlReader(database, table="preds", watermark_column="id")
    (read,), _ = read_everything(reader, chunk=100, limit=100)
    pd.testing.assert_series_equal(read["f0"], frame["f0"])  # floats exactly
    assert read["id"].tolist() == frame["id"].tolist()
    assert read["region"].tolist() == frame["region"].tolist()
    reader.close()


def test_numeric_columns_arrive_as_floats(postgres) -> None:
    url = postgres.create_database("numeric_columns")
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("CREATE TABLE t (id serial PRIMARY KEY, amount numeric(10, 2))"))
        connection.execute(sqlalchemy.text("INSERT INTO t (amount) VALUES (1.25), (2.50)"))
    engine.dispose()
    reader = SqlReader(url, table="t", watermark_column="id")
    frame = reader.read_range(None, 2)
    assert frame["amount"].dtype == float and frame["amount"].tolist() == [1.25, 2.5]
    reader.close()


def test_the_password_comes_from_a_file_and_is_never_logged(
    postgres, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = postgres.create_database("password_file")
    write(url, rows(3))
    password_file = tmp_path / "pg-password"
    password_file.write_text(PASSWORD + "\n")
    caplog.set_level(logging.DEBUG)
    reader = SqlReader(
        postgres.url("password_file", password=None), table="preds", watermark_column="id", password_file=password_file
    )
    assert len(reader.read_range(None, 2)) == 3
    reader.close()
    assert PASSWORD not in safe_url(url) and "***" in safe_url(url)

    password_file.write_text("wrong\n")
    wrong = SqlReader(
        postgres.url("password_file", password=None), table="preds", watermark_column="id", password_file=password_file
    )
    with pytest.raises(SourceUnavailable) as raised:
        wrong.watermarks(None, 10)
    assert raised.value.reason == "auth"
    assert PASSWORD not in str(raised.value)
    assert all(PASSWORD not in record.getMessage() for record in caplog.records)


def test_failures_say_why(tmp_path: Path) -> None:
    missing_file = tmp_path / "nowhere" / "pw"
    with pytest.raises(SourceUnavailable) as raised:
        SqlReader("sqlite:///x.db", table="t", watermark_column="id", password_file=missing_file).watermarks(None, 1)
    assert raised.value.reason == "auth"

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    write(url, rows(2))
    with pytest.raises(SourceUnavailable) as raised:
        SqlReader(url, table="absent", watermark_column="id").watermarks(None, 1)
    assert raised.value.reason == "query"
    with pytest.raises(SourceUnavailable) as raised:
        SqlReader(url, table="preds", watermark_column="no_such_column").watermarks(None, 1)
    assert raised.value.reason == "query"


def test_an_unreachable_server_is_a_connection_failure() -> None:
    from support.processes import free_port

    reader = SqlReader(
        f"postgresql://u:p@127.0.0.1:{free_port()}/db", table="t", watermark_column="id", connect_timeout=2
    )
    with pytest.raises(SourceUnavailable) as raised:
        reader.watermarks(None, 1)
    assert raised.value.reason == "connection"
    assert ":p@" not in str(raised.value)


def test_a_query_running_past_its_timeout_is_cancelled_by_the_server(postgres) -> None:
    url = postgres.create_database("query_timeout")
    write(url, rows(3))
    slow = SqlReader(url, query="SELECT *, pg_sleep(5) AS slept FROM preds", watermark_column="id", query_timeout=0.5)
    with pytest.raises(SourceUnavailable) as raised:
        slow.read_range(None, 2)
    assert raised.value.reason == "timeout"
    slow.close()
