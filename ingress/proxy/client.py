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
import ssl
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import httptools

from ingress.proxy.client_address import fixed_block
from ingress.proxy.exchange import Exchange, Header
from ingress.proxy.forward import Forwarder
from ingress.proxy.h2.handover import PREFACE, H2Upgrade, after_preface, h2c_upgrade, hand_over
from ingress.proxy.http import LAST_CHUNK, chunk, simple_response
from ingress.proxy.peer import NO_PEER, PeerCertificate
from ingress.proxy.proxy_protocol import Address
from ingress.proxy.response_buffer import ResponseBuffer
from ingress.proxy.router import BadRequest
from ingress.proxy.target import host_name
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


class _StopParsing(Exception):
    """Raised in a parser callback to leave the rest of the data unparsed."""


class ClientConnection(Forwarder, asyncio.Protocol):
    __slots__ = (
        "body_stall",
        "buffer",
        "connection",
        "content_length",
        "current",
        "deadline",
        "h2c_upgrade",
        "head_bytes",
        "head_size",
        "headers",
        "host_header",
        "host_raw",
        "host_routed",
        "hosts",
        "in_head",
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
        self.h2c_upgrade: H2Upgrade | None = None  # accepted, answered at the head's end

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
        if listener.tls:
            ssl_object = transport.get_extra_info("ssl_object")
            if ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2":
                self._become_h2(b"", None)  # settled at the handshake (ALPN)
                return
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
            rest = data[upgrade.args[0] :]
            if self.h2c_upgrade is not None:
                self._become_h2(rest, self.h2c_upgrade)
            else:
                self.tunnel_backlog = [rest]
            return
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__
            if not isinstance(cause, _StopParsing):
                self._reject(cause.status if isinstance(cause, BadRequest) else 400)
            return
        except httptools.HttpParserError:
            # The h2c preface reads as a request llhttp refuses: settled here, off the hot path.
            if self.parser.get_method() == b"PRI" and self.active is None and not self.queue:
                self._become_h2(after_preface(data), None)
            else:
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

    def _become_h2(self, rest: bytes, upgrade: H2Upgrade | None) -> None:
        """HTTP/2 from here on: ALPN chose h2, the h2c preface arrived, or an h2c upgrade
        was accepted. `rest` is what the client sent after what was read so far."""
        transport = self.transport
        if transport is None or self.closed:
            return
        self.closed = True
        if upgrade is not None:
            transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: h2c\r\n\r\n"
            )
        elif not self.listener.tls:
            rest = PREFACE + rest
        hand_over(self, transport, rest, upgrade)

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
            raise BadRequest(414)
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
            raise BadRequest(431)
        parser = self.parser
        keep_alive = parser.should_keep_alive()
        http10 = False
        # Kept alive with no Connection header: HTTP/1.1, llhttp's only 1.x above 1.0.
        if not keep_alive or self.connection:
            version = parser.get_http_version()
            http10 = version == "1.0"
            if not http10 and version != "1.1":
                raise BadRequest(400 if version < "1" else 505)  # HTTP/0.9, HTTP/2.0 as text
        coding = self.transfer_encoding
        if coding and (http10 or coding.strip().lower() != b"chunked"):
            # RFC 9112 §6.1: a coding after (or instead of) chunked leaves the length unknown.
            raise BadRequest(400)
        hosts = self.hosts
        if hosts != 1 and (hosts or not http10):
            raise BadRequest(400)  # RFC 9112 §3.2: exactly one Host in HTTP/1.1
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
        if exchange.upgrade and self.active is None and not self.listener.tls:
            upgrade = h2c_upgrade(exchange)
            if upgrade is not None:
                self.h2c_upgrade = upgrade  # answered once the parser stops at the head's end
                return
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
            raise BadRequest(413)
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
                raise BadRequest(431)  # the trailers made the head too large
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
        if (not self._body_to_upstream(exchange, data) and exchange is self.active
                and exchange.body_bytes > _CONNECT_BUFFER):
            self._pause(_PAUSE_CONNECTING)

    # --- what the shared Forwarder asks of the protocol

    def ssl_object(self) -> ssl.SSLObject | None:
        transport = self.transport
        return transport.get_extra_info("ssl_object") if transport is not None else None

    def peer_certificate(self) -> PeerCertificate | None:
        if not self.listener.tls:
            return None
        peer = self.peer
        if peer is None:
            reader = self.dp.peer_certificates
            ssl_object = self.ssl_object()
            peer = NO_PEER if reader is None or ssl_object is None else reader(ssl_object)
            self.peer = peer  # one handshake per connection: read it once
        return peer

    def _forward_h2(self, exchange: Exchange) -> None:
        # gRPC pods take HTTP/2 only, and gRPC needs trailers HTTP/1.1 cannot carry: the client
        # is told to come back over HTTP/2 (h2c on plain HTTP, ALPN h2 on TLS).
        upgrade = b"h2" if self.listener.tls else b"h2c"
        self.answer(exchange, 426, ((b"upgrade", upgrade), (b"connection", b"upgrade")))

    def send_answer(self, exchange: Exchange, status: int,
                    extra: tuple[tuple[bytes, bytes], ...]) -> None:
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

    def _send(self, exchange: Exchange, upstream: UpstreamConnection, read_timeout: float) -> None:
        self._resume(_PAUSE_CONNECTING)
        upstream.send(exchange, read_timeout)
        if exchange.body is not None and not exchange.error_page:
            exchange.body.send_to(upstream)
        if self.write_paused and self.buffer is None and upstream.transport is not None:
            upstream.transport.pause_reading()  # the client still drains an earlier response

    def upstream_aborted(self, exchange: Exchange) -> None:
        """The upstream broke off mid-response: the client can only see a closed connection."""
        if exchange is self.active:
            self._finished(exchange, exchange.status)
            self.active = None
            self.close()

    # --- answers

    def response_done(self, exchange: Exchange) -> None:
        """The whole response is written: log it and start the next request."""
        dp = self.dp
        self._finished(exchange, exchange.status)
        if exchange.timed:
            self._observe(exchange)
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

