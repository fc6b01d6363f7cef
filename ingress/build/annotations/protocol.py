"""What the pods speak and how to reach them: backend-protocol, proxy-ssl-*, service-upstream.

`backend-protocol: HTTPS` speaks TLS to the pods, `GRPC` HTTP/2 without TLS
(h2c) and `GRPCS` HTTP/2 over TLS (ALPN h2). As in ingress-nginx, the
`proxy-ssl-*` annotations take effect only with `proxy-ssl-secret`: a
Secret of the Ingress's namespace (others with the controller ConfigMap's
allow-cross-namespace-resources) holding `ca.crt` to verify the pods
with, `tls.crt`/`tls.key` to present to them, or both. A Secret that is
missing or unusable makes the route answer 503 (ingress-nginx's "location
denied"). AUTO_HTTP and FCGI are not spoken: such routes answer 503 and
say so, rather than talk HTTP/1.1 to a server that expects otherwise.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography import x509

from ingress.build.annotations import values
from ingress.build.annotations.responses import object_reference
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.build.certificates import load_certificate
from ingress.build.fields import FieldError, mapping
from ingress.model import BackendProtocol, ObjectRef, UpstreamTls
from ingress.model.filters.core import DirectResponse

_NOT_SPOKEN = ("AUTO_HTTP", "FCGI")
_CIPHERS = re.compile(r"[A-Za-z0-9+:_\-!]*")
_SSL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?")
_TLS_PROTOCOLS = ("TLSv1.2", "TLSv1.3")
# ingress-nginx's proxy_ssl_protocols when a proxy-ssl-secret is set but no protocols.
_SECRET_DEFAULT_PROTOCOLS = ("TLSv1.2",)


def backend_protocol(value: str) -> str:
    name = value.strip().upper()
    if name not in (*BackendProtocol.__members__, *_NOT_SPOKEN):
        raise values.InvalidValue(f"must be HTTP, HTTPS, GRPC or GRPCS, not {value!r}")
    return name


def _on_off(value: str) -> bool:
    text = value.strip()
    if text not in ("on", "off"):
        raise values.InvalidValue(f"must be on or off, not {value!r}")
    return text == "on"


def _protocols(value: str) -> tuple[str, ...]:
    names = value.split()
    if any(name not in _TLS_PROTOCOLS for name in names):
        raise values.InvalidValue(f"must list TLSv1.2 and/or TLSv1.3, not {value!r}")
    return tuple(sorted(set(names))) or _SECRET_DEFAULT_PROTOCOLS


def _ciphers(value: str) -> str:
    text = value.strip()
    if not text or not _CIPHERS.fullmatch(text):
        raise values.InvalidValue(f"must be an OpenSSL cipher list, not {value!r}")
    return text


_ssl_name = values.matching(_SSL_NAME, "a server name")


def _verify_depth(value: str) -> int:
    depth = values.whole_number(value)
    return depth or 1  # ingress-nginx reads 0 as its default, 1


def _secret_pems(body: object, ref: ObjectRef, now: float) -> tuple[bytes, bytes, bytes]:
    """(ca.crt, tls.crt, tls.key) of a Secret with a CA, a key pair, or both."""
    data = mapping(mapping(body, "").get("data"), "data")
    ca_pem = b""
    if data.get("ca.crt"):
        try:
            ca_pem = base64.b64decode(str(data["ca.crt"]), validate=True)
            x509.load_pem_x509_certificates(ca_pem)
        except (binascii.Error, ValueError):
            raise FieldError('data["ca.crt"]', "is not a base64 PEM certificate") from None
    if "tls.crt" not in data and "tls.key" not in data:
        if not ca_pem:
            raise FieldError("data", "has neither ca.crt nor tls.crt and tls.key")
        return ca_pem, b"", b""
    pair = load_certificate(body if isinstance(body, dict) else {}, ref, now)
    return ca_pem, pair.cert_pem, pair.key_pem


def _tls(annotations: Annotations) -> UpstreamTls | None:
    """The TLS settings with a proxy-ssl-secret; None (reported) when it cannot be used."""
    reference = annotations.parsed("proxy-ssl-secret", object_reference)
    if reference is None:
        ignored = sorted(n for n in annotations.values if n.startswith("proxy-ssl-")
                         and n != "proxy-ssl-secret")
        for name in ignored:
            annotations.report(name, "has no effect without proxy-ssl-secret")
        return UpstreamTls()
    lookups = annotations.lookups
    namespace, name = reference
    namespace = namespace or annotations.obj.namespace
    where = f"Secret {namespace}/{name}"
    if namespace != annotations.obj.namespace and not lookups.config.cross_namespace:
        annotations.report("proxy-ssl-secret", f"{where} is in another namespace "
                           "(allow-cross-namespace-resources is off); the route answers 503")
        return None
    lookups.referenced_secrets.add((namespace, name))
    body = lookups.secrets.get((namespace, name))
    try:
        if body is None:
            raise FieldError("", "not found")
        ca_pem, cert_pem, key_pem = _secret_pems(body, ObjectRef("Secret", namespace, name),
                                                 lookups.now)
    except FieldError as error:
        annotations.report("proxy-ssl-secret", f"{where}: {error}; the route answers 503")
        return None
    return UpstreamTls(
        protocols=annotations.parsed("proxy-ssl-protocols", _protocols)
        or _SECRET_DEFAULT_PROTOCOLS,
        ciphers=annotations.parsed("proxy-ssl-ciphers", _ciphers) or "DEFAULT",
        verify=bool(annotations.parsed("proxy-ssl-verify", _on_off)),
        verify_depth=annotations.parsed("proxy-ssl-verify-depth", _verify_depth) or 1,
        name=annotations.parsed("proxy-ssl-name", _ssl_name) or "",
        server_name=bool(annotations.parsed("proxy-ssl-server-name", _on_off)),
        ca_pem=ca_pem,
        cert_pem=cert_pem,
        key_pem=key_pem,
    )


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    service_upstream = annotations.parsed("service-upstream", values.boolean)
    if service_upstream is not None:
        spec.service_upstream = service_upstream
    protocol = annotations.parsed("backend-protocol", backend_protocol)
    tls = _tls(annotations)
    if tls is None:
        spec.filters.append(DirectResponse(503))
        return
    if protocol is None or protocol == BackendProtocol.HTTP:
        return
    if protocol in _NOT_SPOKEN:
        annotations.report("backend-protocol", f"{protocol} backends are not supported yet; "
                           "the route answers 503", "UnsupportedAnnotation")
        spec.filters.append(DirectResponse(503))
        return
    spec.protocol = BackendProtocol(protocol)
    if protocol != BackendProtocol.GRPC:
        spec.tls = tls
