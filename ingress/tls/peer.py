"""A connection's client certificate → PeerCertificate, with OpenSSL's verdict on it.

Names are written as nginx writes $ssl_client_s_dn (RFC 2253 / 4514: most
specific first, `CN=alice,O=Acme`); the certificate as nginx's
$ssl_client_escaped_cert (its PEM, percent-encoded).
"""

from __future__ import annotations

import ssl
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ingress.proxy.peer import NO_PEER, PeerCertificate
from ingress.tls.openssl import Native

# OpenSSL's short names where cryptography would write the OID.
_NAMES = {NameOID.EMAIL_ADDRESS: "emailAddress", NameOID.SERIAL_NUMBER: "serialNumber"}


def distinguished_name(name: x509.Name) -> str:
    return name.rfc4514_string(_NAMES)


def read_peer(native: Native | None, ssl_object: ssl.SSLObject, policy: str) -> PeerCertificate:
    """The client certificate of a connection whose handshake was under `policy`."""
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return PeerCertificate(policy) if policy else NO_PEER
    if native is None:
        return PeerCertificate(policy, "FAILED:cannot read the verification result")
    code, reason = native.verify_result(native.ssl_pointer(ssl_object))
    cert = x509.load_der_x509_certificate(der)
    pem = cert.public_bytes(Encoding.PEM).decode("ascii")
    return PeerCertificate(
        policy=policy,
        verify="SUCCESS" if code == 0 else f"FAILED:{reason}",
        subject=distinguished_name(cert.subject),
        issuer=distinguished_name(cert.issuer),
        escaped_pem=quote(pem, safe=""),
    )
