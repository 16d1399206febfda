"""Which recording rules can be backfilled now, from what a Prometheus already holds.

`promtool tsdb create-blocks-from rules` evaluates rules against a running Prometheus, which does
not see the blocks it is writing: a rule built on another recording rule (``rate1h_change1d`` on
``rate1h``) gives nothing until the blocks of the first are loaded. So the rules are taken in
passes: a rule is backfilled when every recorded series it reads is present at the start of the
range, and left for the next pass otherwise; a rule whose own series is already there is skipped,
and so is one none of whose input series Prometheus holds in the range (it would record nothing,
slowly).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exporter.prometheus_api import PrometheusAPI

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


@dataclass
class Plan:
    now: list[dict[str, Any]] = field(default_factory=list)
    later: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    no_input: list[str] = field(default_factory=list)


def recording_rules(path: Path) -> list[dict[str, Any]]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the rules: {exc}") from None
    rules = [rule for group in (data or {}).get("groups", []) for rule in group.get("rules", []) if "record" in rule]
    if not rules:
        raise ValueError(f"{path}: no recording rules in it")
    return rules


def reads(rule: dict[str, Any], recorded: set[str]) -> set[str]:
    """The recorded series (of the same file) a rule's expression reads."""
    return {name for name in _NAME.findall(str(rule["expr"])) if name in recorded} - {rule["record"]}


def inputs(rule: dict[str, Any], recorded: set[str]) -> set[str]:
    """The exporter's own series a rule's expression reads."""
    return {name for name in _NAME.findall(str(rule["expr"])) if name.startswith("mlmon_")} - recorded


def plan(
    rules: list[dict[str, Any]], api: PrometheusAPI, start: float, end: float, only: list[str] | None = None
) -> Plan:
    """What to backfill now, of ``rules`` (only those recording a name in ``only``, when given)."""
    recorded = {str(rule["record"]) for rule in rules}
    unknown = sorted(set(only or ()) - recorded)
    if unknown:
        raise ValueError(f"--rule {', '.join(unknown)}: not recorded by any rule of the file")
    probe = int(min(86400.0, max(end - start, 60.0)))
    span = int(max(end - start, 60.0))

    def at_start(name: str) -> bool:
        return bool(api.query(f"count(count_over_time({name}[{probe}s]))", start + probe))

    def in_range(name: str) -> bool:
        return bool(api.query(f"count(count_over_time({name}[{span}s]))", start + span))

    wanted = [rule for rule in rules if not only or rule["record"] in only]
    needed = {str(r["record"]) for r in wanted} | {name for r in wanted for name in reads(r, recorded)}
    available = {name for name in needed if at_start(name)}
    held = {name for rule in wanted for name in inputs(rule, recorded) if in_range(name)}
    out = Plan()
    for rule in wanted:
        name = str(rule["record"])
        raw = inputs(rule, recorded)
        if name in available:
            out.present.append(name)
        elif raw and not raw & held:
            out.no_input.append(name)
        elif reads(rule, recorded) <= available:
            out.now.append(rule)
        else:
            out.later.append(name)
    return out


def write_rules(rules: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"groups": [{"name": "mlmon-backfill", "rules": rules}]}, sort_keys=False))
