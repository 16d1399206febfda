"""numba, which compiles the large-reference Wasserstein loop: skip where missing, but fail under CI=true."""

from __future__ import annotations

import importlib.util
import os

import pytest


def require_numba() -> None:
    if importlib.util.find_spec("numba") is not None:
        return
    message = "numba is not installed (pip install -e '.[fast]', or '.[dev]')"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
