"""Cross-origin resource sharing: which origins get CORS headers, and the preflight answer.

As ingress-nginx does it: the proxy answers a preflight (`OPTIONS` from an
allowed origin) itself with 204 before any access check, and adds the CORS
headers to every other response for an allowed origin, the proxy's own
answers (401, 403, 503...) included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ingress.model.filters.base import Filter, Phase, ResponseFilter
from ingress.model.matches import Regex

# The response headers CORS sets (replacing any the upstream sent).
CORS_HEADERS = frozenset((
    b"access-control-allow-origin",
    b"access-control-allow-credentials",
    b"access-control-allow-methods",
    b"access-control-allow-headers",
    b"access-control-expose-headers",
    b"access-control-max-age",
))


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """`origins` None: every origin, answered with `*`; otherwise an RE2 pattern an
    `Origin` must match whole (case-insensitively), which is then echoed back."""

    origins: Regex | None
    allow_methods: str
    allow_headers: str
    expose_headers: str
    allow_credentials: bool
    max_age: int
    # The headers after Access-Control-Allow-Origin, built once.
    headers: tuple[tuple[bytes, bytes], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        headers = []
        if self.allow_credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        headers.append((b"access-control-allow-methods", self.allow_methods.encode()))
        headers.append((b"access-control-allow-headers", self.allow_headers.encode()))
        if self.expose_headers:
            headers.append((b"access-control-expose-headers", self.expose_headers.encode()))
        headers.append((b"access-control-max-age", b"%d" % self.max_age))
        object.__setattr__(self, "headers", tuple(headers))

    def allowed_origin(self, origin: bytes | None) -> bytes | None:
        """The Access-Control-Allow-Origin value for a request's Origin; None: no CORS."""
        if self.origins is None:
            return b"*"
        if origin is None or not self.origins.full_match(origin.decode("latin-1")):
            return None
        return origin


@dataclass(frozen=True, slots=True)
class CorsPreflight(Filter):
    """Answer `OPTIONS` from an allowed origin with 204 (nginx's rewrite phase)."""

    PHASE: ClassVar[Phase] = Phase.REWRITE
    policy: CorsPolicy


@dataclass(frozen=True, slots=True)
class CorsHeaders(ResponseFilter):
    """The CORS headers on every response to an allowed origin."""

    policy: CorsPolicy
