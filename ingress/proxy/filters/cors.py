"""Runners of the CORS filters (ingress.model.filters.cors)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingress.model.filters.cors import CORS_HEADERS, CorsHeaders, CorsPreflight
from ingress.proxy.filters.registry import (
    ANSWERED,
    NEXT,
    FilterHost,
    ResponseHeader,
    request_runner,
    response_runner,
)

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange


@request_runner(CorsPreflight)
def preflight(host: FilterHost, exchange: Exchange, flt: CorsPreflight) -> int:
    if exchange.method != b"OPTIONS":
        return NEXT
    if flt.policy.allowed_origin(exchange.header(b"origin")) is None:
        return NEXT  # not a preflight this policy answers: it goes on like any request
    host.answer(exchange, 204)  # the headers come from the route's CorsHeaders
    return ANSWERED


@response_runner(CorsHeaders)
def cors_headers(exchange: Exchange, headers: list[ResponseHeader], flt: CorsHeaders) -> None:
    origin = flt.policy.allowed_origin(exchange.header(b"origin"))
    if origin is None:
        return
    headers[:] = [h for h in headers if h[0].lower() not in CORS_HEADERS]
    headers.append((b"access-control-allow-origin", origin))
    headers.extend(flt.policy.headers)
