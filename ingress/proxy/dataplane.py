"""The data plane of one process: listeners, the current table, upstream pools.

`table` is the only reference a rebuild changes; requests read it once when
their headers are complete. Per-endpoint state (pools, health, load) is
keyed by address so it survives swaps; endpoints that leave the table have
their idle connections closed and their busy ones closed once done.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from dataclasses import dataclass

from ingress.model import EMPTY_TABLE, RoutingTable
from ingress.observability.access_log import AccessLogWriter
from ingress.observability.stats import ProxyStats
from ingress.observability.tracing import Tracer
from ingress.proxy.access import AccessLog
from ingress.proxy.balancer import Balancers
from ingress.proxy.client import ClientConnection
from ingress.proxy.exchange import Exchange
from ingress.proxy.upstream import EndpointPool, UpstreamConnection
from ingress.settings import Settings

log = logging.getLogger(__name__)

# How often deadlines are checked; timeouts fire up to this much late.
_SWEEP_INTERVAL = 0.5
# Idle upstream connections older than this are closed before the upstream does it.
_UPSTREAM_IDLE = 30.0


@dataclass(frozen=True, slots=True)
class Listener:
    """What a client connection needs to know about the port it came in on."""

    scheme: bytes
    public_port: bytes
    tls: bool
    # Added to every response on this listener (HSTS on HTTPS), header lines with CRLF.
    response_headers: bytes = b""


class Dataplane:
    def __init__(
        self,
        settings: Settings,
        loop: asyncio.AbstractEventLoop,
        stats: ProxyStats | None = None,
    ) -> None:
        self.settings = settings
        self.loop = loop
        self.stats = stats if stats is not None else ProxyStats()
        self.metrics = settings.enable_metrics  # record per-request metrics
        self.generate_request_id = settings.generate_request_id
        self.random = random.Random()
        self.access_log = (
            AccessLog(AccessLogWriter(loop, self.stats), settings.access_log_format)
            if settings.access_log else None
        )
        self.tracer = (
            Tracer(settings.otlp_endpoint, settings.trace_sample_ratio, self.stats)
            if settings.otlp_endpoint else None
        )
        # Adds to a loop time to make it epoch seconds (span times).
        self.epoch_offset = time.time() - loop.time()
        self.table: RoutingTable = EMPTY_TABLE
        self.has_tls_hosts = False  # does any host of the table redirect plain HTTP to HTTPS?
        self.pools: dict[tuple[str, int], EndpointPool] = {}
        self.balancers = Balancers(self.pool, loop.time)
        self.connections: set[ClientConnection] = set()
        self.closing = False
        self._servers: list[asyncio.Server] = []
        self._sweeper: asyncio.Task[None] | None = None

    # --- configuration

    def swap(self, table: RoutingTable) -> None:
        """Serve `table` from now on; requests already routed keep theirs."""
        self.table = table
        vhosts = (*table.hosts.values(), *table.wildcards.values())
        self.has_tls_hosts = any(vhost.tls for vhost in vhosts)
        backends = table.backends()
        live = {e.address for b in backends.values() for e in (*b.endpoints, *b.fallback)}
        for address in [a for a in self.pools if a not in live]:
            self.pools.pop(address).retire()
            self.balancers.forget_address(address)
        self.balancers.keep_only(backends.keys())
        self.stats.keep_only({route.labels for route in table.all_routes()})

    def snapshot(self) -> ProxyStats:
        """The counters, with the client connections counted by state (nginx's stub_status)."""
        reading = writing = 0
        for conn in self.connections:
            if conn.active is not None or conn.tunnel is not None:
                writing += 1
            elif conn.in_head:
                reading += 1
        stats = self.stats
        stats.reading, stats.writing = reading, writing
        stats.waiting = len(self.connections) - reading - writing
        return stats

    def pool(self, address: tuple[str, int]) -> EndpointPool:
        pool = self.pools.get(address)
        if pool is None:
            pool = self.pools[address] = EndpointPool(
                address, self.loop, self.settings.upstream_keepalive
            )
        return pool

    # --- upstream connections

    def connect(self, pool: EndpointPool, exchange: Exchange, read_timeout: float) -> None:
        self.loop.create_task(self._connect(pool, exchange, read_timeout))

    async def _connect(self, pool: EndpointPool, exchange: Exchange, read_timeout: float) -> None:
        settings = self.settings
        host, port = pool.address
        route = exchange.route
        timeout = route.upstream.connect_timeout if route is not None else None
        try:
            async with asyncio.timeout(timeout or settings.connect_timeout):
                _, upstream = await self.loop.create_connection(
                    lambda: UpstreamConnection(pool), host, port
                )
        except OSError as error:  # TimeoutError included
            pool.connect_failed(self.balancers.ejected, settings.eject_after, settings.eject_base)
            reason = "connect_timeout" if isinstance(error, TimeoutError) else "connect_refused"
            exchange.conn.upstream_failed(exchange, reason, False)
            return
        pool.connect_succeeded(self.balancers.ejected)
        exchange.conn.connected(exchange, upstream, read_timeout)

    # --- listeners

    async def start(self, tls_context: ssl.SSLContext | None = None) -> None:
        settings = self.settings
        plain = Listener(b"http", str(settings.http_port).encode(), False)
        await self._listen(plain, settings.http_port, None)
        if tls_context is not None and settings.https_port:
            port = settings.https_port
            secure = Listener(b"https", str(port).encode(), True, _hsts_header(settings))
            await self._listen(secure, port, tls_context)
        self._sweeper = self.loop.create_task(self._sweep())

    async def _listen(
        self, listener: Listener, port: int, tls_context: ssl.SSLContext | None
    ) -> None:
        settings = self.settings
        server = await self.loop.create_server(
            lambda: ClientConnection(self, listener),
            settings.bind,
            port,
            ssl=tls_context,
            reuse_port=True,
            backlog=4096,
            ssl_handshake_timeout=settings.client_header_timeout if tls_context else None,
        )
        self._servers.append(server)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP_INTERVAL)
            now = self.loop.time()
            for conn in list(self.connections):
                active = conn.active
                upstream = active.upstream if active is not None else None
                if (
                    upstream is not None
                    and upstream.exchange is active
                    and 0 < upstream.deadline < now
                ):
                    upstream.timed_out()
                elif 0 < conn.deadline < now:
                    conn.timed_out()
            for pool in self.pools.values():
                for upstream in pool.idle:
                    if upstream.deadline == 0.0:
                        upstream.deadline = now + _UPSTREAM_IDLE
                    elif upstream.deadline < now:
                        upstream.close()

    # --- shutdown

    def stop_accepting(self) -> None:
        for server in self._servers:
            server.close()

    async def drain(self, grace: float) -> None:
        """Close idle connections now and busy ones after their response, within `grace`."""
        self.closing = True
        self.stop_accepting()
        for conn in list(self.connections):
            conn.drain()
        deadline = self.loop.time() + grace
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            conn.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for pool in self.pools.values():
            pool.retire()
        if self.access_log is not None:
            self.access_log.writer.close()
        if self.tracer is not None:
            self.tracer.close()


def _hsts_header(settings: Settings) -> bytes:
    if not settings.hsts:
        return b""
    value = f"max-age={settings.hsts_max_age}"
    if settings.hsts_include_subdomains:
        value += "; includeSubDomains"
    return f"strict-transport-security: {value}\r\n".encode()
