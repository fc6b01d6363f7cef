"""Runner of request mirroring (ingress.model.filters.mirror).

A copy is a subrequest on the pooled connections of `SubrequestClient`:
its head leaves when the filter runs, its body (mirror-request-body) follows
as the client's arrives (`StreamedBody`, fed by the client connection
through `Exchange.copies`), and its answer is read and dropped. Nothing of
it reaches the client or delays the request.

What a copy carries, as ingress-nginx's mirror location sends it: the
client's method and headers (hop-by-hop ones left out), the mirror's Host,
and the body, without the headers Portico adds for the pod.

Resources stay bounded: at most `MAX_COPIES` copies per process are on
their way (more are dropped), and a copy gives up once `COPY_BUFFER` bytes
of body wait for its mirror; a mirror that does not answer is given up
after the route's read timeout. Each copy is counted by outcome in
`portico_mirror_requests`.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ingress.model.filters.mirror import Mirror
from ingress.proxy.filters.registry import FilterHost, FilterServices, request_runner
from ingress.proxy.http import HOP_BY_HOP
from ingress.proxy.subrequests import Answer, Service, StreamedBody, SubrequestClient
from ingress.proxy.variables import render

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange

MAX_COPIES = 128
COPY_BUFFER = 256 * 1024
_NOT_COPIED = HOP_BY_HOP | frozenset((b"host", b"content-length", b"expect"))

# Where a copy goes: the service, the request target, the Host header.
Destination = tuple[Service, bytes, bytes]


class Mirrors:
    """The copies of this process on their way (a FilterServices part)."""

    def __init__(self, services: FilterServices) -> None:
        self.client = services.part(SubrequestClient)
        self.usable = services.usable
        self.settings = services.settings
        self.stats = services.stats
        self.in_flight = 0
        self.random = random.Random()
        self._cursors: dict[str, int] = {}

    def send(self, host: FilterHost, exchange: Exchange, flt: Mirror) -> None:
        if flt.ratio < 1.0 and self.random.random() >= flt.ratio:
            return
        if self.in_flight >= MAX_COPIES:
            self.stats.mirror_done("dropped")
            return
        destination = self._destination(host, exchange, flt)
        if destination is None:
            self.stats.mirror_done("failed")
            return
        service, target, host_header = destination
        body = None
        if flt.body and (exchange.content_length > 0 or exchange.chunked_request):
            body = self._copy_body(exchange)
        self.in_flight += 1

        def answered(answer: Answer | None) -> None:
            self.in_flight -= 1
            outcome = "answered" if answer is not None else "failed"
            self.stats.mirror_done("dropped" if body is not None and body.failed else outcome)

        upstream = exchange.route.upstream if exchange.route is not None else None
        connect = (upstream.connect_timeout if upstream else None) or self.settings.connect_timeout
        read = (upstream.read_timeout if upstream else None) or self.settings.upstream_read_timeout
        self.client.request(service, _head(exchange, target, host_header, body), answered,
                            connect, read, head_only=exchange.head_only, body=body)

    def _copy_body(self, exchange: Exchange) -> StreamedBody:
        """A copy of the request body, fed as the client sends it."""
        chunked = exchange.chunked_request
        body = StreamedBody(chunked, COPY_BUFFER, exchange.content_length)
        # A filter before this one waited (authentication): the body read meanwhile waits
        # for the pod, framed as it will be sent.
        for framed in exchange.outbox:
            body.add_framed(framed)
        if chunked and exchange.body_done:
            body.end(framed=True)
        elif exchange.copies is None:
            exchange.copies = [body]
        else:
            exchange.copies.append(body)
        return body

    def _destination(self, host: FilterHost, exchange: Exchange,
                     flt: Mirror) -> Destination | None:
        if flt.backend is not None:
            endpoints = self.usable(flt.backend)
            if not endpoints:
                return None
            key = flt.backend.key
            cursor = self._cursors.get(key, 0)
            self._cursors[key] = cursor + 1
            endpoint = endpoints[cursor % len(endpoints)]
            own_host = flt.host.encode() if flt.host else exchange.host_header
            return (Service(flt.backend.tls is not None, endpoint.ip, endpoint.port),
                    exchange.target, own_host)
        assert flt.url is not None
        return _url_destination(render(flt.url, host, exchange), flt, exchange)


def _url_destination(url: str, flt: Mirror, exchange: Exchange) -> Destination | None:
    """nginx's proxy_pass to `url` from the mirror's internal location."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    name = parts.hostname
    if parts.scheme not in ("http", "https") or not name:
        return None
    tls = parts.scheme == "https"
    if not parts.path:
        target = exchange.url
    elif flt.url is not None and flt.url.literal is None:
        # With variables the URL is the whole target, as nginx passes it.
        target = (parts.path + (f"?{parts.query}" if parts.query else "")).encode("latin-1")
    else:
        # Without, its path replaces the location's and the request's arguments follow.
        query_at = exchange.url.find(b"?")
        args = exchange.url[query_at + 1:] if query_at >= 0 else b""
        target = parts.path.encode("latin-1")
        if parts.query:
            target += b"?" + parts.query.encode("latin-1")
        if args:
            target += (b"&" if parts.query else b"?") + args
    host_header = flt.host or name
    return Service(tls, name, port or (443 if tls else 80)), target, host_header.encode("idna")


def _head(exchange: Exchange, target: bytes, host: bytes, body: StreamedBody | None) -> bytes:
    parts = [exchange.method, b" ", target, b" HTTP/1.1\r\nhost: ", host, b"\r\n"]
    for name, lname, value in exchange.headers:
        if lname not in _NOT_COPIED:
            parts += (name, b": ", value, b"\r\n")
    if body is not None:
        if body.chunked:
            parts.append(b"transfer-encoding: chunked\r\n")
        else:
            parts += (b"content-length: %d\r\n" % exchange.content_length,)
    parts.append(b"\r\n")
    return b"".join(parts)


@request_runner(Mirror)
def mirror(host: FilterHost, exchange: Exchange, flt: Mirror) -> bool:
    host.services.part(Mirrors).send(host, exchange, flt)
    return False
