"""Published figures as the samples /metrics shows, keyed ``name{label="value",...}``.

The run history stores, exports and backfills samples under the names a Prometheus query uses
(``mlmon_predictions_total``, ``mlmon_prediction_confidence_bucket{le="0.5"}``), without the model
and version labels, which every row carries in columns of its own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from exporter.catalogue import BY_NAME
from exporter.figures import Figure, HistogramFigure
from exporter.histogram import le_label

_KEY = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$", re.DOTALL)
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def series_key(name: str, labels: Mapping[str, str] | None = None) -> str:
    """``name{a="1",b="2"}`` with labels sorted, or the bare name when there are none."""
    if not labels:
        return name
    inner = ",".join(f'{key}="{_escape(str(value))}"' for key, value in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def parse_series_key(key: str) -> tuple[str, dict[str, str]]:
    """The name and labels of a key written by ``series_key``; ValueError for anything else."""
    match = _KEY.match(key.strip())
    if match is None:
        raise ValueError(f"{key!r} is not a series name")
    name, inner = match.group(1), match.group(2)
    labels: dict[str, str] = {}
    position = 0
    inner = inner or ""
    while position < len(inner):
        label = _LABEL.match(inner, position)
        if label is None:
            raise ValueError(f"{key!r}: cannot read the labels")
        labels[label.group(1)] = _unescape(label.group(2))
        position = label.end()
    return name, labels


def _figure_samples(item: Figure | HistogramFigure) -> Iterable[tuple[str, float]]:
    spec = BY_NAME.get(item.name)
    kind = spec.kind if spec is not None else "gauge"
    labels = dict(item.labels)
    if isinstance(item, HistogramFigure):
        for bound, count in item.buckets:
            yield series_key(f"{item.name}_bucket", {**labels, "le": le_label(bound)}), float(count)
        yield series_key(f"{item.name}_sum", labels), float(item.sum)
        yield series_key(f"{item.name}_count", labels), float(item.count)
    elif kind == "counter":
        yield series_key(f"{item.name}_total", labels), float(item.value)
    elif kind == "info":
        yield series_key(f"{item.name}_info", labels), float(item.value)
    else:
        yield series_key(item.name, labels), float(item.value)


def samples_of(figures: Iterable[Figure | HistogramFigure]) -> dict[str, float]:
    """Every finite sample of the figures; the last figure of a series wins, as on /metrics."""
    out: dict[str, float] = {}
    for item in figures:
        for key, value in _figure_samples(item):
            if math.isfinite(value):
                out[key] = value
    return out


def family_of(sample_name: str) -> tuple[str, str]:
    """The catalogue family a sample name belongs to and its kind; unknown names are gauges of their own."""
    for suffix, kinds in (("_total", ("counter",)), ("_info", ("info",)), ("_bucket", ("histogram",))):
        base = sample_name.removesuffix(suffix)
        if base != sample_name and base in BY_NAME and BY_NAME[base].kind in kinds:
            return base, BY_NAME[base].kind
    for suffix in ("_sum", "_count"):
        base = sample_name.removesuffix(suffix)
        if base != sample_name and base in BY_NAME and BY_NAME[base].kind == "histogram":
            return base, "histogram"
    if sample_name in BY_NAME and BY_NAME[sample_name].kind == "gauge":
        return sample_name, "gauge"
    return sample_name, "unknown"
