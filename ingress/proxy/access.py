"""What the access log and the trace exporter say about a finished exchange.

Only runs with `--access-log` or `--otlp-endpoint`: headers the log names
(User-Agent, Referer) are looked up here, once per logged request, so that
the request path never looks for them when nothing is logged.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ingress.observability.access_log import FORMATTERS, AccessLogWriter, AccessRecord
from ingress.observability.tracing import FinishedRequest
from ingress.proxy.variables import render

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange
    from ingress.proxy.forward import Forwarder


class AccessLog:
    def __init__(self, writer: AccessLogWriter, fmt: str) -> None:
        self.writer = writer
        self._format = FORMATTERS[fmt]

    def log(self, conn: Forwarder, exchange: Exchange, status: int, now: float) -> None:
        """`now` is the loop time the answer was complete."""
        self.writer.write(self._format(record(conn, exchange, status, now)))


def record(conn: Forwarder, exchange: Exchange, status: int, now: float) -> AccessRecord:
    route = exchange.route
    user_agent = referer = b""
    for _, lname, value in exchange.headers:
        if lname == b"user-agent":
            user_agent = value
        elif lname == b"referer":
            referer = value
    tls_version = sni = ""
    ssl_object = conn.ssl_object()
    if ssl_object is not None:
        tls_version = ssl_object.version() or ""
        sni = getattr(ssl_object, "server_name_indication", None) or ""
    upstream = exchange.headers_at > 0
    backend = route.backend if route is not None else None
    head = exchange.response_head
    return AccessRecord(
        time=time.time(),
        request_id=exchange.request_id.decode("latin-1"),
        remote_addr=exchange.client_ip or conn.client_ip,
        method=exchange.method.decode("latin-1"),
        host=exchange.host,
        path=exchange.url.decode("latin-1"),
        protocol=conn.protocol,
        status=status,
        bytes_sent=exchange.sent_bytes,
        body_bytes_sent=max(0, exchange.sent_bytes - head),
        request_length=exchange.request_bytes + exchange.body_bytes,
        request_time=now - exchange.started_at,
        upstream_addr=", ".join(f"{ip}:{port}" for ip, port in exchange.tried),
        upstream_status=exchange.status if upstream else -1,
        upstream_response_time=now - exchange.upstream_started if upstream else -1.0,
        upstream_response_length=max(0, exchange.sent_bytes - head) if upstream else -1,
        upstream_name=(f"{backend.namespace}-{backend.service}-{backend.port}"
                       if backend is not None else "upstream-default-backend"),
        alternative_upstream_name=exchange.route_labels()[5],
        namespace=route.source.namespace if route is not None else "",
        ingress=route.source.name if route is not None else "",
        service=backend.service if backend is not None else "",
        user_agent=user_agent.decode("latin-1"),
        referer=referer.decode("latin-1"),
        retries=max(0, len(exchange.tried) - 1),
        tls_version=tls_version,
        sni=sni,
    )


def finished_request(exchange: Exchange, status: int, now: float,
                     epoch_offset: float) -> FinishedRequest:
    """A sampled request for the trace exporter; `now` and `epoch_offset` as in Dataplane."""
    assert exchange.trace is not None
    answered = exchange.headers_at > 0
    address = exchange.tried[-1] if answered and exchange.tried else None
    route = exchange.route
    method = exchange.method.decode("latin-1")
    tracing = route.tracing if route is not None else None
    if tracing is not None and tracing.operation_name is not None:
        name = render(tracing.operation_name, exchange.conn, exchange)
    else:
        name = f"{method} {route.path}" if route is not None else method
    return FinishedRequest(
        context=exchange.trace,
        name=name,
        started=exchange.started_at + epoch_offset,
        ended=now + epoch_offset,
        method=method,
        target=exchange.url.decode("latin-1"),
        host=exchange.host,
        status=status,
        route=exchange.route_labels(),
        upstream_addr=f"{address[0]}:{address[1]}" if address is not None else "",
        upstream_started=exchange.upstream_started + epoch_offset,
        upstream_ended=now + epoch_offset,
    )
