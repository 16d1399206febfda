"""One model's reference profile: fitted once per fingerprint and cached in the state store.

The fingerprint covers the reference data, the model file and the settings the profile depends on,
so a new reference, a redeployed model or a changed drift setting each give a fresh profile, and a
restart with none of them changed reads the cached one instead of fitting again. Models with the same
fingerprint use one stored profile, fitted by the first of them, and one copy of it in memory
(``shared``); models that differ only in their model file still share the arrays their profiles have
in common, such as the reference's feature values.

The reference is a file (``reference_path``), hashed again only when its size or modification time
changes, or a source of any type (``reference: {source: ...}``), read whole on every run and hashed
by content, so a query whose result changed gives a new fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time

import pandas as pd

from exporter.config import ModelConfig
from exporter.figures import Figure
from exporter.ingest.scoring import score_prepared
from exporter.ingest.validation import prepare_batch
from exporter.model import DigestCache, LoadedModel
from exporter.monitors import monitors_for
from exporter.reference.building import build_profile
from exporter.reference.profile import ReferenceProfile
from exporter.reference.shared import PROFILES, SharedProfiles
from exporter.reference.storage import fingerprint_of
from exporter.sources import Source, SourceUnavailable
from exporter.sources.files import read_table
from exporter.state import StateStore

log = logging.getLogger(__name__)

# the settings a profile depends on; anything else can change without a refit
PROFILE_SETTINGS = {"task", "target_column", "feature_columns", "categorical_features", "positive_class", "drift"}
# settings it depends on too, added to the fingerprint only where they are not the default, so a
# profile fitted before they were counted keeps its fingerprint: which columns are not features
# (ids, timestamps, logged outputs), which rows validation drops (duplicate ids, over-long cells),
# and whether estimation is fitted
PROFILE_SETTINGS_BEYOND_DEFAULTS = {
    "id_column": True,
    "timestamp_column": True,
    "prediction_column": True,
    "probability_columns": True,
    "latency_column": True,
    "estimation": True,
    "limits": {"max_cell_length"},
}


class ReferenceKeeper:
    def __init__(
        self,
        model: ModelConfig,
        state: StateStore,
        key: str,
        source: Source | None = None,
        profiles: SharedProfiles = PROFILES,
    ) -> None:
        self.model, self.state, self.key = model, state, key
        self.source = source  # where the reference comes from when it is not a file
        self.profiles = profiles  # the profiles this process holds, shared with every other model
        self.profile: ReferenceProfile | None = None
        # the fingerprint is checked on every run; the reference file is read again only when it changed
        self._reference_digest = DigestCache()
        self._frame: pd.DataFrame | None = None  # the source's data as last read, for the fit that follows

    def data(self) -> pd.DataFrame | None:
        """The reference data as it is now, or None without a reference."""
        if self.model.reference_path is not None:
            return read_table(self.model.reference_path)
        if self.source is not None:
            return self.source.read_all()
        return None

    def invalidate(self) -> None:
        self.profile = None

    def categorical(self, frame: pd.DataFrame) -> set[str]:
        """Categorical columns: known from the profile, else configured or inferred from ``frame``."""
        if self.profile is not None:
            known = {name for name, f in self.profile.features.items() if f.kind == "categorical"}
            return known | set(self.model.categorical_features)
        return self.inferred_categorical(frame)

    def inferred_categorical(self, frame: pd.DataFrame) -> set[str]:
        """Configured categorical columns, plus the boolean and text columns of ``frame``.

        A text column whose values are mostly numbers is a numeric column with a few bad cells, not a
        category: it stays numeric so those cells are dropped as bad_type rather than sink the batch.
        """
        inferred = {str(c) for c in frame.columns if _looks_categorical(frame[c])}
        inferred -= {self.model.target_column, self.model.id_column, self.model.timestamp_column}
        return inferred | set(self.model.categorical_features)

    def fingerprint(self, loaded: LoadedModel) -> str | None:
        if self.model.reference_path is not None:
            digest = self._reference_digest.digest(self.model.reference_path)
        elif self.source is not None:
            self._frame = self.source.read_all()
            digest = frame_digest(self._frame)
        else:
            return None
        settings = self.model.model_dump(mode="json", include=PROFILE_SETTINGS)
        parts = [digest, loaded.digest, json.dumps(settings, sort_keys=True)]
        beyond = self.model.model_dump(mode="json", include=PROFILE_SETTINGS_BEYOND_DEFAULTS, exclude_defaults=True)
        if beyond:
            parts.append(json.dumps(beyond, sort_keys=True))
        return fingerprint_of(*parts)

    def refresh(self, loaded: LoadedModel) -> list[Figure]:
        """Make the profile current; a broken reference costs drift and estimation, never the run."""
        if not self.model.has_reference:
            return []
        started = time.perf_counter()
        try:
            fingerprint = self.fingerprint(loaded)
            if self.profile is None or self.profile.fingerprint != fingerprint:
                self.profile = self.load_or_fit(loaded, fingerprint)
            ok = 1.0
        except SourceUnavailable as exc:
            # the source is down, not the reference wrong: the profile in use stays until it is back
            log.warning("model %s: the reference source is unavailable (%s): %s", self.key, exc.reason, exc)
            ok = 1.0 if self.profile is not None else 0.0
        except Exception:  # noqa: BLE001  (whatever broke, the run goes on without a reference)
            log.exception("model %s: cannot build the reference profile", self.key)
            self.profile, ok = None, 0.0
        return [
            Figure("mlmon_calculator_success", ok, {"calculator": "reference"}),
            Figure("mlmon_calculator_duration_seconds", time.perf_counter() - started, {"calculator": "reference"}),
        ]

    def load_or_fit(self, loaded: LoadedModel, fingerprint: str | None = None) -> ReferenceProfile:
        fingerprint = fingerprint or self.fingerprint(loaded)
        if fingerprint is None:
            raise ValueError(f"model {self.key} has no reference")
        with self.profiles.fitting(fingerprint):
            stored = self.profiles.load(self.state, self.key, fingerprint)
            if stored is not None:
                return stored
            profile = self.profiles.save(self.state, self.key, self.fit(loaded, fingerprint))
        log.info("model %s: reference profile %s fitted on %d rows", self.key, fingerprint, profile.rows)
        return profile

    def fit(self, loaded: LoadedModel, fingerprint: str) -> ReferenceProfile:
        frame = self._frame if self.model.reference_path is None else self.data()
        if frame is None:
            raise ValueError(f"model {self.key} has no reference")
        categorical = self.inferred_categorical(frame)
        prepared = prepare_batch(
            frame, self.model, loaded, categorical=categorical, batch_key="reference", require_id=False
        )
        scored = score_prepared(self.model, loaded, prepared)
        predictions, probabilities, labels = scored.predictions, scored.probabilities, None
        if prepared.labels is not None and prepared.labelled.any():
            # Where only part of the reference is labelled, the model's reference output is kept for
            # those rows, so labels, predictions and probabilities stay aligned row by row.
            mask = prepared.labelled
            labels, predictions = prepared.labels[mask], predictions[mask]
            probabilities = probabilities[mask] if probabilities is not None else None
        profile = build_profile(
            prepared.features,
            categorical,
            fingerprint=fingerprint,
            classes=loaded.classes,
            predictions=predictions,
            probabilities=probabilities,
            labels=labels,
        )
        unknown = sorted(set(self.model.drift.feature_methods) - set(profile.features))
        if unknown:
            log.warning("model %s: drift.feature_methods names no feature called %s", self.key, ", ".join(unknown))
        for monitor in monitors_for(self.model):
            profile.fitted[monitor.name] = monitor.fit(profile, self.model)
        return profile


def _looks_categorical(column: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(column):
        return True
    if pd.api.types.is_numeric_dtype(column):
        return False
    present = column.dropna()
    numbers = pd.to_numeric(present, errors="coerce").notna().sum()
    return bool(len(present) == 0 or numbers < 0.5 * len(present))


def frame_digest(frame: pd.DataFrame) -> str:
    """A digest of a table's columns, types and values: changes when any of them does."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()
