"""Where a request whose head is complete goes: shared by every client protocol.

`Router` routes the exchange (host rules, canonical path, the trusted
client address), runs the route's redirects and filters (which may suspend
it and `resume` it later), reads a body first where the route buffers
requests, and answers what it can itself; what is left goes to `_forward`
(forward.py). Each client protocol says how bytes reach its client
(`write`, `send_answer`), how an exchange ends (`response_done`) and how a
request body waits for a slow upstream; everything else exists once.
"""

from __future__ import annotations

import logging
import random
import ssl
from binascii import hexlify
from typing import TYPE_CHECKING, ClassVar

from ingress.model import H2_PROTOCOLS, Backend, Route
from ingress.model.filters.core import HeaderEdits
from ingress.proxy.canary import choose_backend
from ingress.proxy.client_address import forwarded
from ingress.proxy.error_pages import unavailable_edits
from ingress.proxy.exchange import Exchange
from ingress.proxy.filters import FilterServices, apply_response_filters, run_request_filters
from ingress.proxy.peer import PeerCertificate
from ingress.proxy.request_body import BufferedBody
from ingress.proxy.request_head import upstream_head
from ingress.proxy.target import BadTarget, canonical_path, host_name, split_absolute

if TYPE_CHECKING:
    from ingress.proxy.dataplane import Dataplane, Listener
    from ingress.proxy.response_head import ResponseHead
    from ingress.proxy.upstream import UpstreamConnection

log = logging.getLogger(__name__)


class BadRequest(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


class Router:
    __slots__ = ("active", "client_ip", "closed", "deferred", "dp", "feeding", "forwarded_fixed",
                 "forwarded_per_request", "headers_trusted", "listener", "write_paused")

    # As the access log names the client's protocol.
    protocol: ClassVar[str] = "HTTP/1.1"
    # Whether the upstream hands the response over as a status and headers (`response_head`)
    # and an unframed body rather than as HTTP/1.1 bytes.
    frames: ClassVar[bool] = False

    dp: Dataplane
    listener: Listener
    client_ip: str
    # The forwarded headers that do not depend on the request, encoded once per connection.
    forwarded_fixed: bytes
    active: Exchange | None  # the exchange being answered
    closed: bool
    # The client does not take the response as fast as it comes: upstream reading is paused.
    write_paused: bool
    # Forwarded headers are read per request (trusted proxies, or a full client address).
    forwarded_per_request: bool
    headers_trusted: bool  # the peer is a trusted proxy: read its forwarded headers
    feeding: bool  # inside the HTTP/1.1 parser's feed_data: upstream writes wait (`deferred`)
    deferred: tuple[Exchange, UpstreamConnection, float] | None

    # --- what each client protocol provides

    def write(self, data: bytes) -> None:
        """Response bytes from the upstream (HTTP/1.1 framing for an HTTP/1.1 client)."""
        raise NotImplementedError

    def send_answer(self, exchange: Exchange, status: int,
                    extra: tuple[tuple[bytes, bytes], ...]) -> None:
        """Write a small response of the proxy's own, then `response_done`."""
        raise NotImplementedError

    def response_done(self, exchange: Exchange) -> None:
        raise NotImplementedError

    def upstream_aborted(self, exchange: Exchange) -> None:
        """The upstream broke off mid-response."""
        raise NotImplementedError

    def start_tunnel(self, exchange: Exchange, upstream: UpstreamConnection, data: bytes) -> None:
        """The upstream answered 101: raw bytes both ways from here on."""
        raise NotImplementedError

    def tunnel_closed(self) -> None:
        raise NotImplementedError

    def response_head(self, exchange: Exchange, status: int, head: ResponseHead,
                      no_body: bool) -> None:
        """The upstream's status and headers, for protocols that frame them (`frames`)."""
        raise NotImplementedError

    def _send(self, exchange: Exchange, upstream: UpstreamConnection, read_timeout: float) -> None:
        """Hand `exchange` to an open upstream connection."""
        raise NotImplementedError

    def _forward_h2(self, exchange: Exchange) -> None:
        """Forward to a backend that speaks HTTP/2 (gRPC)."""
        raise NotImplementedError

    def ssl_object(self) -> ssl.SSLObject | None:
        """The TLS state of the client's connection (None over plain HTTP)."""
        raise NotImplementedError

    def peer_certificate(self) -> PeerCertificate | None:
        raise NotImplementedError

    def pause_request_body(self) -> None:
        raise NotImplementedError

    def resume_request_body(self) -> None:
        raise NotImplementedError

    def _body_limit(self, route: Route | None) -> int:
        if route is not None and route.upstream.max_body_size is not None:
            return route.upstream.max_body_size
        return self.dp.settings.max_body_size

    def _start(self, exchange: Exchange) -> None:
        try:
            self._begin(exchange)
        except BadRequest as bad:
            exchange.close_after = True
            self.answer(exchange, bad.status)
        except BadTarget:
            exchange.close_after = True
            self.answer(exchange, 400)

    def _begin(self, exchange: Exchange) -> None:
        """Decide what to do with a request whose headers are complete."""
        dp = self.dp
        if not exchange.request_id and dp.generate_request_id:
            # 32 hex digits, as ingress-nginx's $req_id; forwarded in upstream_head. (hexlify
            # costs a third less than formatting the int with %x.)
            exchange.request_id = hexlify(dp.random.getrandbits(128).to_bytes(16, "big"))
            exchange.request_id_generated = True
        url = exchange.url
        if url[:1] != b"/":
            # Absolute form: routed by its authority, forwarded in origin form (RFC 9112 §3.2.2).
            authority, url = split_absolute(url)
            exchange.host = host_name(authority)
            exchange.host_header = authority
            exchange.url = exchange.target = url
        query_at = url.find(b"?")
        exchange.path = path = canonical_path(url if query_at < 0 else url[:query_at])
        host = exchange.host
        if self.forwarded_per_request:
            listener = self.listener
            found = forwarded(
                dp.addresses,
                self.client_ip,
                self.headers_trusted,
                exchange.headers,
                listener.scheme,
                listener.public_port,
            )
            exchange.client_ip = found.client
            exchange.forwarded = found.block
            exchange.forwarded_host = found.host
        content_length = exchange.content_length
        table = dp.table
        route = table.route(host, path, exchange)
        exchange.route = route
        if route is None:
            self.answer(exchange, 404)
            return
        if dp.tracer is not None and route.tracing is not None:
            exchange.trace = dp.tracer.start(exchange.headers, route.tracing.trust_incoming)
        # Before the filters, as nginx checks client_max_body_size when it picks the location.
        limit = self._body_limit(route)
        if limit and content_length > limit:
            self.answer(exchange, 413)
            return
        if route.plain:
            # Nothing but a possible HTTPS redirect to consider: the common case.
            if self.dp.has_tls_hosts and not self.listener.tls and self._redirect_to_https(
                exchange, route
            ):
                return
            backend: Backend | None = route.backend
        else:
            backend = self._run_route(exchange, route)
            if backend is None:
                return
            if backend.protocol in H2_PROTOCOLS:
                exchange.backend = backend
                self._forward_h2(exchange)
                return
        exchange.backend = backend
        if (content_length > 0 or exchange.chunked_request) and self._buffer_body(
                exchange, route, exchange.host_header, exchange.connection):
            return
        exchange.outbox.insert(
            0, upstream_head(exchange, route, exchange.host_header, exchange.connection)
        )
        self._forward(exchange)

    def _buffer_body(self, exchange: Exchange, route: Route, host_header: bytes,
                     connection: bytes) -> bool:
        """With proxy-request-buffering (or a chunked body for HTTP/1.0), read the whole body
        first: True when forwarding waits for it."""
        policy = route.upstream
        buffering = policy.buffering
        if exchange.upgrade or not ((buffering is not None and buffering.request)
                                    or (exchange.chunked_request and policy.http10)):
            return False
        in_memory = buffering.body_in_memory if buffering is not None else 8 << 10
        exchange.body = BufferedBody(self.dp.loop, in_memory, self, host_header, connection)
        return True

    def body_buffered(self, body: BufferedBody) -> None:
        """The whole body of the request in flight is here: forward it now."""
        exchange = self.active
        if exchange is None or exchange.body is not body or self.closed or exchange.answered:
            return
        route = exchange.route
        assert route is not None
        if exchange.chunked_request:  # sent with its length, as nginx does
            exchange.chunked_request = False
            exchange.add_header_edits(HeaderEdits(set=((b"content-length", b"%d" % body.size),)))
        exchange.outbox.insert(0, upstream_head(exchange, route, body.host_header,
                                                body.connection))
        self._forward(exchange)

    def body_failed(self, body: BufferedBody) -> None:
        exchange = self.active
        if exchange is not None and exchange.body is body and not exchange.response_started:
            log.error("cannot buffer a request body in a temporary file")
            exchange.close_after = True
            self.answer(exchange, 500)

    def _run_route(self, exchange: Exchange, route: Route) -> Backend | None:
        """Redirects, filters and the backend split of a route that has any of them.

        None when the request got its answer here, or waits for a suspended filter.
        """
        if not self.listener.tls and self._redirect_to_https(exchange, route):
            return None
        if route.response_filters:
            exchange.response_filters = route.response_filters
        return self._filtered(exchange, route, 0)

    def waiting(self, exchange: Exchange) -> bool:
        return exchange is self.active and not self.closed

    def resume(self, exchange: Exchange) -> None:
        """The filter that suspended `exchange` let it through: on to the next, then upstream."""
        if exchange is not self.active or self.closed:
            return  # the client left meanwhile
        route = exchange.route
        assert route is not None
        backend = self._filtered(exchange, route, exchange.resume_at)
        if backend is None:
            return
        exchange.backend = backend
        if backend.protocol in H2_PROTOCOLS:
            self._forward_h2(exchange)
            return
        head = upstream_head(exchange, route, exchange.header(b"host") or b"",
                             exchange.header(b"connection") or b"")
        exchange.outbox.insert(0, head)
        self._forward(exchange)

    @property
    def services(self) -> FilterServices:
        return self.dp.services

    @property
    def scheme(self) -> str:
        return self.listener.scheme.decode()

    @property
    def server_port(self) -> str:
        return self.listener.public_port.decode()

    def _filtered(self, exchange: Exchange, route: Route, start: int) -> Backend | None:
        """The route's filters from `start`, then its backend; None if answered or suspended."""
        if route.filters and run_request_filters(self, exchange, route.filters, start):
            return None
        split = route.split
        if split is None:
            canary = route.canary
            if canary is None:
                backend: Backend | None = route.backend
            else:
                backend = choose_backend(route.backend, canary, exchange, self.dp.balancers)
        else:
            backend = split.pick(random.random())
            if backend is None:
                self.answer(exchange, 500)  # every backend of the route has weight 0
                return None
        errors = route.errors
        if errors is not None and errors.when_unavailable and backend is not None \
                and not self.dp.usable(backend):
            # default-backend serves what the route's Service cannot, told why.
            exchange.add_header_edits(unavailable_edits(exchange, route))
            return errors.backend
        return backend

    def _redirect_to_https(self, exchange: Exchange, route: Route) -> bool:
        """A plain-HTTP request to a TLS host (or a forced route) is redirected to HTTPS."""
        ssl_redirect = route.ssl_redirect
        if not ssl_redirect.forced:
            if not (ssl_redirect.enabled and self.dp.has_tls_hosts):
                return False
            # The request host's TLS counts, even when the path fell through to host-less rules.
            vhost = self.dp.table.virtual_host(exchange.host)
            if vhost is None or not vhost.tls:
                return False
        port = self.dp.settings.https_redirect_port
        authority = exchange.host + ("" if port == 443 else f":{port}")
        target = exchange.url.decode("latin-1")
        if target.endswith("/") and not ssl_redirect.preserve_trailing_slash:
            target = target[:-1]  # as ingress-nginx does (`/` becomes nothing)
        self.redirect(exchange, ssl_redirect.code, f"https://{authority}{target}")
        return True

    @property
    def client_address(self) -> str:
        """The trusted client address of the request being routed (client_address.py)."""
        active = self.active
        return active.client_ip if active is not None else self.client_ip

    def answer(
        self, exchange: Exchange, status: int, extra: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None:
        """Answer `exchange` with a small response of the proxy's own."""
        exchange.status = status
        if exchange.request_id:
            extra = (*extra, (b"x-request-id", exchange.request_id))
        if exchange.http10 and not exchange.close_after:
            extra += ((b"connection", b"keep-alive"),)  # HTTP/1.0 closes unless told otherwise
        if exchange.response_filters:
            headers = list(extra)
            apply_response_filters(exchange, headers)
            extra = tuple(headers)
        self.send_answer(exchange, status, extra)

    def redirect(self, exchange: Exchange, status: int, location: str) -> None:
        self.answer(exchange, status, ((b"location", location.encode("latin-1")),))

    def _forward(self, exchange: Exchange) -> None:
        """Send the routed `exchange` to an endpoint of its backend (Forwarder)."""
        raise NotImplementedError
