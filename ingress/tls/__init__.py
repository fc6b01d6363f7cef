"""TLS termination: per-certificate SSLContexts picked by SNI, and the default certificate."""

from ingress.tls.contexts import TlsContexts
from ingress.tls.default_certificate import generate_default_certificate

__all__ = ["TlsContexts", "generate_default_certificate"]
