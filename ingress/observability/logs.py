"""Process logging: JSON lines (default) or text, and the access-log line format.

Application logs go to stderr through the root logger. Access lines go to
stdout through `ACCESS_LOGGER`, already formatted by `access_line`, so the
proxy pays for one string build and one write per request and nothing else.
Keys given with `extra=` (e.g. `object`, `field`, `file`) become JSON fields.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

ACCESS_LOGGER = logging.getLogger("portico.access")

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

    access = logging.StreamHandler(sys.stdout)
    access.setFormatter(logging.Formatter("%(message)s"))
    ACCESS_LOGGER.handlers[:] = [access]
    ACCESS_LOGGER.setLevel(logging.INFO)
    ACCESS_LOGGER.propagate = False


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


def access_line(
    fmt: str,
    *,
    now: float,
    client: str,
    method: str,
    path: str,
    status: int,
    sent: int,
    upstream: str,
    duration: float,
    host: str,
    ingress: str,
) -> str:
    """One request, as a JSON object or an nginx-like text line.

    `now` is the completion time (epoch seconds), `sent` the response bytes,
    `duration` seconds from the request's first byte to the response's last,
    `upstream` the "ip:port" that answered ('' if none), `ingress` "ns/name".
    """
    duration_ms = round(duration * 1000, 3)
    if fmt == "json":
        return json.dumps({
            "ts": _clock.format(now), "client": client, "method": method, "path": path,
            "status": status, "bytes": sent, "upstream": upstream, "duration_ms": duration_ms,
            "host": host, "ingress": ingress,
        }, ensure_ascii=False)
    return (f"{client} [{_clock.format(now)}] {_quote(method)} {_quote(path)} {status} {sent} "
            f"{duration_ms}ms host={_quote(host)} ingress={_quote(ingress)} "
            f"upstream={_quote(upstream)}")
