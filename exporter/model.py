"""Loading the deployed estimator without letting its file run code, and describing what it predicts.

A skops file (a zip archive) is loaded with an explicit allow-list of trusted types: skops' own
defaults (scikit-learn's estimators and numpy's basics), ``EXTRA_TRUSTED_TYPES`` below, and the
model's ``model_trusted_types``. A file of any other kind is a pickle (joblib): unpickling runs
whatever code the file names, so it is loaded only when its SHA-256 equals the model's
``model_sha256``. The file is read once into memory; the digest is checked on those bytes and the
same bytes are loaded, so a file swapped between the check and the load is never unpickled.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SKOPS_MAGIC = b"PK\x03\x04"  # a skops file is a zip archive; a pickle never starts this way
# types scikit-learn estimators hold that skops does not trust by default, and that build plain data
EXTRA_TRUSTED_TYPES = frozenset({"sklearn.tree._tree.Tree"})


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
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_model(
    path: Path, task: str, sha256: str | None = None, trusted_types: tuple[str, ...] | list[str] = ()
) -> LoadedModel:
    """Load ``path`` under the rules above; ``sha256`` is the pin a pickle needs."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelLoadError(f"model file {path} does not exist") from None
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {path}: {exc.strerror}") from None
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256.lower():
        raise ModelLoadError(
            f"{path} does not match its model_sha256 pin (pinned {sha256.lower()}, file has {digest});"
            " not loaded. Deploy the pinned file, or pin the new one after checking where it came from"
        )
    if data.startswith(SKOPS_MAGIC):
        estimator = _load_skops(path, data, trusted_types)
    elif sha256 is None:
        raise ModelLoadError(
            f"{path} is a pickle (joblib) file, which can run code when loaded, and its config has no"
            " model_sha256 pin; not loaded. Save the model with skops (skops.io.dump), or pin the file"
            " you deployed with model_sha256: <the output of sha256sum>"
        )
    else:
        estimator = _load_pickle(path, data)
    return describe(path, estimator, task, digest)


def _load_skops(path: Path, data: bytes, configured: tuple[str, ...] | list[str]) -> Any:
    import skops.io

    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as exc:  # noqa: BLE001  (a corrupt archive, whatever the cause)
        raise ModelLoadError(f"cannot read skops model {path}: {type(exc).__name__}: {exc}") from exc
    allowed = EXTRA_TRUSTED_TYPES | set(configured)
    refused = sorted(set(untrusted) - allowed)
    if refused:
        raise ModelLoadError(
            f"{path} holds types that are not on the allow-list: {', '.join(refused)}; not loaded."
            " Add them to model_trusted_types only if you trust what they do when built"
        )
    try:
        return skops.io.loads(data, trusted=list(untrusted))
    except Exception as exc:  # noqa: BLE001  (a corrupt or incompatible file, whatever the cause)
        raise ModelLoadError(f"cannot load skops model {path}: {type(exc).__name__}: {exc}") from exc


def _load_pickle(path: Path, data: bytes) -> Any:
    import joblib

    try:
        return joblib.load(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001  (a corrupt or incompatible file, whatever the cause)
        raise ModelLoadError(f"cannot load model {path}: {type(exc).__name__}: {exc}") from exc


def describe(path: Path, estimator: Any, task: str, digest: str) -> LoadedModel:
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
        digest=digest,
    )
