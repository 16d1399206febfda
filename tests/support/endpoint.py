"""A real HTTP server on a free loopback port that serves rows the test controls.

`/rows?since=X` answers the rows whose `id` is past X (a cursor), `/pages?page=N` the N-th page
(numbered from 1), each at most `page_size` rows, as JSON lines, JSON (`{"data": [...]}`) or CSV.
A test can make the next answers slow, failing with a status, or malformed, and can require a bearer
token or basic credentials; every request is recorded with its arrival time.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd


@dataclass
class Seen:
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    at: float


@dataclass
class Endpoint:
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    fmt: str = "jsonl"
    page_size: int = 10
    # consumed one per request, in order
    statuses: list[int] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    retry_after: str | None = None
    token: str | None = None
    basic: tuple[str, str] | None = None
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Endpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def append(self, frame: pd.DataFrame) -> None:
        with self._lock:
            self.rows = pd.concat([self.rows, frame], ignore_index=True)

    def render(self, frame: pd.DataFrame) -> bytes:
        # json.dumps writes a float's shortest repr, which reads back as the same double
        records = [{k: v.item() if hasattr(v, "item") else v for k, v in r.items()} for r in frame.to_dict("records")]
        if self.fmt == "jsonl":
            return "".join(json.dumps(r) + "\n" for r in records).encode()
        if self.fmt == "json":
            return json.dumps({"data": records}).encode()
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)
        return buffer.getvalue().encode() if len(frame) else b""

    def answer(self, path: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            self.seen.append(Seen(path, params, headers, time.monotonic()))
            delay = self.delays.pop(0) if self.delays else 0.0
            status = self.statuses.pop(0) if self.statuses else 200
            body = self.bodies.pop(0) if self.bodies else None
            rows = self.rows
        if delay:
            time.sleep(delay)
        if not self._authorised(headers):
            return 401, b"unauthorised", {}
        if status != 200:
            extra = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
            return status, b"try again", extra
        if body is not None:
            return 200, body, {}
        if path == "/rows":
            since = params.get("since")
            past = rows if since is None else rows[rows["id"] > type(rows["id"].iloc[0].item())(since)]
            return 200, self.render(past.head(self.page_size)), {}
        if path == "/pages":
            page = int(params.get("page", "1"))
            return 200, self.render(rows.iloc[(page - 1) * self.page_size : page * self.page_size]), {}
        return 404, b"no such path", {}

    def _authorised(self, headers: dict[str, str]) -> bool:
        given = headers.get("authorization", "")
        if self.token is not None and given != f"Bearer {self.token}":
            return False
        if self.basic is not None:
            expected = base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            return given == f"Basic {expected}"
        return True


def _handler(endpoint: Endpoint) -> Any:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802  (the name http.server calls)
            parts = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body, extra = endpoint.answer(parts.path, params, headers)
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up waiting (a slow answer past its timeout)

        def log_message(self, *args: object) -> None:
            pass

    return Handler
