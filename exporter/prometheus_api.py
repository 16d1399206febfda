"""A small client of Prometheus's HTTP query API (instant and range queries), with requests."""

from __future__ import annotations

from typing import Any

import requests


class PrometheusError(ValueError):
    """Prometheus could not be reached or refused the query; the message says which and why."""


class PrometheusAPI:
    def __init__(self, url: str, timeout: float = 30.0, session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()

    def _get(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            response = self.session.get(f"{self.url}{path}", params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            raise PrometheusError(f"{self.url}{path} answered {response.status_code}, not the query API") from None
        if body.get("status") != "success":
            raise PrometheusError(f"query {params.get('query')!r} failed: {body.get('error', response.status_code)}")
        return list(body["data"]["result"])

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        """An instant query at Unix time ``at``."""
        return self._get("/api/v1/query", {"query": expr, "time": at})

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """A range query; each result has ``metric`` (labels) and ``values`` ([time, "value"] pairs)."""
        return self._get("/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step})
