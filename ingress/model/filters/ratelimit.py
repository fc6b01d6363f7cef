"""Per-client limits: request rates, concurrent requests, and response bandwidth.

ingress-nginx's limit_req / limit_conn / limit_rate, keyed by the client
address. Request and connection limits share one zone per Ingress, as
ingress-nginx names its zones after the Ingress: every path and host of
that Ingress counts against the same budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ingress.model.filters.base import Filter, Phase
from ingress.model.filters.core import Network


@dataclass(frozen=True, slots=True)
class RequestRate:
    """nginx's limit_req with `nodelay`: `per_second` sustained, `burst` more at once."""

    per_second: float
    burst: float


@dataclass(frozen=True, slots=True)
class RateLimit(Filter):
    """Reject a client over its request rates (`request_status`) or with too many requests
    in flight (`connection_status`); addresses in `allow` are never limited."""

    PHASE: ClassVar[Phase] = Phase.PREACCESS
    zone: str  # the Ingress, "namespace/name"
    rates: tuple[RequestRate, ...] = ()
    connections: int = 0  # 0: no limit
    allow: tuple[Network, ...] = ()
    request_status: int = 503
    connection_status: int = 503


@dataclass(frozen=True, slots=True)
class ResponseRate(Filter):
    """nginx's limit_rate: after `after` bytes, send the response at most `per_second`
    bytes a second (the first second's worth at once, as nginx does)."""

    PHASE: ClassVar[Phase] = Phase.CONTENT
    per_second: int
    after: int = 0
