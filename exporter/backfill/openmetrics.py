"""Runs written as OpenMetrics text with timestamps, the input of `promtool tsdb create-blocks-from openmetrics`.

A scraped gauge holds the value of the latest run until the next one, so Prometheus sees it on every
scrape in between. A backfill does the same: each run's samples are repeated every ``step`` seconds
until the next run of that model, but never longer than ``max_hold`` (a gap in the history, the
exporter being down, stays a gap). Families follow the catalogue's order, each written once with
all its series, each series in time order, and the text ends with ``# EOF``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from exporter.catalogue import BY_NAME, SPECS
from exporter.history.samples import family_of, parse_series_key
from exporter.state import StoredRun


@dataclass(frozen=True)
class Series:
    sample: str  # the sample name, e.g. mlmon_predictions_total
    labels: tuple[tuple[str, str], ...]  # model and version first, then the rest sorted
    key: str  # the run's sample key
    model: tuple[str, str]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _time(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


def hold_times(times: Sequence[float], step: float, max_hold: float | None) -> list[list[float]]:
    """For each run time, the instants its values are written at: every ``step`` until the next run."""
    gaps = sorted(b - a for a, b in zip(times, times[1:]) if b > a)
    limit = max_hold if max_hold is not None else (2.0 * gaps[(len(gaps) - 1) // 2] if gaps else 0.0)
    out = []
    for i, start in enumerate(times):
        until = min(times[i + 1] if i + 1 < len(times) else start, start + limit)
        count = max(1, math.ceil((until - start) / step)) if until > start else 1
        out.append([start + k * step for k in range(count)])
    return out


_INDEX = {spec.name: i for i, spec in enumerate(SPECS)}


def _order(family: str) -> tuple[int, str]:
    return _INDEX.get(family, len(_INDEX)), family


def _histogram_part(sample: str, labels: dict[str, str]) -> tuple[float, int]:
    """Sort key inside one histogram series at one instant: buckets by bound, then _count, then _sum."""
    if sample.endswith("_bucket"):
        le = labels.get("le", "+Inf")
        return (math.inf if le == "+Inf" else float(le)), 0
    return math.inf, 1 if sample.endswith("_count") else 2


def write(
    runs: Sequence[StoredRun],
    out: TextIO,
    step: float = 60.0,
    max_hold: float | None = None,
    advance: Callable[[int], None] | None = None,
) -> int:
    """Write ``runs`` as OpenMetrics to ``out``; returns how many samples were written."""
    by_model = _by_model(runs)
    instants = {model: hold_times([r.run_at for r in rs], step, max_hold) for model, rs in by_model.items()}
    families: dict[str, dict[str, list[Series]]] = defaultdict(lambda: defaultdict(list))
    for model, model_runs in by_model.items():
        keys = sorted({key for run in model_runs for key in run.samples})
        for key in keys:
            sample, labels = parse_series_key(key)
            family, _ = family_of(sample)
            rest = {k: v for k, v in labels.items() if k not in ("model", "version")}
            ordered = (("model", model[0]), ("version", model[1]), *sorted(rest.items()))
            # histogram samples of one label set are written together, instant by instant
            group = ",".join(f"{k}={v}" for k, v in ordered if k != "le")
            families[family][group].append(Series(sample, ordered, key, model))
    written = 0
    for family in sorted(families, key=_order):
        spec = BY_NAME.get(family)
        kind = spec.kind if spec is not None else "gauge"
        out.write(f"# TYPE {family} {kind}\n")
        if spec is not None:
            out.write(f"# HELP {family} {_escape(spec.help)}\n")
        for group in sorted(families[family]):
            members = families[family][group]
            members.sort(key=lambda s: _histogram_part(s.sample, dict(s.labels)) if kind == "histogram" else (0, 0))
            model = members[0].model
            for run, times in zip(by_model[model], instants[model]):
                present = [(s, run.samples[s.key]) for s in members if s.key in run.samples]
                if not present:
                    continue
                lines = [(s, f"{s.sample}{{{_labels(s.labels)}}} {_number(v)}") for s, v in present]
                for instant in times:
                    stamp = _time(instant)
                    for _, text in lines:
                        out.write(f"{text} {stamp}\n")
                    written += len(lines)
                if advance is not None:
                    advance(len(times) * len(lines))
    out.write("# EOF\n")
    return written


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in labels)


def _by_model(runs: Sequence[StoredRun]) -> dict[tuple[str, str], list[StoredRun]]:
    by_model: dict[tuple[str, str], list[StoredRun]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: r.run_at):
        by_model[(run.name, run.version)].append(run)
    return by_model


def count_samples(runs: Sequence[StoredRun], step: float = 60.0, max_hold: float | None = None) -> int:
    """How many samples ``write`` will produce, for a progress bar."""
    total = 0
    for model_runs in _by_model(runs).values():
        for run, times in zip(model_runs, hold_times([r.run_at for r in model_runs], step, max_hold)):
            total += len(times) * len(run.samples)
    return total
