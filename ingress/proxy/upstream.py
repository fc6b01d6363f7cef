"""One HTTP/1.1 connection to an endpoint, and the parsing of its responses.

Connections are kept alive in their endpoint's `EndpointPool`
(endpoint_pool.py). Responses are parsed with llhttp (httptools) in protocol
callbacks; everything one `data_received` produces for the client is
written with one `write`.

A response that cannot be framed unambiguously (Content-Length with
Transfer-Encoding, differing Content-Lengths, a coding other than exactly
`chunked`, an invalid status line) or whose head exceeds `--max-header-size`
is answered 502 and its connection discarded, as nginx does: forwarding it
would let the upstream's framing desynchronise the client's connection.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final, cast

import httptools

from ingress.proxy.endpoint_pool import EndpointPool
from ingress.proxy.filters import apply_response_filters
from ingress.proxy.http import LAST_CHUNK, chunk
from ingress.proxy.response_head import (
    RECHUNK,
    UNTIL_CLOSE,
    BadResponse,
    ResponseHead,
    client_framing,
)

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange
    from ingress.proxy.forward import Forwarder

# nginx's proxy_send_timeout when a route sets none.
DEFAULT_SEND_TIMEOUT: Final = 60.0


class UpstreamConnection(asyncio.Protocol):
    __slots__ = (
        "body_stall",
        "closed",
        "deadline",
        "exchange",
        "finished",
        "head",
        "head_bytes",
        "head_size",
        "idle_since",
        "in_head",
        "interim",
        "keep_alive",
        "out",
        "parser",
        "pool",
        "read_timeout",
        "reason",
        "rechunk",
        "requests_left",
        "reused",
        "stalled",
        "transport",
        "tunnel",
        "tunnel_owner",
        "until_close",
    )

    def __init__(self, pool: EndpointPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: Exchange | None = None
        self.finished: Exchange | None = None
        self.closed = False
        self.reused = False
        # Requests this connection may still carry (upstream-keepalive-requests; <0: any).
        self.requests_left = pool.max_requests or -1
        # The exchange whose request the pod stopped taking: `deadline` is the send timeout.
        self.stalled: Exchange | None = None
        self.deadline = 0.0  # loop time after which a busy connection has timed out
        self.idle_since = 0.0  # loop time it went back to the pool
        self.read_timeout = 0.0
        self.in_head = False
        self.head_bytes = 0  # raw bytes received while in a response head
        self.head_size = 0  # the parsed head's (and trailers') size
        self.body_stall = 0  # bytes read that produced nothing for the client
        self.out: list[bytes] = []
        self.reason = b""
        self.head = ResponseHead()  # of the response being read
        self.rechunk = False
        self.until_close = False
        self.interim = False
        self.keep_alive = False
        self.tunnel = False
        self.tunnel_owner: Forwarder | None = None

    # --- lifecycle

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    def send(self, exchange: Exchange, read_timeout: float) -> None:
        """Start forwarding `exchange`: write what it has buffered so far."""
        assert self.transport is not None
        self.exchange = exchange
        exchange.upstream = self
        self.requests_left -= 1
        self.pool.active += 1
        exchange.sent_at = self.pool.loop.time()
        self.read_timeout = read_timeout
        self.deadline = exchange.sent_at + read_timeout
        outbox = exchange.outbox
        if outbox:
            data = outbox[0] if len(outbox) == 1 else b"".join(outbox)
            outbox.clear()
            exchange.keep_for_replay(data)
            self.transport.write(data)

    def timed_out(self) -> None:
        """The sweeper found no response byte for `read_timeout` (or, while the pod took no
        request byte, for the send timeout): fail the exchange."""
        exchange = self._detach()
        self.close()
        if exchange is not None:
            reason = "send_timeout" if self.stalled is exchange else "read_timeout"
            self._fail(exchange, reason, stale=False)

    def abandon(self, exchange: Exchange) -> None:
        """The client gave up on `exchange` mid-message: this connection cannot be reused."""
        if self.exchange is exchange:
            self._detach()
            self.close()

    def _detach(self) -> Exchange | None:
        """Stop serving the current exchange; it no longer counts as this endpoint's load."""
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            self.pool.active -= 1
        return exchange

    def _fail(self, exchange: Exchange, reason: str, stale: bool) -> None:
        """Before the response began the client side may retry; after, it can only cut."""
        if exchange.response_started:
            exchange.conn.upstream_aborted(exchange)
        else:
            exchange.conn.upstream_failed(exchange, reason, stale)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def _finish(self, exchange: Exchange) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        self.finished = self._detach()
        self.reused = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        owner, self.tunnel_owner = self.tunnel_owner, None
        if owner is not None:
            owner.tunnel_closed()
            return
        exchange = self._detach()
        if exchange is None:
            return
        if self.until_close and exchange.response_started:
            # The body was delimited by the close: the response is complete.
            throttle = exchange.throttle
            if throttle is None:
                if self.rechunk:
                    exchange.conn.write(LAST_CHUNK)
                exchange.conn.response_done(exchange)
            else:
                if self.rechunk:
                    throttle.write(self, LAST_CHUNK)
                throttle.then(exchange.conn.response_done)
        else:
            self._fail(exchange, "reset", self.reused)

    # --- flow control: our write buffer to the upstream is the request body's

    def pause_writing(self) -> None:
        exchange = self.exchange
        if exchange is not None and exchange.route is not None:
            # nginx's proxy_send_timeout: the pod must take more within it.
            timeout = exchange.route.upstream.send_timeout or DEFAULT_SEND_TIMEOUT
            self.stalled = exchange
            self.deadline = self.pool.loop.time() + timeout
        owner = exchange.conn if exchange is not None else self.tunnel_owner
        if owner is not None:
            owner.pause_request_body()

    def resume_writing(self) -> None:
        if self.stalled is not None:
            if self.stalled is self.exchange:
                self.deadline = self.pool.loop.time() + self.read_timeout
            self.stalled = None
        owner = self.exchange.conn if self.exchange is not None else self.tunnel_owner
        if owner is not None:
            owner.resume_request_body()

    # --- response parsing

    def data_received(self, data: bytes) -> None:
        if self.tunnel_owner is not None:
            self.tunnel_owner.write(data)
            return
        exchange = self.exchange
        if exchange is None:
            # Bytes on an idle connection: the upstream broke framing; never reuse it.
            self.close()
            return
        out: list[bytes] = []
        self.out = out
        self.deadline = self.pool.loop.time() + self.read_timeout
        if self.in_head:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            if out:
                exchange.conn.write(b"".join(out))
            self._become_tunnel(exchange, data[upgrade.args[0] :])
            return
        except httptools.HttpParserError:
            self._broken(exchange, out)
            return
        if out:
            self.body_stall = 0
            data = out[0] if len(out) == 1 else b"".join(out)
            exchange.sent_bytes += len(data)
            if exchange.throttle is None:
                exchange.conn.write(data)
            else:
                exchange.throttle.write(self, data)
        elif self.in_head:
            # Still in the head after this read, so all of it was head.
            if self.head_bytes > 2 * self.pool.max_header_size:
                self._broken(exchange, out)
                return
        else:
            # Chunk sizes, extensions and trailers only: bounded like a head.
            self.body_stall += len(data)
            if self.body_stall > self.pool.max_header_size:
                self._broken(exchange, out)
                return
        finished, self.finished = self.finished, None
        if finished is not None:
            # An upstream that answered before it read the whole request
            # body would take the rest of that body for the next request.
            if self.closed or not self.keep_alive or not finished.body_done:
                self.close()
            else:
                self.pool.release(self)
            if finished.throttle is None:
                finished.conn.response_done(finished)
            else:
                finished.throttle.then(finished.conn.response_done)

    def _broken(self, exchange: Exchange, out: list[bytes]) -> None:
        """The response cannot be framed or is too large: discard this connection."""
        self.close()
        finished, self.finished = self.finished, None
        if finished is not None:
            # The response was complete; the bytes after it were not a response.
            if out:
                finished.conn.write(b"".join(out))
            finished.conn.response_done(finished)
            return
        self._detach()
        if exchange.response_started and out:
            exchange.conn.write(b"".join(out))
        self._fail(exchange, "invalid_response", stale=False)

    def _become_tunnel(self, exchange: Exchange, rest: bytes) -> None:
        """After a 101 the connection carries raw bytes to the client until either side closes."""
        self._detach()
        self.deadline = 0.0
        self.tunnel_owner = exchange.conn
        exchange.conn.start_tunnel(exchange, self, rest)

    def on_message_begin(self) -> None:
        if self.exchange is None:
            raise BadResponse()  # a second response to one request
        self.reason = b""
        self.head.reset(bool(self.exchange.response_filters))
        self.in_head = True
        self.head_bytes = self.head_size = 0

    def on_status(self, reason: bytes) -> None:
        self.reason += reason
        self.head_size += len(reason)

    def on_header(self, name: bytes, value: bytes) -> None:
        # Trailers come here too: counted with the head (on_message_complete checks), never
        # forwarded (nginx forwards none either).
        self.head_size += len(name) + len(value) + 4
        if self.in_head:
            self.head.add(name, value)

    def on_headers_complete(self) -> None:
        exchange = self.exchange
        assert exchange is not None
        self.in_head = False
        if self.head_size > self.pool.max_header_size:
            raise BadResponse()
        status = self.parser.get_status_code()
        self.interim = 100 <= status < 200 and status != 101
        self.rechunk = self.until_close = False
        head = self.head
        if head.pairs is not None and not self.interim:
            exchange.status = status  # some filters depend on it
            apply_response_filters(exchange, head.pairs)
        head.complete()
        parts = head.lines
        parts[0] = b"HTTP/1.1 %d %s\r\n" % (status, self.reason)
        upgrade = head.upgrade
        if self.interim:
            if not exchange.conn.frames:  # HTTP/2 clients are not sent 1xx (100 Continue)
                parts.append(b"\r\n")
                self.out.append(b"".join(parts))
            return
        if status >= 300:  # a route may intercept 3xx to 5xx (custom-http-errors), never 2xx
            route = exchange.route
            if route is not None and status in route.intercepts and \
                    exchange.conn.upstream_intercepted(exchange, status):
                # Another try or the error Service answers: this response is dropped with
                # its connection, whose framing is left mid-message.
                self._detach()
                self.close()
                return
        exchange.status = status
        exchange.response_started = True
        exchange.headers_at = self.pool.loop.time()
        if status == 101:
            self.tunnel = True
            parts.append(b"connection: upgrade\r\nupgrade: %s\r\n\r\n" % upgrade)
            self.out.append(b"".join(parts))
            return
        no_body = exchange.head_only or status in (204, 304)
        if exchange.conn.frames:
            self._framed_head(exchange, status, head, no_body)
            return
        framing = client_framing(exchange, head, no_body, parts)
        self.rechunk = bool(framing & RECHUNK)
        self.until_close = bool(framing & UNTIL_CLOSE)
        parts += (exchange.response_headers, b"\r\n")
        head_bytes = b"".join(parts)
        exchange.response_head = len(head_bytes)
        self.out.append(head_bytes)
        if exchange.head_only:
            # llhttp cannot be told a response answers HEAD, so it would wait
            # for the announced body: end the exchange here with a fresh parser.
            self._finish(exchange)
            self.parser = httptools.HttpResponseParser(self)

    def _framed_head(self, exchange: Exchange, status: int, head: ResponseHead,
                     no_body: bool) -> None:
        """For an HTTP/2 stream: the status and headers as they are, the body to come raw."""
        self.until_close = not no_body and not head.framed and not head.coding
        exchange.conn.response_head(exchange, status, head, no_body)
        if exchange.head_only:
            self._finish(exchange)  # as for HTTP/1.1 below: llhttp would wait for the body
            self.parser = httptools.HttpResponseParser(self)

    def on_body(self, body: bytes) -> None:
        if self.interim:
            return
        if self.exchange is None:
            # A body after the response to a HEAD (already complete): drop it, and
            # since this upstream's framing cannot be trusted, do not reuse it.
            self.keep_alive = False
            return
        self.out.append(chunk(body) if self.rechunk else body)

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        if self.tunnel:  # the 101's end: the tunnel starts when feed_data raises
            return
        exchange = self.exchange
        if exchange is None:  # HEAD already finished in on_headers_complete
            return
        if self.head_size > self.pool.max_header_size:
            raise BadResponse()  # the trailers made the head too large
        if self.rechunk:
            self.out.append(LAST_CHUNK)
        self._finish(exchange)
