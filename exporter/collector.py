"""Exposition: the only module that imports prometheus_client.

On every scrape the collector builds fresh metric families from the latest published snapshots, in
the order and with the types of the catalogue. A model removed from the config simply stops being
exported.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

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
