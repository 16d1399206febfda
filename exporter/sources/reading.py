"""What the sources that read from elsewhere (a database, an endpoint) share.

Their read position is a value of the data itself (a watermark, a cursor) kept in the batch key,
so it must survive a trip through JSON as the same Python value.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path
from typing import Any


def encode_position(value: Any) -> Any:
    """A position value as JSON that ``decode_position`` turns back into the same Python value."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"unusable position value {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return {"float": value}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, str):
        return {"text": value}
    if hasattr(value, "item"):  # a numpy scalar
        return encode_position(value.item())
    raise ValueError(f"unusable position value {value!r} of type {type(value).__name__}")


def decode_position(encoded: Any) -> Any:
    if isinstance(encoded, int):
        return encoded
    (kind, text), *_ = encoded.items()
    return {
        "float": float,
        "decimal": Decimal,
        "datetime": dt.datetime.fromisoformat,
        "date": dt.date.fromisoformat,
        "text": str,
    }[kind](text)


def unreadable_file(path: Path | None) -> list[str]:
    """Why a secret file cannot be read: an empty list when it can, or when none is configured."""
    if path is None:
        return []
    if not path.is_file():
        return [f"{path} does not exist"]
    return [] if os.access(path, os.R_OK) else [f"{path} cannot be read"]
