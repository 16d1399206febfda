"""Real Prometheus, Alertmanager and exporter processes on free loopback ports, for live tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests
import yaml

from support.binaries import require_binary

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], T | None], timeout: float, description: str, interval: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (requests.RequestException, ValueError, KeyError) as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {description} (last error: {last_error})")


class _Process:
    name = "process"

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = self.workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.target}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200

    def __enter__(self) -> Any:
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT, cwd=self.workdir)
        try:
            wait_for(self._ready_or_dead, timeout=120, description=f"{self.name} to be ready")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _ready_or_dead(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
        return self.ready()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        if exc and exc[0] is not None:
            print(f"----- {self.name} log, last lines -----\n{self.tail()}")


class PrometheusServer(_Process):
    name = "prometheus"

    def __init__(
        self,
        workdir: Path,
        targets: list[str],
        alertmanager: str | None = None,
        scrape_interval: str = "2s",
        evaluation_interval: str = "1s",
        rules_dir: Path = REPO / "prometheus" / "rules",
    ) -> None:
        super().__init__(workdir)
        self.binary = require_binary("prometheus")
        config: dict[str, Any] = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
            "rule_files": [str(p) for p in sorted(Path(rules_dir).glob("*.yml"))],
            "scrape_configs": [
                {"job_name": "mlmon", "scrape_timeout": scrape_interval, "static_configs": [{"targets": targets}]}
            ],
        }
        if alertmanager:
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(config))

    def command(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={self.target}",
            "--log.level=warn",
        ]

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"query {expr!r} failed: {body.get('error')}")
        return list(body["data"]["result"])

    def wait_for(self, predicate: Callable[[], T | None], timeout: float, description: str) -> T:
        return wait_for(predicate, timeout, description)


class AlertmanagerServer(_Process):
    name = "alertmanager"

    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        super().__init__(workdir)
        self.binary = require_binary("prometheus-alertmanager", "alertmanager")
        self.cluster_port = free_port()
        (self.workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))

    def command(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.workdir / 'alertmanager.yml'}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address={self.target}",
            f"--cluster.listen-address=127.0.0.1:{self.cluster_port}",
            "--log.level=warn",
        ]


class ExporterProcess(_Process):
    name = "exporter"

    def __init__(self, subcommand: str, args: list[str], workdir: Path) -> None:
        super().__init__(workdir)
        self.args = [subcommand, *args]

    def command(self) -> list[str]:
        return [sys.executable, "-m", "exporter", *self.args, f"--web.listen-address=127.0.0.1:{self.port}"]

    def ready(self) -> bool:
        return requests.get(f"{self.url}/-/healthy", timeout=2).status_code == 200

    def __enter__(self) -> Any:
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        return super().__enter__()

    def wait_for(self, predicate: Callable[[], T | None], timeout: float, description: str) -> T:
        return wait_for(predicate, timeout, description)
