"""A local Alertmanager webhook receiver that prints each notification, for the demo.

`make demo` points every receiver of the project's routing tree at this one, so the terminal shows
what a team would get in Slack or by email: one block per notification, firing and resolved, with
the group it belongs to. Run it with ``python -m exporter.receiver --listen 127.0.0.1:9095``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO


def format_notification(payload: Mapping[str, Any]) -> str:
    """One notification as text: a title line naming the group, then each alert with what to do."""
    group = payload.get("groupLabels") or {}
    common = payload.get("commonLabels") or {}
    alerts = payload.get("alerts") or []
    firing = [a for a in alerts if a.get("status") == "firing"]
    resolved = [a for a in alerts if a.get("status") == "resolved"]
    status = str(payload.get("status", "")).upper()
    count = f":{len(firing)}" if firing else ""
    where = " ".join(f"{key} {group[key]}" for key in ("model", "version") if group.get(key)) or "exporter"
    severity = common.get("severity", "mixed")
    lines = [f"── notification [{status}{count}] {where} ({severity}, to {payload.get('receiver', '-')})"]
    for title, part in (("firing", firing), ("resolved", resolved)):
        if firing and resolved:
            lines.append(f"   {title}:")
        for alert in part:
            labels, annotations = alert.get("labels", {}), alert.get("annotations", {})
            mark = "✖" if alert.get("status") == "firing" else "✔"
            lines.append(f"   {mark} {labels.get('alertname', '?')} ({labels.get('severity', '-')})")
            if annotations.get("description"):
                lines.append(f"     {annotations['description']}")
            links = [annotations.get(key) for key in ("runbook_url", "dashboard_url") if annotations.get(key)]
            if links and alert.get("status") == "firing":
                lines.append(f"     runbook {links[0]}" + (f"  dashboard {links[1]}" if len(links) > 1 else ""))
    return "\n".join(lines)


class Receiver:
    """An HTTP server on ``host:port`` handing each posted notification to ``deliver``."""

    def __init__(self, host: str, port: int, deliver: Callable[[dict[str, Any]], None]) -> None:
        outer = deliver

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (the name http.server calls)
                length = int(self.headers.get("Content-Length", 0))
                try:
                    payload = json.loads(self.rfile.read(length))
                except ValueError as exc:
                    self.send_error(400, f"not JSON: {exc}")
                    return
                outer(payload)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/"

    def start(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, name="mlmon-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def printer(stream: TextIO) -> Callable[[dict[str, Any]], None]:
    lock = threading.Lock()

    def deliver(payload: dict[str, Any]) -> None:
        with lock:
            print(format_notification(payload), file=stream, flush=True)

    return deliver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporter.receiver", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:9095", help="HOST:PORT to listen on (default %(default)s)")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    try:
        receiver = Receiver(host or "127.0.0.1", int(port), printer(sys.stdout))
    except OSError as exc:
        print(f"mlmon receiver: cannot listen on {args.listen}: {exc.strerror}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C in the demo's terminal stops it quietly
        receiver.server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
