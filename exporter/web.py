"""The HTTP server: /metrics, a landing page at /, /-/healthy (liveness) and /-/ready (last runs succeeded)."""

from __future__ import annotations

import html
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from exporter import __version__
from exporter.collector import render

log = logging.getLogger(__name__)


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


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class MetricsServer:
    """``models`` lists what the landing page shows; ``reload``, when given, serves POST /-/reload
    and returns None on success or the reason it failed; ``ready``, when given, answers /-/ready with
    whether every model's last run succeeded and the models whose last run did not."""

    def __init__(
        self,
        registry: Any,
        address: str,
        models: list[str] | Callable[[], list[str]],
        reload: Callable[[], str | None] | None = None,
        ready: Callable[[], tuple[bool, list[str]]] | None = None,
    ) -> None:
        host, port = parse_listen_address(address)
        registry_ref = registry
        list_models = models if callable(models) else (lambda: list(models))

        class Handler(BaseHTTPRequestHandler):
            server_version = f"mlmon/{__version__}"

            def do_GET(self) -> None:  # noqa: N802  (the name http.server dispatches to)
                path = self.path.split("?", 1)[0]
                try:
                    if path == "/metrics":
                        body, content_type = render(registry_ref, self.headers.get("Accept"))
                        self._reply(200, body, content_type)
                    elif path == "/":
                        self._reply(200, _landing(list_models()), "text/html; charset=utf-8")
                    elif path == "/-/ready" and ready is not None:
                        ok, failing = ready()
                        body = "OK\n" if ok else "last run failed or pending: " + ", ".join(failing) + "\n"
                        self._reply(200 if ok else 503, body.encode(), "text/plain; charset=utf-8")
                    elif path in ("/-/healthy", "/-/ready"):
                        self._reply(200, b"OK\n", "text/plain; charset=utf-8")
                    else:
                        self._reply(404, b"not found\n", "text/plain; charset=utf-8")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_POST(self) -> None:  # noqa: N802  (the name http.server dispatches to)
                path = self.path.split("?", 1)[0]
                try:
                    if path != "/-/reload" or reload is None:
                        self._reply(404, b"not found\n", "text/plain; charset=utf-8")
                        return
                    failure = reload()
                    if failure is None:
                        self._reply(200, b"OK\n", "text/plain; charset=utf-8")
                    else:
                        self._reply(500, f"failed to reload config: {failure}\n".encode(), "text/plain; charset=utf-8")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("%s %s", self.address_string(), format % args)

        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self.httpd = server_class((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="mlmon-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
