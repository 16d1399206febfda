"""What `check-config` verifies beyond the config's own validity: that each model would actually start.

Every model is loaded under the same safety rules as a running exporter (so a check never unpickles a
file a run would refuse), every reference is read, and every path is looked at. Each problem is one
line naming the model and the key at fault.
"""

from __future__ import annotations

import os
from pathlib import Path

from exporter.config import Config, ModelConfig
from exporter.model import ModelLoadError, load_model
from exporter.sources.files import read_table


def _writable_problem(key: str, path: Path) -> str | None:
    """A file the exporter creates: its nearest existing folder must be writable."""
    folder = path if path.is_dir() else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if path.exists() and not path.is_dir() and not os.access(path, os.W_OK):
        return f"{key}: {path} cannot be written"
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        return f"{key}: {path} cannot be created ({folder} is not a writable folder)"
    return None


def check_model(model: ModelConfig) -> list[str]:
    """Problems that would keep ``model`` from running; empty when it would start."""
    problems: list[str] = []
    where = f"model {model.name} version {model.version}"
    loaded = None
    if model.model_path is not None:  # a model served elsewhere has no file to load
        try:
            loaded = load_model(model.model_path, model.task, model.model_sha256, model.model_trusted_types)
        except ModelLoadError as exc:
            problems.append(f"{where}: model_path: {exc}")
    names = loaded.feature_names if loaded is not None else None
    if model.feature_columns is not None and names is not None and list(model.feature_columns) != names:
        problems.append(f"{where}: feature_columns differ from the model's feature_names_in_")
    problems += [f"{where}: source.{problem}" for problem in model.source.problems()]
    if model.labels is not None:
        problems += [f"{where}: labels.source.{problem}" for problem in model.labels.source.problems()]
    if model.reference is not None:
        problems += [f"{where}: reference.source.{problem}" for problem in model.reference.source.problems()]
    if model.reference_path is not None:
        problems.append(_reference_problem(f"{where}: reference_path", model, loaded))
    return [p for p in problems if p]


def _reference_problem(key: str, model: ModelConfig, loaded: object) -> str | None:
    path = model.reference_path
    assert path is not None
    try:
        frame = read_table(path)
    except FileNotFoundError:
        return f"{key}: {path} does not exist"
    except Exception as exc:  # noqa: BLE001  (whatever the reader's complaint, it is the answer)
        return f"{key}: cannot read {path}: {type(exc).__name__}: {exc}"
    if frame.empty:
        return f"{key}: {path} has no rows"
    expected = model.feature_columns or getattr(loaded, "feature_names", None)
    missing = [c for c in expected or [] if c not in frame.columns]
    if missing:
        return f"{key}: {path} lacks the feature column(s) {', '.join(missing)}"
    return None


def check_config(config: Config) -> list[str]:
    problems = [p for p in (_writable_problem("state_path", config.state_path),) if p]
    quarantine = _writable_problem("quarantine_path", config.quarantine_dir)
    if quarantine:
        problems.append(quarantine)
    for model in config.models:
        problems += check_model(model)
    return problems
