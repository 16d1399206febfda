"""Univariate drift of every feature against the reference profile.

Each feature is compared with the method and threshold ``resolve_method`` picks. With a correction
configured, the p-values of the tested features are adjusted together and the published p-value is
the adjusted one, so ``pvalue < significance level`` and ``severity >= 1`` always agree with the
detected flag. Features with no
usable value in the window or in the reference are left out, of the ratio too.

Fitting keeps, per feature, the method the reference calls for and what it needs to compare a window
against the reference (see ``exporter.drift.fitting``), so a run only places the window's values.

Only ``limits.max_features`` features get per-feature series: drifted features first, then the
ones closest to drifting, so a drifted feature is never the one hidden while a quiet one is shown.
The drifted share and the dataset flag still count every feature.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from exporter.drift import METHODS
from exporter.drift.correction import adjust
from exporter.drift.fitting import FittedColumn, compare_column, distinct_values, fit_column, pack, unpack
from exporter.drift.published import drift_figures
from exporter.drift.registry import DriftResult
from exporter.drift.selection import resolve_method
from exporter.figures import Figure
from exporter.monitors.registry import Fitted, Monitor, Output, register
from exporter.parallel import ordered_map
from exporter.reference.building import observed_values
from exporter.window import Window

if TYPE_CHECKING:
    from exporter.config import ModelConfig
    from exporter.reference.profile import FeatureProfile, ReferenceProfile

log = logging.getLogger(__name__)

NAMES_LOGGED = 20
# Features are compared side by side (see ``exporter.parallel``) once the window's columns hold this
# many values in all: a comparison's cost follows the window (the reference is fitted), and below this
# its many small array operations spend more time waiting for the interpreter lock than they save.
# When the monitors themselves run side by side (large windows), the features go one after another.
PARALLEL_VALUES = 1_000_000


@dataclass
class FeatureOutcome:
    feature: str
    method: str
    threshold: float
    score: float
    pvalue: float | None
    drifted: bool = False

    @property
    def result(self) -> DriftResult:
        return DriftResult(self.score, self.pvalue)

    @property
    def severity(self) -> float:
        """The cross-method severity: >= 1 exactly when drifted, larger when the drift is larger."""
        return METHODS[self.method].severity(self.result, self.threshold)


@register
class FeatureDrift(Monitor):
    name = "feature_drift"

    def applies(self, model: ModelConfig) -> bool:
        return model.drift.enabled

    def fit(self, reference: ReferenceProfile, model: ModelConfig) -> Fitted:
        return pack(
            {
                name: fit_column(name, profile.kind, profile.values, model.drift)
                for name, profile in reference.features.items()
                if profile.values.size
            }
        )

    def calculate(
        self, window: Window, reference: ReferenceProfile | None, fitted: Fitted, model: ModelConfig
    ) -> Output:
        if reference is None:
            return []
        return drift_output(compare_features(window, reference, model, unpack(fitted)), model)


def drift_output(outcomes: list[FeatureOutcome], model: ModelConfig) -> Output:
    """The published figures of judged outcomes (``judge``): the shown features' series, the drifted
    share and the dataset flag."""
    if not outcomes:
        return []
    ranked = sorted(outcomes, key=lambda o: (o.drifted, o.severity), reverse=True)
    shown, hidden = ranked[: model.limits.max_features], ranked[model.limits.max_features :]
    if hidden:
        names = ", ".join(o.feature for o in hidden[:NAMES_LOGGED])
        more = f" and {len(hidden) - NAMES_LOGGED} more" if len(hidden) > NAMES_LOGGED else ""
        log.warning(
            "model %s: drift series of %d feature(s) left out by limits.max_features=%d: %s%s",
            model.name,
            len(hidden),
            model.limits.max_features,
            names,
            more,
        )
    figures: Output = []
    for outcome in shown:
        labels = {"feature": outcome.feature}
        figures += drift_figures("feature", outcome.method, outcome.threshold, outcome.result, labels)
        figures.append(Figure("mlmon_feature_drift_detected", float(outcome.drifted), {"feature": outcome.feature}))
    share = sum(o.drifted for o in outcomes) / len(outcomes)
    figures.append(Figure("mlmon_drifted_features_ratio", share))
    figures.append(Figure("mlmon_dataset_drift_detected", float(share >= model.drift.dataset_drift_share)))
    figures.append(Figure("mlmon_series_dropped", float(len(hidden)), {"kind": "feature"}))
    return figures


def compare_features(
    window: Window, reference: ReferenceProfile, model: ModelConfig, fitted: dict[str, FittedColumn] | None = None
) -> list[FeatureOutcome]:
    """Every feature compared with the reference; with ``fitted`` (``FeatureDrift.fit``), against the
    fitted reference where it was fitted for the method that applies."""
    fitted = fitted or {}
    comparisons = []
    for name, profile in reference.features.items():
        if name not in window.features.columns or profile.values.size == 0:
            continue
        current = observed_values(window.features[name], profile.kind)
        if current.size == 0:
            continue
        column = fitted.get(name)
        distinct = column.distinct if column is not None else _distinct(profile)
        method, threshold = resolve_method(name, profile.kind, profile.values.size, distinct, model.drift)
        comparisons.append((name, method, threshold, column, profile.values, current))
    values = sum(current.size for *_, current in comparisons)
    results = ordered_map(_compare, comparisons, workers=None if values >= PARALLEL_VALUES else 1)
    outcomes = [
        FeatureOutcome(name, method, threshold, result.score, result.pvalue)
        for (name, method, threshold, *_), result in zip(comparisons, results, strict=True)
    ]
    return judge(outcomes, model)


def judge(outcomes: list[FeatureOutcome], model: ModelConfig) -> list[FeatureOutcome]:
    """The outcomes with their p-values corrected together (``drift.correction``) and their drifted flags."""
    tested = {o.feature: o.pvalue for o in outcomes if o.pvalue is not None}
    adjusted = adjust(tested, model.drift.correction)
    for outcome in outcomes:
        if outcome.pvalue is not None:
            outcome.pvalue = adjusted[outcome.feature]
        outcome.drifted = METHODS[outcome.method].drifted(outcome.result, outcome.threshold)
    return outcomes


def _compare(comparison: tuple[str, str, float, FittedColumn | None, np.ndarray, np.ndarray]) -> DriftResult:
    _, method, _, column, reference, current = comparison
    return compare_column(column, method, reference, current)


def _distinct(profile: FeatureProfile) -> int:
    return len(profile.categories) if profile.kind == "categorical" else distinct_values(profile.values, "numeric")
