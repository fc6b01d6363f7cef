"""Listening sockets, and accepting connections from them in a way that can pause.

Each port is one SO_REUSEPORT socket per address, which this process keeps
open until it drains. The event loop accepts from a duplicate of it:
closing the duplicate when `--max-connections` is reached stops accepting
without closing the socket, so the connections that arrive meanwhile wait
in the kernel's backlog, as nginx leaves them when `worker_connections` is
exhausted, instead of being reset; they are accepted once the count drops,
or by another worker that has room.

With `--proxy-protocol` the accepting is Portico's own (`OwnAcceptor`):
each new socket's PROXY header is read byte-exactly first (within
`--proxy-protocol-timeout`) and the socket is then handed to the event
loop, TLS included. So it is on the HTTPS port with
`--enable-ssl-passthrough`, whose connections for passthrough hosts never
reach the event loop's TLS (ingress.proxy.passthrough).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from ingress.proxy.proxy_protocol import Address, ProxyHeaderError, read_header

log = logging.getLogger(__name__)

_BACKLOG = 4096
# Connections accepted per readiness callback of a PROXY protocol listener.
_ACCEPT_BATCH = 64


def listening_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound, listening, non-blocking SO_REUSEPORT sockets for every address of `host`."""
    sockets: list[socket.socket] = []
    infos = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(_BACKLOG)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


@dataclass(frozen=True, slots=True)
class Listening:
    """A listening socket, and how the connections accepted from it start."""

    loop: asyncio.AbstractEventLoop
    sock: socket.socket
    tls: ssl.SSLContext | None
    tls_handshake_timeout: float

    @property
    def handshake_timeout(self) -> float | None:
        return self.tls_handshake_timeout if self.tls is not None else None


class Acceptor(Protocol):
    async def start(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def close(self) -> None: ...


class LoopAcceptor:
    """The event loop's own accepting (and TLS handshakes), on a duplicate of `sock`."""

    def __init__(self, listening: Listening, factory: Callable[[], asyncio.Protocol]) -> None:
        self._listening = listening
        self._factory = factory
        self._server: asyncio.Server | None = None
        self._wanted = False
        self._starting = False
        # The loop keeps only a weak reference to a task: the one starting to serve is held.
        self._start_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._wanted = True
        await self._serve()

    async def _serve(self) -> None:
        self._starting = True
        try:
            listening = self._listening
            server = await listening.loop.create_server(
                self._factory,
                sock=socket.socket(fileno=os.dup(listening.sock.fileno())),
                ssl=listening.tls,
                backlog=_BACKLOG,
                ssl_handshake_timeout=listening.handshake_timeout,
            )
        finally:
            self._starting = False
        if self._wanted:
            self._server = server
        else:  # paused again while starting
            server.close()

    def pause(self) -> None:
        self._wanted = False
        server, self._server = self._server, None
        if server is not None:
            server.close()  # closes the duplicate: the listening socket and its backlog stay

    def resume(self) -> None:
        self._wanted = True
        if self._server is None and not self._starting:
            self._start_task = self._listening.loop.create_task(self._serve())

    def close(self) -> None:
        self.pause()
        self._listening.sock.close()


# Takes a new connection elsewhere (TLS passthrough); False: it is served here.
Diverter = Callable[[socket.socket], Awaitable[bool]]


class OwnAcceptor:
    """Accepts, reads each connection's PROXY header (`header_timeout` set), lets `divert`
    take it elsewhere, then hands it to the event loop."""

    def __init__(
        self,
        listening: Listening,
        factory: Callable[[Address | None], asyncio.Protocol],
        header_timeout: float | None,
        divert: Diverter | None = None,
    ) -> None:
        self._listening = listening
        self._loop = listening.loop
        self._sock = listening.sock
        self._factory = factory
        self._header_timeout = header_timeout
        self._divert = divert
        self._reading = False
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.resume()

    def pause(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._sock.fileno())

    def resume(self) -> None:
        if not self._reading and self._sock.fileno() >= 0:
            self._reading = True
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def close(self) -> None:
        self.pause()
        self._sock.close()
        for task in list(self._pending):
            task.cancel()

    def _accept(self) -> None:
        for _ in range(_ACCEPT_BATCH):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # EMFILE and the like: try again on the next readiness
                log.warning("accept failed: %s", error)
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self._loop.create_task(self._handshake(conn))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _handshake(self, conn: socket.socket) -> None:
        source = None
        if self._header_timeout is not None:
            try:
                async with asyncio.timeout(self._header_timeout):
                    source = await read_header(self._loop, conn)
            except (ProxyHeaderError, TimeoutError, OSError) as error:
                # As nginx does with a broken header: close without an answer.
                log.debug("PROXY protocol header refused: %s", error)
                conn.close()
                return
        if self._divert is not None and await self._divert(conn):
            return
        try:
            await self._loop.connect_accepted_socket(
                lambda: self._factory(source),
                conn,
                ssl=self._listening.tls,
                ssl_handshake_timeout=self._listening.handshake_timeout,
            )
        except (OSError, TimeoutError) as error:  # ssl.SSLError is an OSError
            log.debug("connection after a PROXY header failed: %s", error)
            conn.close()
