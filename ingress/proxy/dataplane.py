"""The data plane of one process: listeners, the current table, upstream pools.

`table` is the only reference a rebuild changes; requests read it once when
their headers are complete. Per-endpoint state (pools, health, load) is
keyed by address so it survives swaps; endpoints that leave the table have
their idle connections closed and their busy ones closed once done.

Client connections are counted here: at `--max-connections` the listeners
stop accepting (listeners.py) until one closes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ingress.model import EMPTY_TABLE, NO_ENDPOINTS, Backend, Endpoint, RoutingTable
from ingress.model.changes import TableChange, table_change
from ingress.observability.access_log import AccessLogWriter
from ingress.observability.stats import ProxyStats
from ingress.observability.tracing import Tracer
from ingress.proxy.access import AccessLog
from ingress.proxy.client import ClientConnection
from ingress.proxy.client_address import ClientAddresses
from ingress.proxy.external_names import ExternalNames
from ingress.proxy.filters import FilterServices
from ingress.proxy.h2.connection import H2ClientConnection
from ingress.proxy.holders import Left, TableContents
from ingress.proxy.listeners import (
    Acceptor,
    Listening,
    LoopAcceptor,
    OwnAcceptor,
    listening_sockets,
)
from ingress.proxy.passthrough import Passthrough
from ingress.proxy.peer import PeerCertificate
from ingress.proxy.pods import PodConnections
from ingress.proxy.proxy_protocol import Address
from ingress.settings import Settings, with_overrides

log = logging.getLogger(__name__)

# Reads the client certificate of a TLS connection (ingress.tls.TlsContexts).
PeerReader = Callable[[ssl.SSLObject], PeerCertificate]
# The TLS context a handshake for a host name is served with (the certificate choice).
CertificateContext = Callable[[str], ssl.SSLContext]

# How often deadlines are checked; timeouts fire up to this much late.
_SWEEP_INTERVAL = 0.5


@dataclass(slots=True)
class Listener:
    """What a client connection needs to know about the port it came in on."""

    scheme: bytes
    public_port: bytes
    tls: bool
    # Added to every response on this listener (HSTS on HTTPS), header lines with CRLF;
    # replaced when the controller ConfigMap changes HSTS.
    response_headers: bytes = b""


class Dataplane(PodConnections):
    def __init__(
        self,
        settings: Settings,
        loop: asyncio.AbstractEventLoop,
        stats: ProxyStats | None = None,
    ) -> None:
        super().__init__(settings, loop)
        # The flags; `settings` is them with the controller ConfigMap's on top.
        self.base_settings = settings
        self.stats = stats if stats is not None else ProxyStats()
        self.metrics = settings.enable_metrics  # record per-request metrics
        self.generate_request_id = settings.generate_request_id
        self.random = random.Random()
        # Made when access logging is first on (a flag, or the controller ConfigMap).
        self._access_logger: AccessLog | None = None
        self.access_log = self._access_log_for(settings)
        self.tracer = (
            Tracer(settings.otlp_endpoint, settings.trace_sample_ratio, self.stats)
            if settings.otlp_endpoint else None
        )
        # Adds to a loop time to make it epoch seconds (span times).
        self.epoch_offset = time.time() - loop.time()
        self.listeners: list[Listener] = []
        self.addresses = ClientAddresses(settings)
        self.table: RoutingTable = EMPTY_TABLE
        self.has_tls_hosts = False  # does any host of the table redirect plain HTTP to HTTPS?
        self.contents = TableContents()
        self._left = Left()  # what the changes staged since the last install take away
        self.external_names = ExternalNames(loop, settings.dns_server)
        self.services = FilterServices(loop, settings, self.stats, self.usable)
        # --enable-ssl-passthrough: connections for passthrough hosts are spliced to their pods.
        self.passthrough = Passthrough(loop, lambda: self.table, lambda: self.settings,
                                       self.stats) if settings.enable_ssl_passthrough else None
        self.peer_certificates: PeerReader | None = None
        self.connections: set[ClientConnection] = set()
        self.h2_connections: set[H2ClientConnection] = set()
        # HTTP/2 requests for another host than the connection's certificate covers are
        # answered 421 (None: no check).
        self.certificate_context: CertificateContext | None = None
        self.closing = False
        self._acceptors: list[Acceptor] = []
        self._listening: list[tuple[Listening, Listener]] = []  # each acceptor's socket
        self._accepting = True
        self._sweeper: asyncio.Task[None] | None = None

    # --- configuration

    def swap(self, table: RoutingTable, change: TableChange | None = None) -> None:
        """Serve `table` from now on; requests already routed keep theirs.

        `change` is what differs from the table served until now (computed
        here when not given): the work done here is in proportion to it.
        """
        self.stage(change if change is not None else table_change(self.table, table))
        self.install(table)

    def stage(self, change: TableChange) -> None:
        """Take in what `change` (or one part of a change in parts) brings and takes away,
        ahead of `install`: a large change is staged a part at a time, between requests."""
        self.contents.update(self.table, change, self._left)

    def install(self, table: RoutingTable) -> None:
        """Serve `table`, which the changes staged since the last install make."""
        old = self.table
        if table.settings != old.settings:
            self._configure(table.settings)
        self.table = table
        contents = self.contents
        left, self._left = self._left, Left()
        self.has_tls_hosts = contents.tls_hosts > 0
        names = contents.external_names
        if names.added or left.external_names:
            names.added = False
            gone = {(ip, port) for name, port in left.external_names
                    for ip in self.external_names.resolved(name)}
            left.addresses += [a for a in gone if a not in contents.addresses.counts]
            self.external_names.follow({name for name, _ in names.counts})
        if left.addresses or left.tls:
            self.retire(left.addresses, left.tls, set(contents.tls.counts))
        if left.backends:
            self.balancers.keep_only(contents.backends.counts)
        if left.labels:
            self.stats.keep_only(contents.labels.counts)

    def usable(self, backend: Backend) -> tuple[Endpoint, ...]:
        """The endpoints a request for `backend` may go to now."""
        if backend.external_name:
            return self.external_names.endpoints(backend)
        return self.table.endpoints.get(backend.endpoints_key, NO_ENDPOINTS).usable

    def snapshot(self) -> ProxyStats:
        """The counters, with the client connections counted by state (nginx's stub_status)."""
        reading = writing = 0
        for conn in self.connections:
            if conn.active is not None or conn.tunnel is not None:
                writing += 1
            elif conn.in_head:
                reading += 1
        # An HTTP/2 connection with streams open is writing; one without, waiting.
        writing += sum(1 for h2_conn in self.h2_connections if h2_conn.streams)
        stats = self.stats
        stats.reading, stats.writing = reading, writing
        stats.waiting = len(self.connections) + len(self.h2_connections) - reading - writing
        return stats

    def _configure(self, overrides: Mapping[str, object]) -> None:
        """Apply the controller ConfigMap's settings: new requests and connections see them."""
        old, settings = self.settings, with_overrides(self.base_settings, overrides)
        self.settings = settings
        if self._acceptors and (settings.proxy_protocol, settings.proxy_protocol_timeout) != (
                old.proxy_protocol, old.proxy_protocol_timeout):
            self._accept_anew(settings)
        self.services.settings = settings
        self.access_log = self._access_log_for(settings)
        self.generate_request_id = settings.generate_request_id
        self.addresses = ClientAddresses(settings)
        for listener in self.listeners:
            if listener.tls:
                listener.response_headers = _hsts_header(settings)
        self.configure_pools(settings)

    def _access_log_for(self, settings: Settings) -> AccessLog | None:
        if not settings.access_log:
            return None
        if self._access_logger is None:
            self._access_logger = AccessLog(AccessLogWriter(self.loop, self.stats),
                                            settings.access_log_format)
        return self._access_logger

    # --- listeners

    async def start(self, tls_context: ssl.SSLContext | None = None,
                    peer_certificates: PeerReader | None = None,
                    certificate_context: CertificateContext | None = None) -> None:
        """Listen; `peer_certificates` reads a TLS connection's client certificate,
        `certificate_context` says which context a host name's handshake gets."""
        self.peer_certificates = peer_certificates
        self.certificate_context = certificate_context
        settings = self.settings
        plain = Listener(b"http", str(settings.http_port).encode(), False)
        await self._listen(plain, settings.http_port, None)
        if tls_context is not None and settings.https_port:
            port = settings.https_port
            secure = Listener(b"https", str(port).encode(), True, _hsts_header(settings))
            await self._listen(secure, port, tls_context)
        self.listeners = [plain, secure] if tls_context is not None and settings.https_port \
            else [plain]
        self._sweeper = self.loop.create_task(self._sweep())

    async def _listen(
        self, listener: Listener, port: int, tls_context: ssl.SSLContext | None
    ) -> None:
        settings = self.settings
        for sock in listening_sockets(settings.bind, port):
            listening = Listening(self.loop, sock, tls_context, settings.tls_handshake_timeout)
            acceptor = self._acceptor(listening, listener, settings)
            self._listening.append((listening, listener))
            self._acceptors.append(acceptor)
            await acceptor.start()

    def _acceptor(self, listening: Listening, listener: Listener, settings: Settings) -> Acceptor:
        passthrough = self.passthrough if listening.tls is not None else None
        if settings.proxy_protocol or passthrough is not None:

            def proxied(source: Address | None) -> ClientConnection:
                return ClientConnection(self, listener, source)

            return OwnAcceptor(
                listening, proxied,
                settings.proxy_protocol_timeout if settings.proxy_protocol else None,
                passthrough.took if passthrough is not None else None,
            )
        return LoopAcceptor(listening, lambda: ClientConnection(self, listener))

    def _accept_anew(self, settings: Settings) -> None:
        """The ConfigMap switched the PROXY protocol: new connections are accepted the new
        way on the same listening sockets; those accepted already carry on as they began."""
        old, self._acceptors = self._acceptors, []
        for acceptor in old:
            acceptor.pause()  # stops accepting; the socket and its backlog stay
        for listening, listener in self._listening:
            acceptor = self._acceptor(listening, listener, settings)
            self._acceptors.append(acceptor)
            if self._accepting:
                acceptor.resume()
        log.info("PROXY protocol %s on the listeners (controller ConfigMap)",
                 "required" if settings.proxy_protocol else "no longer expected")

    # --- client connections

    def connection_opened(self, conn: ClientConnection) -> None:
        self.connections.add(conn)
        stats = self.stats
        stats.active_connections += 1
        stats.connections_accepted += 1
        limit = self.settings.max_connections
        if limit and stats.active_connections >= limit and self._accepting:
            self._accepting = False
            stats.accept_paused = 1
            stats.connection_limit_reached += 1
            log.warning("--max-connections reached: not accepting", extra={"limit": limit})
            for acceptor in self._acceptors:
                acceptor.pause()

    def handed_over(self, conn: ClientConnection, h2_conn: H2ClientConnection) -> None:
        """An accepted connection turned out to speak HTTP/2: it counts as the same one."""
        self.connections.discard(conn)
        self.h2_connections.add(h2_conn)

    def connection_closed(self, conn: ClientConnection | H2ClientConnection) -> None:
        if isinstance(conn, H2ClientConnection):
            self.h2_connections.discard(conn)
        else:
            self.connections.discard(conn)
        stats = self.stats
        stats.active_connections -= 1
        if (
            not self._accepting
            and not self.closing
            and stats.active_connections < self.settings.max_connections
        ):
            self._accepting = True
            stats.accept_paused = 0
            for acceptor in self._acceptors:
                acceptor.resume()

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
            for h2_conn in list(self.h2_connections):
                h2_conn.sweep(now)
            self.close_idle(now)

    # --- shutdown

    def stop_accepting(self) -> None:
        self._accepting = False
        for acceptor in self._acceptors:
            acceptor.close()
        self._acceptors.clear()
        self._listening.clear()

    async def drain(self, grace: float) -> None:
        """Close idle connections now and busy ones after their response, within `grace`."""
        self.closing = True
        self.stop_accepting()
        for conn in list(self.connections):
            conn.drain()
        for h2_conn in list(self.h2_connections):
            h2_conn.drain()
        deadline = self.loop.time() + grace
        spliced = self.passthrough.splices if self.passthrough is not None else set()
        while (self.connections or self.h2_connections or spliced) and (
                self.loop.time() < deadline):
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            conn.close()
        for h2_conn in list(self.h2_connections):
            h2_conn.close()
        if self.passthrough is not None:
            self.passthrough.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        self.retire_all()
        self.external_names.close()
        if self._access_logger is not None:
            self._access_logger.writer.close()
        if self.tracer is not None:
            self.tracer.close()


def _hsts_header(settings: Settings) -> bytes:
    if not settings.hsts:
        return b""
    value = f"max-age={settings.hsts_max_age}"
    if settings.hsts_include_subdomains:
        value += "; includeSubDomains"
    if settings.hsts_preload:
        value += "; preload"
    return f"strict-transport-security: {value}\r\n".encode()
