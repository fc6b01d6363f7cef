"""The response head an HTTP/1.1 upstream sent, as the client gets it.

Hop-by-hop headers (and those the upstream's Connection header names) are
dropped; what remains is framed for the client: as it came when the body
has a length, in chunks when it came chunked or delimited by the
upstream's close, and for an HTTP/1.0 client until the connection closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingress.proxy.http import HOP_BY_HOP, extra_hop_by_hop

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange

# How the client's copy of a response body is framed (`client_framing`).
RECHUNK = 1  # sent as chunks: it came chunked, or delimited by the upstream's close
UNTIL_CLOSE = 2  # it ends when the upstream closes


class BadResponse(Exception):
    """The upstream's response cannot be forwarded safely: 502."""


class ResponseHead:
    """The upstream's response headers without `dropped`, as lines for the client."""

    __slots__ = ("coding", "connection", "framed", "lines", "upgrade")

    def __init__(self, headers: list[tuple[bytes, bytes]], dropped: frozenset[bytes]) -> None:
        lines: list[bytes] = []
        self.framed = False
        self.upgrade = self.connection = self.coding = b""
        for name, value in headers:
            lname = name.lower()
            if lname in dropped:
                if lname == b"transfer-encoding":
                    # A second Transfer-Encoding line fails the `chunked` check.
                    self.coding = b"repeated" if self.coding else value
                elif lname == b"upgrade":
                    self.upgrade = value
                elif lname == b"connection":
                    self.connection = value
                continue
            if lname == b"content-length":
                self.framed = True
            lines += (name, b": ", value, b"\r\n")
        self.lines = lines


def read_head(headers: list[tuple[bytes, bytes]]) -> ResponseHead:
    """The end-to-end headers of a response, or BadResponse when its framing is ambiguous."""
    head = ResponseHead(headers, HOP_BY_HOP)
    if head.connection:
        extra = extra_hop_by_hop(head.connection)
        if extra:  # rare: the upstream named more hop-by-hop headers
            head = ResponseHead(headers, HOP_BY_HOP | extra)
    if head.coding and head.coding.strip().lower() != b"chunked":
        # Forwarding it dechunked would drop a coding (gzip...) silently.
        raise BadResponse()
    return head


def client_framing(exchange: Exchange, head: ResponseHead, no_body: bool,
                   parts: list[bytes]) -> int:
    """Add the framing header lines an HTTP/1.1 client's copy needs to `parts`; how its
    body is framed (RECHUNK, UNTIL_CLOSE)."""
    framing = 0
    if not no_body and not head.framed:
        chunked = bool(head.coding)
        if exchange.http10:
            # HTTP/1.0 knows no chunks: the body ends when the connection closes.
            exchange.close_after = True
            framing = 0 if chunked else UNTIL_CLOSE
        else:
            # Delimited by the upstream closing: re-frame as chunks for the client.
            framing = RECHUNK if chunked else RECHUNK | UNTIL_CLOSE
            parts.append(b"transfer-encoding: chunked\r\n")
    if exchange.close_after:
        parts.append(b"connection: close\r\n")
    elif exchange.http10:
        parts.append(b"connection: keep-alive\r\n")  # HTTP/1.0 closes unless told
    return framing
