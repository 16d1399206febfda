"""Property tests: whatever bytes or YAML the config file holds, loading it gives a Config or a ConfigError."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.config import Config, ConfigError, load_config

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["*/5 * * * *", "auto", "ks", "files", "${HOME}", "${MLMON_UNSET_VARIABLE}", "1e999", "-1"]),
)
keys = st.one_of(
    st.sampled_from(
        ["models", "name", "model_path", "source", "type", "path", "schedule", "cron", "interval_seconds", "drift"]
        + ["thresholds", "accuracy", "window", "rows", "seconds", "labels", "state_path", "method", "model_sha256"]
    ),
    st.text(max_size=12),
    st.integers(),
)
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5))


def _load_text(data: bytes) -> Config | None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mlmon.yml"
        path.write_bytes(data)
        try:
            return load_config(path)
        except ConfigError as error:
            message = str(error)
            assert message and "Traceback" not in message
            return None


@SETTINGS
@given(st.binary(max_size=400))
def test_arbitrary_bytes_give_a_config_error(data: bytes) -> None:
    _load_text(data)


@SETTINGS
@given(documents)
def test_arbitrary_yaml_gives_a_config_or_a_config_error(document: Any) -> None:
    _load_text(yaml.safe_dump(document, allow_unicode=True).encode())


def _valid() -> dict[str, Any]:
    return {
        "state_path": "state.db",
        "models": [
            {
                "name": "m",
                "model_path": "m.skops",
                "source": {"type": "files", "path": "in"},
                "target_column": "y",
                "schedule": {"interval_seconds": 60},
                "thresholds": {"accuracy": 0.9},
                "drift": {"method": "auto"},
                "window": {"rows": 100},
            }
        ],
    }


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@SETTINGS
@given(st.data(), documents)
def test_a_valid_config_with_one_value_replaced_gives_a_config_or_a_config_error(
    data: st.DataObject, value: Any
) -> None:
    config = _valid()
    path = data.draw(st.sampled_from(_paths(config)))
    node = config
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    _load_text(yaml.safe_dump(config, allow_unicode=True).encode())


@pytest.mark.parametrize(
    "text",
    [
        "models: &a [*a]",
        "models: &a {x: *a}",
        "[" * 5000 + "]" * 5000,
        "models: " + "[" * 3000 + "]" * 3000,
        "a: 2001-13-45",
        "!!python/object/apply:os.system [echo]",
        "\ufeffmodels: []",
    ],
    ids=["alias in itself", "alias in a mapping", "deep list", "deep models", "bad date", "python tag", "bom"],
)
def test_yaml_that_breaks_parsers_gives_a_config_error(text: str) -> None:
    assert _load_text(text.encode()) is None


@SETTINGS
@given(st.text(max_size=300))
def test_arbitrary_text_gives_a_config_or_a_config_error(text: str) -> None:
    _load_text(text.encode("utf-8", errors="surrogatepass"))
