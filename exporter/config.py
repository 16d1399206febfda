"""Configuration: a YAML file validated at load, reported as one readable message on error."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from exporter.drift import METHODS
from exporter.sources import SOURCES

# Threshold names, directions and defaults live in the thresholds table beside the catalogue; the
# names are re-exported here for the code that validates configs.
from exporter.thresholds import BY_NAME, DEFAULT_THRESHOLDS, KNOWN_THRESHOLDS
from exporter.thresholds import LOWER_BOUNDS as LOWER_BOUNDS
from exporter.thresholds import UPPER_BOUNDS as UPPER_BOUNDS

Task = Literal["binary_classification", "multiclass_classification", "regression"]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A validator that checks several keys names the one at fault as "key.sub[0]: message"; that key
# extends the location pydantic reports, so the user reads one full key path.
_SUBKEY = re.compile(r"^([A-Za-z_][\w.\[\]]*): (.*)$", re.DOTALL)


class ConfigError(Exception):
    """The configuration cannot be used; the message names the offending key.

    ``keys`` lists the key paths at fault, for answers that must not echo any configured value.
    """

    def __init__(self, message: str, keys: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.keys = keys


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _source_type(value: Any) -> str:
    # `type` may be left out for the folder source, as configs written before there was a choice do
    return value.get("type", "files") if isinstance(value, dict) else getattr(value, "type", "files")


# The `source:` block: one config model per registered source, told apart by `type`.
SourceConfig = Annotated[
    Union[tuple(Annotated[source.Config, Tag(name)] for name, source in SOURCES.items())],  # noqa: UP007
    Discriminator(
        _source_type,
        custom_error_type="unknown_source",
        custom_error_message=f"unknown source type (known: {', '.join(SOURCES)})",
    ),
]


class ScheduleConfig(_Strict):
    interval_seconds: float | None = Field(default=None, gt=0)
    cron: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ScheduleConfig:
        if (self.interval_seconds is None) == (self.cron is None):
            raise ValueError("set exactly one of interval_seconds or cron")
        if self.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(self.cron)
            except ValueError as exc:
                raise ValueError(f"cron {self.cron!r}: {exc}") from None
        return self


class WindowConfig(_Strict):
    """Evaluation window: the latest batch (default), the last N rows, or the last N seconds."""

    rows: int | None = Field(default=None, gt=0)
    seconds: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _at_most_one(self) -> WindowConfig:
        if self.rows is not None and self.seconds is not None:
            raise ValueError("set at most one of rows or seconds")
        return self

    @property
    def latest_batch(self) -> bool:
        """Whether the window is the latest batch alone (neither rows nor seconds set)."""
        return self.rows is None and self.seconds is None


class MultivariateConfig(_Strict):
    enabled: bool = True
    explained_variance: float = Field(default=0.65, gt=0, lt=1)
    chunk_rows: int = Field(default=200, gt=10)
    band_sigmas: float = Field(default=3.0, gt=0)


class DriftConfig(_Strict):
    enabled: bool = True
    method: str = "auto"
    feature_methods: dict[str, str] = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict)
    correction: Literal["none", "bonferroni", "fdr"] = "none"
    dataset_drift_share: float = Field(default=0.5, gt=0, le=1)
    multivariate: MultivariateConfig = Field(default_factory=MultivariateConfig)

    @model_validator(mode="after")
    def _known_methods(self) -> DriftConfig:
        names = sorted(METHODS)
        for where, method in [
            ("method", self.method),
            *((f"feature_methods.{k}", v) for k, v in self.feature_methods.items()),
        ]:
            if method != "auto" and method not in METHODS:
                raise ValueError(f"{where}: unknown drift method {method!r} (known: auto, {', '.join(names)})")
        for method in self.thresholds:
            if method not in METHODS:
                raise ValueError(f"thresholds: unknown drift method {method!r} (known: {', '.join(names)})")
        return self


class LabelsConfig(_Strict):
    """Where late labels land: files with the id column and the target column."""

    source: SourceConfig


class ReferenceConfig(_Strict):
    """Reference data read from a source of any type (a SQL query, an endpoint, a folder), read whole."""

    source: SourceConfig


class LimitsConfig(_Strict):
    max_features: int = Field(default=100, gt=0)
    max_classes: int = Field(default=20, gt=0)
    # a text cell longer than this (an id, a category, a label) makes its row invalid
    max_cell_length: int = Field(default=4096, gt=0)
    # a batch of more rows than this is monitored in chunks of ``chunk_rows`` (see exporter/ingest/chunked.py)
    max_batch_rows: int = Field(default=2_000_000, gt=0)
    chunk_rows: int = Field(default=500_000, gt=0)


class ModelConfig(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]+$")]
    version: str = "1"
    # A model served elsewhere names the columns its batches log its outputs in (see
    # exporter/prediction_log.py) instead of a model_path; they come first so model_path's check sees them.
    prediction_column: str | None = None
    probability_columns: dict[int | str, str] | None = None
    latency_column: str | None = None
    model_path: Annotated[Path | None, Field(validate_default=True)] = None  # a fitted estimator mlmon scores with
    # a pickle (joblib) file runs code when loaded, so it is loaded only when its digest is pinned here
    model_sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = None
    # types a skops file may build beyond skops' defaults (scikit-learn estimators, numpy basics)
    model_trusted_types: list[str] = Field(default_factory=list)
    task: Task = "binary_classification"
    source: SourceConfig
    target_column: str | None = None
    id_column: str | None = None
    timestamp_column: str | None = None
    feature_columns: list[str] | None = None
    categorical_features: list[str] = Field(default_factory=list)
    positive_class: int | str = 1
    reference_path: Path | None = None
    reference: ReferenceConfig | None = None
    labels: LabelsConfig | None = None
    schedule: ScheduleConfig = Field(default_factory=lambda: ScheduleConfig(interval_seconds=60))
    window: WindowConfig = Field(default_factory=WindowConfig)
    min_rows: int = Field(default=30, ge=1)
    thresholds: dict[str, float] = Field(default_factory=dict)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    estimation: bool = True
    limits: LimitsConfig = Field(default_factory=LimitsConfig)

    @field_validator("thresholds")
    @classmethod
    def _known_thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(KNOWN_THRESHOLDS), key=str)
        if unknown:
            hint = suggest(str(unknown[0]), KNOWN_THRESHOLDS) if len(unknown) == 1 else ""
            raise ValueError(
                f"unknown threshold(s) {', '.join(map(str, unknown))}{hint} (known: {', '.join(KNOWN_THRESHOLDS)})"
            )
        return value

    @field_validator("model_path")
    @classmethod
    def _model_or_logged_outputs(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None and info.data.get("prediction_column") is None:
            raise ValueError("Field required (or, for a model served elsewhere, prediction_column)")
        return value

    @model_validator(mode="after")
    def _scored_or_logged(self) -> ModelConfig:
        if self.model_path is not None and self.prediction_column is not None:
            raise ValueError("set model_path or prediction_column, not both")
        if self.prediction_column is None and (self.probability_columns or self.latency_column):
            raise ValueError("probability_columns and latency_column need prediction_column")
        if self.task == "regression" and self.probability_columns:
            raise ValueError("probability_columns: a regression model has no class probabilities")
        if self.probability_columns is not None and len(self.probability_columns) < 2:
            raise ValueError("probability_columns: name one column per class, at least two")
        return self

    @property
    def served_elsewhere(self) -> bool:
        """True for a model whose outputs are logged in its batches rather than computed by mlmon."""
        return self.model_path is None

    @model_validator(mode="after")
    def _sources_read_batches(self) -> ModelConfig:
        for where, source in (("source", self.source), ("labels.source", self.labels and self.labels.source)):
            problem = source.batch_problem() if source is not None else None
            if problem:
                raise ValueError(f"{where}.{problem}")
        return self

    @model_validator(mode="after")
    def _one_reference(self) -> ModelConfig:
        if self.reference_path is not None and self.reference is not None:
            raise ValueError("set reference_path or reference, not both")
        return self

    @property
    def has_reference(self) -> bool:
        return self.reference_path is not None or self.reference is not None

    @model_validator(mode="after")
    def _labels_need_ids(self) -> ModelConfig:
        if self.labels is not None and (self.id_column is None or self.target_column is None):
            raise ValueError("labels: late labels are joined by id, so set id_column and target_column")
        return self

    @property
    def effective_thresholds(self) -> dict[str, float]:
        merged = dict(DEFAULT_THRESHOLDS)
        merged["drifted_features_ratio"] = self.drift.dataset_drift_share
        for name, threshold in BY_NAME.items():
            if threshold.follows in self.thresholds:
                merged[name] = self.thresholds[threshold.follows]
        merged.update(self.thresholds)
        return merged

    @property
    def interval_seconds(self) -> float:
        if self.schedule.interval_seconds is not None:
            return self.schedule.interval_seconds
        from apscheduler.triggers.cron import CronTrigger

        return shortest_cron_gap(CronTrigger.from_crontab(self.schedule.cron or "* * * * *"))


class Config(_Strict):
    state_path: Path = Path("mlmon-state.db")
    quarantine_path: Path | None = None
    # stored predictions (and labels waiting for one) older than this are deleted; a label that
    # arrives later than this after its prediction is no longer joined
    prediction_retention_days: float = Field(default=30.0, gt=0)
    models: list[ModelConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_models(self) -> Config:
        seen: dict[tuple[str, str], int] = {}
        for index, model in enumerate(self.models):
            key = (model.name, model.version)
            if key in seen:
                raise ValueError(
                    f"models[{index}]: model {model.name} version {model.version} is configured twice"
                    f" (first at models[{seen[key]}])"
                )
            seen[key] = index
        return self

    @property
    def quarantine_dir(self) -> Path:
        return self.quarantine_path or self.state_path.with_name(self.state_path.stem + "-quarantine")


def shortest_cron_gap(trigger: Any, samples: int = 50) -> float:
    """The shortest gap between consecutive fire times, over the next ``samples`` fires."""
    from datetime import datetime, timezone

    now = datetime(2024, 1, 1, tzinfo=timezone.utc)
    times = []
    previous = None
    for _ in range(samples):
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            break
        times.append(fire)
        previous, now = fire, fire
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    return min((g for g in gaps if g > 0), default=60.0)


def _expand_env(node: Any, where: str = "", substituted: dict[str, str] | None = None) -> Any:
    """``node`` with ``${VAR}`` replaced; ``substituted`` collects each value put in, so errors can hide it."""
    if isinstance(node, dict):
        return {k: _expand_env(v, f"{where}.{k}" if where else str(k), substituted) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, f"{where}[{i}]", substituted) for i, v in enumerate(node)]
    if isinstance(node, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(f"{where}: environment variable {name} is not set", (where,))
            if substituted is not None and os.environ[name]:
                substituted[os.environ[name]] = match.group(0)
            return os.environ[name]

        return _ENV.sub(replace, node)
    return node


def _redact(message: str, substituted: dict[str, str]) -> str:
    """``message`` with every value taken from the environment shown as the ``${VAR}`` it came from."""
    for value in sorted(substituted, key=len, reverse=True):
        message = message.replace(value, substituted[value])
    return message


def _model_class(annotation: Any) -> type[BaseModel] | None:
    """The config model class inside an annotation such as ``list[ModelConfig]`` or ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_class(arg)
        if found is not None:
            return found
    return None


def _keys_at(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys valid where ``loc`` points (the last part being the key itself)."""
    cls: type[BaseModel] | None = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = cls.model_fields.get(part) if cls is not None else None
        cls = _model_class(field.annotation) if field is not None else None
        if cls is None:
            return []
    return list(cls.model_fields) if cls is not None else []


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """ ", did you mean `x`?" for the nearest valid name, or nothing when none is near."""
    import difflib

    found = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f", did you mean `{found[0]}`?" if found else ""


def _key_lines(text: str) -> dict[str, int]:
    """The line each key path of a YAML document starts on (``models[0].thresholds`` -> 12)."""
    lines: dict[str, int] = {}

    def walk(node: Any, where: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                path = f"{where}.{key.value}" if where else str(key.value)
                lines.setdefault(path, key.start_mark.line + 1)
                walk(value, path)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines.setdefault(f"{where}[{index}]", item.start_mark.line + 1)
                walk(item, f"{where}[{index}]")

    try:
        walk(yaml.compose(text, Loader=yaml.SafeLoader), "")
    except (yaml.YAMLError, RecursionError):
        return {}
    return lines


def _line_of(where: str, lines: dict[str, int]) -> int | None:
    while where:
        if where in lines:
            return lines[where]
        cut = max(where.rfind("."), where.rfind("["))
        where = where[:cut] if cut > 0 else ""
    return None


def config_error(
    exc: ValidationError,
    root: type[BaseModel],
    lines: dict[str, int] | None = None,
    substituted: dict[str, str] | None = None,
    prefix: str = "",
) -> ConfigError:
    """One readable error for every problem pydantic found: full key path, nearest valid key, line."""
    messages, keys = [], []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        where = _location(loc)
        message = error["msg"].removeprefix("Value error, ")
        subkey = _SUBKEY.match(message) if error["type"] == "value_error" else None
        if subkey:
            where = f"{where}.{subkey.group(1)}" if where else subkey.group(1)
            message = subkey.group(2)
        if error["type"] == "extra_forbidden" and loc:
            message += suggest(str(loc[-1]), _keys_at(root, loc))
        line = _line_of(where, lines or {})
        if line is not None:
            message += f" (line {line})"
        messages.append(f"{where}: {message}" if where else message)
        keys.append(where)
    return ConfigError(prefix + _redact("; ".join(messages), substituted or {}), tuple(keys))


def _location(loc: tuple[Any, ...]) -> str:
    out = ""
    for index, part in enumerate(loc):
        if index and loc[index - 1] == "source" and part in SOURCES:
            continue  # the union's tag: the user wrote `type`, not a key of that name
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _resolve(path: Path | None, base: Path) -> Path | None:
    if path is None:
        return None
    return path if path.is_absolute() else (base / path)


def parse_config(data: Any, base_dir: Path, lines: dict[str, int] | None = None) -> Config:
    """Validate parsed YAML; relative paths are taken from ``base_dir``; ``lines`` locates keys in the file."""
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a mapping with a `models` list")
    substituted: dict[str, str] = {}
    try:
        data = _expand_env(data, substituted=substituted)
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, Config, lines, substituted) from None
    except RecursionError:  # a YAML alias that contains itself, or nesting no config has
        raise ConfigError("the configuration nests too deep or refers to itself (a YAML alias inside itself)") from None
    models = []
    for model in config.models:
        update: dict[str, Any] = {
            "model_path": _resolve(model.model_path, base_dir),
            "reference_path": _resolve(model.reference_path, base_dir),
            "source": model.source.relative_to(base_dir),
        }
        if model.labels is not None:
            update["labels"] = LabelsConfig(source=model.labels.source.relative_to(base_dir))
        if model.reference is not None:
            update["reference"] = ReferenceConfig(source=model.reference.source.relative_to(base_dir))
        models.append(model.model_copy(update=update))
    return config.model_copy(
        update={
            "models": models,
            "state_path": _resolve(config.state_path, base_dir),
            "quarantine_path": _resolve(config.quarantine_path, base_dir),
        }
    )


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except (ValueError, RecursionError) as exc:  # a date that is not one, or nesting too deep to read
        raise ConfigError(f"{path}: not a usable YAML document: {type(exc).__name__}") from None
    return parse_config(data, path.resolve().parent, _key_lines(text))
