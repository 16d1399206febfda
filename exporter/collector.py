"""Exposition: the only module that imports prometheus_client.

The collector builds fresh metric families from the latest published snapshots, in the order and
with the types of the catalogue. A model removed from the config simply stops being exported.

``MetricsPage`` renders those families once per published change, not once per scrape: a scrape
then costs a copy of bytes kept in memory (gzipped once, too), plus the few process_* and
python_info series, which are read live on every scrape and appended to the same gzip stream.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from exporter import __version__
from exporter.catalogue import BY_NAME, SPECS, MetricSpec
from exporter.figures import Figure, HistogramFigure
from exporter.histogram import le_label
from exporter.results import Results

log = logging.getLogger(__name__)
BUILD = "mlmon_build"


class MlmonCollector(Collector):
    def __init__(self, results: Results) -> None:
        self.results = results
        self._warned: set[str] = set()

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning(message)

    def _grouped(self) -> dict[str, dict[tuple[str, ...], Figure | HistogramFigure]]:
        # the build family is the collector's own; taken from a snapshot it would be exported twice
        known = {spec.name: spec for spec in SPECS if spec.name != BUILD}
        grouped: dict[str, dict[tuple[str, ...], Figure | HistogramFigure]] = {}
        for snapshot in self.results.snapshots():
            for item in snapshot.figures:
                spec = known.get(item.name)
                if spec is None:
                    self._warn_once(f"figure {item.name} is not a catalogue family a model may publish; not exported")
                    continue
                labels = {"model": snapshot.model, "version": snapshot.version, **item.labels}
                try:
                    values = tuple(str(labels[name]) for name in spec.labels)
                except KeyError as missing:
                    self._warn_once(f"figure {item.name} lacks label {missing}; not exported")
                    continue
                # the last figure of a series wins, so a series is never exported twice
                grouped.setdefault(item.name, {})[values] = item
        for item in self.results.globals():
            spec = known.get(item.name)
            if spec is None or spec.labels:
                self._warn_once(f"figure {item.name} is not an exporter-wide catalogue family; not exported")
                continue
            grouped.setdefault(item.name, {})[()] = item
        return grouped

    def collect(self) -> Iterator[Metric]:
        grouped = self._grouped()
        for spec in SPECS:
            series = grouped.get(spec.name)
            if series:
                yield self._family(spec, series)
        yield InfoMetricFamily(BUILD, BY_NAME[BUILD].help, value={"version": __version__})

    @staticmethod
    def _family(spec: MetricSpec, series: dict[tuple[str, ...], Figure | HistogramFigure]) -> Metric:
        if spec.kind == "histogram":
            family = HistogramMetricFamily(spec.name, spec.help, labels=spec.labels)
            for values, item in series.items():
                assert isinstance(item, HistogramFigure)
                buckets = [(le_label(bound), count) for bound, count in item.buckets]
                family.add_metric(list(values), buckets, item.sum)
            return family
        if spec.kind == "info":
            base = [label for label in spec.labels if label in ("model", "version")]
            info = [label for label in spec.labels if label not in base]
            family = InfoMetricFamily(spec.name, spec.help, labels=base)
            for values in series:
                labelled = dict(zip(spec.labels, values))
                family.add_metric([labelled[b] for b in base], {k: labelled[k] for k in info})
            return family
        cls = CounterMetricFamily if spec.kind == "counter" else GaugeMetricFamily
        family = cls(spec.name, spec.help, labels=spec.labels)
        for values, item in series.items():
            assert isinstance(item, Figure)
            family.add_metric(list(values), float(item.value))
        return family


def build_registry(results: Results, runtime: bool = False) -> CollectorRegistry:
    """A private registry with mlmon's families; ``runtime`` adds the usual process_* and python_info."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MlmonCollector(results))
    if runtime:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The exposition body and its content type, negotiated from the Accept header."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


OPENMETRICS_EOF = b"# EOF\n"
GZIP_LEVEL = 6
GZIP_WRAPPER = 16 + zlib.MAX_WBITS  # a gzip header and trailer around the deflate stream


@dataclass
class _Rendering:
    version: int
    body: bytes  # without the OpenMetrics end marker: the live tail comes after it
    gzip_prefix: bytes | None = None
    # the compressor right after the body, flushed to a byte boundary: a copy of it finishes one gzip
    # stream with the live tail, so the body is compressed once however many scrapes follow
    compressor: Any = None


class MetricsPage:
    """The /metrics answer: mlmon's families rendered once per change of ``results``, then served from memory."""

    def __init__(self, results: Results, runtime: bool = True) -> None:
        self.results = results
        self._families = CollectorRegistry(auto_describe=False)
        self._families.register(MlmonCollector(results))
        self._live = CollectorRegistry(auto_describe=False)
        if runtime:
            ProcessCollector(registry=self._live)
            PlatformCollector(registry=self._live)
        self._lock = threading.Lock()
        self._cache: dict[str, _Rendering] = {}  # by content type
        self.renders = 0

    def is_current(self, accept: str | None, zipped: bool = False) -> bool:
        """True when ``answer`` has the page ready and costs only the live tail (no rendering)."""
        entry = self._cache.get(choose_encoder(accept or "")[1])
        return entry is not None and entry.version == self.results.version and (entry.compressor or not zipped)

    def _rendering(self, encoder: Callable[[CollectorRegistry], bytes], content_type: str, zipped: bool) -> _Rendering:
        entry = self._cache.get(content_type)
        if entry is not None and entry.version == self.results.version and (entry.compressor or not zipped):
            return entry
        with self._lock:  # one rendering at a time; whoever waited finds it done
            version = self.results.version
            entry = self._cache.get(content_type)
            if entry is None or entry.version != version:
                entry = _Rendering(version, encoder(self._families).removesuffix(OPENMETRICS_EOF))
                self.renders += 1
            if zipped and entry.compressor is None:
                compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, GZIP_WRAPPER)
                prefix = compressor.compress(entry.body) + compressor.flush(zlib.Z_SYNC_FLUSH)
                entry = _Rendering(entry.version, entry.body, prefix, compressor)
            self._cache[content_type] = entry
            return entry

    def answer(self, accept: str | None, zipped: bool = False) -> tuple[bytes, str]:
        """The body in the format ``accept`` negotiates, and its content type; gzipped when ``zipped``."""
        encoder, content_type = choose_encoder(accept or "")
        entry = self._rendering(encoder, content_type, zipped)
        tail = encoder(self._live).removesuffix(OPENMETRICS_EOF)
        if content_type.startswith("application/openmetrics-text"):
            tail += OPENMETRICS_EOF
        if not zipped:
            return entry.body + tail, content_type
        finish = entry.compressor.copy()
        assert entry.gzip_prefix is not None
        return entry.gzip_prefix + finish.compress(tail) + finish.flush(), content_type
