"""The mixin's `_config`: what differs between one operator's Prometheus and another's.

The shipped rule files are rendered with the defaults below; `python -m exporter.mixin --config FILE`
renders them for another setup from a YAML file holding any of these keys.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

import yaml


@dataclass(frozen=True)
class MixinConfig:
    # Selects the exporter's targets in `up`; mlmon_ families are mlmon's own, so they need no selector.
    job_selector: str = 'job="mlmon"'
    # The runbook; each alert links to its section, `<runbook_url>#<alertname lowercased>`.
    runbook_url: str = "https://github.com/mlmon/mlmon/blob/main/docs/runbook.md"
    # The model overview dashboard; model alerts link to it with the model and version selected.
    dashboard_url: str = "http://127.0.0.1:3000/d/mlmon-overview"
    # Hysteresis: once an alert is pending or firing, it holds until the value is back past its
    # threshold by this share of the threshold (2 % by default), so a value hovering at the
    # threshold gives one episode rather than a notification at every crossing.
    recovery_band: float = 0.02
    # Multiplies every `for` and `keep_firing_for`: 1 in production; the demo, where a simulated
    # day lasts seconds, renders its rules with a small factor.
    duration_scale: float = 1.0

    def runbook(self, alertname: str) -> str:
        return f"{self.runbook_url}#{alertname.lower()}"


DEFAULTS = MixinConfig()


def load(path: Path) -> MixinConfig:
    """A config from a YAML mapping of the fields above; an unknown key is an error that names it."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of mixin settings")
    known = {f.name: f.type for f in fields(MixinConfig)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(known)})")
    return replace(DEFAULTS, **data)
