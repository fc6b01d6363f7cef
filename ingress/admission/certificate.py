"""The webhook's serving certificate when cert-manager does not provide one.

The API server must trust the webhook: Portico makes a small CA and a
serving certificate for the webhook Service's DNS names, keeps both in one
Secret (so every replica serves the same one), and writes the CA into the
ValidatingWebhookConfiguration's caBundle.
"""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True, slots=True)
class WebhookCertificate:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    def secret_data(self) -> dict[str, str]:
        return {name: base64.b64encode(value).decode() for name, value in
                (("ca.crt", self.ca_pem), ("tls.crt", self.cert_pem), ("tls.key", self.key_pem))}

    @classmethod
    def from_secret_data(cls, data: dict[str, str]) -> WebhookCertificate:
        """Raises KeyError or ValueError when the Secret is not one of ours."""
        return cls(*(base64.b64decode(data[name], validate=True)
                     for name in ("ca.crt", "tls.crt", "tls.key")))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def generate(dns_names: tuple[str, ...]) -> WebhookCertificate:
    """A new CA and a serving certificate for `dns_names` signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(hours=1), now + _VALIDITY
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Portico admission CA")
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(_name(dns_names[0])).issuer_name(ca_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return WebhookCertificate(
        ca.public_bytes(serialization.Encoding.PEM),
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()),
    )


def service_dns_names(namespace: str, name: str) -> tuple[str, ...]:
    """The names the API server may use to reach a Service."""
    return (f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local")
