"""What the TLS handshake of a client connection says about the client's certificate."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    """nginx's $ssl_client_verify, $ssl_client_s_dn, $ssl_client_i_dn, $ssl_client_escaped_cert.

    `policy` is the fingerprint of the client-certificate policy the handshake
    asked for a certificate under ('' when it asked for none).
    """

    policy: str = ""
    verify: str = "NONE"  # SUCCESS, FAILED:reason, NONE
    subject: str = ""
    issuer: str = ""
    escaped_pem: str = ""


NO_PEER = PeerCertificate()
