"""An HTTP/2 request's header list, checked and turned into the exchange's header fields.

h2's own checks of received headers are off (a chain of generators per
header costs more than the rest of the request): this one pass applies
RFC 9113's rules for a well-formed request (§8.2, §8.3) as it copies the
fields, and makes them what an HTTP/1.1 upstream needs: one Host, one
Cookie line, and chunked framing for a body of unknown length.
"""

from __future__ import annotations

from ingress.proxy.exchange import Header
from ingress.proxy.h2 import grpc
from ingress.proxy.h2.fields import CONNECTION_SPECIFIC, name_ok, value_bad

# `int in bytes` is a memchr (see client.py).
_UNDERSCORE = ord("_")


class H2Request:
    __slots__ = ("authority", "content_length", "fields", "grpc", "method", "path", "request_id",
                 "size")

    def __init__(self, method: bytes, path: bytes, authority: bytes, fields: list[Header],
                 size: int, is_grpc: bool) -> None:
        self.method = method
        self.path = path
        self.authority = authority
        self.fields = fields
        self.content_length = -1
        self.request_id = b""
        self.size = size  # as the HTTP/1.1 lines would count (metrics, the access log)
        self.grpc = is_grpc


def read_request(headers: list[tuple[bytes, bytes]], ended: bool) -> H2Request | None:
    """The request, or None when it is malformed (a stream error, PROTOCOL_ERROR)."""
    method = path = authority = scheme = b""
    fields: list[Header] = []
    cookies: list[bytes] = []
    has_host = is_grpc = False
    content_length = -1
    request_id = b""
    size = 0
    for name, value in headers:
        size += len(name) + len(value) + 4
        if value_bad(value) is not None:
            return None
        if name[:1] == b":":
            if fields or cookies:
                return None  # pseudo-headers come first
            if name == b":method" and not method:
                method = value
            elif name == b":path" and not path:
                path = value
            elif name == b":authority" and not authority:
                authority = value
            elif name == b":scheme" and not scheme:
                scheme = value
            else:
                return None
            continue
        if name_ok(name) is None or name in CONNECTION_SPECIFIC or (
                name == b"te" and value != b"trailers"):
            return None
        if name == b"cookie":
            cookies.append(value)  # crumbs, one line again (RFC 9113 §8.2.3)
            continue
        if _UNDERSCORE in name:
            # Dropped, as HTTP/1.1 ones are (nginx's `underscores_in_headers off`).
            continue
        if name == b"host":
            has_host = True
            authority = authority or value
        elif name == b"content-length":
            if not value.isdigit() or content_length >= 0:
                return None
            content_length = int(value)
        elif name == b"x-request-id":
            request_id = value
        elif name == b"content-type":
            is_grpc = grpc.is_grpc(value)
        fields.append((name, name, value))
    if not method or path[:1] != b"/" or not scheme or method == b"CONNECT":
        # An absolute or asterisk :path is not routed (it would bypass :authority's checks),
        # nor CONNECT (RFC 8441 WebSocket included).
        return None
    if cookies:
        fields.append((b"cookie", b"cookie", b"; ".join(cookies)))
    if not has_host and authority:
        fields.append((b"host", b"host", authority))
    if not ended and content_length < 0:
        # An HTTP/1.1 upstream needs framing for a body of unknown length.
        fields.append((b"transfer-encoding", b"transfer-encoding", b"chunked"))
    request = H2Request(method, path, authority, fields, size, is_grpc)
    request.content_length = content_length
    request.request_id = request_id
    return request
