"""Parsers for annotation value syntaxes shared by several groups.

Each raises `InvalidValue` with a message saying what was expected; the
group reports it as a Problem naming the annotation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from ingress.model.filters.core import Network
from ingress.model.upstream import RETRY_CONDITIONS
from ingress.settings import ip_networks


class InvalidValue(ValueError):
    """A bad annotation value; the message says what was expected."""


_SIZE = re.compile(r"(\d+)([kKmMgG]?)")
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_SECONDS = re.compile(r"\d+(\.\d+)?s?")
# RFC 6265 cookie names are tokens; ingress-nginx's own validator is narrower still.
_COOKIE_NAME = re.compile(r"[-._~A-Za-z0-9]+")
_HOST_PORT = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:\d{1,5})?")


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise InvalidValue(f"must be true or false, not {value!r}")
    return lowered == "true"


def size(value: str) -> int:
    """nginx's size syntax: bytes, or a k/m/g suffix."""
    match = _SIZE.fullmatch(value.strip())
    if match is None:
        raise InvalidValue(f"must be a size like 8m, 512k, 1g or 0 (unlimited), not {value!r}")
    return int(match[1]) * _SIZE_UNITS[match[2].lower()]


def seconds(value: str) -> float:
    text = value.strip()
    if not _SECONDS.fullmatch(text) or float(text.rstrip("s")) <= 0:
        raise InvalidValue(f"must be a positive number of seconds, not {value!r}")
    return float(text.rstrip("s"))


def absolute_url(value: str) -> str:
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        raise InvalidValue(f"must be an absolute http(s) URL, not {value!r}")
    return url


def redirect_target(value: str) -> str:
    """An absolute http(s) URL, or a path on the request's own host (made absolute when sent)."""
    target = value.strip()
    if target.startswith("/") and not any(c.isspace() for c in target):
        return target
    try:
        return absolute_url(target)
    except InvalidValue:
        raise InvalidValue(
            f"must be an absolute http(s) URL or a path starting with '/', not {value!r}"
        ) from None


def integer(value: str) -> int:
    text = value.strip()
    if not text.lstrip("-").isdigit():
        raise InvalidValue(f"must be an integer, not {value!r}")
    return int(text)


def positive_integer(value: str) -> int:
    number = integer(value)
    if number <= 0:
        raise InvalidValue(f"must be a positive integer, not {value!r}")
    return number


def non_negative_integer(value: str) -> int:
    number = integer(value)
    if number < 0:
        raise InvalidValue(f"must be 0 or more, not {value!r}")
    return number


def matching(pattern: re.Pattern[str], expected: str) -> Callable[[str], str]:
    """A parser accepting text (spaces around it dropped) that `pattern` matches whole;
    `expected` completes "must be ..." in the message otherwise."""

    def parse(value: str) -> str:
        text = value.strip()
        if not pattern.fullmatch(text):
            raise InvalidValue(f"must be {expected}, not {value!r}")
        return text

    return parse


def one_of(*choices: str) -> Callable[[str], str]:
    """A parser accepting `choices` in any letter case, returning the choice as spelled here."""
    by_lower = {choice.lower(): choice for choice in choices}

    def parse(value: str) -> str:
        found = by_lower.get(value.strip().lower())
        if found is None:
            raise InvalidValue(f"must be one of {', '.join(choices)}, not {value!r}")
        return found

    return parse


def redirect_code(value: str) -> int:
    text = value.strip()
    if not text.isdigit() or not 300 <= int(text) <= 308:
        raise InvalidValue(f"must be a redirect status code 300-308, not {value!r}")
    return int(text)


def absolute_path(value: str) -> str:
    path = value.strip()
    if not path.startswith("/") or any(c.isspace() for c in path):
        raise InvalidValue(f"must be a path starting with '/', not {value!r}")
    return path


def networks(value: str) -> tuple[Network, ...]:
    """A comma-separated list of IP addresses and CIDR ranges (at least one)."""
    try:
        ranges = ip_networks(value)
    except ValueError as error:
        raise InvalidValue(str(error)) from None
    if not ranges:
        raise InvalidValue("must list at least one CIDR range")
    return tuple(ranges)


_OBJECT_NAME = r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?"
_OBJECT_REFERENCE = re.compile(rf"({_OBJECT_NAME}/)?{_OBJECT_NAME}")

# `name` or `namespace/name` of a Kubernetes object.
object_reference = matching(_OBJECT_REFERENCE, "name or namespace/name")
host_and_port = matching(_HOST_PORT, "a host name (optionally with :port)")
cookie_name = matching(_COOKIE_NAME, "a cookie name of letters, digits and '-._~'")


_HEADER_NAME = re.compile(r"[A-Za-z0-9_-]+")  # ingress-nginx's custom header names


def header_name(value: str) -> bool:
    return _HEADER_NAME.fullmatch(value) is not None


def whole_number(value: str) -> int:
    """A count as ingress-nginx's integer settings take it; 0 allowed."""
    text = value.strip()
    if not text.isdigit():
        raise InvalidValue(f"must be a whole number, not {value!r}")
    return int(text)


def whole_seconds(value: str) -> float:
    return float(whole_number(value))


def next_upstream(value: str) -> frozenset[str]:
    """proxy-next-upstream: nginx's conditions, space-separated; `off` (anywhere) is none."""
    names = value.split()
    unknown = [name for name in names if name != "off" and name not in RETRY_CONDITIONS]
    if unknown or not names:
        raise InvalidValue(
            f"must be nginx's proxy_next_upstream conditions ({', '.join(sorted(RETRY_CONDITIONS))}"
            f" or off), not {value!r}"
        )
    return frozenset() if "off" in names else frozenset(names)


def http_version(value: str) -> bool:
    """proxy-http-version: True for 1.0."""
    text = value.strip()
    if text not in ("1.0", "1.1"):
        raise InvalidValue(f"must be 1.0 or 1.1, not {value!r}")
    return text == "1.0"
