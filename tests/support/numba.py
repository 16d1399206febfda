"""numba, which compiles the large-reference Wasserstein loop: skip where missing, but fail under CI=true."""

from __future__ import annotations

import importlib.util

from support.binaries import unavailable


def require_numba() -> None:
    if importlib.util.find_spec("numba") is None:
        unavailable("numba is not installed (pip install -e '.[fast]', or '.[dev]')")
