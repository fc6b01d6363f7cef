"""Which function runs each filter type, and running a route's filters in order.

Each filter group registers its runners (`@request_runner(FilterType)`);
the proxy calls `run_request_filters` only for routes that have filters,
and `apply_response_filters` only for exchanges that carry some, so plain
routes pay nothing.

A request runner returns NEXT (False), ANSWERED (True) or SUSPENDED. A
runner that must wait (for an authentication service, a password hash
computed off the loop) returns SUSPENDED and later either answers the
request or calls `host.resume(exchange)`, which runs the filters after it
and forwards the request. Meanwhile the request body keeps buffering in the
exchange (reading pauses when too much is waiting), as while an upstream
connection opens.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from ingress.model import Backend, Endpoint
from ingress.model.filters.base import Filter, ResponseFilter
from ingress.observability.stats import ProxyStats

if TYPE_CHECKING:
    from ingress.proxy.dataplane import Listener
    from ingress.proxy.exchange import Exchange
    from ingress.proxy.peer import PeerCertificate
    from ingress.settings import Settings

# A response header as the upstream sent it: (name, value).
ResponseHeader = tuple[bytes, bytes]


# What a request runner returns.
NEXT = 0  # go on (False)
ANSWERED = 1  # the runner answered the request itself (True)
SUSPENDED = 2  # the runner answers or resumes the request later


class FilterServices:
    """What filters keep across requests and table swaps: one per data plane (process).

    Each part (rate-limit counters, an authentication client's connections,
    caches) is created on first use by its class, `Part(services)`, and
    lives as long as the data plane: a new table does not reset it.
    `usable` gives a backend's endpoints in the table served now (none
    outside a data plane).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, settings: Settings,
                 stats: ProxyStats | None = None,
                 usable: Callable[[Backend], tuple[Endpoint, ...]] | None = None) -> None:
        self.loop = loop
        self.settings = settings
        self.stats = stats if stats is not None else ProxyStats()
        self.usable = usable or _no_endpoints
        self._parts: dict[object, object] = {}

    def part(self, kind: Callable[[FilterServices], P]) -> P:
        found = self._parts.get(kind)
        if found is None:
            found = self._parts[kind] = kind(self)
        return cast(P, found)


def _no_endpoints(backend: Backend) -> tuple[Endpoint, ...]:
    return ()


class FilterHost(Protocol):
    """What the client connection offers the filters of its requests."""

    @property
    def client_address(self) -> str: ...

    @property
    def listener(self) -> Listener:
        """The port the request came in on: its scheme and public port."""
        ...

    @property
    def services(self) -> FilterServices: ...

    def peer_certificate(self) -> PeerCertificate | None:
        """The client's certificate as the TLS handshake left it; None over plain HTTP."""
        ...

    def waiting(self, exchange: Exchange) -> bool:
        """Whether `exchange` still waits for its suspended filter (its client is still there)."""
        ...

    def resume(self, exchange: Exchange) -> None:
        """Run the filters after the one that suspended `exchange`, then forward it."""
        ...

    def answer(
        self, exchange: Exchange, status: int, extra: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None: ...

    def redirect(self, exchange: Exchange, status: int, location: str) -> None: ...


F = TypeVar("F", bound=Filter)
R = TypeVar("R", bound=ResponseFilter)
P = TypeVar("P")
# NEXT, ANSWERED or SUSPENDED (a bool is NEXT or ANSWERED).
RequestRunner = Callable[[FilterHost, "Exchange", Any], int]
ResponseRunner = Callable[["Exchange", list[ResponseHeader], Any], None]

_REQUEST_RUNNERS: dict[type[Filter], RequestRunner] = {}
_RESPONSE_RUNNERS: dict[type[ResponseFilter], ResponseRunner] = {}


def request_runner(
    kind: type[F],
) -> Callable[[Callable[[FilterHost, Exchange, F], int]], Callable[..., int]]:
    def register(run: Callable[[FilterHost, Exchange, F], int]) -> Callable[..., int]:
        _REQUEST_RUNNERS[kind] = run
        return run

    return register


def response_runner(
    kind: type[R],
) -> Callable[[Callable[[Exchange, list[ResponseHeader], R], None]], Callable[..., None]]:
    def register(run: Callable[[Exchange, list[ResponseHeader], R], None]) -> Callable[..., None]:
        _RESPONSE_RUNNERS[kind] = run
        return run

    return register


def run_request_filters(
    host: FilterHost, exchange: Exchange, filters: tuple[Filter, ...], start: int = 0
) -> int:
    """Run `filters` from `start` until one answers or suspends; NEXT if none did.

    A filter that suspends leaves in `exchange.resume_at` where to start again.
    """
    at = start
    for flt in filters[start:] if start else filters:
        at += 1
        verdict = _REQUEST_RUNNERS[type(flt)](host, exchange, flt)
        if verdict:
            if verdict == SUSPENDED:
                exchange.resume_at = at
            return verdict
    return NEXT


def apply_response_filters(exchange: Exchange, headers: list[ResponseHeader]) -> None:
    """Let the exchange's response filters edit `headers` in place."""
    for flt in exchange.response_filters:
        _RESPONSE_RUNNERS[type(flt)](exchange, headers, flt)


def missing_runners() -> list[type]:
    """Filter types (of the modules imported so far) that no runner is registered for."""
    missing: list[type] = []
    pending: list[type] = [Filter, ResponseFilter]
    while pending:
        kind = pending.pop()
        subclasses: list[type] = kind.__subclasses__()
        pending.extend(subclasses)
        # dataclass(slots=True) replaces each class by a new one; the replaced
        # original still shows among the subclasses but is no module's class.
        current = getattr(sys.modules[kind.__module__], kind.__qualname__, None) is kind
        if (current and kind not in (Filter, ResponseFilter) and kind not in _REQUEST_RUNNERS
                and kind not in _RESPONSE_RUNNERS):
            missing.append(kind)
    return missing
