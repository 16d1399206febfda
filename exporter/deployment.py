"""The deployed estimator of one model: loaded, reloaded when its file changes, checked against the config."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd

from exporter.config import ModelConfig
from exporter.model import LoadedModel, ModelLoadError, file_signature, load_model
from exporter.performance import configured_positive_index
from exporter.prediction_log import LoggedModelError, logged_classes, settings_digest

log = logging.getLogger(__name__)


class Deployment:
    def __init__(
        self,
        model: ModelConfig,
        key: str,
        loader: Callable[[Path, str], LoadedModel] | None = None,
        reference_data: Callable[[], pd.DataFrame | None] = lambda: None,
    ) -> None:
        # the default loads a pickle only when its digest matches model_sha256, checked before unpickling
        self.model, self.key = model, key
        self.loader = loader or partial(
            load_model, sha256=model.model_sha256, trusted_types=tuple(model.model_trusted_types)
        )
        # a model served elsewhere may learn its classes from the reference
        self.reference_data = reference_data
        self.loaded: LoadedModel | None = None
        self._signature: tuple[int, int] | None = None

    def current(self) -> tuple[LoadedModel, bool]:
        """The loaded model, and whether it was (re)loaded just now (a new deployment).

        Raises ``ModelLoadError`` when the file cannot be loaded or disagrees with the config.
        """
        if self.model.model_path is None:
            return self._served_elsewhere()
        signature = file_signature(self.model.model_path)
        if self.loaded is not None and signature == self._signature:
            return self.loaded, False
        loaded = self.loader(self.model.model_path, self.model.task)
        configured, expected = self.model.feature_columns, loaded.feature_names
        if configured is not None and expected is not None and list(configured) != list(expected):
            raise ModelLoadError(f"feature_columns {configured} differ from the model's feature_names_in_ {expected}")
        self.loaded, self._signature = loaded, signature
        log.info("model %s: loaded %s (sha256 %s)", self.key, self.model.model_path, loaded.digest)
        self._warn_about(loaded)
        return loaded, True

    def _served_elsewhere(self) -> tuple[LoadedModel, bool]:
        """Nothing to load: the task and classes of a model served elsewhere, described once."""
        if self.loaded is not None:
            return self.loaded, False
        model = self.model
        needs_reference = model.task != "regression" and not model.probability_columns
        try:
            classes = logged_classes(model, self.reference_data() if needs_reference else None)
        except LoggedModelError as exc:
            raise ModelLoadError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001  (an unreadable reference: said, and tried again next run)
            raise ModelLoadError(f"cannot read the reference for the classes: {type(exc).__name__}: {exc}") from exc
        features = list(model.feature_columns) if model.feature_columns is not None else None
        self.loaded = LoadedModel(
            estimator=None, classes=classes, feature_names=features, digest=settings_digest(model)
        )
        log.info("model %s: served elsewhere, outputs read from column %s", self.key, model.prediction_column)
        self._warn_about(self.loaded)
        return self.loaded, True

    def _warn_about(self, loaded: LoadedModel) -> None:
        """Say once, at load, what the config leaves to chance for this model."""
        model = self.model
        if loaded.feature_names is None and model.feature_columns is None and not model.has_reference:
            log.warning(
                "model %s: the estimator has no feature_names_in_ and no feature_columns or reference is"
                " configured, so each batch's columns are taken in file order",
                self.key,
            )
        classes = loaded.classes if loaded.classes is not None else []
        if model.task == "binary_classification" and configured_positive_index(classes, model.positive_class) is None:
            log.warning(
                "model %s: positive_class %r is not one of the classes %s; the last class is used",
                self.key,
                model.positive_class,
                [c.item() if hasattr(c, "item") else c for c in classes],
            )
        if model.labels is not None and model.window.latest_batch:
            log.warning(
                "model %s: late labels only update the window they fall in, and the window is the latest"
                " batch; set window.rows or window.seconds to reach back as far as labels take to arrive",
                self.key,
            )
