"""Switches set in the environment, each on unless turned off (``MLMON_KEEP_FREED_MEMORY``, ``MLMON_DIRECT_IO``)."""

from __future__ import annotations

import os
from collections.abc import Mapping

OFF = ("0", "false", "no", "off")


def turned_off(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the switch ``name`` is set to 0, false, no or off (in any case); unset, it is on."""
    environ = os.environ if environ is None else environ
    return environ.get(name, "1").strip().lower() in OFF
