"""A throwaway self-signed certificate, made at run time (never committed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ingress.model import ObjectRef
from ingress.tls.default_certificate import self_signed_certificate


@dataclass(frozen=True, slots=True)
class CertFiles:
    cert: Path
    key: Path
    # HAProxy wants certificate and key in one file.
    combined: Path


def make_certificate(directory: Path, hostname: str) -> CertFiles:
    # ECDSA P-256, the same generator Portico uses for its default certificate:
    # the handshake is cheap, and the same certificate serves every proxy.
    made = self_signed_certificate(hostname, (hostname,), ObjectRef("Secret", "bench", hostname))
    files = CertFiles(directory / "tls.crt", directory / "tls.key", directory / "tls.pem")
    files.cert.write_bytes(made.cert_pem)
    files.key.write_bytes(made.key_pem)
    files.key.chmod(0o600)
    files.combined.write_bytes(made.cert_pem + made.key_pem)
    files.combined.chmod(0o600)
    return files
