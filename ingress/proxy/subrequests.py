"""Subrequests (to authentication services, to mirrors): HTTP/1.1 over pooled connections.

A subrequest is a request head, and for a mirror a body streamed as the
client sends it (`StreamedBody`); its answer is the status and headers
(the body is read and dropped). Connections are kept per service (scheme,
host, port) and reused; a new one is opened (the only Task a subrequest may
need) when none is idle. A reused connection that turns out closed before
any answer is retried once on a new one, when what was sent can be sent
again. Every failure (refused, timed out, broken answer, a body that falls
too far behind) is reported as no answer: the authentication filter then
refuses the request, so an unreachable service never lets anything through.

As nginx's proxy to an https URL, the service's certificate is not
verified (`proxy_ssl_verify off`), and its name is sent as SNI.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import httptools

from ingress.proxy.http import LAST_CHUNK, chunk

if TYPE_CHECKING:
    from ingress.proxy.filters.registry import FilterServices


@dataclass(frozen=True, slots=True)
class Service:
    """Where subrequests go, and how many idle connections to keep there for how long."""

    tls: bool
    host: str
    port: int
    keepalive: int = 32
    keepalive_requests: int = 1000
    keepalive_timeout: float = 60.0


class Answer:
    __slots__ = ("headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        self.headers = headers  # (lower-case name, value)

    def values(self, lname: bytes) -> list[bytes]:
        return [value for name, value in self.headers if name == lname]


Answered = Callable[[Answer | None], None]

# Body bytes kept so that a subrequest can be sent again on a new connection.
_REPLAY_LIMIT = 64 * 1024


class StreamedBody:
    """A subrequest's body, written to its connection as the client's request body arrives.

    What the connection has not taken yet (no connection yet, or a slow
    one) is held up to `limit` bytes; past that the subrequest is given up
    (`failed`), so a slow service never holds more than that, and never
    slows the client down. A chunked body is sent chunked and ends with
    `end()`; one of `length` bytes ends with its last byte.
    """

    __slots__ = ("chunked", "connection", "ended", "failed", "held", "held_size", "limit",
                 "remaining", "replay", "replay_size", "sent_any")

    def __init__(self, chunked: bool, limit: int, length: int = 0) -> None:
        self.chunked = chunked
        self.limit = limit
        self.remaining = length
        self.connection: _Connection | None = None
        self.held: list[bytes] = []  # not written yet
        self.held_size = 0
        self.replay: list[bytes] | None = []  # everything, while it stays small
        self.replay_size = 0
        self.ended = False
        self.failed = False
        self.sent_any = False

    @property
    def complete(self) -> bool:
        """All of the body was handed to the connection."""
        return self.ended and not self.held and self.connection is not None

    @property
    def replayable(self) -> bool:
        return not self.sent_any or self.replay is not None

    def add(self, data: bytes) -> None:
        """The next part of the client's body."""
        if not self.failed and not self.ended:
            self.add_framed(chunk(data) if self.chunked else data)

    def add_framed(self, data: bytes) -> None:
        """Body bytes already framed as they are sent (what was read before the copy began)."""
        if self.failed or self.ended:
            return
        if not self.chunked:
            self.remaining -= len(data)
            self.ended = self.remaining <= 0
        replay = self.replay
        if replay is not None:
            replay.append(data)
            self.replay_size += len(data)
            if self.replay_size > _REPLAY_LIMIT:
                self.replay = None
        conn = self.connection
        if conn is None or conn.transport is None:
            self.held.append(data)
            self.held_size += len(data)
            if self.held_size > self.limit:
                self._give_up()
            return
        conn.transport.write(data)
        self.sent_any = True
        if conn.transport.get_write_buffer_size() > self.limit:
            self._give_up()

    def end(self, framed: bool = False) -> None:
        """The client's chunked body is complete (`framed`: its last chunk was added)."""
        if self.failed or self.ended:
            return
        if not framed:
            self.add_framed(LAST_CHUNK)
        self.ended = True

    def attach(self, conn: _Connection) -> None:
        """Write what is held, and the rest as it comes, to `conn` (which sent the head)."""
        self.connection = conn
        pending = self.held if self.replay is None else list(self.replay)
        self.held = []
        self.held_size = 0
        transport = conn.transport
        assert transport is not None
        if pending:
            transport.write(b"".join(pending))
            self.sent_any = True

    def detach(self) -> None:
        self.connection = None

    def _give_up(self) -> None:
        self.failed = True
        self.held = []
        self.held_size = 0
        self.replay = None
        conn = self.connection
        if conn is not None:
            conn.body_failed()


class _Call:
    __slots__ = ("answered", "body", "connect_timeout", "data", "head_only", "read_timeout",
                 "retried")

    def __init__(self, data: bytes, answered: Answered, connect_timeout: float,
                 read_timeout: float, head_only: bool, body: StreamedBody | None) -> None:
        self.data = data
        self.answered = answered
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.head_only = head_only
        self.body = body
        self.retried = False


class _Connection(asyncio.Protocol):
    __slots__ = ("call", "closed", "headers", "idle_since", "last_read", "parser", "pool",
                 "received", "served", "status", "timer", "transport")

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.call: _Call | None = None
        self.closed = False
        self.served = 0
        self.idle_since = 0.0
        self.last_read = 0.0
        self.received = False
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def start(self, call: _Call) -> None:
        assert self.transport is not None
        loop = self.pool.loop
        self.call = call
        self.received = False
        self.status = 0
        self.headers = []
        self.last_read = loop.time()
        self.timer = loop.call_later(call.read_timeout, self._check_timeout)
        body = call.body
        if body is not None and body.failed:
            self._fail(retry=False)
            return
        self.transport.write(call.data)
        if body is not None:
            body.attach(self)

    def body_failed(self) -> None:
        """The body fell too far behind: this subrequest is given up."""
        self._fail(retry=False)

    def _check_timeout(self) -> None:
        call = self.call
        if call is None:
            return
        waited = self.pool.loop.time() - self.last_read
        if waited < call.read_timeout:
            self.timer = self.pool.loop.call_later(call.read_timeout - waited,
                                                   self._check_timeout)
            return
        self._fail(retry=False)

    def data_received(self, data: bytes) -> None:
        if self.call is None:
            self.close()  # bytes on an idle connection: its framing cannot be trusted
            return
        self.received = True
        self.last_read = self.pool.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(retry=False)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            self.headers = []  # an interim answer: the real one follows
            return
        self.status = status
        call = self.call
        if call is not None and call.head_only:
            # llhttp would wait for the body a HEAD answer announces but never sends.
            keep_alive = self.parser.should_keep_alive()
            self.parser = httptools.HttpResponseParser(self)
            self._answered(keep_alive)

    def on_message_complete(self) -> None:
        if self.status and self.call is not None:
            self._answered(keep_alive=self.parser.should_keep_alive())

    def _answered(self, keep_alive: bool) -> None:
        call, self.call = self.call, None
        assert call is not None
        self._stop_timer()
        self.served += 1
        body = call.body
        if body is not None:
            # Answered before the whole body was sent: the connection's framing is lost.
            keep_alive = keep_alive and body.complete
            body.detach()
        self.pool.release(self, keep_alive)
        call.answered(Answer(self.status, self.headers))

    def _fail(self, retry: bool) -> None:
        call, self.call = self.call, None
        self._stop_timer()
        self.close()
        if call is None:
            return
        body = call.body
        if body is not None:
            body.detach()
        if retry and not call.retried and (body is None or body.replayable):
            call.retried = True
            self.pool.connect(call)
        else:
            call.answered(None)

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        if self.call is not None:
            # A kept-alive connection the service had closed meanwhile: not its answer.
            self._fail(retry=self.served > 0 and not self.received)


class _Pool:
    def __init__(self, client: SubrequestClient, service: Service) -> None:
        self.loop = client.loop
        self.service = service
        self.tls_context = client.tls_context if service.tls else None
        self.idle: list[_Connection] = []

    def request(self, call: _Call) -> None:
        now = self.loop.time()
        while self.idle:
            conn = self.idle.pop()  # the most recently used: the least likely to be closed
            if not conn.closed and now - conn.idle_since < self.service.keepalive_timeout:
                conn.start(call)
                return
            conn.close()
        self.connect(call)

    def connect(self, call: _Call) -> None:
        self.loop.create_task(self._connect(call))

    async def _connect(self, call: _Call) -> None:
        service = self.service
        try:
            async with asyncio.timeout(call.connect_timeout):
                _, conn = await self.loop.create_connection(
                    lambda: _Connection(self), service.host, service.port,
                    ssl=self.tls_context,
                    server_hostname=service.host if self.tls_context else None,
                )
        except (OSError, ssl.SSLError):  # TimeoutError included
            call.answered(None)
            return
        conn.start(call)

    def release(self, conn: _Connection, keep_alive: bool) -> None:
        service = self.service
        if (keep_alive and not conn.closed and len(self.idle) < service.keepalive
                and conn.served < service.keepalive_requests):
            conn.idle_since = self.loop.time()
            self.idle.append(conn)
        else:
            conn.close()

    def forget(self, conn: _Connection) -> None:
        if conn in self.idle:
            self.idle.remove(conn)


class SubrequestClient:
    """This process's connections to the services of subrequests (a FilterServices part)."""

    def __init__(self, services: FilterServices) -> None:
        self.loop = services.loop
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["http/1.1"])
        self.tls_context = context
        self._pools: dict[Service, _Pool] = {}

    def request(self, service: Service, data: bytes, answered: Answered,
                connect_timeout: float, read_timeout: float, head_only: bool = False,
                body: StreamedBody | None = None) -> None:
        """Send the request head `data` (then `body`, as it comes); `answered` gets the
        answer or None, always later."""
        pool = self._pools.get(service)
        if pool is None:
            pool = self._pools[service] = _Pool(self, service)
        pool.request(_Call(data, answered, connect_timeout, read_timeout, head_only, body))
