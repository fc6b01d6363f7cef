"""TLS to the pods (backend-protocol HTTPS): client contexts and nginx's proxy_ssl_* checks.

One `SSLContext` per distinct `UpstreamTls` (by its key), made when a pool
first needs it. As with nginx, `verify` checks the pod's chain against the
Secret's CA (the system's without one) and its name against
`proxy-ssl-name`, whether or not that name is sent as SNI
(`proxy-ssl-server-name`); `verify_depth` bounds the chain as OpenSSL's
verify depth does: at most that many intermediates between the pod's
certificate and the trusted root.
"""

from __future__ import annotations

import ipaddress
import ssl
from typing import Any

from ingress.model import Backend, UpstreamTls
from ingress.tls.pem_memory import load_pem_chain

_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


def verified_name(tls: UpstreamTls, backend: Backend) -> str:
    """proxy-ssl-name, else the Service's cluster DNS name (nginx would use its upstream's)."""
    return tls.name or f"{backend.service}.{backend.namespace}.svc"


def client_context(tls: UpstreamTls, alpn: str = "http/1.1") -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    versions = sorted(_VERSIONS[name] for name in tls.protocols)
    context.minimum_version, context.maximum_version = versions[0], versions[-1]
    context.set_ciphers(tls.ciphers)
    # OpenSSL checks the name itself only when it is also sent (SNI); see `check_peer`.
    context.check_hostname = tls.verify and tls.server_name
    if tls.verify:
        context.verify_mode = ssl.CERT_REQUIRED
        if tls.ca_pem:
            context.load_verify_locations(cadata=tls.ca_pem.decode("ascii"))
        else:
            context.load_default_certs()
    else:
        context.verify_mode = ssl.CERT_NONE
    if tls.cert_pem:
        load_pem_chain(context, tls.cert_pem, tls.key_pem)
    context.set_alpn_protocols([alpn])
    return context


class UpstreamTlsContexts:
    """Client contexts by `UpstreamTls.key` and ALPN protocol (`h2` for GRPCS); those no
    table uses any more are dropped."""

    def __init__(self) -> None:
        self._contexts: dict[tuple[str, str], ssl.SSLContext] = {}

    def get(self, tls: UpstreamTls, alpn: str = "http/1.1") -> ssl.SSLContext:
        context = self._contexts.get((tls.key, alpn))
        if context is None:
            context = self._contexts[tls.key, alpn] = client_context(tls, alpn)
        return context

    def keep_only(self, keys: set[str]) -> None:
        for key in [k for k in self._contexts if k[0] not in keys]:
            del self._contexts[key]


def _chain(ssl_object: Any) -> list[Any]:
    # Public from Python 3.13; the same method of the C object before.
    method = getattr(ssl_object, "get_verified_chain", None) or \
        ssl_object._sslobj.get_verified_chain
    chain: list[Any] = method()
    return chain


def _names_match(der: bytes, name: str) -> bool:
    from cryptography import x509  # only for pods checked by name: a worker may need none

    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is not None:
        return address in san.get_values_for_type(x509.IPAddress)
    wanted = name.lower().rstrip(".")
    for dns in san.get_values_for_type(x509.DNSName):
        pattern = dns.lower().rstrip(".")
        if pattern == wanted:
            return True
        if pattern.startswith("*.") and "." in wanted and \
                wanted.split(".", 1)[1] == pattern[2:]:
            return True
    return False


def check_peer(ssl_object: Any, tls: UpstreamTls, name: str) -> str | None:
    """What nginx would still refuse about a verified pod's certificate, or None."""
    if not tls.verify:
        return None
    chain = _chain(ssl_object)
    if len(chain) > tls.verify_depth + 2:
        return f"certificate chain of {len(chain)} is deeper than proxy-ssl-verify-depth " \
               f"{tls.verify_depth} allows"
    if not tls.server_name and not _names_match(ssl_object.getpeercert(binary_form=True), name):
        return f"certificate does not name {name!r}"
    return None
