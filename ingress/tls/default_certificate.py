"""The self-signed certificate served when no Secret matches the SNI name.

It is generated at start and lives only in memory: clients that reach an
unknown host (or send no SNI) get a certificate that never validates, which
is what ingress-nginx does with its "Kubernetes Ingress Controller Fake
Certificate", rather than some other tenant's certificate.
"""

from __future__ import annotations

import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ingress.model import Certificate, ObjectRef

DEFAULT_CERTIFICATE_NAME = "Portico Default Certificate"
# Names the generated certificate where a Secret would be named (logs, metrics).
DEFAULT_CERTIFICATE_REF = ObjectRef("Certificate", "", "portico-default")
_VALIDITY = datetime.timedelta(days=365)


def generate_default_certificate() -> Certificate:
    return self_signed_certificate(DEFAULT_CERTIFICATE_NAME, (), DEFAULT_CERTIFICATE_REF)


def self_signed_certificate(
    common_name: str, hosts: tuple[str, ...], ref: ObjectRef
) -> Certificate:
    """A fresh ECDSA P-256 key and a certificate for `hosts` (SANs), signed by itself."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # A little slack so that clients with a skewed clock still parse it.
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False
        )
    cert = builder.sign(key, hashes.SHA256())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Certificate(
        secret=ref,
        cert_pem=cert_pem,
        key_pem=key_pem,
        hosts=hosts,
        not_after=cert.not_valid_after_utc.timestamp(),
        fingerprint=hashlib.sha256(cert_pem + key_pem).hexdigest(),
    )
