"""A database table or query, read in chunks past a watermark (SQLAlchemy: SQLite, PostgreSQL, ...).

The watermark column is a timestamp or an increasing id. A batch is every row whose watermark lies in
(after, upto]; its key records that range, and the key is written in the same transaction as the
batch's results, so the watermark advances exactly when a batch is recorded. A crash between the
read and the record leaves the watermark where it was, and the same rows are read again.

Rows must become visible in watermark order: a row committed later with a watermark below one
already recorded is never read (with PostgreSQL, a sequence id of a long transaction can do that;
a commit timestamp written by the writer cannot). Rows whose watermark is NULL are never read.
A chunk never splits the rows of one watermark value, so it may exceed ``chunk_rows`` when many
rows share a value.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import Field, model_validator

from exporter.sources.reading import decode_position, encode_position, unreadable_file
from exporter.sources.registry import (
    BatchRef,
    ReadPosition,
    Source,
    SourceConfig,
    SourceContext,
    SourceUnavailable,
    register,
)

log = logging.getLogger(__name__)


def range_key(after: Any, upto: Any) -> str:
    """The batch key of the rows with a watermark in (after, upto]; ``after`` None is the start."""
    payload = {"after": None if after is None else encode_position(after), "upto": encode_position(upto)}
    return "sql:" + json.dumps(payload, sort_keys=True, separators=(",", ":"))


def range_of(key: str) -> tuple[Any, Any]:
    payload = json.loads(key.removeprefix("sql:"))
    after = payload["after"]
    return (None if after is None else decode_position(after)), decode_position(payload["upto"])


def chunk_bounds(values: list[Any], chunk_rows: int) -> list[Any]:
    """Upper bounds splitting ``values`` (sorted watermarks) into chunks of about ``chunk_rows`` rows.

    Each bound is a watermark value; a chunk ends after the last row holding its bound, so rows with
    one value are never split between chunks.
    """
    bounds: list[Any] = []
    for end in range(chunk_rows - 1, len(values), chunk_rows):
        if not bounds or values[end] != bounds[-1]:
            bounds.append(values[end])
    if values and (not bounds or values[-1] != bounds[-1]):
        bounds.append(values[-1])
    return bounds


def with_password(url: str, password_file: Path | None) -> Any:
    """The SQLAlchemy URL, with the password read from ``password_file`` when one is given."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if password_file is not None:
        try:
            password = password_file.read_text().strip()
        except OSError as exc:
            raise SourceUnavailable("auth", f"cannot read password_file {password_file}: {exc.strerror}") from None
        parsed = parsed.set(password=password)
    return parsed


def safe_url(url: str) -> str:
    """The url without its password, for logs and messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001  (an unparsable url is shown as its scheme only)
        return url.split(":", 1)[0] + "://…"


class SqlReader:
    """Reads a table or a query: by watermark range, or whole (for reference data)."""

    def __init__(
        self,
        url: str,
        *,
        table: str | None = None,
        query: str | None = None,
        watermark_column: str | None = None,
        password_file: Path | None = None,
        connect_timeout: float = 10.0,
        query_timeout: float | None = None,
    ) -> None:
        if (table is None) == (query is None):
            raise ValueError("set exactly one of table or query")
        self.url, self.table, self.query = url, table, query
        self.watermark_column = watermark_column
        self.password_file = password_file
        self.connect_timeout = connect_timeout
        self.query_timeout = query_timeout
        self._engine: Any = None

    # -- connection --------------------------------------------------------------------------
    def engine(self) -> Any:
        if self._engine is None:
            import sqlalchemy

            url = with_password(self.url, self.password_file)
            connect_args: dict[str, Any] = {}
            if url.get_backend_name() == "postgresql":
                connect_args["connect_timeout"] = max(1, int(self.connect_timeout))
                if self.query_timeout is not None:
                    # the server cancels a statement running longer, so a stuck query never stalls the job
                    connect_args["options"] = f"-c statement_timeout={int(self.query_timeout * 1000)}"
            elif url.get_backend_name() == "sqlite":
                connect_args["timeout"] = self.connect_timeout
            self._engine = sqlalchemy.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _quote(self, name: str) -> str:
        preparer = self.engine().dialect.identifier_preparer
        return ".".join(preparer.quote(part) for part in name.split("."))

    def _from(self) -> str:
        if self.table is not None:
            return self._quote(self.table)
        return f"({self.query.strip().rstrip(';')}) AS mlmon_source"  # type: ignore[union-attr]

    def _execute(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[Any]]:
        import sqlalchemy
        from sqlalchemy import exc as errors

        try:
            with self.engine().connect() as connection:
                result = connection.execute(sqlalchemy.text(sql), params)
                return list(result.keys()), result.fetchall()
        except errors.OperationalError as exc:
            raise SourceUnavailable(_operational_reason(exc), _message(exc)) from None
        except errors.DBAPIError as exc:
            raise SourceUnavailable("query", _message(exc)) from None
        except errors.SQLAlchemyError as exc:
            raise SourceUnavailable("connection", _message(exc)) from None

    # -- reading -------------------------------------------------------------------------------
    def watermarks(self, after: Any, limit: int) -> list[Any]:
        """The watermark values of the next ``limit`` rows past ``after``, in order."""
        assert self.watermark_column is not None
        column = self._quote(self.watermark_column)
        where = f"{column} > :after" if after is not None else f"{column} IS NOT NULL"
        sql = f"SELECT {column} FROM {self._from()} WHERE {where} ORDER BY {column} LIMIT :limit"
        _, rows = self._execute(sql, {"after": after, "limit": int(limit)})
        return [row[0] for row in rows]

    def read_range(self, after: Any, upto: Any) -> pd.DataFrame:
        """Every row with a watermark in (after, upto], in watermark order."""
        assert self.watermark_column is not None
        column = self._quote(self.watermark_column)
        lower = f"{column} > :after AND " if after is not None else ""
        sql = f"SELECT * FROM {self._from()} WHERE {lower}{column} <= :upto ORDER BY {column}"
        return _frame(*self._execute(sql, {"after": after, "upto": upto}))

    def read_all(self) -> pd.DataFrame:
        order = f" ORDER BY {self._quote(self.watermark_column)}" if self.watermark_column else ""
        return _frame(*self._execute(f"SELECT * FROM {self._from()}{order}", {}))


def _frame(columns: list[str], rows: list[Any]) -> pd.DataFrame:
    # Decimal (SQL NUMERIC) becomes float, as it would from a CSV file
    return pd.DataFrame.from_records([tuple(row) for row in rows], columns=columns, coerce_float=True)


def _message(exc: Exception) -> str:
    # the driver's own message, without the statement SQLAlchemy appends
    original = getattr(exc, "orig", None) or exc
    return f"{type(original).__name__}: {str(original).strip().splitlines()[0] if str(original).strip() else ''}"


def _operational_reason(exc: Exception) -> str:
    text = str(getattr(exc, "orig", exc)).lower()
    if "password" in text or "authentication" in text:
        return "auth"
    if "timeout" in text or "timed out" in text:
        return "timeout"
    if "no such table" in text or "no such column" in text or "syntax error" in text:
        return "query"
    return "connection"


class SqlConfig(SourceConfig):
    type: Literal["sql"] = "sql"
    # sqlite:///preds.db (relative to the config file), postgresql://user@host/db, ...; may hold ${VAR}
    url: str
    table: str | None = None
    query: str | None = None
    watermark_column: str | None = None
    password_file: Path | None = None
    chunk_rows: int = Field(default=10_000, gt=0)
    max_rows_per_run: int = Field(default=100_000, gt=0)
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    query_timeout_seconds: float = Field(default=300.0, gt=0)  # PostgreSQL: the server's statement_timeout

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlConfig:
        if (self.table is None) == (self.query is None):
            raise ValueError("set exactly one of table or query")
        return self

    def relative_to(self, base_dir: Path) -> SqlConfig:
        from sqlalchemy.engine import make_url

        update: dict[str, Any] = {}
        if self.password_file is not None and not self.password_file.is_absolute():
            update["password_file"] = base_dir / self.password_file
        parsed = make_url(self.url)
        database = parsed.database
        relative = bool(database) and not Path(database).is_absolute() and not database.startswith("file:")
        if parsed.get_backend_name() == "sqlite" and relative and database != ":memory:":
            update["url"] = parsed.set(database=str(base_dir / database)).render_as_string(hide_password=False)
        return self.model_copy(update=update) if update else self

    def problems(self) -> list[str]:
        found = [f"password_file: {problem}" for problem in unreadable_file(self.password_file)]
        from sqlalchemy.engine import make_url

        parsed = make_url(self.url)
        database = parsed.database or ""
        if parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:") and not Path(database).exists():
            found.append(f"url: database file {database} does not exist")
        return found

    def batch_problem(self) -> str | None:
        if self.watermark_column is None:
            return "watermark_column: required to read new rows batch by batch (without it, only a reference)"
        return None

    def describe(self) -> str:
        what = f"table {self.table}" if self.table is not None else "a query"
        after = f" past watermark {self.watermark_column}" if self.watermark_column else ""
        return f"{what} of {safe_url(self.url)}{after}, in chunks of {self.chunk_rows} rows"


@register
class SqlSource(Source):
    """Rows of a table or query past the recorded watermark; a rejected chunk is logged as a dead letter."""

    name = "sql"
    Config = SqlConfig

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        super().__init__(config, context)
        assert isinstance(config, SqlConfig)
        self.sql = config
        self.reader = SqlReader(
            config.url,
            table=config.table,
            query=config.query,
            watermark_column=config.watermark_column,
            password_file=config.password_file,
            connect_timeout=config.connect_timeout_seconds,
            query_timeout=config.query_timeout_seconds,
        )

    def pending(self, position: ReadPosition) -> list[BatchRef]:
        assert self.sql.watermark_column is not None  # the config requires it of a batches or labels source
        last = position.last()
        after = range_of(last)[1] if last is not None and last.startswith("sql:") else None
        bounds = chunk_bounds(self.reader.watermarks(after, self.sql.max_rows_per_run), self.sql.chunk_rows)
        now = self.context.clock()
        refs = []
        for upto in bounds:
            lower = "" if after is None else f"{after} < "
            name = f"{lower}{self.sql.watermark_column} <= {upto}"
            refs.append(BatchRef(key=range_key(after, upto), name=name, arrived_at=now))
            after = upto
        return refs

    def read(self, ref: BatchRef) -> pd.DataFrame:
        return self.reader.read_range(*range_of(ref.key))

    def read_all(self) -> pd.DataFrame:
        return self.reader.read_all()

    def reject(self, ref: BatchRef, reason: str, message: str) -> None:
        # the rows stay in the database; the dead-letter log says which they are and why
        entry = {"at": self.context.clock(), "batch": ref.name, "key": ref.key, "reason": reason, "message": message}
        try:
            self.context.reject_dir.mkdir(parents=True, exist_ok=True)
            with open(self.context.reject_dir / "sql-rejected.jsonl", "a") as log_file:
                log_file.write(json.dumps(entry, default=str) + "\n")
        except OSError as exc:
            log.error("cannot write the dead-letter log in %s: %s", self.context.reject_dir, exc)
