"""HTTP/1.1 wire constants and the answers the proxy gives by itself."""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

# Hop-by-hop headers (RFC 9110 §7.6.1) plus the legacy ones proxies also drop.
HOP_BY_HOP: Final[frozenset[bytes]] = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
    )
)

HOP_BY_HOP_AND_TRACEPARENT: Final[frozenset[bytes]] = HOP_BY_HOP | {b"traceparent"}

# Headers the proxy writes itself on the upstream request: incoming copies are
# dropped (X-Forwarded-For is appended to instead). `Proxy` is dropped as ingress-nginx
# blanks it: CGI-style backends would read it as HTTP_PROXY (httpoxy).
SET_BY_PROXY: Final[frozenset[bytes]] = frozenset(
    (
        b"host",
        b"proxy",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"x-real-ip",
    )
)

IDEMPOTENT_METHODS: Final[frozenset[bytes]] = frozenset(
    (b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE")
)


# Connection header values that name nothing beyond HOP_BY_HOP (nearly all of them).
_PLAIN_CONNECTION: Final[frozenset[bytes]] = frozenset((b"keep-alive", b"close", b"upgrade"))


def extra_hop_by_hop(connection: bytes) -> frozenset[bytes]:
    """Header names a Connection header lists beyond the standard hop-by-hop ones."""
    if connection.lower() in _PLAIN_CONNECTION:
        return frozenset()
    tokens = frozenset(t.strip().lower() for t in connection.split(b",") if t.strip())
    return tokens - HOP_BY_HOP


def reason_phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Unknown"


def simple_response(
    status: int,
    *,
    close: bool,
    extra: tuple[tuple[bytes, bytes], ...] = (),
    head_only: bool = False,
    raw_headers: bytes = b"",
) -> bytes:
    """A complete small response with a text body naming the status.

    `raw_headers` are ready-made header lines (CRLF-terminated), e.g. HSTS.
    """
    reason = reason_phrase(status)
    body = b"%d %s\n" % (status, reason)
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, reason), raw_headers]
    lines.extend(b"%s: %s\r\n" % pair for pair in extra)
    if status == 204:
        head_only = True  # a 204 has no body, nor the headers describing one
    else:
        lines.append(
            b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n" % len(body)
        )
    if close:
        lines.append(b"connection: close\r\n")
    lines.append(b"\r\n")
    if not head_only:
        lines.append(body)
    return b"".join(lines)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK: Final = b"0\r\n\r\n"
