"""What the Service of custom-http-errors / default-backend is told about the request.

ingress-nginx's custom error location: the request goes to path `/` (query
kept) with the client's headers and `X-Code`, `X-Format`, `X-Original-URI`,
`X-Namespace`, `X-Ingress-Name`, `X-Service-Name`, `X-Service-Port`,
`X-Request-ID`, and `X-Forwarded-For` set to the client address. A request
whose route has no endpoint goes there as it is, with the same headers but
`X-Code: 503` and no `X-Original-URI`.
"""

from __future__ import annotations

import os

from ingress.model import Route
from ingress.model.filters.core import HeaderEdits
from ingress.proxy.exchange import Exchange
from ingress.proxy.http import HOP_BY_HOP, SET_BY_PROXY

_REPLACED = frozenset((
    b"x-code", b"x-format", b"x-original-uri", b"x-namespace", b"x-ingress-name",
    b"x-service-name", b"x-service-port", b"x-request-id", b"content-length",
))


def request_id(exchange: Exchange) -> bytes:
    """The request's ID (the client's X-Request-ID, or the one Portico gave it), else a new
    one as nginx's $req_id: 32 hex digits."""
    return exchange.request_id or os.urandom(16).hex().encode()


def _describing(exchange: Exchange, route: Route, status: int) -> list[tuple[bytes, bytes]]:
    backend = route.backend
    return [
        (b"x-code", b"%d" % status),
        (b"x-format", exchange.header(b"accept") or b""),
        (b"x-namespace", route.source.namespace.encode()),
        (b"x-ingress-name", route.source.name.encode()),
        (b"x-service-name", backend.service.encode()),
        (b"x-service-port", backend.port.encode()),
        (b"x-request-id", request_id(exchange)),
    ]


def unavailable_edits(exchange: Exchange, route: Route) -> HeaderEdits:
    """Header changes for a request sent to the default backend because the route has no pod."""
    return HeaderEdits(set=tuple(_describing(exchange, route, 503)))


def error_request(exchange: Exchange, route: Route, status: int, client_ip: str) -> bytes:
    """The head of the request asking the error Service for the page of `status` (no body)."""
    url = exchange.url
    query_at = url.find(b"?")
    target = b"/" if query_at < 0 else b"/" + url[query_at:]
    host = exchange.header(b"host") or b""
    parts = [exchange.method, b" ", target, b" HTTP/1.1\r\nhost: ", host, b"\r\n"]
    for name, lname, value in exchange.headers:
        if lname in HOP_BY_HOP or lname in SET_BY_PROXY or lname in _REPLACED:
            continue
        parts += (name, b": ", value, b"\r\n")
    headers = _describing(exchange, route, status)
    headers += ((b"x-original-uri", url), (b"x-forwarded-for", client_ip.encode()))
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)
