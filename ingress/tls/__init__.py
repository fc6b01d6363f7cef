"""TLS termination: per-certificate SSLContexts picked by SNI, and the default certificate."""

from ingress.tls.contexts import TlsContexts, is_tls, server_name_of
from ingress.tls.default_certificate import generate_default_certificate

__all__ = ["TlsContexts", "generate_default_certificate", "is_tls", "server_name_of"]
