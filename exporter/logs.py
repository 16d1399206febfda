"""Log set-up as in Prometheus' own binaries: `--log.level` and `--log.format logfmt|json`, anywhere on the line."""

from __future__ import annotations

import json
import logging
import sys
import time

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "warning": logging.WARNING}
LEVELS["error"] = logging.ERROR
FORMATS = ("logfmt", "json")
GLOBAL_FLAGS = {"--log.level": LEVELS, "--log.format": FORMATS}


class GlobalFlagError(ValueError):
    pass


def take_global_flags(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """``argv`` without the global flags, and their values, wherever they stand (before or after the command)."""
    rest: list[str] = []
    found: dict[str, str] = {}
    args = iter(argv)
    for arg in args:
        name, sep, value = arg.partition("=")
        if name not in GLOBAL_FLAGS:
            rest.append(arg)
            continue
        if not sep:
            value = next(args, "")
        if value not in GLOBAL_FLAGS[name]:
            raise GlobalFlagError(f"{name} {value!r}: expected one of {', '.join(GLOBAL_FLAGS[name])}")
        found[name] = value
    return rest, found


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def _level(record: logging.LogRecord) -> str:
    return "warn" if record.levelno == logging.WARNING else record.levelname.lower()


class LogfmtFormatter(logging.Formatter):
    """``ts=… level=info logger=exporter.job msg="…"``, one line per record."""

    @staticmethod
    def _value(text: str) -> str:
        if text and not any(c in text for c in ' "=\n\t\\'):
            return text
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'

    def format(self, record: logging.LogRecord) -> str:
        fields = [("ts", _timestamp(record)), ("level", _level(record)), ("logger", record.name)]
        fields.append(("msg", record.getMessage()))
        if record.exc_info:
            fields.append(("err", self.formatException(record.exc_info)))
        return " ".join(f"{key}={self._value(value)}" for key, value in fields)


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": _timestamp(record), "level": _level(record), "logger": record.name, "msg": record.getMessage()}
        if record.exc_info:
            entry["err"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "info", fmt: str = "logfmt") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS[level])
    # the scheduler logs every job start and end at info; that is noise beside mlmon's own lines
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
