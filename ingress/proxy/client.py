"""The downstream side: one protocol instance per client connection.

Requests are parsed with llhttp (httptools) in callbacks. The first request
is forwarded as soon as its headers are complete and its body streams
through; pipelined requests queue behind it (reading pauses meanwhile) and
start when the response before them is complete. After a `101` the
connection becomes a byte tunnel to the upstream.

Framing is checked while the head is parsed, in the one pass over its
headers: llhttp refuses most malformed messages itself, and what it lets
through that RFC 9112 or nginx refuses (a second or invalid Host, a
transfer coding other than exactly `chunked`, HTTP/1.0 with one, headers
with underscores) is refused or dropped here. After a framing error nothing
more is read or forwarded: the requests before it are answered, then the
error, then the connection closes.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import httptools

from ingress.model import Backend, Route
from ingress.model.filters.core import HeaderEdits
from ingress.observability.stats import NO_ROUTE
from ingress.proxy.access import finished_request
from ingress.proxy.canary import choose_backend
from ingress.proxy.client_address import fixed_block, forwarded
from ingress.proxy.error_pages import error_request, unavailable_edits
from ingress.proxy.exchange import Exchange, Header
from ingress.proxy.filters import FilterServices, apply_response_filters, run_request_filters
from ingress.proxy.http import (
    HOP_BY_HOP,
    HOP_BY_HOP_AND_TRACEPARENT,
    IDEMPOTENT_METHODS,
    LAST_CHUNK,
    SET_BY_PROXY,
    chunk,
    extra_hop_by_hop,
    simple_response,
)
from ingress.proxy.peer import NO_PEER, PeerCertificate
from ingress.proxy.proxy_protocol import Address
from ingress.proxy.request_body import BufferedBody
from ingress.proxy.response_buffer import ResponseBuffer
from ingress.proxy.retries import may_reconnect, may_retry, policy_of
from ingress.proxy.target import BadTarget, canonical_path, host_name, split_absolute
from ingress.proxy.upstream import UpstreamConnection

if TYPE_CHECKING:
    from ingress.proxy.dataplane import Dataplane, Listener

log = logging.getLogger(__name__)

# Reasons to stop reading from the client; reading resumes when none is left.
_PAUSE_QUEUE = 1  # pipelined requests wait for the one in flight
_PAUSE_UPSTREAM = 2  # the upstream does not take the request body as fast
_PAUSE_CONNECTING = 4  # the body is buffering while the upstream connection opens
_PAUSE_DONE = 8  # nothing more will be read: framing was lost, or too many requests queued

# Request bytes buffered before an upstream connection exists, before reading pauses.
_CONNECT_BUFFER = 256 * 1024


# Headers whose values decide the framing and routing of a request, noted as they are parsed.
_FRAMING = frozenset(
    (b"host", b"content-length", b"transfer-encoding", b"connection", b"x-request-id")
)


# `int in bytes` is a memchr; `bytes in bytes` first fails (and clears) an int conversion,
# which costs ten times as much in CPython 3.11.
_UNDERSCORE = ord("_")


class _BadRequest(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


class _StopParsing(Exception):
    """Raised in a parser callback to leave the rest of the data unparsed."""


class ClientConnection(asyncio.Protocol):
    __slots__ = (
        "active",
        "body_stall",
        "buffer",
        "client_ip",
        "closed",
        "connection",
        "content_length",
        "current",
        "deadline",
        "deferred",
        "dp",
        "feeding",
        "forwarded_fixed",
        "forwarded_per_request",
        "head_bytes",
        "head_size",
        "headers",
        "headers_trusted",
        "host_header",
        "host_raw",
        "host_routed",
        "hosts",
        "in_head",
        "listener",
        "parser",
        "paused",
        "peer",
        "queue",
        "reading_done",
        "rejected",
        "request_id",
        "requests_left",
        "source",
        "transfer_encoding",
        "transport",
        "tunnel",
        "tunnel_backlog",
        "tunnel_ending",
        "url",
        "write_paused",
    )

    def __init__(self, dp: Dataplane, listener: Listener, source: Address | None = None) -> None:
        self.dp = dp
        self.listener = listener
        self.source = source  # the client a PROXY protocol header named
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.current: Exchange | None = None  # being parsed
        self.active: Exchange | None = None  # being answered
        self.queue: deque[Exchange] = deque()
        # Response bytes the client has not taken yet (proxy-buffering), when there are any.
        self.buffer: ResponseBuffer | None = None
        self.requests_left = -1  # that this connection may still carry (keep-alive-requests)
        self.closed = False
        self.paused = 0
        self.write_paused = False
        self.in_head = False
        self.head_bytes = 0  # raw bytes received while in a request head
        self.head_size = 0  # the parsed head's size, as the 431 limit counts it
        self.url = b""
        self.headers: list[Header] = []
        self.deadline = 0.0
        self.client_ip = ""
        self.forwarded_fixed = b""
        self.headers_trusted = False  # the peer is a trusted proxy: read its forwarded headers
        self.forwarded_per_request = False
        # Framing headers of the request being parsed.
        self.hosts = 0
        self.host_header = b""
        # The last Host validated on this connection, and its routing name.
        self.host_raw = b"\x00"  # no Host value can be this: llhttp refuses NUL
        self.host_routed = ""
        self.content_length = -1
        self.transfer_encoding = b""
        self.connection = b""
        self.request_id = b""
        self.reading_done = False
        self.rejected = 0  # status owed once the requests before the bad one are answered
        self.body_stall = 0  # bytes read without body progress: chunk framing and trailers
        self.feeding = False  # inside parser.feed_data
        self.deferred: tuple[Exchange, UpstreamConnection, float] | None = None
        self.tunnel: UpstreamConnection | None = None
        self.tunnel_backlog: list[bytes] | None = None
        self.peer: PeerCertificate | None = None  # read when a request needs it
        # The end hooks of the request that became the tunnel, run when it closes.
        self.tunnel_ending: list[Callable[[], None]] | None = None

    # --- connection lifecycle

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        ip = peer[0] if peer else ""
        dp = self.dp
        addresses = dp.addresses
        if self.source is not None and addresses.trusts(ip):
            ip = self.source[0]
        self.client_ip = ip
        self.headers_trusted = addresses.headers_trusted(ip)
        self.forwarded_per_request = self.headers_trusted or addresses.compute_full
        listener = self.listener
        # Without trusted forwarded headers, these depend on the connection only: encoded once.
        self.forwarded_fixed = fixed_block(ip, ip.encode(), listener.scheme, listener.public_port)
        dp.connection_opened(self)
        self.requests_left = dp.settings.keepalive_requests or -1
        # A new connection must send its first request head in time, as nginx requires.
        self.deadline = dp.loop.time() + dp.settings.client_header_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        dp = self.dp
        dp.connection_closed(self)
        tunnel, self.tunnel = self.tunnel, None
        if tunnel is not None:
            dp.stats.open_tunnels -= 1
            tunnel.tunnel_owner = None
            tunnel.close()
            ending, self.tunnel_ending = self.tunnel_ending, None
            for callback in ending or ():
                callback()
        active, self.active = self.active, None
        if active is not None:
            # The response was not fully delivered: that upstream connection is unusable.
            self._abandon_upstream(active)
            self._finished(active, 499)
        self.queue.clear()
        self.transport = None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not self.closed:
            if self.buffer is not None:
                self.buffer.add(data)
                self.buffer.drain()
                return
            transport.write(data)
            if self.tunnel is not None:
                self.deadline = self.dp.loop.time() + self.dp.settings.tunnel_idle_timeout

    def timed_out(self) -> None:
        """The sweeper found this connection's deadline passed.

        Idle, or slow to send a request head: closed without an answer, as
        nginx does. Silent in the middle of a request body: 408.
        """
        if self.tunnel is not None:
            self.close()
        elif self.current is not None and not self.in_head:
            if self.paused:  # Portico stopped reading, the client is not late
                self.deadline = self.dp.loop.time() + self.dp.settings.client_body_timeout
            else:
                self._reject(408)
        elif self.active is None:
            self.close()

    def drain(self) -> None:
        """Shutdown: close when idle, otherwise after the response in flight."""
        if self.active is None and self.current is None and self.tunnel is None:
            self.close()
        elif self.active is not None:
            self.active.close_after = True

    # --- flow control

    def _pause(self, reason: int) -> None:
        if not self.paused and self.transport is not None:
            self.transport.pause_reading()
        self.paused |= reason

    def _resume(self, reason: int) -> None:
        if self.paused & reason:
            self.paused &= ~reason
            if not self.paused and self.transport is not None and not self.closed:
                self.transport.resume_reading()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.buffer is not None or self._start_buffering():
            assert self.buffer is not None
            self.buffer.pause()  # the pod goes on: its bytes wait in the buffer
            return
        upstream = self.tunnel or (self.active.upstream if self.active is not None else None)
        if upstream is not None and upstream.transport is not None:
            upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        buffered = self.buffer
        if buffered is not None:
            buffered.resume()
            if buffered.empty and not buffered.paused and buffered.close_when_done is None:
                self.buffer = None
        active = self.active
        if active is not None and active.throttle is not None and active.throttle.holding:
            return  # the throttle resumes the upstream when the response is due
        upstream = self.tunnel or (active.upstream if active is not None else None)
        if upstream is not None and upstream.transport is not None and not upstream.closed:
            upstream.transport.resume_reading()

    def _start_buffering(self) -> bool:
        """proxy-buffering: keep reading the pod while this client is slow."""
        active, transport = self.active, self.transport
        route = active.route if active is not None else None
        buffering = route.upstream.buffering if route is not None else None
        if buffering is None or not buffering.response or self.tunnel is not None \
                or transport is None:
            return False
        self.buffer = ResponseBuffer(self.dp.loop, buffering.buffers * buffering.buffer_size,
                                     buffering.max_temp_file, transport.write,
                                     self._buffer_full)
        return True

    def _buffer_full(self, full: bool) -> None:
        """The response buffer is past its limits (True) or back under them."""
        upstream = self.active.upstream if self.active is not None else None
        if upstream is not None and upstream.transport is not None and not upstream.closed:
            if full:
                upstream.transport.pause_reading()
            else:
                upstream.transport.resume_reading()

    def pause_request_body(self) -> None:
        active = self.active
        if active is not None and active.body is not None and active.body.complete:
            active.body.pause()  # the pod takes the buffered body slower than it is read
        else:
            self._pause(_PAUSE_UPSTREAM)

    def resume_request_body(self) -> None:
        active = self.active
        if active is not None and active.body is not None and active.body.complete:
            active.body.resume()
        else:
            self._resume(_PAUSE_UPSTREAM)

    # --- request parsing

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.write(data)
            self.deadline = self.dp.loop.time() + self.dp.settings.tunnel_idle_timeout
            return
        if self.tunnel_backlog is not None:
            self.tunnel_backlog.append(data)  # client spoke early, before the upstream's 101
            return
        if self.reading_done:
            return
        if self.in_head:
            self.head_bytes += len(data)
        in_body = self.current
        progress = 0 if in_body is None else in_body.body_bytes
        self.feeding = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.tunnel_backlog = [data[upgrade.args[0] :]]
            return
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__
            if not isinstance(cause, _StopParsing):
                self._reject(cause.status if isinstance(cause, _BadRequest) else 400)
            return
        except httptools.HttpParserError:
            self._reject(400)
            return
        finally:
            self.feeding = False
            deferred = self.deferred
            if deferred is not None:
                self.deferred = None
                exchange, upstream, read_timeout = deferred
                if exchange is self.active and not self.closed:
                    self._send(exchange, upstream, read_timeout)
                else:
                    upstream.pool.release(upstream)  # nothing was written on it
        if self.in_head:
            # Still in a head after this read, so all of it was head: llhttp and httptools
            # hold a header line until it ends, so the raw bytes are bounded too.
            if self.head_bytes > 2 * self.dp.settings.max_header_size:
                self._reject(431)
        elif in_body is not None and in_body is self.current:
            self._body_read(in_body, progress, len(data))

    def _body_read(self, exchange: Exchange, progress: int, size: int) -> None:
        """A read inside a request body: its timeout restarts; bytes that carry no body
        (chunk sizes, extensions, trailers) are bounded like a head."""
        dp = self.dp
        self.deadline = dp.loop.time() + dp.settings.client_body_timeout
        if exchange.body_bytes != progress:
            self.body_stall = 0
            return
        self.body_stall += size
        if self.body_stall > dp.settings.max_header_size:
            self._reject(431)

    def _reject(self, status: int) -> None:
        """The request being read cannot be framed or accepted: read nothing more,
        answer `status` once the requests before it are answered, and close."""
        if self.closed or self.reading_done:
            return
        self.reading_done = True
        self._pause(_PAUSE_DONE)
        broken, self.current = self.current, None
        if broken is not None and self.queue and self.queue[-1] is broken:
            self.queue.pop()  # parsed, never started: it is not forwarded
        active = self.active
        if active is not None and active is not broken:
            self.rejected = status  # answered by _next after the requests before it
            return
        self.active = None
        if active is None or not active.response_started:
            self.write(simple_response(status, close=True))
            self._finished(active or self._unparsed(), status)
        if active is not None:
            self._abandon_upstream(active)
            active.end()
        self.close()

    def _unparsed(self) -> Exchange:
        """A request that never became an exchange, as metrics and the access log count it."""
        exchange = Exchange(self, b"", self.url, self.dp.loop.time())
        exchange.request_bytes = self.head_size
        exchange.client_ip = self.client_ip
        return exchange

    def _abandon_upstream(self, exchange: Exchange) -> None:
        if exchange.upstream is not None:
            exchange.upstream.abandon(exchange)

    def on_message_begin(self) -> None:
        self.in_head = True
        self.head_bytes = self.head_size = self.hosts = 0
        self.url = self.transfer_encoding = self.connection = self.request_id = b""
        self.headers = []
        self.content_length = -1
        dp = self.dp
        if self.active is None:
            self.deadline = dp.loop.time() + dp.settings.client_header_timeout

    def on_url(self, url: bytes) -> None:
        self.head_size += len(url)
        url = self.url + url
        if len(url) > self.dp.settings.max_url_size:
            raise _BadRequest(414)
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        # Trailers come here too: they count with the head (on_message_complete checks),
        # land in a list nothing reads, and are not forwarded, as nginx does.
        self.head_size += len(name) + len(value) + 4
        lname = name.lower()
        if _UNDERSCORE in lname:
            # nginx's `underscores_in_headers off`: CGI-style backends would read
            # `X_Forwarded_For` as the `X-Forwarded-For` the proxy sets.
            return
        self.headers.append((name, lname, value))
        if lname in _FRAMING:
            if lname == b"host":
                self.hosts += 1
                self.host_header = value
            elif lname == b"content-length":
                self.content_length = int(value)  # llhttp accepts only one, and only digits
            elif lname == b"transfer-encoding":
                # A second Transfer-Encoding line fails the `chunked` check below.
                self.transfer_encoding = b"repeated" if self.transfer_encoding else value
            elif lname == b"connection":
                self.connection = value
            else:
                self.request_id = value

    def on_headers_complete(self) -> None:
        self.in_head = False
        if self.closed:
            raise _StopParsing()
        dp = self.dp
        if self.head_size > dp.settings.max_header_size:
            raise _BadRequest(431)
        parser = self.parser
        keep_alive = parser.should_keep_alive()
        http10 = False
        # Kept alive with no Connection header: HTTP/1.1, llhttp's only 1.x above 1.0.
        if not keep_alive or self.connection:
            version = parser.get_http_version()
            http10 = version == "1.0"
            if not http10 and version != "1.1":
                raise _BadRequest(400 if version < "1" else 505)  # HTTP/0.9, HTTP/2.0 as text
        coding = self.transfer_encoding
        if coding and (http10 or coding.strip().lower() != b"chunked"):
            # RFC 9112 §6.1: a coding after (or instead of) chunked leaves the length unknown.
            raise _BadRequest(400)
        hosts = self.hosts
        if hosts != 1 and (hosts or not http10):
            raise _BadRequest(400)  # RFC 9112 §3.2: exactly one Host in HTTP/1.1
        method = parser.get_method()
        exchange = Exchange(self, method, self.url, dp.loop.time())
        # "METHOD SP target SP HTTP/1.1 CRLF", the header lines, the blank line.
        exchange.request_bytes = len(method) + self.head_size + 14
        exchange.headers = self.headers
        exchange.request_id = self.request_id
        if hosts:
            raw = self.host_header
            if raw != self.host_raw:  # a keep-alive client sends the same Host every time
                self.host_routed = host_name(raw)
                self.host_raw = raw
            exchange.host = self.host_routed
            exchange.host_header = raw
        exchange.content_length = self.content_length
        exchange.connection = self.connection
        exchange.chunked_request = bool(coding)
        exchange.http10 = http10
        exchange.client_ip = self.client_ip
        exchange.forwarded = self.forwarded_fixed
        exchange.response_headers = self.listener.response_headers
        exchange.upgrade = parser.should_upgrade()
        self.requests_left -= 1
        exchange.close_after = (not keep_alive or dp.closing or exchange.upgrade
                                or self.requests_left == 0)
        self.current = exchange
        if self.active is None:
            self.active = exchange
            if coding or self.content_length > 0:
                self.deadline = exchange.started_at + dp.settings.client_body_timeout
            self._start(exchange)
        elif len(self.queue) < dp.settings.max_pipelined_requests:
            self.queue.append(exchange)
            self._pause(_PAUSE_QUEUE)
            self.headers = []  # its trailers, if any, must not join the headers it will send
        else:
            # Too many requests queued: answer those, then close; the client
            # retries the rest on a new connection (RFC 9112 §9.3.2).
            self.current = None
            (self.queue[-1] if self.queue else self.active).close_after = True
            self.reading_done = True
            self._pause(_PAUSE_DONE)
            raise _StopParsing()

    def on_body(self, body: bytes) -> None:
        exchange = self.current
        if exchange is None:
            return
        if exchange.copies is not None:
            for copy in exchange.copies:
                copy.add(body)
        if exchange.answered:
            return
        exchange.body_bytes += len(body)
        limit = self._body_limit(exchange.route)
        if limit and exchange.body_bytes > limit:
            self._abandon_upstream(exchange)
            raise _BadRequest(413)
        if exchange.body is not None:
            exchange.body.add(body)
            return
        data = chunk(body) if exchange.chunked_request else body
        self._forward_body(exchange, data)

    def on_message_complete(self) -> None:
        exchange = self.current
        if exchange is None:
            return
        if exchange.chunked_request:
            if self.head_size > self.dp.settings.max_header_size:
                raise _BadRequest(431)  # the trailers made the head too large
            if exchange.copies is not None:
                for copy in exchange.copies:
                    copy.end()  # a copy of a body with a length ends with its last byte
        self.current = None
        exchange.body_done = True
        if exchange.answered:
            self._next(exchange)
        elif exchange.body is not None:
            exchange.body.finish()
        elif exchange.chunked_request:
            self._forward_body(exchange, LAST_CHUNK)

    def _forward_body(self, exchange: Exchange, data: bytes) -> None:
        if exchange.error_page:
            return  # the error page's request has no body
        upstream = exchange.upstream
        if upstream is not None and upstream.exchange is exchange:
            exchange.keep_for_replay(data)
            upstream.write(data)
            if upstream.stalled is not exchange:
                # The read timeout runs from the last byte sent, not from the request's start.
                upstream.deadline = self.dp.loop.time() + upstream.read_timeout
            return
        exchange.outbox.append(data)
        if exchange is self.active and exchange.body_bytes > _CONNECT_BUFFER:
            self._pause(_PAUSE_CONNECTING)

    # --- routing and policies

    def _body_limit(self, route: Route | None) -> int:
        if route is not None and route.upstream.max_body_size is not None:
            return route.upstream.max_body_size
        return self.dp.settings.max_body_size

    def _start(self, exchange: Exchange) -> None:
        try:
            self._begin(exchange)
        except _BadRequest as bad:
            exchange.close_after = True
            self.answer(exchange, bad.status)
        except BadTarget:
            exchange.close_after = True
            self.answer(exchange, 400)

    def _begin(self, exchange: Exchange) -> None:
        """Decide what to do with a request whose headers are complete."""
        dp = self.dp
        if not exchange.request_id and dp.generate_request_id:
            # 32 hex digits, as ingress-nginx's $req_id; forwarded in _upstream_head.
            exchange.request_id = b"%032x" % dp.random.getrandbits(128)
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
        exchange.backend = backend
        if (content_length > 0 or exchange.chunked_request) and self._buffer_body(
                exchange, route, exchange.host_header, exchange.connection):
            return
        exchange.outbox.insert(
            0, self._upstream_head(exchange, route, exchange.host_header, exchange.connection)
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
        exchange.outbox.insert(0, self._upstream_head(exchange, route, body.host_header,
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
        head = self._upstream_head(exchange, route, exchange.header(b"host") or b"",
                                   exchange.header(b"connection") or b"")
        exchange.outbox.insert(0, head)
        self._forward(exchange)

    @property
    def services(self) -> FilterServices:
        return self.dp.services

    @property
    def scheme(self) -> str:
        return self.listener.scheme.decode()

    def peer_certificate(self) -> PeerCertificate | None:
        if not self.listener.tls:
            return None
        peer = self.peer
        if peer is None:
            reader = self.dp.peer_certificates
            transport = self.transport
            ssl_object = transport.get_extra_info("ssl_object") if transport else None
            peer = NO_PEER if reader is None or ssl_object is None else reader(ssl_object)
            self.peer = peer  # one handshake per connection: read it once
        return peer

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

    def _upstream_head(
        self, exchange: Exchange, route: Route, host_header: bytes, connection: bytes
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

    # --- forwarding

    def _forward(self, exchange: Exchange) -> None:
        route = exchange.route
        assert route is not None
        dp = self.dp
        backend = exchange.backend
        assert backend is not None
        usable = dp.usable(backend)  # now: an EndpointSlice change may have come since routing
        if not usable:
            self.answer(exchange, 503)
            return
        endpoint = dp.balancers.pick(backend, usable, exchange.tried, exchange)
        if endpoint is None:
            self.answer(exchange, 502)
            return
        exchange.endpoint = endpoint
        exchange.tried.append(endpoint.address)
        exchange.upstream_started = dp.loop.time()
        pool = dp.pool(endpoint.address) if backend.tls is None else dp.tls_pool(
            endpoint.address, backend)
        if exchange.fresh:
            upstream = None
        elif exchange.method in IDEMPOTENT_METHODS:
            upstream = pool.take_idle(0.0)
        else:
            # A connection the upstream may be closing would fail a write that must
            # not be replayed: only one that was idle a moment ago is safe to reuse.
            upstream = pool.take_idle(dp.loop.time() - dp.settings.non_idempotent_reuse_idle)
        if upstream is None:
            dp.connect(pool, exchange, self._read_timeout(route))
        elif self.feeding:
            # The rest of this read may hold a framing error: nothing is written
            # upstream before it is all parsed (then head and body go in one write).
            self.deferred = (exchange, upstream, self._read_timeout(route))
        else:
            self._send(exchange, upstream, self._read_timeout(route))

    def _read_timeout(self, route: Route) -> float:
        timeout = route.upstream.read_timeout
        return timeout if timeout is not None else self.dp.settings.upstream_read_timeout

    def connected(
        self, exchange: Exchange, upstream: UpstreamConnection, read_timeout: float
    ) -> None:
        """A new upstream connection for `exchange` is open."""
        if exchange is not self.active or self.closed:
            upstream.pool.release(upstream)
            return
        self._send(exchange, upstream, read_timeout)

    def _send(self, exchange: Exchange, upstream: UpstreamConnection, read_timeout: float) -> None:
        self._resume(_PAUSE_CONNECTING)
        upstream.send(exchange, read_timeout)
        if exchange.body is not None and not exchange.error_page:
            exchange.body.send_to(upstream)
        if self.write_paused and self.buffer is None and upstream.transport is not None:
            upstream.transport.pause_reading()  # the client still drains an earlier response

    def upstream_failed(self, exchange: Exchange, reason: str, stale: bool) -> None:
        """The upstream failed before any response byte: retry or answer 502/504."""
        dp = self.dp
        if exchange is not self.active or self.closed:
            return
        backend_key = exchange.backend.key if exchange.backend is not None else ""
        dp.stats.upstream_failed(backend_key, reason)
        exchange.upstream = None
        retry = self._retry(exchange, reason, stale)
        if retry:
            self._forward_again(exchange, retry)
            return
        timeout = reason in ("connect_timeout", "read_timeout", "send_timeout")
        self.answer(exchange, 504 if timeout else 502)

    def _retry(self, exchange: Exchange, reason: str, stale: bool) -> str:
        """Why the route's proxy-next-upstream policy sends `exchange` again; '' if not."""
        route = exchange.route
        assert route is not None
        policy = policy_of(route.upstream.retry, self.dp.settings.max_retries)
        replayable = exchange.replay is not None
        if stale and may_reconnect(policy, exchange.method, replayable):
            # A keep-alive connection the upstream had already closed: not a real failure.
            exchange.fresh = True
            exchange.tried.pop()
            return "stale_connection"
        backend = exchange.backend
        if backend is not None and len(exchange.tried) >= len(self.dp.usable(backend)):
            return ""  # no other endpoint: the last answer stands (504 after a timeout)
        elapsed = self.dp.loop.time() - exchange.started_at
        retry = may_retry(policy, reason, exchange.method, replayable, len(exchange.tried),
                          elapsed)
        return reason if retry else ""

    def _forward_again(self, exchange: Exchange, reason: str) -> None:
        """Send `exchange` again, and say so: every retry is logged and counted by reason."""
        dp = self.dp
        dp.stats.retried(reason)
        endpoint = exchange.endpoint
        backend = exchange.backend
        log.info(
            "retrying upstream request",
            extra={
                "reason": reason,
                "method": exchange.method.decode("latin-1"),
                "backend": backend.key if backend is not None else "",
                "endpoint": f"{endpoint.ip}:{endpoint.port}" if endpoint else "",
            },
        )
        if exchange.replay:
            exchange.outbox[:0] = exchange.replay
        exchange.replay = []
        self._forward(exchange)

    def upstream_intercepted(self, exchange: Exchange, status: int) -> bool:
        """The pod answered `status`, which the route intercepts: retry it, or ask the error
        Service. True when one of them takes over (the pod's response is then dropped)."""
        if exchange is not self.active or self.closed or exchange.error_page:
            return False
        route = exchange.route
        assert route is not None
        retry = route.upstream.retry
        if retry is not None and status in retry.statuses and self._retry(
                exchange, f"http_{status}", False):
            exchange.upstream = None
            self.dp.loop.call_soon(self._forward_again, exchange, f"http_{status}")
            return True
        errors = route.errors
        if errors is None or status not in errors.codes:
            return False
        exchange.upstream = None
        exchange.error_page = True
        exchange.response_filters = ()
        exchange.backend = errors.backend
        exchange.tried = []
        exchange.fresh = False
        exchange.outbox[:] = [error_request(exchange, route, status, self.client_ip)]
        exchange.replay = []
        self.dp.loop.call_soon(self._forward, exchange)
        return True

    def upstream_aborted(self, exchange: Exchange) -> None:
        """The upstream broke off mid-response: the client can only see a closed connection."""
        if exchange is self.active:
            self._finished(exchange, exchange.status)
            self.active = None
            self.close()

    # --- answers

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
        response = simple_response(
            status,
            close=exchange.close_after,
            extra=extra,
            head_only=exchange.head_only,
            raw_headers=exchange.response_headers,
        )
        exchange.sent_bytes = len(response)
        exchange.response_head = response.find(b"\r\n\r\n") + 4
        self.write(response)
        self.response_done(exchange)

    def redirect(self, exchange: Exchange, status: int, location: str) -> None:
        self.answer(exchange, status, ((b"location", location.encode("latin-1")),))

    def response_done(self, exchange: Exchange) -> None:
        """The whole response is written: log it and start the next request."""
        dp = self.dp
        self._finished(exchange, exchange.status)
        if exchange.timed and exchange.headers_at and exchange.endpoint is not None:
            # ingress-nginx's EWMA sample: connect plus response time.
            dp.balancers.observe(exchange.endpoint, dp.loop.time() - exchange.upstream_started)
        if exchange is not self.active:
            return
        if exchange.close_after or dp.closing:
            self.active = None
            buffered = self.buffer
            if buffered is not None and not buffered.empty:
                buffered.close_when_done = self.close  # once the client has it all
            else:
                self.close()
        elif exchange.body_done:
            self._next(exchange)
        else:
            exchange.answered = True  # the next request starts once this body is read
            # A body that was buffering (while a filter or a connect was pending) is dropped.
            exchange.outbox.clear()
            self._resume(_PAUSE_CONNECTING)

    def _finished(self, exchange: Exchange, status: int) -> None:
        """Count (and log) a request whose answer is complete, or that was given up on."""
        dp = self.dp
        now = dp.loop.time()
        if dp.metrics:
            route = exchange.route
            stats = dp.stats
            series = stats.request_done(
                NO_ROUTE if route is None else route.labels, status, exchange.method,
                now - exchange.started_at, exchange.request_bytes + exchange.body_bytes,
                exchange.sent_bytes,
            )
            if exchange.headers_at:  # an upstream answered
                start = exchange.upstream_started
                stats.upstream_timed(series, exchange.sent_at - start,
                                     exchange.headers_at - start, now - start)
        if dp.access_log is not None and (exchange.route is None or exchange.route.access_log):
            dp.access_log.log(self, exchange, status, now)
        trace = exchange.trace
        if trace is not None and trace.sampled and dp.tracer is not None:
            dp.tracer.finish(finished_request(exchange, status, now, dp.epoch_offset))
        if exchange.on_end is not None:
            exchange.end()

    def _next(self, exchange: Exchange) -> None:
        """Serve the next pipelined request, or wait for one."""
        dp = self.dp
        self.active = None
        self.deadline = dp.loop.time() + dp.settings.keepalive_timeout
        if self.queue:
            self.active = following = self.queue.popleft()
            if not self.queue:
                self._resume(_PAUSE_QUEUE)
            self._start(following)
        elif self.rejected:
            self.write(simple_response(self.rejected, close=True))
            self._finished(self._unparsed(), self.rejected)
            self.close()
        else:
            self._resume(_PAUSE_QUEUE)

    # --- tunnels (WebSocket and other upgrades)

    def start_tunnel(self, exchange: Exchange, upstream: UpstreamConnection, data: bytes) -> None:
        dp = self.dp
        self.active = None
        self.tunnel = upstream
        # What holds the request open (a connection limit) holds the tunnel open.
        self.tunnel_ending, exchange.on_end = exchange.on_end, None
        self._finished(exchange, 101)
        dp.stats.open_tunnels += 1
        self.deadline = dp.loop.time() + dp.settings.tunnel_idle_timeout
        if data:
            self.write(data)
        backlog, self.tunnel_backlog = self.tunnel_backlog or [], None
        for pending in backlog:
            if pending:
                upstream.write(pending)
        self._resume(_PAUSE_QUEUE | _PAUSE_UPSTREAM | _PAUSE_CONNECTING)

    def tunnel_closed(self) -> None:
        self.close()

