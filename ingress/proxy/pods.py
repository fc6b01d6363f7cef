"""The data plane's connections to pods: pools by address and TLS settings, and connecting.

Pools are keyed by pod address (and, for TLS and HTTP/2 pods, by the
route's TLS settings), so they outlive table swaps: a swap retires only the
pools of addresses and TLS settings no table entry names any more, whose
idle connections close now and busy ones once done. `Dataplane` is made of
this and of what faces clients.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from ingress.model import Backend, UpstreamTls
from ingress.proxy.balancer import Balancers
from ingress.proxy.endpoint_pool import EndpointPool
from ingress.proxy.exchange import Exchange
from ingress.proxy.h2.upstream import H2EndpointPool
from ingress.proxy.upstream import UpstreamConnection
from ingress.proxy.upstream_tls import UpstreamTlsContexts, check_peer, verified_name
from ingress.settings import Settings

log = logging.getLogger(__name__)

Address = tuple[str, int]


class PodConnections:
    """Pools of connections to pods, and how a request's connection is made."""

    settings: Settings

    def __init__(self, settings: Settings, loop: asyncio.AbstractEventLoop) -> None:
        self.settings = settings
        self.loop = loop
        self.pools: dict[Address, EndpointPool] = {}
        # Pools of TLS connections (backend-protocol HTTPS), by address and TLS settings.
        self.tls_pools: dict[tuple[Address, str], EndpointPool] = {}
        self.upstream_tls = UpstreamTlsContexts()
        self.balancers = Balancers(self.pool, loop.time)
        # HTTP/2 (gRPC) pools, by pod address and TLS settings ("" without TLS).
        self.h2_pools: dict[tuple[Address, str], H2EndpointPool] = {}

    def pool(self, address: Address) -> EndpointPool:
        pool = self.pools.get(address)
        if pool is None:
            settings = self.settings
            pool = self.pools[address] = EndpointPool(
                address, self.loop, settings.upstream_keepalive, settings.max_header_size,
                settings.upstream_keepalive_requests,
            )
        return pool

    def tls_pool(self, address: Address, backend: Backend) -> EndpointPool:
        """The pool of TLS connections to `address` with `backend`'s TLS settings."""
        tls = backend.tls
        assert tls is not None
        pool = self.tls_pools.get((address, tls.key))
        if pool is None:
            settings = self.settings
            pool = self.tls_pools[address, tls.key] = EndpointPool(
                address, self.loop, settings.upstream_keepalive, settings.max_header_size,
                settings.upstream_keepalive_requests,
            )
            pool.tls = tls
            pool.server_name = verified_name(tls, backend)
        return pool

    def h2_pool(self, address: Address, backend: Backend) -> H2EndpointPool:
        """The pool of HTTP/2 connections to `address` (gRPC), with `backend`'s TLS settings."""
        tls = backend.tls
        key = (address, tls.key if tls is not None else "")
        pool = self.h2_pools.get(key)
        if pool is None:
            timeout = self.settings.connect_timeout
            if tls is None:
                pool = H2EndpointPool(address, self.loop, timeout)
            else:
                pool = H2EndpointPool(address, self.loop, timeout, tls,
                                      self.upstream_tls.get(tls, "h2"), verified_name(tls, backend))
            self.h2_pools[key] = pool
        return pool

    def retire(self, addresses: list[Address], tls_keys: list[str],
               tls_in_use: set[str]) -> None:
        """Close the pools of pod `addresses` and of `tls_keys` that no route names any more
        (idle connections now, busy ones once done); `tls_in_use` are the TLS settings
        still named."""
        for address in addresses:
            pool = self.pools.pop(address, None)
            if pool is not None:
                pool.retire()
            self.balancers.forget_address(address)
        gone_addresses, gone_tls = set(addresses), set(tls_keys)
        for key in [k for k in self.tls_pools if k[0] in gone_addresses or k[1] in gone_tls]:
            self.tls_pools.pop(key).retire()
        for h2_key in [k for k in self.h2_pools
                       if k[0] in gone_addresses or (k[1] and k[1] in gone_tls)]:
            self.h2_pools.pop(h2_key).retire()
        self.upstream_tls.keep_only(tls_in_use)

    def configure_pools(self, settings: Settings) -> None:
        """Apply keep-alive settings the controller ConfigMap changed to the pools."""
        for pool in (*self.pools.values(), *self.tls_pools.values()):
            pool.max_idle = settings.upstream_keepalive
            pool.max_requests = settings.upstream_keepalive_requests

    def close_idle(self, now: float) -> None:
        """Close the pod connections idle for longer than the keep-alive timeout."""
        idle_timeout = self.settings.upstream_keepalive_timeout
        for pool in (*self.pools.values(), *self.tls_pools.values()):
            for upstream in pool.idle:
                if upstream.idle_since < now - idle_timeout:
                    upstream.close()
        for h2_pool in self.h2_pools.values():
            h2_pool.sweep(now, idle_timeout)

    def retire_all(self) -> None:
        for pool in (*self.pools.values(), *self.tls_pools.values()):
            pool.retire()
        for h2_pool in self.h2_pools.values():
            h2_pool.retire()

    def connect(self, pool: EndpointPool, exchange: Exchange, read_timeout: float) -> None:
        self.loop.create_task(self._connect(pool, exchange, read_timeout))

    async def _connect(self, pool: EndpointPool, exchange: Exchange, read_timeout: float) -> None:
        settings = self.settings
        host, port = pool.address
        route = exchange.route
        timeout = route.upstream.connect_timeout if route is not None else None
        tls = pool.tls
        try:
            async with asyncio.timeout(timeout or settings.connect_timeout):
                if tls is None:
                    _, upstream = await self.loop.create_connection(
                        lambda: UpstreamConnection(pool), host, port
                    )
                else:
                    upstream = await self._connect_tls(pool, tls)
        except OSError as error:  # TimeoutError and ssl.SSLError included
            pool.connect_failed(self.balancers.ejected, settings.eject_after, settings.eject_base)
            if isinstance(error, TimeoutError):
                reason = "connect_timeout"
            elif isinstance(error, ssl.SSLError | _PeerRefused):
                reason = "tls"
                log.warning("TLS to %s:%d: %s", host, port, error)
            else:
                reason = "connect_refused"
            exchange.conn.upstream_failed(exchange, reason, False)
            return
        pool.connect_succeeded(self.balancers.ejected)
        exchange.conn.connected(exchange, upstream, read_timeout)

    async def _connect_tls(self, pool: EndpointPool, tls: UpstreamTls) -> UpstreamConnection:
        """A TLS connection to the pod, checked as nginx's proxy_ssl_verify* would."""
        host, port = pool.address
        name = pool.server_name
        # Without SNI and with OpenSSL's name check off, the server name is "" (asyncio's
        # way to send none); check_peer then checks the name.
        transport, upstream = await self.loop.create_connection(
            lambda: UpstreamConnection(pool), host, port, ssl=self.upstream_tls.get(tls),
            server_hostname=name if tls.server_name else "",
        )
        refused = check_peer(transport.get_extra_info("ssl_object"), tls, name)
        if refused is not None:
            transport.close()
            raise _PeerRefused(refused)
        return upstream


class _PeerRefused(OSError):
    """The pod's certificate passed OpenSSL but not nginx's further checks."""
