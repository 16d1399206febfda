"""Real Prometheus-stack binaries for the tests: skip where missing, but fail under CI=true."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def require_binary(name: str, *alternatives: str) -> str:
    for candidate in (name, *alternatives):
        path = shutil.which(candidate)
        if path:
            return path
    unavailable(
        f"{name} is not installed (Debian: apt-get install prometheus prometheus-alertmanager docker-compose chromium)"
    )


def unavailable(message: str) -> NoReturn:
    """What a test does without something it needs: skip, or fail under CI=true, where it must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
