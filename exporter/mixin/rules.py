"""Building blocks of the rules: an alert, a recording rule, a group, and the template snippets
the alert texts share."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

from exporter.mixin.config import MixinConfig
from exporter.thresholds import BY_NAME, PUBLISHED

_DURATION = re.compile(r"^(\d+)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# How Prometheus templates print a value of each unit of the thresholds table.
FORMAT = {"ratio": "humanizePercentage", "seconds": "humanizeDuration", "number": 'printf "%.4g"'}


def scale_duration(duration: str, factor: float) -> str:
    """``duration`` multiplied by ``factor``, in the largest unit that keeps it whole (at least 1s)."""
    match = _DURATION.match(duration)
    if not match:
        raise ValueError(f"not a duration: {duration!r}")
    seconds = max(1, round(int(match.group(1)) * _SECONDS[match.group(2)] * factor))
    for unit in ("d", "h", "m"):
        if seconds % _SECONDS[unit] == 0:
            return f"{seconds // _SECONDS[unit]}{unit}"
    return f"{seconds}s"


def query(expr: str, fmt: str, *args: str) -> str:
    """A template snippet printing the first value of ``expr``; ``%q`` in it takes ``args`` (label refs)."""
    quoted = expr.replace('"', '\\"')
    printf = f'printf "{quoted}" {" ".join(args)}' if args else f'"{quoted}"'
    return f"{{{{ with {printf} | query }}}}{{{{ . | first | value | {fmt} }}}}{{{{ end }}}}"


def model_query(expr: str, fmt: str) -> str:
    """``query`` for an expression whose selectors take the alert's model and version as ``%[1]q``, ``%[2]q``."""
    return query(expr, fmt, "$labels.model", "$labels.version")


def threshold_of(name: str, fmt: str | None = None) -> str:
    """The configured threshold ``name`` of the alert's model, formatted by its unit."""
    return model_query(
        f'mlmon_threshold{{model=%[1]q,version=%[2]q,metric="{name}"}}', fmt or FORMAT[PUBLISHED[name].unit]
    )


VALUE_FORMAT = {name: FORMAT[t.unit] for name, t in BY_NAME.items()}
MODEL = "model {{ $labels.model }} version {{ $labels.version }}"


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    keep_firing_for: str
    severity: str
    signal: str
    summary: str
    description: str
    labels: dict[str, str] = field(default_factory=dict)
    # False for alerts about the exporter itself: they have no model to link a dashboard for.
    per_model: bool = True

    def render(self, config: MixinConfig) -> dict[str, Any]:
        annotations = {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": config.runbook(self.name),
        }
        if self.per_model:
            annotations["dashboard_url"] = (
                f"{config.dashboard_url}?var-model={{{{ $labels.model }}}}&var-version={{{{ $labels.version }}}}"
            )
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": scale_duration(self.for_, config.duration_scale),
            "keep_firing_for": scale_duration(self.keep_firing_for, config.duration_scale),
            "labels": {"severity": self.severity, "signal": self.signal, **self.labels},
            "annotations": annotations,
        }


@dataclass(frozen=True)
class Record:
    name: str
    expr: str

    def render(self, config: MixinConfig) -> dict[str, Any]:
        return {"record": self.name, "expr": self.expr}


@dataclass(frozen=True)
class Group:
    name: str
    rules: list[Alert] | list[Record]

    def render(self, config: MixinConfig) -> dict[str, Any]:
        return {"name": self.name, "rules": [rule.render(config) for rule in self.rules]}


def breach(
    alertname: str,
    threshold: str,
    value: str,
    config: MixinConfig,
    *,
    scale: str = "",
    keys: tuple[str, ...] = ("model", "version"),
    interval: bool = False,
) -> str:
    """``value`` past the model's ``threshold`` (in the direction of the thresholds table), with hysteresis.

    The second branch keeps the alert active, once pending or firing, until the value is back past
    the threshold by the recovery band: a value hovering at its threshold gives one episode.
    ``scale`` rewrites the threshold (``"2 * {t} - 1"``) for alerts on a multiple of it. With
    ``interval``, the breach starts only when the upper end of the figure's 95 % interval
    (mlmon_performance_interval_upper_ratio{metric=threshold}) is past it too: a dip sampling alone
    explains starts nothing, while an episode already running holds as above.
    """
    op = "<" if BY_NAME[threshold].direction == "below" else ">"
    sign = "+" if op == "<" else "-"
    selector = f'mlmon_threshold{{metric="{threshold}"}}'
    bound = scale.format(t=selector) if scale else selector
    band = config.recovery_band
    hold = f"({bound} {sign} {band:g} * abs({bound}))"
    on = ", ".join(keys)
    start = f"{value}\n  {op} on(model, version) group_left()\n{_paren(bound)}\n"
    if interval:
        upper = f'mlmon_performance_interval_upper_ratio{{metric="{threshold}"}}'
        start = (
            f"(\n{textwrap.indent(start, '  ')})\nunless on(model, version)\n"
            f"(\n  {upper}\n    >= on(model, version) group_left()\n  {_paren(bound)}\n)\n"
        )
    return (
        f"{start}or\n(\n  {value}\n    {op} on(model, version) group_left()\n  {hold}\n"
        f'  and on({on}) ALERTS{{alertname="{alertname}"}}\n)\n'
    )


def _paren(expr: str) -> str:
    return expr if expr.startswith("mlmon_threshold") else f"({expr})"
