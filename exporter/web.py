"""The HTTP server: /metrics, a landing page at /, /-/healthy, /-/ready and, when enabled, /-/reload.

One event loop on its own thread serves every connection, so an idle connection costs a socket and a
little memory, never a thread; work that can take time (rendering after a change, a bcrypt check, a
reload) runs on a small bounded pool. HTTP/1.1 with keep-alive, HEAD, 405 for a method a path does
not take, gzip when the client asks for it, per-connection timeouts, a listen backlog a burst of
scrapers fits in, and optional TLS and basic authentication from ``--web.config.file``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import html
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from exporter import __version__
from exporter.webconfig import WebConfig

log = logging.getLogger(__name__)

BACKLOG = 1024
# a client gets this long to send a request's head once it started one, and this long between requests
HEADER_TIMEOUT = 10.0
IDLE_TIMEOUT = 120.0
WRITE_TIMEOUT = 30.0
MAX_HEAD_BYTES = 16 * 1024
MAX_HEADERS = 100
MAX_BODY_BYTES = 64 * 1024
WORKERS = 4
TEXT = "text/plain; charset=utf-8"
METHODS = {
    "/metrics": ("GET", "HEAD"),
    "/": ("GET", "HEAD"),
    "/-/healthy": ("GET", "HEAD"),
    "/-/ready": ("GET", "HEAD"),
}
LIFECYCLE = {"/-/reload": ("POST", "PUT")}
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


def parse_listen_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--web.listen-address {address!r}: expected HOST:PORT or :PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def _landing(models: list[str]) -> bytes:
    items = "".join(f"<li>{html.escape(m)}</li>" for m in models) or "<li>none</li>"
    return (
        "<!doctype html><html><head><title>mlmon exporter</title></head><body>"
        f"<h1>mlmon exporter {html.escape(__version__)}</h1>"
        '<p><a href="/metrics">Metrics</a></p>'
        f"<h2>Models</h2><ul>{items}</ul></body></html>"
    ).encode()


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    method: str
    path: str
    version: str
    headers: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def keep_alive(self) -> bool:
        connection = (self.header("connection") or "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection

    def accepts_gzip(self) -> bool:
        for coding in (self.header("accept-encoding") or "").split(","):
            name, _, params = coding.strip().partition(";")
            if name.strip().lower() in ("gzip", "x-gzip"):
                return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
        return False


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request's head (its body, if any, is read by the caller); None at a clean end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise BadRequest(400, "incomplete request") from None
    except asyncio.LimitOverrunError:
        raise BadRequest(431, "request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, "malformed header")
        if len(headers) >= MAX_HEADERS:
            raise BadRequest(431, "too many headers")
        headers[name.lower()] = value.strip()
    return Request(method, target.split("?", 1)[0], version, headers)


class MetricsServer:
    """Serves ``page`` (a ``MetricsPage``, or anything with its ``answer(accept, zipped)``) on ``address``.

    ``models`` lists what the landing page shows; ``reload``, served as POST /-/reload when
    ``lifecycle`` is on, returns None on success or why it failed, in words that name no configured
    value. ``web`` adds TLS and basic authentication. The socket is bound here, so a busy port fails
    at once; serving starts with ``start()``.
    """

    def __init__(
        self,
        page: Any,
        address: str,
        models: list[str] | Callable[[], list[str]],
        reload: Callable[[], str | None] | None = None,
        *,
        web: WebConfig | None = None,
        lifecycle: bool = False,
        ready: Callable[[], str | None] | None = None,
    ) -> None:
        host, port = parse_listen_address(address)
        self.page = page if hasattr(page, "answer") else _RegistryPage(page)
        self.list_models = models if callable(models) else (lambda: list(models))
        self.reload = reload
        self.lifecycle = lifecycle
        self.web = web or WebConfig(None, None, {})
        self.ready = ready
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.create_server((host, port), family=family, backlog=BACKLOG)
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        self._pool = concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="mlmon-http-worker")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mlmon-http", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.connections = 0

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = self.server_address[0]
        host = "127.0.0.1" if host == "0.0.0.0" else f"[{host}]" if ":" in host else host
        return f"{self.web.scheme}://{host}:{self.port}"

    def start(self) -> None:
        # Everything alive now (modules, classes, loaded models) lives as long as the process. Kept out
        # of the cyclic collector's full passes, it no longer makes each of them a pause of tens of
        # milliseconds that holds every connection; what is freed later is freed as before.
        gc.collect()
        gc.freeze()
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        started.result(timeout=30)

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(
            self._connection,
            sock=self.socket,
            ssl=self.web.ssl_context,
            ssl_handshake_timeout=HEADER_TIMEOUT if self.web.ssl_context is not None else None,
            limit=MAX_HEAD_BYTES,
        )

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
                    task.cancel()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.socket.close()

    # ---------------------------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        timeout = HEADER_TIMEOUT
        try:
            while True:
                try:
                    request = await asyncio.wait_for(read_request(reader), timeout)
                except asyncio.TimeoutError:
                    return
                except BadRequest as exc:
                    await self._send(writer, exc.status, f"{exc}\n".encode(), TEXT, close=True)
                    return
                if request is None:
                    return
                keep_alive = await self._handle(request, reader, writer)
                if not keep_alive:
                    return
                timeout = IDLE_TIMEOUT
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
            pass
        except asyncio.CancelledError:
            pass  # the server is stopping; ending quietly keeps asyncio from logging the cancellation
        finally:
            self.connections -= 1
            writer.close()

    async def _handle(self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection is to be closed afterwards."""
        keep_alive = request.keep_alive
        if request.header("transfer-encoding") is not None:
            await self._send(writer, 501, b"chunked request bodies are not supported\n", TEXT, close=True)
            return False
        length = request.header("content-length") or "0"
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            await self._send(writer, 413, b"request body too large\n", TEXT, close=True)
            return False
        if int(length):
            await asyncio.wait_for(reader.readexactly(int(length)), HEADER_TIMEOUT)
        loop = asyncio.get_running_loop()
        if self.web.auth is not None:
            ok = await loop.run_in_executor(self._pool, self.web.auth.check, request.header("authorization"))
            if not ok:
                await self._send(
                    writer,
                    401,
                    b"unauthorized\n",
                    TEXT,
                    close=not keep_alive,
                    extra={"WWW-Authenticate": 'Basic realm="mlmon"'},
                    head=request.method == "HEAD",
                )
                return keep_alive
        allowed = METHODS.get(request.path) or LIFECYCLE.get(request.path)
        if allowed is None:
            status, body, content_type, extra = 404, b"not found\n", TEXT, {}
        elif request.method not in allowed:
            status, body, content_type = 405, b"method not allowed\n", TEXT
            extra = {"Allow": ", ".join(allowed)}
        else:
            status, body, content_type, extra = await self._route(request, loop)
        await self._send(writer, status, body, content_type, not keep_alive, extra, request.method == "HEAD")
        return keep_alive

    async def _route(self, request: Request, loop: asyncio.AbstractEventLoop) -> tuple[int, bytes, str, dict[str, str]]:
        path = request.path
        if path == "/metrics":
            zipped, accept = request.accepts_gzip(), request.header("accept")
            if getattr(self.page, "is_current", None) and self.page.is_current(accept, zipped):
                # a copy of bytes in memory and the few live series: cheaper here than a thread hop
                body, content_type = self.page.answer(accept, zipped)
            else:  # a rendering after a change: on the pool, so other connections are not held
                body, content_type = await loop.run_in_executor(self._pool, self.page.answer, accept, zipped)
            extra = {"Vary": "Accept-Encoding"}
            if zipped:
                extra["Content-Encoding"] = "gzip"
            return 200, body, content_type, extra
        if path == "/":
            return 200, _landing(self.list_models()), "text/html; charset=utf-8", {}
        if path == "/-/healthy":
            return 200, b"OK\n", TEXT, {}
        if path == "/-/ready":
            not_ready = self.ready() if self.ready is not None else None
            return (503, f"{not_ready}\n".encode(), TEXT, {}) if not_ready else (200, b"OK\n", TEXT, {})
        # /-/reload
        if not self.lifecycle or self.reload is None:
            return 403, b"the lifecycle API is not enabled (start with --web.enable-lifecycle)\n", TEXT, {}
        failure = await loop.run_in_executor(self._pool, self.reload)
        if failure is None:
            return 200, b"OK\n", TEXT, {}
        return 500, f"failed to reload config: {failure}\n".encode(), TEXT, {}

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        content_type: str,
        close: bool = False,
        extra: dict[str, str] | None = None,
        head: bool = False,
    ) -> None:
        headers = {
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            "Server": f"mlmon/{__version__}",
            **self.web.headers,
            **(extra or {}),
        }
        if close:
            headers["Connection"] = "close"
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, '')}"] + [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if not head:
            writer.write(body)
        await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)


class _RegistryPage:
    """A registry rendered on every request (for a registry built by hand, as tests do)."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def answer(self, accept: str | None, zipped: bool = False) -> tuple[bytes, str]:
        import gzip

        from exporter.collector import render

        body, content_type = render(self.registry, accept)
        return (gzip.compress(body, 1) if zipped else body), content_type
