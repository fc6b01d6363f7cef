"""Runners of the routing filters (ingress.model.filters.routing)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ingress.model.filters.core import HeaderEdits
from ingress.model.filters.routing import HostRedirect, RewritePath
from ingress.proxy.filters.registry import FilterHost, request_runner
from ingress.proxy.target import path_target

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange

log = logging.getLogger(__name__)

@request_runner(RewritePath)
def rewrite_path(host: FilterHost, exchange: Exchange, flt: RewritePath) -> bool:
    route = exchange.route
    regex = route.regex if route is not None else None
    match = regex.prefix_match(exchange.path) if regex is not None else None
    path = flt.target.expand(match)
    if not path.startswith("/"):
        path = "/" + path
    target = exchange.target
    query_at = target.find(b"?")
    query = target[query_at:] if query_at >= 0 else b""
    # Captures come from the canonical path: decoded text, escaped again here.
    exchange.target = path_target(path).encode() + query
    if flt.log:
        _log_rewrite(host, exchange)
    if flt.forwarded_prefix is not None:
        prefix = flt.forwarded_prefix.expand(match).encode("latin-1", "replace")
        exchange.add_header_edits(HeaderEdits(set=((b"x-forwarded-prefix", prefix),)))
    return False


def _log_rewrite(host: FilterHost, exchange: Exchange) -> None:
    """What nginx's rewrite_log says: the pattern matched the path, and what it became."""
    route = exchange.route
    target = exchange.target.decode("latin-1")
    path, _, query = target.partition("?")
    log.info("rewrite", extra={
        "pattern": route.regex.pattern if route is not None and route.regex else exchange.path,
        "matched": exchange.path,
        "rewritten": path,
        "query": query,
        "client": host.client_address,
        "host": exchange.host,
        "request": f"{exchange.method.decode('latin-1')} {exchange.url.decode('latin-1')}",
    })


@request_runner(HostRedirect)
def host_redirect(host: FilterHost, exchange: Exchange, flt: HostRedirect) -> bool:
    """ingress-nginx's redirect server: same scheme and port, trailing slash dropped."""
    target = exchange.url.decode("latin-1")
    if target.endswith("/"):
        target = target[:-1]
    listener = host.listener
    scheme, port = listener.scheme.decode(), listener.public_port.decode()
    host.redirect(exchange, flt.status, f"{scheme}://{flt.to}:{port}{target}")
    return True
