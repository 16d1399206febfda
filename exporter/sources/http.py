"""An HTTP endpoint serving rows as JSON lines, JSON or CSV, read page by page with a cursor or a page number.

With ``cursor_param`` and ``cursor_column``, each request sends the largest ``cursor_column`` value
read so far (none on the very first), and the server answers with the rows past it. With
``page_param``, pages are numbered from ``first_page``; the last page is read again on the next run
for the rows appended to it since. Either way the position is kept in the batch key, recorded in
the same transaction as the batch, so a restart resumes exactly after the last recorded page.

Timeouts, connection errors, 429 and 5xx answers are retried with exponential backoff and full
jitter (``Retry-After`` is honoured up to the cap); when the retries run out, nothing is read this
run and the next run starts from the same position. A page that cannot be parsed is a batch of its
own that fails as ``unreadable`` and is kept in the reject folder; with a cursor the source cannot
move past it until the server answers differently.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pandas as pd
import requests
from pydantic import BaseModel, ConfigDict, Field, model_validator

from exporter.sources.reading import decode_position, encode_position, unreadable_file
from exporter.sources.registry import (
    BatchRef,
    ReadPosition,
    Source,
    SourceConfig,
    SourceContext,
    SourceUnavailable,
    UnreadableBatch,
    register,
)

log = logging.getLogger(__name__)

FORMATS = ("jsonl", "json", "csv")
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
# pandas 3 reads floats back exactly by default; pandas 2 needs asking
EXACT_FLOATS = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}


class MalformedPage(Exception):
    """The body does not parse as the configured format."""


def parse_page(body: bytes, fmt: str, records_field: str | None = None) -> pd.DataFrame:
    """The rows of one answer as a table; raises ``MalformedPage`` when the body is not ``fmt``."""
    if not body.strip():
        return pd.DataFrame()
    if fmt == "csv":
        try:
            return pd.read_csv(io.BytesIO(body), **EXACT_FLOATS)
        except (ValueError, csv.Error, UnicodeDecodeError) as exc:
            raise MalformedPage(f"not CSV: {exc}") from None
    try:
        text = body.decode("utf-8")
        if fmt == "jsonl":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            document = json.loads(text)
            records = document.get(records_field or "data") if isinstance(document, dict) else document
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPage(f"not {fmt}: {exc}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        where = f"under {records_field or 'data'!r} " if fmt == "json" else ""
        raise MalformedPage(f"expected a list of objects {where}(one object per row)")
    return pd.DataFrame.from_records(records)


def page_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


@dataclass(frozen=True)
class Retry:
    """How often and how patiently a request is retried."""

    attempts: int = 4  # the first try included
    backoff_seconds: float = 0.5  # the base of the exponential backoff
    max_backoff_seconds: float = 30.0

    def delay(self, attempt: int, draw: Callable[[], float], retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1 for the first): full jitter."""
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))
        if retry_after is not None:
            return min(self.max_backoff_seconds, max(retry_after, 0.0))
        return draw() * ceiling


def read_secret(path: Path, what: str) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise SourceUnavailable("auth", f"cannot read {what} {path}: {exc.strerror}") from None


class HttpFetcher:
    """GETs one url with timeouts, retries and authentication read from files on every run."""

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 30.0,
        retry: Retry | None = None,
        bearer_token_file: Path | None = None,
        basic_auth: tuple[str, Path] | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds
        self.retry = retry or Retry()
        self.bearer_token_file = bearer_token_file
        self.basic_auth = basic_auth
        self.session = session or requests.Session()
        self.sleep, self.draw = sleep, draw

    def _auth(self) -> tuple[dict[str, str], tuple[str, str] | None]:
        headers: dict[str, str] = {}
        if self.bearer_token_file is not None:
            headers["Authorization"] = f"Bearer {read_secret(self.bearer_token_file, 'bearer_token_file')}"
        basic = None
        if self.basic_auth is not None:
            username, password_file = self.basic_auth
            basic = (username, read_secret(password_file, "basic_auth.password_file"))
        return headers, basic

    def get(self, params: Mapping[str, str]) -> bytes:
        """The body of a successful answer; raises ``SourceUnavailable`` once the retries are spent."""
        headers, basic = self._auth()
        failure = SourceUnavailable("connection", "no attempt made")
        for attempt in range(1, self.retry.attempts + 1):
            retry_after = None
            try:
                response = self.session.get(
                    self.url, params=dict(params), headers=headers, auth=basic, timeout=self.timeout_seconds
                )
            except requests.Timeout:
                failure = SourceUnavailable("timeout", f"no answer within {self.timeout_seconds:g}s")
            except requests.RequestException as exc:
                failure = SourceUnavailable("connection", f"{type(exc).__name__}: cannot reach the endpoint")
            else:
                if response.status_code < 300:
                    return response.content
                if response.status_code in (401, 403):
                    raise SourceUnavailable("auth", f"the endpoint refused the credentials ({response.status_code})")
                failure = SourceUnavailable("status", f"the endpoint answered {response.status_code}")
                if response.status_code not in RETRIED_STATUSES:
                    raise failure
                retry_after = _seconds(response.headers.get("Retry-After"))
            if attempt < self.retry.attempts:
                self.sleep(self.retry.delay(attempt, self.draw, retry_after))
        raise failure

    def close(self) -> None:
        self.session.close()


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the ordinary backoff applies


@dataclass(frozen=True)
class Page:
    """One answer: its rows (or why they could not be parsed), the key that records it."""

    key: str
    rows: pd.DataFrame | None
    problem: str | None = None
    body: bytes | None = None  # kept for an unparsable answer, to be put aside as it came


def _key(payload: dict[str, Any]) -> str:
    return "http:" + json.dumps(payload, sort_keys=True, separators=(",", ":"))


def position_of(key: str | None) -> dict[str, Any]:
    """Where to read next after the batch recorded as ``key`` (an empty dict: from the start)."""
    if key is None or not key.startswith("http:"):
        return {}
    payload = json.loads(key.removeprefix("http:"))
    return payload.get("next") or payload.get("at") or {}


class Pager:
    """Turns a read position into the pages past it, fetching until the rows budget is spent."""

    def __init__(
        self,
        fetch: Callable[[Mapping[str, str]], bytes],
        fmt: str,
        *,
        cursor_param: str | None = None,
        cursor_column: str | None = None,
        page_param: str | None = None,
        first_page: int = 1,
        records_field: str | None = None,
        max_rows: int = 100_000,
        params: Mapping[str, str] | None = None,
    ) -> None:
        if (cursor_param is None) == (page_param is None):
            raise ValueError("set exactly one of cursor_param or page_param")
        if cursor_param is not None and cursor_column is None:
            raise ValueError("cursor_param needs cursor_column, the column whose latest value is sent")
        self.fetch, self.fmt = fetch, fmt
        self.cursor_param, self.cursor_column = cursor_param, cursor_column
        self.page_param, self.first_page = page_param, first_page
        self.records_field, self.max_rows = records_field, max_rows
        self.params = dict(params or {})

    def pages(self, last_key: str | None, seen: set[str]) -> list[Page]:
        position = position_of(last_key)
        if self.page_param is not None:
            return self._numbered(position, seen)
        return self._cursored(position, seen)

    def _parse(self, body: bytes) -> pd.DataFrame:
        return parse_page(body, self.fmt, self.records_field)

    def _cursored(self, position: dict[str, Any], seen: set[str]) -> list[Page]:
        assert self.cursor_param is not None and self.cursor_column is not None
        encoded = position.get("cursor")
        pages: list[Page] = []
        rows = 0
        while rows < self.max_rows:
            at = {"cursor": encoded}
            params = dict(self.params)
            cursor = decode_position(encoded) if encoded is not None else None
            if cursor is not None:
                params[self.cursor_param] = str(cursor)
            body = self.fetch(params)
            try:
                frame = self._parse(body)
                if frame.empty:
                    break
                if self.cursor_column not in frame.columns:
                    raise MalformedPage(f"the rows have no {self.cursor_column!r} (cursor_column)")
                if cursor is not None:  # a server that answers from the cursor inclusive, or ignores it
                    frame = frame[frame[self.cursor_column] > cursor].reset_index(drop=True)
                    if frame.empty:
                        break
                latest = encode_position(frame[self.cursor_column].max())
            except (MalformedPage, TypeError, ValueError) as exc:
                key = _key({"at": at, "digest": page_digest(body)})
                if key not in seen:
                    pages.append(Page(key, None, str(exc), body))
                break  # past an unreadable page there is no cursor to go on from
            key = _key({"at": at, "next": {"cursor": latest}})
            if key in seen:
                break
            pages.append(Page(key, frame))
            rows += len(frame)
            encoded = latest
        return pages

    def _numbered(self, position: dict[str, Any], seen: set[str]) -> list[Page]:
        assert self.page_param is not None
        page, skip = int(position.get("page", self.first_page)), int(position.get("skip", 0))
        pages: list[Page] = []
        rows = 0
        while rows < self.max_rows:
            at = {"page": page, "skip": skip}
            body = self.fetch({**self.params, self.page_param: str(page)})
            try:
                frame = self._parse(body)
            except MalformedPage as exc:
                key = _key({"at": at, "digest": page_digest(body), "next": {"page": page + 1, "skip": 0}})
                if key in seen:
                    break
                pages.append(Page(key, None, str(exc), body))
                page, skip = page + 1, 0
                continue
            if len(frame) > skip:
                key = _key({"at": at, "next": {"page": page, "skip": len(frame)}})
                if key in seen:
                    break
                pages.append(Page(key, frame.iloc[skip:].reset_index(drop=True)))
                rows += len(frame) - skip
            elif frame.empty:
                break  # past the last page; the position stays on the one before
            # the page holds nothing new (or was complete): the next one may
            page, skip = page + 1, 0
        return pages


class BasicAuth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    username: str
    password_file: Path


class HttpConfig(SourceConfig):
    type: Literal["http"] = "http"
    url: str
    format: Literal["jsonl", "json", "csv"] = "jsonl"
    cursor_param: str | None = None
    cursor_column: str | None = None
    page_param: str | None = None
    first_page: int = 1
    records_field: str | None = None  # json: the field of the answer holding the rows (default "data")
    params: dict[str, str] = Field(default_factory=dict)  # sent with every request
    bearer_token_file: Path | None = None
    basic_auth: BasicAuth | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    retries: int = Field(default=3, ge=0)
    backoff_seconds: float = Field(default=0.5, ge=0)
    max_backoff_seconds: float = Field(default=30.0, ge=0)
    max_rows_per_run: int = Field(default=100_000, gt=0)

    @model_validator(mode="after")
    def _one_position(self) -> HttpConfig:
        if (self.cursor_param is None) == (self.page_param is None):
            raise ValueError("set exactly one of cursor_param (with cursor_column) or page_param")
        if self.cursor_param is not None and self.cursor_column is None:
            raise ValueError("cursor_column: required with cursor_param (the column whose latest value is sent)")
        if self.bearer_token_file is not None and self.basic_auth is not None:
            raise ValueError("set at most one of bearer_token_file or basic_auth")
        return self

    def relative_to(self, base_dir: Path) -> HttpConfig:
        def resolve(path: Path) -> Path:
            return path if path.is_absolute() else base_dir / path

        update: dict[str, Any] = {}
        if self.bearer_token_file is not None:
            update["bearer_token_file"] = resolve(self.bearer_token_file)
        if self.basic_auth is not None:
            update["basic_auth"] = self.basic_auth.model_copy(
                update={"password_file": resolve(self.basic_auth.password_file)}
            )
        return self.model_copy(update=update) if update else self

    def problems(self) -> list[str]:
        found = [f"bearer_token_file: {problem}" for problem in unreadable_file(self.bearer_token_file)]
        if self.basic_auth is not None:
            found += [
                f"basic_auth.password_file: {problem}" for problem in unreadable_file(self.basic_auth.password_file)
            ]
        return found

    def describe(self) -> str:
        by = f"cursor {self.cursor_param}={self.cursor_column}" if self.cursor_param else f"page {self.page_param}"
        return f"{self.format} pages of {urlsplit(self.url)._replace(query='').geturl()} by {by}"


@register
class HttpSource(Source):
    """Pages of an endpoint past the recorded position; a rejected page is kept in the reject folder."""

    name = "http"
    Config = HttpConfig

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        super().__init__(config, context)
        assert isinstance(config, HttpConfig)
        self.http = config
        basic = (config.basic_auth.username, config.basic_auth.password_file) if config.basic_auth else None
        self.fetcher = HttpFetcher(
            config.url,
            timeout_seconds=config.timeout_seconds,
            retry=Retry(config.retries + 1, config.backoff_seconds, config.max_backoff_seconds),
            bearer_token_file=config.bearer_token_file,
            basic_auth=basic,
        )
        self.pager = Pager(
            self.fetcher.get,
            config.format,
            cursor_param=config.cursor_param,
            cursor_column=config.cursor_column,
            page_param=config.page_param,
            first_page=config.first_page,
            records_field=config.records_field,
            max_rows=config.max_rows_per_run,
            params=config.params,
        )
        self._pages: dict[str, Page] = {}

    def pending(self, position: ReadPosition) -> list[BatchRef]:
        pages = self.pager.pages(position.last(), position.seen())
        self._pages = {page.key: page for page in pages}
        now = self.context.clock()
        return [BatchRef(key=page.key, name=_page_name(page.key), arrived_at=now) for page in pages]

    def read(self, ref: BatchRef) -> pd.DataFrame:
        page = self._pages[ref.key]
        if page.rows is None:
            raise UnreadableBatch(f"{ref.name}: {page.problem}")
        return page.rows

    def reject(self, ref: BatchRef, reason: str, message: str) -> None:
        page = self._pages.get(ref.key)
        name = f"http-{page_digest(ref.key.encode())}"
        try:
            folder = self.context.reject_dir
            folder.mkdir(parents=True, exist_ok=True)
            if page is not None and page.rows is not None:
                page.rows.to_json(folder / f"{name}.jsonl", orient="records", lines=True)
            elif page is not None and page.body is not None:
                (folder / f"{name}.body").write_bytes(page.body)
            (folder / f"{name}.reason.txt").write_text(f"{ref.name}\n{reason}: {message}\n")
        except OSError as exc:
            log.error("cannot keep the rejected page %s in %s: %s", ref.name, self.context.reject_dir, exc)


def _page_name(key: str) -> str:
    payload = json.loads(key.removeprefix("http:"))
    at = payload.get("at", {})
    if "page" in at:
        return f"page {at['page']}" + (f" from row {at['skip']}" if at.get("skip") else "")
    cursor = at.get("cursor")
    return "first page" if cursor is None else f"page after {decode_position(cursor)}"
