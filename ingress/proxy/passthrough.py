"""TLS passthrough (ssl-passthrough): connections for some hosts reach their pods unopened.

With `--enable-ssl-passthrough`, Portico accepts the HTTPS port's
connections itself (listeners.OwnAcceptor) and, before any TLS is spoken,
peeks at the ClientHello (MSG_PEEK, so nothing is consumed) for the server
name. A name the table lists in `passthrough` gets a TCP connection to one
of its Service's endpoints, and the bytes are spliced both ways, TLS
included: the pod terminates TLS. Every other connection is handed to the
event loop for TLS as usual. As ingress-nginx's passthrough proxy does,
names match exactly (no wildcards).

Peeking waits for the whole ClientHello without spinning: SO_RCVLOWAT makes
the socket readable only once as many bytes as the hello needs are there.
A client that sends less than that within `--tls-handshake-timeout` is
closed, as a stalled handshake is.

A spliced connection reads one side only as fast as the other side takes
it (each pauses the other's reading), closes when either side closes or
after `--tunnel-idle-timeout` without a byte, counts in
`portico_open_tunnels`, and is closed at shutdown once the grace period
is over, as WebSocket tunnels are.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import cast

from ingress.model import Backend, Endpoint, RoutingTable
from ingress.observability.stats import ProxyStats
from ingress.proxy.client_hello import MAX_HELLO, NotAClientHello, server_name
from ingress.proxy.proxy_protocol import readable
from ingress.settings import Settings

log = logging.getLogger(__name__)


class Passthrough:
    """This process's spliced connections, and where a new one goes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, table: Callable[[], RoutingTable],
                 settings: Callable[[], Settings], stats: ProxyStats) -> None:
        self.loop = loop
        self._table = table
        self._settings = settings
        self._stats = stats
        self._cursors: dict[str, int] = {}
        self.splices: set[_Splice] = set()

    async def took(self, conn: socket.socket) -> bool:
        """Splice `conn` if its ClientHello names a passthrough host; False: serve it here.

        True also when the connection was closed here (it said too little in time).
        """
        settings = self._settings()
        try:
            async with asyncio.timeout(settings.tls_handshake_timeout):
                name = await _peek_server_name(self.loop, conn)
        except (TimeoutError, OSError, ConnectionError) as error:
            log.debug("no ClientHello read: %s", error)
            conn.close()
            return True
        table = self._table()
        backend = table.passthrough.get(name) if name else None
        if backend is None:
            return False
        await self._splice(conn, backend, table.endpoint_set(backend).usable, settings)
        return True

    async def _splice(self, conn: socket.socket, backend: Backend,
                      endpoints: tuple[Endpoint, ...], settings: Settings) -> None:
        if not endpoints:
            conn.close()  # as a TCP proxy with nothing to connect to: no TLS to answer with
            return
        cursor = self._cursors.get(backend.key, 0)
        self._cursors[backend.key] = cursor + 1
        endpoint = endpoints[cursor % len(endpoints)]
        splice = _Splice(self, settings.tunnel_idle_timeout)
        try:
            async with asyncio.timeout(settings.connect_timeout):
                await self.loop.create_connection(lambda: splice.pod, endpoint.ip, endpoint.port)
            await self.loop.connect_accepted_socket(lambda: splice.client, conn)
        except (OSError, TimeoutError) as error:
            log.info("TLS passthrough to %s:%d failed: %s", endpoint.ip, endpoint.port, error,
                     extra={"backend": backend.key})
            splice.close()
            conn.close()

    def opened(self, splice: _Splice) -> None:
        self.splices.add(splice)
        self._stats.open_tunnels += 1

    def closed(self, splice: _Splice) -> None:
        if splice in self.splices:
            self.splices.discard(splice)
            self._stats.open_tunnels -= 1

    def close(self) -> None:
        """Shutdown: close every spliced connection."""
        for splice in list(self.splices):
            splice.close()


async def _peek_server_name(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> str | None:
    """The ClientHello's server name, peeked; None without one or when it is not TLS."""
    needed = 5
    try:
        while True:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, needed)
            await readable(loop, conn)
            data = conn.recv(MAX_HELLO, socket.MSG_PEEK)
            if len(data) < needed:
                # Readable with fewer bytes than asked for: the client closed (or failed).
                raise ConnectionError("closed inside its ClientHello")
            try:
                needed, name = server_name(data)
            except NotAClientHello:
                return None  # TLS says what is wrong with it
            if not needed:
                return name
    finally:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)


class _Side(asyncio.Protocol):
    """One connection of a splice: what it reads, the other one writes."""

    def __init__(self, splice: _Splice) -> None:
        self.splice = splice
        self.transport: asyncio.Transport | None = None
        self.other: _Side | None = None
        self.ended = False  # it sent its end (EOF)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.splice.connected()

    def data_received(self, data: bytes) -> None:
        other = self.other
        if other is not None and other.transport is not None:
            other.transport.write(data)
        self.splice.touched()

    def eof_received(self) -> bool:
        self.ended = True
        other = self.other
        if other is None or other.transport is None or other.ended \
                or not other.transport.can_write_eof():
            self.splice.close()
            return False
        other.transport.write_eof()
        return True  # the other side may still have more to say

    def pause_writing(self) -> None:
        if self.other is not None and self.other.transport is not None:
            self.other.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.other is not None and self.other.transport is not None:
            self.other.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.splice.close()


class _Splice:
    """A client connection and its pod connection, spliced."""

    def __init__(self, owner: Passthrough, idle_timeout: float) -> None:
        self.owner = owner
        self.idle_timeout = idle_timeout
        self.pod = _Side(self)
        self.client = _Side(self)
        self.pod.other, self.client.other = self.client, self.pod
        self.last_active = owner.loop.time()
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False

    def connected(self) -> None:
        """One side is connected; with both, the splice is open (the pod, connected first,
        is not read from before: what it says goes to the client)."""
        pod = self.pod.transport
        if self.closed:
            self.close()  # closed while connecting: close what just opened
        elif self.client.transport is None:
            if pod is not None:
                pod.pause_reading()
        elif pod is not None:
            pod.resume_reading()
            self.owner.opened(self)
            self.timer = self.owner.loop.call_later(self.idle_timeout, self._check_idle)

    def touched(self) -> None:
        self.last_active = self.owner.loop.time()

    def _check_idle(self) -> None:
        idle = self.owner.loop.time() - self.last_active
        if idle >= self.idle_timeout:
            self.close()
        else:
            self.timer = self.owner.loop.call_later(self.idle_timeout - idle, self._check_idle)

    def close(self) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for side in (self.client, self.pod):
            if side.transport is not None:
                side.transport.close()
        self.owner.closed(self)
