"""One SSLContext per certificate, chosen per handshake by SNI from the current table.

The HTTPS listener is created once with `TlsContexts.server_context`. Its SNI
callback looks the requested name up in the table most recently passed to
`update()` and switches the connection to that certificate's context, which
was prepared in `update()`: a handshake does two dict lookups, never a PEM
parse.

Contexts are keyed by `Certificate.fingerprint`, so a Secret that did not
change keeps its context across table swaps, a rotated Secret gets a new one
on the next handshake, and a context nobody references any more is dropped
(connections already using it hold their own reference and keep working).

Session tickets are encrypted with the keys of the context the connection
started on (OpenSSL keeps the original context as the session context when
the SNI callback switches), so every host shares `server_context`'s ticket
keys and resumption works whichever certificate was served.

A host with a client-certificate policy (auth-tls-secret) gets a context of
its own per certificate, holding the policy's CA bundle: the ClientHello
callback (ingress.tls.openssl) asks its clients for a certificate, and
`peer_certificate` reads what the handshake made of it.

A host with TLS settings of its own (ssl-ciphers, ssl-prefer-server-ciphers)
gets a context of its own too, with its cipher list. OpenSSL takes a
switched context's cipher list but keeps the connection's options, so when
the host's server-preference option differs, the SNI callback copies the
context's options onto the connection, as nginx's servername callback does.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

from ingress.model import EMPTY_TABLE, Certificate, RoutingTable, ServerTls, VirtualHost
from ingress.model.filters.clientcert import ClientAuth
from ingress.proxy.peer import PeerCertificate
from ingress.settings import Settings, with_overrides
from ingress.tls.default_certificate import generate_default_certificate
from ingress.tls.openssl import load
from ingress.tls.peer import read_peer
from ingress.tls.pem_memory import load_pem_chain

log = logging.getLogger(__name__)

_MIN_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_ALPN = ["h2", "http/1.1"]
_ALPN_HTTP1 = ["http/1.1"]


class _Context(ssl.SSLContext):
    """An SSLContext that knows the client-certificate policy it verifies for, and the
    host TLS settings it was made with."""

    client_auth: ClientAuth | None = None
    server_tls: ServerTls | None = None


@dataclass(frozen=True, slots=True)
class _Selection:
    """What the SNI callback reads; replaced as a whole by `update()`."""

    table: RoutingTable
    # By certificate fingerprint (and the policy and host settings of hosts with their own
    # contexts, `_key`); None marks a certificate OpenSSL refused (logged once).
    contexts: dict[str, ssl.SSLContext | None] = field(default_factory=dict)
    # The table's default certificate, or None to keep the generated one.
    default: ssl.SSLContext | None = None


def _version(settings: Settings, name: str) -> ssl.TLSVersion:
    value = getattr(settings, name)
    try:
        return _MIN_VERSIONS[value]
    except KeyError:
        raise ValueError(
            f"--{name.replace('_', '-')}: expected one of {', '.join(_MIN_VERSIONS)}, "
            f"got {value!r}"
        ) from None


class TlsContexts:
    def __init__(self, settings: Settings, default_certificate: Certificate | None = None) -> None:
        """`default_certificate`: the generated one to serve; pass the same one to every
        worker process so that they all present one certificate (default: a new one)."""
        self._settings = settings
        self._overrides: Mapping[str, object] = {}
        self._min_version = _version(settings, "tls_min_version")
        self._max_version = _version(settings, "tls_max_version")
        self._ciphers = settings.tls_ciphers
        self._alpn = _ALPN if settings.http2 else _ALPN_HTTP1
        self.default_certificate = default_certificate or generate_default_certificate()
        self.server_context = self._new_context()
        load_pem_chain(
            self.server_context,
            self.default_certificate.cert_pem,
            self.default_certificate.key_pem,
        )
        self.server_context.sni_callback = self._on_server_name
        self._selection = _Selection(EMPTY_TABLE)
        self._native = load()

    def update(self, table: RoutingTable) -> None:
        """Prepare the contexts `table` needs and serve them from the next handshake."""
        if table.settings != self._overrides:
            self._configure(table.settings)
        previous = self._selection.contexts
        contexts: dict[str, ssl.SSLContext | None] = {}
        wanted: list[tuple[Certificate, ClientAuth | None, ServerTls | None]] = [
            (cert, None, None) for cert in _certificates_of(table)]
        wanted += [(self._certificate_of(table, vhost), _requested(vhost), vhost.server_tls)
                   for vhost in _hosts_with_own_contexts(table)]
        for cert, policy, server_tls in wanted:
            key = _key(cert, policy, server_tls)
            if key not in contexts:
                contexts[key] = previous[key] if key in previous else self._context_for(
                    cert, policy, server_tls)
        default = None
        if table.default_certificate is not None:
            default = contexts[table.default_certificate.fingerprint]
        self._selection = _Selection(table, contexts, default)
        if self._native is not None:
            verifying = any(_requested(vhost) for vhost in table.virtual_hosts())
            self._native.on_client_hello(self.server_context,
                                         self._on_client_hello if verifying else None)

    def _configure(self, overrides: Mapping[str, object]) -> None:
        """The controller ConfigMap's ssl-protocols, ssl-ciphers and use-http2, for the next
        handshakes."""
        self._overrides = overrides
        settings = with_overrides(self._settings, overrides)
        self._min_version = _version(settings, "tls_min_version")
        self._max_version = _version(settings, "tls_max_version")
        self._ciphers = settings.tls_ciphers
        self._alpn = _ALPN if settings.http2 else _ALPN_HTTP1
        for context in (self.server_context, *self._selection.contexts.values()):
            if context is not None:
                self._apply_protocols(context)

    def context_for_name(self, server_name: str | None) -> ssl.SSLContext:
        """The context a handshake for `server_name` (None: no SNI) is served with."""
        selection = self._selection
        name = _normalize(server_name) if server_name else ""
        cert = selection.table.certificate(name) if name else None
        vhost = _host_of(selection.table, name)
        policy = _requested(vhost)
        server_tls = vhost.server_tls if vhost is not None else None
        if policy is not None or server_tls is not None:
            cert = self._certificate_of(selection.table, None, cert)
        if cert is not None:
            context = (selection.contexts.get(_key(cert, policy, server_tls))
                       or selection.contexts.get(cert.fingerprint))
            if context is not None:
                return context
        return selection.default or self.server_context

    def peer_certificate(self, ssl_object: ssl.SSLObject) -> PeerCertificate:
        """The client certificate of a connection, as its handshake left it."""
        context = ssl_object.context
        policy = context.client_auth if isinstance(context, _Context) else None
        return read_peer(self._native, ssl_object, policy.fingerprint if policy else "")

    def _on_client_hello(self, ssl_pointer: int) -> None:
        """Before OpenSSL looks at sessions: hosts with a policy ask for a certificate."""
        native = self._native
        assert native is not None
        name = native.server_name(ssl_pointer)
        policy = _requested(_host_of(self._selection.table, name or ""))
        if policy is not None:
            native.request_certificate(ssl_pointer, policy.depth,
                                       bytes.fromhex(policy.fingerprint))

    def _certificate_of(self, table: RoutingTable, vhost: VirtualHost | None,
                        cert: Certificate | None = None) -> Certificate:
        """The certificate a host is served with: its own, the table's or the generated one."""
        if cert is None and vhost is not None and vhost.host:
            host = vhost.host
            cert = (table.wildcard_certificates.get(host[2:]) if host.startswith("*.")
                    else table.certificate(host))
        return cert or table.default_certificate or self.default_certificate

    def _on_server_name(
        self, ssl_object: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        # The server side of an SSLObject does not keep the name: the access log reads it here.
        ssl_object.server_name_indication = server_name  # type: ignore[attr-defined]
        context = self.context_for_name(server_name)
        if context is not self.server_context:
            ssl_object.context = context
            options = context.options
            if options != self.server_context.options and self._native is not None:
                self._native.adopt_options(self._native.ssl_pointer(ssl_object), options)

    def _context_for(self, cert: Certificate, policy: ClientAuth | None,
                     server_tls: ServerTls | None = None) -> ssl.SSLContext | None:
        context = self._new_context(server_tls)
        try:
            load_pem_chain(context, cert.cert_pem, cert.key_pem)
        except ssl.SSLError as exc:
            # The builder validates Secrets, so this is OpenSSL disagreeing
            # with it; the hosts of this Secret get the default certificate.
            log.error("%s: tls.crt/tls.key: OpenSSL refused the certificate: %s", cert.secret, exc)
            return None
        if policy is not None:
            context.client_auth = policy
            try:
                context.load_verify_locations(cadata=policy.ca_pem.decode("ascii"))
            except (ssl.SSLError, UnicodeDecodeError) as exc:
                log.error("%s: ca.crt: OpenSSL refused the CA bundle: %s", policy.secret, exc)
            if self._native is not None:
                self._native.name_client_cas(context, policy.ca_pem)
        return context

    def _new_context(self, server_tls: ServerTls | None = None) -> _Context:
        context = _Context(ssl.PROTOCOL_TLS_SERVER)
        context.server_tls = server_tls
        self._apply_protocols(context)
        context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
        if server_tls is not None and server_tls.prefer_server_ciphers is False:
            if self._native is None:
                log.error("ssl-prefer-server-ciphers: false cannot be applied on this "
                          "Python/OpenSSL: the server's cipher order is preferred")
            context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
        return context

    def _apply_protocols(self, context: ssl.SSLContext) -> None:
        context.minimum_version = self._min_version
        context.maximum_version = self._max_version
        context.set_alpn_protocols(self._alpn)
        own = context.server_tls if isinstance(context, _Context) else None
        if own is not None and own.ciphers is not None:
            context.set_ciphers(own.ciphers)  # the builder checked it with OpenSSL
            return
        try:
            context.set_ciphers(self._ciphers)
        except ssl.SSLError as exc:
            raise ValueError(f"--tls-ciphers: {self._ciphers!r}: {exc}") from None


def _certificates_of(table: RoutingTable) -> list[Certificate]:
    certs = [*table.certificates.values(), *table.wildcard_certificates.values()]
    if table.default_certificate is not None:
        certs.append(table.default_certificate)
    return certs


def _hosts_with_own_contexts(table: RoutingTable) -> list[VirtualHost]:
    """The hosts whose clients are asked for a certificate, or that have TLS settings."""
    return [vhost for vhost in table.virtual_hosts()
            if _requested(vhost) is not None or vhost.server_tls is not None]


def _host_of(table: RoutingTable, name: str) -> VirtualHost | None:
    """The host a handshake for `name` ('' without SNI) is for: its own, or the rules
    without a host (nginx's default server)."""
    return (table.virtual_host(name) if name else None) or table.any_host


def _requested(vhost: VirtualHost | None) -> ClientAuth | None:
    """The host's client-certificate policy, when it asks clients for a certificate."""
    policy = vhost.client_auth if vhost is not None else None
    return policy if policy is not None and policy.requests_certificate else None


def _key(cert: Certificate, policy: ClientAuth | None, server_tls: ServerTls | None) -> str:
    key = cert.fingerprint if policy is None else f"{cert.fingerprint}/{policy.fingerprint}"
    return key if server_tls is None else f"{key}/{server_tls!r}"


def _normalize(server_name: str) -> str:
    return server_name.lower().rstrip(".")
