"""HTTPRouteMatch → where a route sits in a virtual host, and its extra conditions.

Exact and PathPrefix paths use the same keys as Ingress paths; a
RegularExpression path (RE2) must match the whole path. Header and query
matches are Exact or RegularExpression (whole value); when a match names
a header or query parameter twice, only the first counts, as the spec says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ingress.build.fields import FieldError, mapping, optional_str, required_str, sequence
from ingress.model import (
    HeaderMatch,
    PathType,
    QueryMatch,
    Regex,
    RouteMatch,
    ValueMatch,
    compile_regex,
    normalize_prefix,
)

_PATH_TYPES = {
    "Exact": PathType.EXACT,
    "PathPrefix": PathType.PREFIX,
    "RegularExpression": PathType.REGEX,
}
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                      "PATCH"))
# What the API server's validation refuses in Exact and PathPrefix values.
_INVALID_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F", "#")
_INVALID_SUFFIXES = ("/..", "/.")
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")

REASON = "UnsupportedValue"


@dataclass(frozen=True, slots=True)
class MatchSpec:
    index: int
    path_type: PathType
    path: str  # as written
    key: str  # VirtualHost.exact / .prefixes key, or the regex pattern
    regex: Regex | None
    conditions: RouteMatch | None  # method, headers, query; None: any request


DEFAULT_MATCH = {"path": {"type": "PathPrefix", "value": "/"}}


def _fail(field: str, message: str) -> FieldError:
    return FieldError(field, message, REASON)


def header_name(raw: Any, field: str) -> bytes:
    """A header name as a lower-case token, or FieldError."""
    name = required_str(raw, field).lower()
    if not set(name) <= _TOKEN:
        raise _fail(field, f"{name!r} is not a header name")
    return name.encode("ascii")


def _value_match(entry: Any, at: str) -> ValueMatch:
    kind = optional_str(entry.get("type"), f"{at}.type") or "Exact"
    value = optional_str(entry.get("value"), f"{at}.value")
    if kind == "Exact":
        return ValueMatch(value)
    if kind == "RegularExpression":
        try:
            return ValueMatch(value, compile_regex(value))
        except ValueError as error:
            raise _fail(f"{at}.value", str(error)) from None
    raise _fail(f"{at}.type", f"{kind!r} is not Exact or RegularExpression")


def _path(raw: Any, at: str) -> tuple[PathType, str, str, Regex | None]:
    path = mapping(raw, at)
    kind = optional_str(path.get("type"), f"{at}.type") or "PathPrefix"
    path_type = _PATH_TYPES.get(kind)
    if path_type is None:
        raise _fail(f"{at}.type", f"{kind!r} is not Exact, PathPrefix or RegularExpression")
    value = optional_str(path.get("value"), f"{at}.value") or "/"
    if path_type is PathType.REGEX:
        try:
            # Anchored at the end too: the expression must match the whole path.
            return path_type, value, value, compile_regex(f"(?:{value})$")
        except ValueError as error:
            raise _fail(f"{at}.value", str(error)) from None
    if not value.startswith("/"):
        raise _fail(f"{at}.value", f"must start with '/', not {value!r}")
    bad = [s for s in _INVALID_SEQUENCES if s in value]
    bad += [s for s in _INVALID_SUFFIXES if value.endswith(s)]
    if bad:
        raise _fail(f"{at}.value", f"{value!r} must not contain {bad[0]!r}")
    key = value if path_type is PathType.EXACT else normalize_prefix(value)
    return path_type, value, key, None


K = TypeVar("K", bytes, str)
M = TypeVar("M", HeaderMatch, QueryMatch)


def _first_by_name(raw: Any, at: str, name_of: Callable[[Any, str], K],
                   make: Callable[[K, ValueMatch], M]) -> tuple[M, ...]:
    """Header or query parameter matches; of two with one name only the first counts."""
    found: dict[K, M] = {}
    for i, raw_entry in enumerate(sequence(raw, at)):
        where = f"{at}[{i}]"
        entry = mapping(raw_entry, where)
        name = name_of(entry.get("name"), f"{where}.name")
        found.setdefault(name, make(name, _value_match(entry, where)))
    return tuple(found.values())


def parse_match(index: int, raw: Any, at: str) -> MatchSpec:
    entry = mapping(raw, at)
    path_type, path, key, regex = _path(entry.get("path"), f"{at}.path")
    headers = _first_by_name(entry.get("headers"), f"{at}.headers", header_name, HeaderMatch)
    query = _first_by_name(entry.get("queryParams"), f"{at}.queryParams", required_str,
                           QueryMatch)
    method = optional_str(entry.get("method"), f"{at}.method")
    if method and method not in _METHODS:
        raise _fail(f"{at}.method", f"{method!r} is not an HTTP method")
    conditions = None
    if method or headers or query:
        conditions = RouteMatch(method.encode("ascii") if method else None, headers, query)
    return MatchSpec(index, path_type, path, key, regex, conditions)
