"""A batch monitored piece by piece: one mergeable state per piece, merged, then the figures.

``monitor_in_chunks`` folds the chunks of one file into a state in a single process;
``monitor_on_dask`` computes one state per Parquet row group on a ``dask.distributed`` cluster and
merges them there. Each piece is validated and scored as a batch of its own would be, against the
model's fitted reference profile (``FeatureDrift.fit``); both paths give the same figures.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from exporter.config import ModelConfig
from exporter.drift.fitting import FittedColumn, unpack
from exporter.ingest.scoring import Scored, score_prepared
from exporter.ingest.validation import PreparedBatch, prepare_batch
from exporter.mergeable.chunks import read_chunks, read_row_group, row_groups
from exporter.mergeable.confusion import ConfusionCounts
from exporter.mergeable.drift import BinCounts, CategoryCounts, NumericPlacement, ValueCounts
from exporter.mergeable.errors import ErrorSums
from exporter.mergeable.estimation import EstimationSums
from exporter.mergeable.outputs import OutputSums
from exporter.mergeable.quality import QualityCounts
from exporter.mergeable.ranking import MAX_CLASSES, ScoreRanks
from exporter.model import LoadedModel
from exporter.monitors.multivariate import error_sum
from exporter.monitors.output_drift import residuals, usable_values
from exporter.performance import UNMATCHED, class_indices, positive_index
from exporter.reference.building import observed_values
from exporter.reference.profile import FeatureProfile, ReferenceProfile

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

FeatureState = NumericPlacement | BinCounts | CategoryCounts | ValueCounts


@dataclass
class BatchState:
    rows: int = 0
    labelled: int = 0  # rows that came with a label the model knows
    confusion: ConfusionCounts | None = None  # classification: over the labelled rows
    outputs: OutputSums = field(default_factory=lambda: OutputSums.empty(None))
    features: dict[str, FeatureState] = field(default_factory=dict)
    quality: QualityCounts = field(default_factory=QualityCounts)
    # output drift by family ("prediction", "label", "residual"), placed on the fitted reference side
    output_drift: dict[str, FeatureState] = field(default_factory=dict)
    errors: ErrorSums = field(default_factory=ErrorSums)  # regression: over the labelled rows
    reconstruction: float = 0.0  # the sum of the rows' multivariate reconstruction errors
    estimation: EstimationSums = field(default_factory=EstimationSums)
    ranks: ScoreRanks | None = None  # classification with probabilities: ROC AUC's score counts

    def merge(self, other: BatchState) -> BatchState:
        confusion = self.confusion.merge(other.confusion) if self.confusion and other.confusion else self.confusion
        ranks = self.ranks.merge(other.ranks) if self.ranks and other.ranks else self.ranks
        return BatchState(
            self.rows + other.rows,
            self.labelled + other.labelled,
            confusion,
            self.outputs.merge(other.outputs),
            _merged(self.features, other.features),
            self.quality.merge(other.quality),
            _merged(self.output_drift, other.output_drift),
            self.errors.merge(other.errors),
            self.reconstruction + other.reconstruction,
            self.estimation.merge(other.estimation),
            ranks,
        )

    def roc_auc(self) -> float | None:
        """ROC AUC as a batch read in chunks publishes it (``ScoreRanks.published``); None without
        scores of both classes among the labelled rows, or past the bound."""
        return self.ranks.published() if self.ranks is not None else None


def _merged(mine: dict[str, FeatureState], theirs: dict[str, FeatureState]) -> dict[str, FeatureState]:
    return {name: state.merge(theirs[name]) for name, state in mine.items()}  # type: ignore[arg-type]


@dataclass(frozen=True)
class FeatureFigure:
    method: str
    score: float
    pvalue: float | None
    bound: float = 0.0  # the largest error the state allows (Wasserstein only)


@dataclass(frozen=True)
class BatchFigures:
    rows: int
    performance: dict[str, float]
    drift: dict[str, FeatureFigure]
    output_drift: dict[str, FeatureFigure] = field(default_factory=dict)


class BatchMonitor:
    """What one piece of a batch adds to the state, and the figures of a merged state."""

    def __init__(self, model: ModelConfig, loaded: LoadedModel, profile: ReferenceProfile | None) -> None:
        """Without a reference ``profile`` there is no drift, and data quality counts missing values only."""
        self.model, self.loaded, self.profile = model, loaded, profile
        self.columns = unpack(profile.fitted.get("feature_drift", {})) if profile is not None else {}
        # output drift keeps its reference side with its fitted state (``OutputDrift.fit``)
        outputs = unpack(profile.fitted.get("output_drift", {})) if profile is not None else {}
        self.output_columns = {family: column for family, column in outputs.items() if column.values is not None}
        multivariate = profile.fitted.get("multivariate_drift", {}) if profile is not None else {}
        self.multivariate = multivariate if "components" in multivariate else None
        self.estimation = profile.fitted.get("estimation", {}) if profile is not None else {}
        features = profile.features if profile is not None else {}
        self.categorical = {name for name, f in features.items() if f.kind == "categorical"}
        self.categorical |= set(model.categorical_features)

    def empty(self) -> BatchState:
        classes = self.loaded.classes
        confusion = ConfusionCounts.empty(len(classes)) if classes is not None else None
        features = self._states({name: (column, self._reference(name).values) for name, column in self.columns.items()})
        outputs = self._states({family: (column, column.values) for family, column in self.output_columns.items()})
        return BatchState(
            0,
            0,
            confusion,
            OutputSums.empty(classes),
            features,
            QualityCounts(),
            outputs,
            ErrorSums(),
            ranks=self._ranks(),
        )

    def _ranks(self) -> ScoreRanks | None:
        """Score counts for ROC AUC: the positive class's column for a binary model, every class's for
        a multiclass one (up to ``ranking.MAX_CLASSES``)."""
        classes = self.loaded.classes
        if classes is None or self.model.task == "regression":
            return None
        if self.model.task == "binary_classification":
            return ScoreRanks.empty([positive_index(classes, self.model.positive_class)])
        if len(classes) > MAX_CLASSES:
            log.info("model %s: no ROC AUC for batches read in chunks above %d classes", self.model.name, MAX_CLASSES)
            return None
        return ScoreRanks.empty(list(range(len(classes))))

    def _states(self, columns: dict[str, tuple[FittedColumn, np.ndarray | None]]) -> dict[str, FeatureState]:
        states: dict[str, FeatureState] = {}
        for name, (column, reference) in columns.items():
            state = _feature_state(column, reference) if reference is not None else None
            if state is None:
                log.warning(
                    "model %s: %s drift of %s has no mergeable form; left out", self.model.name, column.method, name
                )
            else:
                states[name] = state
        return states

    def add(self, state: BatchState, frame: pd.DataFrame) -> BatchState:
        """Validate and score ``frame`` as a batch of its own and add it to ``state``."""
        prepared = prepare_batch(
            frame,
            self.model,
            self.loaded,
            categorical=self.categorical,
            batch_key="chunk",
            require_id=False,
            known_features=list(self.profile.features) if self.profile is not None else None,
        )
        return self.add_scored(state, prepared, score_prepared(self.model, self.loaded, prepared))

    def add_scored(self, state: BatchState, prepared: PreparedBatch, scored: Scored) -> BatchState:
        """Add a piece already validated and scored: its valid rows, their outputs, labels and
        features, and the quality of every row that arrived."""
        classes = self.loaded.classes
        state.rows += len(prepared.features)
        true = None
        labelled = prepared.labelled
        if prepared.labels is not None and labelled.any():
            state.labelled += int(labelled.sum())
            if state.confusion is not None and classes is not None:
                # labels are matched to the classes already (``match_labels``), predictions are classes
                true = class_indices(prepared.labels[labelled], classes)
                predicted = class_indices(scored.predictions[labelled], classes)
                usable = (true != UNMATCHED) & (predicted != UNMATCHED)
                state.confusion.update(true[usable], predicted[usable])
                if state.ranks is not None and scored.probabilities is not None:
                    known = true != UNMATCHED
                    state.ranks.update(true[known], scored.probabilities[labelled][known])
            if self.model.task == "regression":
                state.errors.update(prepared.labels[labelled], scored.predictions[labelled])
        state.outputs.update(scored.predictions, scored.probabilities, classes, true, labelled)
        for name, feature in state.features.items():
            values = observed_values(prepared.features[name], self._reference(name).kind)
            feature.update(values)
        state.quality.update(prepared.arrived, self.profile)
        if self.multivariate is not None and len(prepared.features):
            state.reconstruction += error_sum(prepared.features, self.multivariate)
        if self.estimation and scored.probabilities is not None and classes is not None:
            binary = self.model.task == "binary_classification"
            positive = positive_index(classes, self.model.positive_class) if binary else None
            state.estimation.update(scored.predictions, scored.probabilities, classes, self.estimation, positive)
        for family, placed in state.output_drift.items():
            compared = self._output_values(family, prepared, scored)
            if compared is not None:
                placed.update(compared)
        return state

    def _output_values(self, family: str, prepared: PreparedBatch, scored: Scored) -> np.ndarray | None:
        """What ``OutputDrift`` compares for ``family``, of this piece; None when the piece gives it
        in another kind than the reference side was fitted for."""
        kind, classes, labelled = self.output_columns[family].kind, self.loaded.classes, prepared.labelled
        if family == "prediction":
            if kind == "numeric" and self.model.task == "binary_classification":
                if scored.probabilities is None or classes is None:
                    return None
                values = scored.probabilities[:, positive_index(classes, self.model.positive_class)]
            else:
                values = scored.predictions
        elif prepared.labels is None:
            return None
        elif family == "label":
            values = prepared.labels[labelled]
        else:
            values = residuals(prepared.labels[labelled], scored.predictions[labelled])
        return usable_values(values, kind)

    def _reference(self, feature: str) -> FeatureProfile:
        assert self.profile is not None  # a feature has a drift state only when there is a profile
        return self.profile.features[feature]

    def figures(self, state: BatchState) -> BatchFigures:
        performance: dict[str, float] = {}
        binary = self.model.task == "binary_classification"
        if state.confusion is not None and self.loaded.classes is not None and binary:
            performance = state.confusion.binary(positive_index(self.loaded.classes, self.model.positive_class))
            area = state.roc_auc()
            if area is not None:
                performance["roc_auc"] = area
        for name, feature in state.features.items():
            if isinstance(feature, ValueCounts) and feature.overflow:
                log.warning(
                    "model %s: %s holds more distinct values than its Jensen-Shannon state keeps; left out",
                    self.model.name,
                    name,
                )
        drift = {
            name: _figure(self.columns[name], feature, self._reference(name).values)
            for name, feature in state.features.items()
            if feature.rows  # no usable value of it in the batch: left out, as the drift monitor does
        }
        outputs = {
            family: _figure(self.output_columns[family], placed, self.output_columns[family].values)
            for family, placed in state.output_drift.items()
            if placed.rows
        }
        return BatchFigures(state.rows, performance, drift, outputs)


def _feature_state(column: FittedColumn, reference: np.ndarray) -> FeatureState | None:
    if column.method in ("ks", "wasserstein"):
        return NumericPlacement.fit(reference)
    if column.method == "psi" and column.kind == "numeric":
        return BinCounts.fit(column.state)
    if column.method == "jensenshannon" and column.kind == "numeric":
        return ValueCounts.empty(reference)
    if column.kind == "categorical" or column.method == "chisquare":
        return CategoryCounts.empty(reference)
    return None


def _figure(column: FittedColumn, feature: FeatureState, reference: np.ndarray) -> FeatureFigure:
    if isinstance(feature, NumericPlacement):
        if column.method == "ks":
            result = feature.ks(reference)
            return FeatureFigure("ks", result.score, result.pvalue)
        result, bound = feature.wasserstein(float(column.state["scale"][0]))
        return FeatureFigure("wasserstein", result.score, None, bound)
    if isinstance(feature, BinCounts):
        return FeatureFigure("psi", feature.psi(column.state).score, None)
    if isinstance(feature, ValueCounts):
        return FeatureFigure("jensenshannon", feature.jensenshannon(reference).score, None)
    result = feature.compare(column.method, column.state)
    return FeatureFigure(column.method, result.score, result.pvalue)


def monitor_frames(monitor: BatchMonitor, frames: Iterable[pd.DataFrame]) -> BatchFigures:
    return monitor.figures(reduce(monitor.add, frames, monitor.empty()))


def monitor_in_chunks(monitor: BatchMonitor, path: Path, chunk_rows: int) -> BatchFigures:
    """The batch at ``path`` read ``chunk_rows`` at a time: memory follows the chunk, not the batch."""
    return monitor_frames(monitor, read_chunks(path, chunk_rows))


def _row_group_state(monitor: BatchMonitor, path: str, index: int) -> BatchState:
    return monitor.add(monitor.empty(), read_row_group(Path(path), index))


def monitor_on_dask(monitor: BatchMonitor, path: Path, client: Client) -> BatchFigures:
    """One state per Parquet row group, computed on the cluster's workers and merged there."""
    shared: Any = client.scatter(monitor, broadcast=True)
    states = [client.submit(_row_group_state, shared, str(path), i) for i in range(row_groups(path))]
    while len(states) > 1:
        pairs = [client.submit(BatchState.merge, a, b) for a, b in zip(states[::2], states[1::2])]
        states = pairs + ([states[-1]] if len(states) % 2 else [])
    return monitor.figures(states[0].result())
