"""Subrequests to authentication services: HTTP/1.1 over pooled keep-alive connections.

A subrequest is a request head without a body; its answer is the status
and headers (the body is read and dropped). Connections are kept per
service (scheme, host, port) and reused; a new one is opened (the only
Task a subrequest may need) when none is idle. A reused connection that
turns out closed before any answer is retried once on a new one. Every
failure (refused, timed out, broken answer) is reported as no answer, and
the caller refuses the request: an unreachable service never lets
anything through.

As nginx's proxy to an https auth-url, the service's certificate is not
verified (`proxy_ssl_verify off`), and its name is sent as SNI.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import httptools

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


class AuthAnswer:
    __slots__ = ("headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        self.headers = headers  # (lower-case name, value)

    def values(self, lname: bytes) -> list[bytes]:
        return [value for name, value in self.headers if name == lname]


Answered = Callable[[AuthAnswer | None], None]


class _Call:
    __slots__ = ("answered", "connect_timeout", "data", "head_only", "read_timeout", "retried")

    def __init__(self, data: bytes, answered: Answered, connect_timeout: float,
                 read_timeout: float, head_only: bool) -> None:
        self.data = data
        self.answered = answered
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.head_only = head_only
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
        self.transport.write(call.data)

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
        self.pool.release(self, keep_alive)
        call.answered(AuthAnswer(self.status, self.headers))

    def _fail(self, retry: bool) -> None:
        call, self.call = self.call, None
        self._stop_timer()
        self.close()
        if call is None:
            return
        if retry and not call.retried:
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
    def __init__(self, client: AuthClient, service: Service) -> None:
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


class AuthClient:
    """This process's connections to authentication services (a FilterServices part)."""

    def __init__(self, services: FilterServices) -> None:
        self.loop = services.loop
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["http/1.1"])
        self.tls_context = context
        self._pools: dict[Service, _Pool] = {}

    def request(self, service: Service, data: bytes, answered: Answered,
                connect_timeout: float, read_timeout: float, head_only: bool = False) -> None:
        """Send the request head `data`; `answered` gets the answer or None, always later."""
        pool = self._pools.get(service)
        if pool is None:
            pool = self._pools[service] = _Pool(self, service)
        pool.request(_Call(data, answered, connect_timeout, read_timeout, head_only))
