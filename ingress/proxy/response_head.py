"""The response head an HTTP/1.1 upstream sent, as the client gets it.

Hop-by-hop headers (and those the upstream's Connection header names) are
dropped; what remains is framed for the client: as it came when the body
has a length, in chunks when it came chunked or delimited by the
upstream's close, and for an HTTP/1.0 client until the connection closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ingress.proxy.http import HOP_BY_HOP, extra_hop_by_hop

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange

# How the client's copy of a response body is framed (`client_framing`).
RECHUNK: Final = 1  # sent as chunks: it came chunked, or delimited by the upstream's close
UNTIL_CLOSE: Final = 2  # it ends when the upstream closes


class BadResponse(Exception):
    """The upstream's response cannot be forwarded safely: 502."""


class ResponseHead:
    """The head of the response an upstream connection is reading, one per connection.

    Its end-to-end header lines for the client are built as llhttp hands the
    headers over, in one pass; the hop-by-hop values that decide the framing
    are noted on the way. With response filters, the headers are kept as
    received instead, for the filters to edit before the lines are built.
    """

    __slots__ = ("coding", "connection", "framed", "lines", "pairs", "upgrade")

    def __init__(self) -> None:
        # `name`, ": ", `value`, CRLF for each header, after [0]: the status line, set when
        # the head is complete (so that one join makes the whole head).
        self.lines: list[bytes] = [b""]
        self.pairs: list[tuple[bytes, bytes]] | None = None
        self.framed = False  # a Content-Length: the body is forwarded as it comes
        self.upgrade = self.connection = self.coding = b""

    def reset(self, keep_pairs: bool) -> None:
        """A new response begins; `keep_pairs` when filters are to see its headers."""
        del self.lines[1:]
        self.pairs = [] if keep_pairs else None
        self.framed = False
        self.upgrade = self.connection = self.coding = b""

    def add(self, name: bytes, value: bytes) -> None:
        pairs = self.pairs
        if pairs is not None:
            pairs.append((name, value))
            return
        lname = name.lower()
        if lname in HOP_BY_HOP:
            if lname == b"transfer-encoding":
                # A second Transfer-Encoding line fails the `chunked` check.
                self.coding = b"repeated" if self.coding else value
            elif lname == b"upgrade":
                self.upgrade = value
            elif lname == b"connection":
                self.connection = value
            return
        if lname == b"content-length":
            self.framed = True
        self.lines += (name, b": ", value, b"\r\n")

    def complete(self) -> None:
        """The head is whole (and filtered): its lines are final, or BadResponse when its
        framing is ambiguous."""
        pairs, self.pairs = self.pairs, None
        for name, value in pairs or ():
            self.add(name, value)
        if self.connection:
            extra = extra_hop_by_hop(self.connection)
            if extra:  # rare: the upstream named more hop-by-hop headers
                self._drop(extra)
        if self.coding and self.coding.strip().lower() != b"chunked":
            # Forwarding it dechunked would drop a coding (gzip...) silently.
            raise BadResponse()

    def _drop(self, names: frozenset[bytes]) -> None:
        lines = self.lines
        kept = lines[:1]
        self.framed = False
        for at in range(1, len(lines), 4):
            lname = lines[at].lower()
            if lname not in names:
                kept += lines[at:at + 4]
                self.framed = self.framed or lname == b"content-length"
        self.lines = kept

    def fields(self) -> list[tuple[bytes, bytes]]:
        """The end-to-end headers as (lower-case name, value) pairs (HTTP/2 fields)."""
        lines = self.lines
        return [(name.lower(), value)
                for name, value in zip(lines[1::4], lines[3::4], strict=True)]


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
