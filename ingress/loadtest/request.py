"""The one request a load test repeats, built once into the bytes sent on the wire."""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HEAD = "HEAD"
USER_AGENT = "portico-loadtest"


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """What the user asked for; plain data, so worker processes can be handed it."""

    url: str
    host: str | None = None  # Host header and TLS server name; default: the URL's
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    insecure: bool = False  # skip certificate verification
    streams: int = 0  # HTTP/2 (--http2): streams per connection; 0: HTTP/1.1


def parse_header(text: str) -> tuple[str, str]:
    """'Name: value' → (name, value), refusing what would corrupt the request."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not _TOKEN.match(name):
        raise ValueError(f"header {text!r}: want 'Name: value'")
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name}: the value holds a line break")
    if name.lower() in ("host", "content-length", "transfer-encoding"):
        raise ValueError(f"header {name}: set by the load tester "
                         "(use --host for Host; --body-file sets the length)")
    return name, value


def insecure_tls_context() -> ssl.SSLContext:
    """A client context that accepts any certificate (self-signed test deployments)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True, slots=True)
class Target:
    address: str  # where to connect
    port: int
    tls: ssl.SSLContext | None
    server_name: str | None  # SNI (none for an address) and the name the certificate must match
    payload: bytes  # the whole request, sent as is for every repetition
    head: bool  # a HEAD request: its response has no body whatever its headers say
    streams: int = 0  # HTTP/2: streams per connection (0: HTTP/1.1)
    h2_headers: tuple[tuple[bytes, bytes], ...] = ()  # the request as HTTP/2 fields
    body: bytes = b""
    @classmethod
    def from_spec(cls, spec: RequestSpec) -> Target:
        parts = urlsplit(spec.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url {spec.url!r}: want http(s)://host[:port]/path")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ValueError(f"url {spec.url!r}: the port is not a number 1-65535") from None
        method = spec.method.upper()
        if not _TOKEN.match(method):
            raise ValueError(f"method {spec.method!r}: not an HTTP method token")
        host = spec.host or parts.netloc.rpartition("@")[2]
        if any(c in host for c in "\r\n /"):
            raise ValueError(f"host {host!r}: not a host name")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"User-Agent: {USER_AGENT}"]
        lines += [f"{name}: {value}" for name, value in spec.headers]
        if spec.body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(spec.body)}")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + spec.body
        fields = [(":method", method), (":scheme", parts.scheme), (":authority", host),
                  (":path", path), ("user-agent", USER_AGENT)]
        fields += [(name.lower(), value) for name, value in spec.headers]
        if spec.body or method in ("POST", "PUT", "PATCH"):
            fields.append(("content-length", str(len(spec.body))))
        h2_headers = tuple((n.encode("latin-1"), v.encode("latin-1")) for n, v in fields)
        tls: ssl.SSLContext | None = None
        server_name = None
        if parts.scheme == "https":
            tls = insecure_tls_context() if spec.insecure else ssl.create_default_context()
            tls.set_alpn_protocols(["h2" if spec.streams else "http/1.1"])
            server_name = urlsplit(f"//{host}").hostname
        return cls(parts.hostname, port, tls, server_name, payload, method == _HEAD,
                   spec.streams, h2_headers, spec.body)
