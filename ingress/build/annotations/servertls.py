"""A host's own TLS settings: ssl-ciphers, ssl-prefer-server-ciphers, ssl-passthrough.

As ingress-nginx applies them: to the whole host (nginx's server block),
from the oldest Ingress of the host that sets each one; the handshakes
that name the host by SNI get them, those without SNI or for an unknown
name the settings of the host-less rules (nginx's default server).

`ssl-passthrough` needs `--enable-ssl-passthrough`, as in ingress-nginx:
then TLS connections naming one of the Ingress's hosts go unopened to the
Service of the host's `/` path (the builder picks it), and the pods
terminate TLS; without the flag it is reported and TLS is terminated.
"""

from __future__ import annotations

import re
import ssl

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model import ServerTls

# ingress-nginx's validator: OpenSSL's cipher string alphabet, @STRENGTH and @SECLEVEL=n.
_CIPHERS = re.compile(r"(?:[A-Za-z0-9!:+\-_]*(?:@STRENGTH)*(?:@SECLEVEL=[0-5])*(?:@STRENGTH)*)*")


def cipher_list(value: str) -> str:
    """An OpenSSL cipher list that selects at least one cipher."""
    text = value.strip()
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(text)
    except ssl.SSLError:
        raise values.InvalidValue(f"OpenSSL accepts no cipher of {value!r}") from None
    return text


def _annotation_ciphers(value: str) -> str:
    if not _CIPHERS.fullmatch(value.replace(" ", "")):
        raise values.InvalidValue(f"must be an OpenSSL cipher list, not {value!r}")
    return cipher_list(value)


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    ciphers = annotations.parsed("ssl-ciphers", _annotation_ciphers)
    prefer = annotations.parsed("ssl-prefer-server-ciphers", values.boolean)
    if ciphers is not None or prefer is not None:
        spec.server_tls = ServerTls(ciphers, prefer)
    if annotations.parsed("ssl-passthrough", values.boolean):
        if annotations.lookups.ssl_passthrough:
            spec.ssl_passthrough = True
        else:
            annotations.report("ssl-passthrough", "has no effect without "
                               "--enable-ssl-passthrough (as in ingress-nginx): TLS is "
                               "terminated", "PassthroughNotEnabled")
