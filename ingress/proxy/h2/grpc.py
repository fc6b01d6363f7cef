"""What makes a request gRPC, and the answers Portico gives gRPC clients itself."""

from __future__ import annotations

from ingress.proxy.http import reason_phrase

# grpc-status codes Portico produces itself.
DEADLINE_EXCEEDED = 4
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14
UNAUTHENTICATED = 16
UNKNOWN = 2

# The HTTP status Portico would have answered → the gRPC status it means.
_FROM_HTTP = {
    400: INTERNAL,
    401: UNAUTHENTICATED,
    403: PERMISSION_DENIED,
    404: UNIMPLEMENTED,
    413: RESOURCE_EXHAUSTED,
    421: UNAVAILABLE,
    429: RESOURCE_EXHAUSTED,
    431: RESOURCE_EXHAUSTED,
    502: UNAVAILABLE,
    503: UNAVAILABLE,
    504: DEADLINE_EXCEEDED,
}

_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}


def is_grpc(content_type: bytes) -> bool:
    """`application/grpc` and its subtypes (`+proto`, `+json`, `;params`), not grpc-web."""
    if not content_type.startswith(b"application/grpc"):
        return False
    rest = content_type[16:17]
    return rest in (b"", b"+", b";")


def status_for(http_status: int) -> int:
    return _FROM_HTTP.get(http_status, UNKNOWN)


def parse_timeout(value: bytes) -> float | None:
    """A `grpc-timeout` value (up to 8 digits and a unit) in seconds; None if malformed."""
    digits, unit = value[:-1], value[-1:]
    if not digits.isdigit() or len(digits) > 8 or unit not in _UNITS:
        return None
    return int(digits) * _UNITS[unit]


def format_timeout(seconds: float) -> bytes:
    """Seconds as a `grpc-timeout` value, in milliseconds (rounded up: never shorter)."""
    millis = max(1, -int(-seconds * 1000 // 1))
    if millis < 100_000_000:
        return b"%dm" % millis
    return b"%dS" % min(-int(-seconds // 1), 99_999_999)


def _message(http_status: int) -> bytes:
    return _percent_encode(f"portico: {http_status} {reason_phrase(http_status).decode()}")


def error_headers(http_status: int) -> list[tuple[bytes, bytes]]:
    """A trailers-only response for what Portico would have answered `http_status`:
    HTTP 200 with the gRPC status in the headers, no body."""
    return [
        (b":status", b"200"),
        (b"content-type", b"application/grpc"),
        (b"grpc-status", b"%d" % status_for(http_status)),
        (b"grpc-message", _message(http_status)),
    ]


def trailers(http_status: int) -> list[tuple[bytes, bytes]]:
    """Trailers ending a call the pod had begun answering, for what went wrong after."""
    return [(b"grpc-status", b"%d" % status_for(http_status)),
            (b"grpc-message", _message(http_status))]


def _percent_encode(message: str) -> bytes:
    out = bytearray()
    for byte in message.encode():
        if 0x20 <= byte <= 0x7E and byte != 0x25:
            out.append(byte)
        else:
            out += b"%%%02X" % byte
    return bytes(out)
