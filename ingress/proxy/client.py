"""The downstream side: one protocol instance per HTTP/1.1 client connection.

Requests are parsed in `RequestParser`'s callbacks (request_parser.py), and
the connection reads and writes at the pace `ClientFlow` sets
(client_flow.py). The first request is forwarded as soon as its headers are
complete and its body streams through; pipelined requests queue behind it
(reading pauses meanwhile) and start when the response before them is
complete. After a `101` the connection becomes a byte tunnel to the
upstream. After a framing error nothing more is read or forwarded: the
requests before it are answered, then the error, then the connection closes.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import httptools

from ingress.proxy.client_address import fixed_block
from ingress.proxy.client_flow import PAUSE_CONNECTING, PAUSE_DONE, PAUSE_QUEUE, PAUSE_UPSTREAM
from ingress.proxy.exchange import Exchange
from ingress.proxy.h2.handover import PREFACE, H2Upgrade, after_preface, hand_over
from ingress.proxy.http import simple_response
from ingress.proxy.peer import NO_PEER, PeerCertificate
from ingress.proxy.proxy_protocol import Address
from ingress.proxy.request_parser import RequestParser, StopParsing
from ingress.proxy.router import BadRequest
from ingress.proxy.upstream import UpstreamConnection

if TYPE_CHECKING:
    from ingress.proxy.dataplane import Dataplane, Listener

log = logging.getLogger(__name__)


class ClientConnection(RequestParser, asyncio.Protocol):
    __slots__ = ("body_stall", "peer", "rejected", "source", "tunnel_backlog", "tunnel_ending")

    def __init__(self, dp: Dataplane, listener: Listener, source: Address | None = None) -> None:
        super().__init__()
        self.dp = dp
        self.listener = listener
        self.source = source  # the client a PROXY protocol header named
        self.active: Exchange | None = None  # being answered
        self.closed = False
        self.client_ip = ""
        self.forwarded_fixed = b""
        self.headers_trusted = False  # the peer is a trusted proxy: read its forwarded headers
        self.forwarded_per_request = False
        self.rejected = 0  # status owed once the requests before the bad one are answered
        self.body_stall = 0  # bytes read without body progress: chunk framing and trailers
        self.feeding = False  # inside parser.feed_data
        self.deferred: tuple[Exchange, UpstreamConnection, float] | None = None
        # Client bytes that came before the upstream's 101, for the tunnel to come.
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

    # --- reading

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
            if not isinstance(cause, StopParsing):
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
        self._pause(PAUSE_DONE)
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
        self._resume(PAUSE_CONNECTING)
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
            self._resume(PAUSE_CONNECTING)

    def _next(self, exchange: Exchange) -> None:
        """Serve the next pipelined request, or wait for one."""
        dp = self.dp
        self.active = None
        self.deadline = dp.loop.time() + dp.settings.keepalive_timeout
        if self.queue:
            self.active = following = self.queue.popleft()
            if not self.queue:
                self._resume(PAUSE_QUEUE)
            self._start(following)
        elif self.rejected:
            self.write(simple_response(self.rejected, close=True))
            self._finished(self._unparsed(), self.rejected)
            self.close()
        else:
            self._resume(PAUSE_QUEUE)

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
        self._resume(PAUSE_QUEUE | PAUSE_UPSTREAM | PAUSE_CONNECTING)

    def tunnel_closed(self) -> None:
        self.close()

