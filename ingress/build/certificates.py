"""A `kubernetes.io/tls` Secret → a validated `model.Certificate`.

Checked here, before the proxy ever sees it: both keys present and base64,
a PEM certificate chain, an RSA or ECDSA private key that belongs to the
leaf certificate, and a leaf that has not expired at the build's `now`.
A Secret that fails any check gives no certificate; hosts that relied on it
get the default certificate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

from ingress.build.fields import FieldError, mapping, optional_str
from ingress.model import Certificate, ObjectRef

CERT_KEY = "tls.crt"
KEY_KEY = "tls.key"
_REASON = "InvalidTLSSecret"


def _decoded(data: Mapping[str, Any], key: str) -> bytes:
    field = f'data["{key}"]'
    text = optional_str(data.get(key), field)
    if not text:
        raise FieldError(field, "is missing or empty", _REASON)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise FieldError(field, "is not valid base64", _REASON) from None


def _public_der(key: Any) -> bytes:
    der: bytes = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return der


def _san_hosts(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(name.lower() for name in san.value.get_values_for_type(x509.DNSName))


def load_certificate(secret: Mapping[str, Any], ref: ObjectRef, now: float) -> Certificate:
    """The Secret's certificate, or FieldError naming the Secret's field."""
    data = mapping(secret.get("data"), "data")
    cert_pem = _decoded(data, CERT_KEY)
    key_pem = _decoded(data, KEY_KEY)
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError as error:
        raise FieldError(f'data["{CERT_KEY}"]', f"is not a PEM certificate: {error}",
                         _REASON) from None
    try:
        key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as error:
        # TypeError: the key is encrypted; nobody could give us its password.
        raise FieldError(f'data["{KEY_KEY}"]', f"is not an unencrypted PEM private key: {error}",
                         _REASON) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise FieldError(f'data["{KEY_KEY}"]', "must be an RSA or ECDSA key", _REASON)
    leaf = chain[0]
    if _public_der(key.public_key()) != _public_der(leaf.public_key()):
        raise FieldError(f'data["{KEY_KEY}"]', "does not match the certificate's public key",
                         _REASON)
    not_after = leaf.not_valid_after_utc.timestamp()
    if not_after <= now:
        raise FieldError(f'data["{CERT_KEY}"]',
                         f"expired at {leaf.not_valid_after_utc.isoformat()}", _REASON)
    return Certificate(
        secret=ref,
        cert_pem=cert_pem,
        key_pem=key_pem,
        hosts=_san_hosts(leaf),
        not_after=not_after,
        fingerprint=hashlib.sha256(cert_pem + key_pem).hexdigest(),
    )


def covers(cert: Certificate, host: str) -> bool:
    """Whether a SAN of the certificate names `host` (a `*.x` SAN covers one label)."""
    if host in cert.hosts:
        return True
    dot = host.find(".")
    return dot > 0 and f"*.{host[dot + 1:]}" in cert.hosts


class CertificateLoader:
    """Loads each Secret of one snapshot at most once per build."""

    def __init__(self, secrets: Mapping[tuple[str, str], Mapping[str, Any]], now: float) -> None:
        self._secrets = secrets
        self._now = now
        self._loaded: dict[tuple[str, str], Certificate | FieldError] = {}

    def load(self, namespace: str, name: str) -> Certificate | FieldError:
        """The certificate, or the FieldError (in the Secret's terms) that rejected it."""
        key = (namespace, name)
        found = self._loaded.get(key)
        if found is None:
            found = self._loaded[key] = self._load(key)
        return found

    def _load(self, key: tuple[str, str]) -> Certificate | FieldError:
        body = self._secrets.get(key)
        if body is None:
            return FieldError("", f"Secret {key[0]}/{key[1]} not found", "SecretNotFound")
        try:
            return load_certificate(body, ObjectRef("Secret", *key), self._now)
        except FieldError as error:
            error.reason = _REASON  # also for the generic type checks of `fields`
            return error
