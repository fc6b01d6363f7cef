"""Which function runs each filter type, and running a route's filters in order.

Each filter group registers its runners (`@request_runner(FilterType)`);
the proxy calls `run_request_filters` only for routes that have filters,
and `apply_response_filters` only for exchanges that carry some, so plain
routes pay nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ingress.model.filters.base import Filter, ResponseFilter

if TYPE_CHECKING:
    from ingress.proxy.dataplane import Listener
    from ingress.proxy.exchange import Exchange

# A response header as the upstream sent it: (name, value).
ResponseHeader = tuple[bytes, bytes]


class FilterHost(Protocol):
    """What the client connection offers the filters of its requests."""

    @property
    def client_address(self) -> str: ...

    @property
    def listener(self) -> Listener:
        """The port the request came in on: its scheme and public port."""
        ...

    def answer(
        self, exchange: Exchange, status: int, extra: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None: ...

    def redirect(self, exchange: Exchange, status: int, location: str) -> None: ...


F = TypeVar("F", bound=Filter)
R = TypeVar("R", bound=ResponseFilter)
# True when the filter answered the request itself (nothing goes upstream).
RequestRunner = Callable[[FilterHost, "Exchange", Any], bool]
ResponseRunner = Callable[["Exchange", list[ResponseHeader], Any], None]

_REQUEST_RUNNERS: dict[type[Filter], RequestRunner] = {}
_RESPONSE_RUNNERS: dict[type[ResponseFilter], ResponseRunner] = {}


def request_runner(
    kind: type[F],
) -> Callable[[Callable[[FilterHost, Exchange, F], bool]], Callable[..., bool]]:
    def register(run: Callable[[FilterHost, Exchange, F], bool]) -> Callable[..., bool]:
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


def run_request_filters(host: FilterHost, exchange: Exchange, filters: tuple[Filter, ...]) -> bool:
    """Run `filters` in order until one answers; True if one did."""
    for flt in filters:  # noqa: SIM110 (a plain loop: no generator per request)
        if _REQUEST_RUNNERS[type(flt)](host, exchange, flt):
            return True
    return False


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
