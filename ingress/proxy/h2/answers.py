"""Response header lists for HTTP/2 streams: the upstream's, and Portico's own answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingress.proxy.h2 import grpc
from ingress.proxy.http import reason_phrase

if TYPE_CHECKING:
    from ingress.proxy.response_head import ResponseHead

Field = tuple[bytes, bytes]

_STATUS = {status: b"%d" % status for status in range(100, 600)}
_TEXT = (b"content-type", b"text/plain; charset=utf-8")


def raw_pairs(raw: bytes) -> list[Field]:
    """Ready-made header lines (`name: value\\r\\n`, e.g. HSTS) as HTTP/2 fields."""
    pairs: list[Field] = []
    for line in raw.split(b"\r\n") if raw else ():
        if line:
            name, _, value = line.partition(b":")
            pairs.append((name.strip().lower(), value.strip()))
    return pairs


def head_pairs(status: int, head: ResponseHead, raw: bytes) -> list[Field]:
    """An HTTP/1.1 upstream's response headers (hop-by-hop ones already dropped) as fields."""
    pairs = [(b":status", _STATUS.get(status) or b"%d" % status)]
    pairs += head.fields()
    if raw:
        pairs += raw_pairs(raw)
    return pairs


def answer_headers(status: int, extra: tuple[Field, ...], raw: list[Field],
                   grpc_request: bool) -> tuple[list[Field], bytes]:
    """The headers and body of an answer of Portico's own.

    A gRPC client gets HTTP 200 with the gRPC status the HTTP one stands for,
    never a page; anyone else the small text page HTTP/1.1 clients get.
    """
    named = [(name.lower(), value) for name, value in extra]
    if grpc_request:
        return [*grpc.error_headers(status), *named], b""
    reason = reason_phrase(status)
    headers = [(b":status", _STATUS.get(status) or b"%d" % status), *named, *raw]
    if status == 204:
        return headers, b""
    body = b"%d %s\n" % (status, reason)
    headers += (_TEXT, (b"content-length", b"%d" % len(body)))
    return headers, body
