"""What a request must look like for a route to take it, beyond its host and path.

Patterns are RE2 (`google-re2`): they come from users' objects, and RE2
matches in time linear in the input whatever the pattern, where Python's
`re` can backtrack for ever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import re2


class RequestView(Protocol):
    """The parts of a request that route conditions read."""

    @property
    def method(self) -> bytes: ...

    @property
    def secure(self) -> bool:
        """Whether the request came in over TLS."""
        ...

    def header(self, lname: bytes) -> bytes | None:
        """The first value of a header, by lower-case name."""
        ...

    def query_value(self, name: str) -> str | None:
        """The first value of a query parameter, percent-decoded."""
        ...


class _NoRequest:
    """A request with no headers and no query (route lookups outside the proxy)."""

    method = b"GET"
    secure = False

    def header(self, lname: bytes) -> bytes | None:
        return None

    def query_value(self, name: str) -> str | None:
        return None


NO_REQUEST: RequestView = _NoRequest()


@dataclass(frozen=True, slots=True)
class Regex:
    """An RE2 pattern, compiled once; pickled as its source."""

    pattern: str
    case_insensitive: bool = False
    compiled: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        options = re2.Options()
        options.case_sensitive = not self.case_insensitive
        options.log_errors = False
        object.__setattr__(self, "compiled", re2.compile(self.pattern, options))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Regex, (self.pattern, self.case_insensitive))

    def prefix_match(self, text: str) -> Any:
        """The match object if the pattern matches at the start of `text`, else None."""
        return self.compiled.match(text)

    def full_match(self, text: str) -> bool:
        return self.compiled.fullmatch(text) is not None

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in `text`."""
        return self.compiled.search(text) is not None


def compile_regex(pattern: str, case_insensitive: bool = False) -> Regex:
    """A Regex, or ValueError naming what RE2 could not parse."""
    try:
        return Regex(pattern, case_insensitive)
    except re2.error as error:
        raise ValueError(f"{pattern!r} is not an RE2 regular expression: {error}") from None


@dataclass(frozen=True, slots=True)
class ValueMatch:
    """Exact text, or (with `regex`) a whole-value RE2 match."""

    value: str
    regex: Regex | None = None

    def matches(self, text: str | None) -> bool:
        if text is None:
            return False
        if self.regex is not None:
            return self.regex.full_match(text)
        return text == self.value


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    name: bytes  # lower-case
    value: ValueMatch


@dataclass(frozen=True, slots=True)
class QueryMatch:
    name: str  # exact, case-sensitive
    value: ValueMatch


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """Conditions a request must all meet (Gateway API HTTPRouteMatch)."""

    method: bytes | None = None
    headers: tuple[HeaderMatch, ...] = ()
    query: tuple[QueryMatch, ...] = ()
    # Only plain HTTP (False) or only TLS (True) requests: a Gateway route attached to
    # listeners of one protocol. Not a precedence criterion: the two sets never overlap.
    secure: bool | None = None

    def matches(self, request: RequestView) -> bool:
        if self.method is not None and request.method != self.method:
            return False
        if self.secure is not None and request.secure is not self.secure:
            return False
        for header in self.headers:
            raw = request.header(header.name)
            if not header.value.matches(None if raw is None else raw.decode("latin-1")):
                return False
        return all(q.value.matches(request.query_value(q.name)) for q in self.query)

    @property
    def precedence(self) -> tuple[int, int, int]:
        """Bigger first: a method, then more header matches, then more query matches."""
        return (self.method is not None, len(self.headers), len(self.query))
