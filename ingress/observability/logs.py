"""Process logging: JSON lines (default) or text, on stderr.

Application logs go to stderr through the root logger (access lines go to
stdout, see `access_log`). Keys given with `extra=` (e.g. `object`,
`field`, `file`) become JSON fields.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}
FORMATS = ("json", "text")

# Libraries that are chatty at INFO: only their warnings, unless debugging.
QUIET_LOGGERS = ("kopf", "aiohttp", "watchfiles", "asyncio")

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def configure_logging(fmt: str, level: str) -> None:
    """Install the one stderr handler (and the stdout access handler) for the process."""
    if fmt not in FORMATS:
        raise ValueError(f"--log-format: {fmt!r} is not one of {', '.join(FORMATS)}")
    numeric = LEVELS.get(level.lower())
    if numeric is None:
        raise ValueError(f"--log-level: {level!r} is not one of {', '.join(LEVELS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if numeric == logging.DEBUG
                                         else logging.WARNING)


class _Clock:
    """ISO 8601 UTC timestamps with milliseconds; the seconds part is formatted once a second."""

    __slots__ = ("_cached",)

    def __init__(self) -> None:
        # One attribute, replaced whole: threads that log never see a torn pair.
        self._cached = (-1, "")

    def format(self, now: float) -> str:
        second = int(now)
        cached_second, prefix = self._cached
        if second != cached_second:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._cached = (second, prefix)
        return f"{prefix}.{int((now - second) * 1000):03d}Z"


_clock = _Clock()


def iso_time(now: float) -> str:
    """Epoch seconds as 2023-11-14T22:13:20.250Z (process and access logs alike)."""
    return _clock.format(now)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _clock.format(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(_extras(record))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = (f"{_clock.format(record.created)} {record.levelname.lower():7} "
                f"{record.name}: {record.getMessage()}")
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{k}={_quote(str(v))}" for k, v in extras.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _quote(value: str) -> str:
    """Client-controlled text in a text line: no spaces/quotes/control characters unescaped."""
    if value and value.isprintable() and " " not in value and '"' not in value:
        return value
    return json.dumps(value, ensure_ascii=False)
