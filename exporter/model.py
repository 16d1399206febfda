"""Loading the deployed estimator and describing what it predicts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np


class ModelLoadError(Exception):
    pass


@dataclass
class LoadedModel:
    estimator: Any
    classes: np.ndarray | None  # classifiers only, in predict_proba column order
    feature_names: list[str] | None
    digest: str

    @property
    def has_proba(self) -> bool:
        return self.classes is not None and hasattr(self.estimator, "predict_proba")


def file_signature(path: Path) -> tuple[int, int] | None:
    """(modification time in ns, size) of a file, or None when it cannot be read: changes when it does."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class DigestCache:
    """A file's content digest, read again only when the file's signature changes."""

    def __init__(self) -> None:
        self._key: tuple[Path, tuple[int, int]] | None = None
        self._digest = ""

    def digest(self, path: Path) -> str:
        signature = file_signature(path)
        if signature is None or self._key != (path, signature):
            self._digest = file_digest(path)
            self._key = (path, signature) if signature is not None else None
        return self._digest


def file_digest(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_model(path: Path, task: str) -> LoadedModel:
    try:
        estimator = joblib.load(path)
    except FileNotFoundError:
        raise ModelLoadError(f"model file {path} does not exist") from None
    except Exception as exc:  # noqa: BLE001  (a corrupt or incompatible file, whatever the cause)
        raise ModelLoadError(f"cannot load model {path}: {type(exc).__name__}: {exc}") from exc
    if not hasattr(estimator, "predict"):
        raise ModelLoadError(f"{path} holds a {type(estimator).__name__}, which has no predict()")
    classes = getattr(estimator, "classes_", None)
    if task != "regression" and classes is None:
        raise ModelLoadError(f"{path}: task {task} needs a classifier with classes_")
    names = getattr(estimator, "feature_names_in_", None)
    return LoadedModel(
        estimator=estimator,
        classes=np.asarray(classes) if task != "regression" else None,
        feature_names=[str(n) for n in names] if names is not None else None,
        digest=file_digest(path),
    )
