"""The server name a TLS ClientHello asks for, read from the connection's first bytes.

TLS passthrough chooses where a connection goes before any TLS is spoken,
so it reads the SNI extension itself (RFC 8446 §4.1.2, RFC 6066 §3) from the
bytes the client sent first, peeked, not consumed. The ClientHello may
span several TLS records; `server_name` says how many bytes it needs when
it has too few, and reads at most `MAX_HELLO` of them.
"""

from __future__ import annotations

_HANDSHAKE = 0x16
_CLIENT_HELLO = 0x01
_SERVER_NAME = 0x0000
_HOST_NAME = 0x00
_RECORD_HEADER = 5
MAX_HELLO = 64 * 1024  # far more than any real ClientHello


class NotAClientHello(ValueError):
    """The bytes are not the start of a TLS ClientHello that can be read."""


def server_name(data: bytes) -> tuple[int, str | None]:
    """(0, the SNI host name, or None without one) when `data` holds the whole ClientHello;
    (bytes needed in all, None) when it does not yet. NotAClientHello when it is not one."""
    handshake = b""
    at = 0
    while True:
        if len(data) < at + _RECORD_HEADER:
            return at + _RECORD_HEADER, None
        if data[at] != _HANDSHAKE or data[at + 1] != 0x03:
            raise NotAClientHello("not a TLS handshake record")
        length = int.from_bytes(data[at + 3:at + 5], "big")
        end = at + _RECORD_HEADER + length
        if length == 0 or end > MAX_HELLO:
            raise NotAClientHello("a handshake record of a length no ClientHello has")
        if len(data) < end:
            return end, None
        handshake += data[at + _RECORD_HEADER:end]
        at = end
        if len(handshake) >= 4:
            if handshake[0] != _CLIENT_HELLO:
                raise NotAClientHello("the first handshake message is not a ClientHello")
            if len(handshake) >= 4 + int.from_bytes(handshake[1:4], "big"):
                return 0, _sni(handshake[4:4 + int.from_bytes(handshake[1:4], "big")])


def _sni(hello: bytes) -> str | None:
    """The host name of a ClientHello body's server_name extension."""
    reader = _Reader(hello)
    reader.skip(2 + 32)  # legacy_version, random
    reader.skip(reader.number(1))  # legacy_session_id
    reader.skip(reader.number(2))  # cipher_suites
    reader.skip(reader.number(1))  # legacy_compression_methods
    if reader.done:
        return None  # no extensions at all
    extensions = _Reader(reader.take(reader.number(2)))
    while not extensions.done:
        kind = extensions.number(2)
        body = extensions.take(extensions.number(2))
        if kind != _SERVER_NAME:
            continue
        names = _Reader(body)
        entries = _Reader(names.take(names.number(2)))
        while not entries.done:
            name_type = entries.number(1)
            name = entries.take(entries.number(2))
            if name_type == _HOST_NAME:
                try:
                    return name.decode("ascii").lower().rstrip(".")
                except UnicodeDecodeError:
                    raise NotAClientHello("a server name that is not ASCII") from None
        return None
    return None


class _Reader:
    __slots__ = ("at", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    @property
    def done(self) -> bool:
        return self.at >= len(self.data)

    def take(self, count: int) -> bytes:
        if self.at + count > len(self.data):
            raise NotAClientHello("a ClientHello field runs past its end")
        found = self.data[self.at:self.at + count]
        self.at += count
        return found

    def skip(self, count: int) -> None:
        self.take(count)

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")
