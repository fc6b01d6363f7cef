"""The keep-alive connections to one endpoint, and its load and passive health.

An `EndpointPool` exists per endpoint address (not per table), so idle
connections, load and passive-health state survive table swaps.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ingress.model import UpstreamTls

if TYPE_CHECKING:
    from ingress.proxy.upstream import UpstreamConnection


class EndpointPool:
    __slots__ = (
        "active",
        "address",
        "ejections",
        "failures",
        "idle",
        "loop",
        "max_header_size",
        "max_idle",
        "max_requests",
        "retired",
        "server_name",
        "tls",
    )

    def __init__(
        self,
        address: tuple[str, int],
        loop: asyncio.AbstractEventLoop,
        max_idle: int,
        max_header_size: int,
        max_requests: int = 0,
    ) -> None:
        self.address = address
        self.loop = loop
        self.max_idle = max_idle
        self.max_requests = max_requests  # per connection, then it closes (0: no limit)
        self.max_header_size = max_header_size
        self.idle: list[UpstreamConnection] = []
        self.active = 0  # exchanges in flight (least_conn reads this)
        self.failures = 0  # consecutive connect failures
        self.ejections = 0
        self.retired = False  # endpoint left the table: close connections as they free up
        self.tls: UpstreamTls | None = None  # set on pools of TLS connections
        self.server_name = ""  # the name their certificates must carry (and maybe the SNI)

    def take_idle(self, idle_since: float) -> UpstreamConnection | None:
        """The warmest idle connection, if it went idle at `idle_since` or later (so has not
        been idle for longer than the window that ends now)."""
        idle = self.idle
        while idle:
            conn = idle[-1]  # LIFO: the warmest connection, and the others may time out
            if conn.closed:
                idle.pop()
            elif conn.idle_since < idle_since:
                return None  # the warmest is too old: so are the rest
            else:
                return idle.pop()
        return None

    def release(self, conn: UpstreamConnection) -> None:
        if (self.retired or conn.closed or len(self.idle) >= self.max_idle
                or conn.requests_left == 0):
            conn.close()
        else:
            conn.deadline = 0.0
            conn.idle_since = self.loop.time()
            if conn.transport is not None:
                conn.transport.resume_reading()  # it may have been paused for a slow client
            self.idle.append(conn)

    def connect_succeeded(self, ejected: dict[tuple[str, int], float]) -> None:
        self.failures = 0
        self.ejections = 0
        ejected.pop(self.address, None)

    def connect_failed(
        self, ejected: dict[tuple[str, int], float], eject_after: int, eject_base: float
    ) -> None:
        """Count a failure; enough in a row eject the endpoint for a doubling period."""
        self.failures += 1
        if self.failures >= eject_after:
            ejected[self.address] = self.loop.time() + eject_base * (2 ** min(self.ejections, 8))
            self.ejections += 1
            self.failures = 0

    def retire(self) -> None:
        self.retired = True
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()
