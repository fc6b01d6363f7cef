"""The HTTP/1.1 request head Portico sends a pod: the client's headers, minus hop-by-hop
ones and what the proxy sets itself, plus forwarding headers and the route's edits."""

from __future__ import annotations

from ingress.model import Route
from ingress.proxy.exchange import Exchange
from ingress.proxy.http import (
    HOP_BY_HOP,
    HOP_BY_HOP_AND_TRACEPARENT,
    SET_BY_PROXY,
    extra_hop_by_hop,
)


def upstream_head(exchange: Exchange, route: Route, host_header: bytes, connection: bytes
                  ) -> bytes:
    policy = route.upstream
    if policy.host is not None:
        host_header = policy.host.encode("latin-1")
    version = b" HTTP/1.0\r\nhost: " if policy.http10 else b" HTTP/1.1\r\nhost: "
    parts = [exchange.method, b" ", exchange.target, version, host_header, b"\r\n"]
    # With tracing on, the pod gets Portico's traceparent instead of the client's.
    dropped = HOP_BY_HOP if exchange.trace is None else HOP_BY_HOP_AND_TRACEPARENT
    extra = extra_hop_by_hop(connection) if connection else None
    if extra:
        dropped = dropped | extra
    edits = exchange.header_edits
    if edits is not None:
        for edit in edits:
            dropped = dropped | edit.replaced
    upgrade = b""
    for name, lname, value in exchange.headers:
        if lname in dropped:
            if lname == b"upgrade":
                upgrade = value
            continue
        if lname in SET_BY_PROXY:
            # What the client sent, passed on under ingress-nginx's names for it.
            if lname == b"x-forwarded-for":
                parts += (b"x-original-forwarded-for: ", value, b"\r\n")
            elif lname == b"x-forwarded-host":
                parts += (b"x-original-forwarded-host: ", value, b"\r\n")
            continue
        parts += (name, b": ", value, b"\r\n")
    forwarded_host = exchange.forwarded_host or exchange.host.encode("latin-1")
    parts += (exchange.forwarded, b"x-forwarded-host: ", forwarded_host, b"\r\n")
    if exchange.chunked_request:
        parts.append(b"transfer-encoding: chunked\r\n")
    if exchange.upgrade and upgrade:
        parts += (b"connection: upgrade\r\nupgrade: ", upgrade, b"\r\n")
    elif policy.connection is not None:
        parts += (b"connection: ", policy.connection, b"\r\n")
    if edits is not None:
        for edit in edits:
            for name, value in (*edit.set, *edit.add):
                parts += (name, b": ", value, b"\r\n")
    if exchange.request_id_generated:
        parts += (b"x-request-id: ", exchange.request_id, b"\r\n")
    if exchange.trace is not None:
        parts += (b"traceparent: ", exchange.trace.traceparent(), b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)

