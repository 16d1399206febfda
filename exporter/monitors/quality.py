"""Data quality of the rows that arrived in this run, invalid ones included (see ``exporter.quality``).

Per-feature series are bounded by ``limits.max_features``: the features with the worst ratios keep
theirs and the others are logged. Without a reference only the missing ratio is published.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from exporter.figures import Figure
from exporter.monitors.base import Fitted, Monitor, Output, Window, register
from exporter.quality import quality_ratios

if TYPE_CHECKING:
    from exporter.config import ModelConfig
    from exporter.reference import ReferenceProfile

log = logging.getLogger(__name__)

FAMILIES = {
    "missing": "mlmon_feature_missing_ratio",
    "out_of_range": "mlmon_feature_out_of_range_ratio",
    "unseen_category": "mlmon_feature_unseen_category_ratio",
}
NAMES_LOGGED = 20


@register
class Quality(Monitor):
    name = "quality"

    def calculate(
        self, window: Window, reference: ReferenceProfile | None, fitted: Fitted, model: ModelConfig
    ) -> Output:
        ratios = quality_ratios(window.arrived, reference)
        # worst first: by the highest ratio, then the next highest; ties keep the column order
        ranked = sorted(ratios, key=lambda feature: sorted(ratios[feature].values(), reverse=True), reverse=True)
        shown, hidden = ranked[: model.limits.max_features], ranked[model.limits.max_features :]
        if hidden:
            log.warning(
                "model %s: quality series of %d feature(s) left out by limits.max_features=%d: %s",
                model.name,
                len(hidden),
                model.limits.max_features,
                ", ".join(hidden[:NAMES_LOGGED])
                + (f" and {len(hidden) - NAMES_LOGGED} more" if len(hidden) > NAMES_LOGGED else ""),
            )
        return [
            Figure(FAMILIES[kind], value, {"feature": feature})
            for feature in shown
            for kind, value in ratios[feature].items()
        ]
