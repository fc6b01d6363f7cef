"""The PROXY protocol header (HAProxy's spec, versions 1 and 2) that TCP balancers prepend.

A cloud TCP load balancer (AWS NLB, GCP, Azure, HAProxy, nginx stream) opens
its own connection to Portico, so the peer address is the balancer's. With
`--proxy-protocol` it first sends one header naming the real client, before
any HTTP or TLS byte. The header is read here byte-exactly from the socket,
never past its end, so that the socket can then be handed to the event loop
as if freshly accepted, and TLS, when there is TLS, starts on the next byte.

Version 1 is one text line of at most 107 bytes:
`PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\\r\\n`. Version 2 is binary: a
12-byte signature, version and command, address family, a 16-bit length,
the addresses and optional TLVs (ignored). `LOCAL` (health checks from the
balancer itself), `UNKNOWN` and unspecified families mean "no client
address": the peer address stands.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
V1_MAX = 107  # the longest version 1 line, CRLF included
_V1_MIN = 15  # "PROXY UNKNOWN\r\n"
_V2_FIXED = 16  # signature, version/command, family, length
_V2_ADDRESSES = struct.Struct(">4s4sHH")
_V2_ADDRESSES6 = struct.Struct(">16s16sHH")

Address = tuple[str, int]


class ProxyHeaderError(ValueError):
    """The connection did not start with a valid PROXY protocol header."""


def next_read(header: bytes) -> tuple[int, bool]:
    """(bytes to read next, whether only to peek at them); (0, False) when complete.

    Every count stays within the header, whatever follows it: both versions
    are at least 12 bytes long, a version 1 line at least 15, and a version 2
    header says its length in its first 16 bytes.
    """
    have = len(header)
    if have < 12:
        _check_prefix(header)
        return 12 - have, False
    if header.startswith(V2_SIGNATURE):
        if have < _V2_FIXED:
            return _V2_FIXED - have, False
        return _V2_FIXED + int.from_bytes(header[14:16], "big") - have, False
    _check_prefix(header)
    if have < _V1_MIN:
        return _V1_MIN - have, False
    if b"\n" in header:
        return 0, False
    if have >= V1_MAX:
        raise ProxyHeaderError("version 1 header longer than 107 bytes")
    return V1_MAX - have, True


def _check_prefix(header: bytes) -> None:
    if not (V2_SIGNATURE.startswith(header[:12]) or V1_PREFIX.startswith(header[:6])):
        raise ProxyHeaderError("the connection does not start with a PROXY protocol header")


def parse(header: bytes) -> Address | None:
    """The client address a complete header names, or None to keep the peer's."""
    if header.startswith(V2_SIGNATURE):
        return _parse_v2(header)
    return _parse_v1(header)


def _parse_v1(header: bytes) -> Address | None:
    if not header.endswith(b"\r\n") or b"\n" in header[:-1] or b"\r" in header[:-2]:
        raise ProxyHeaderError("version 1 header is not one CRLF-terminated line")
    fields = header[:-2].decode("ascii", "replace").split(" ")
    if fields[0] != "PROXY" or len(fields) < 2:
        raise ProxyHeaderError("version 1 header does not start with 'PROXY '")
    if fields[1] == "UNKNOWN":
        return None  # the rest of the line is to be ignored
    if len(fields) != 6 or fields[1] not in ("TCP4", "TCP6"):
        raise ProxyHeaderError(f"version 1 header has bad fields: {' '.join(fields)!r}")
    family = ipaddress.IPv4Address if fields[1] == "TCP4" else ipaddress.IPv6Address
    try:
        source = family(fields[2])
        family(fields[3])
    except ValueError:
        raise ProxyHeaderError(f"version 1 addresses do not match {fields[1]}") from None
    _port(fields[5])
    return str(source), _port(fields[4])


def _port(text: str) -> int:
    if not text.isdigit() or len(text) > 5 or (len(text) > 1 and text[0] == "0"):
        raise ProxyHeaderError(f"bad port {text!r}")
    port = int(text)
    if port > 65535:
        raise ProxyHeaderError(f"bad port {text!r}")
    return port


def _parse_v2(header: bytes) -> Address | None:
    version, command = header[12] >> 4, header[12] & 0x0F
    if version != 2 or command > 1:
        raise ProxyHeaderError(f"version 2 header with version {version}, command {command}")
    body = header[_V2_FIXED:]
    if len(body) != int.from_bytes(header[14:16], "big"):
        raise ProxyHeaderError("version 2 header is shorter than its length says")
    family, transport = header[13] >> 4, header[13] & 0x0F
    if family > 3 or transport > 2:
        raise ProxyHeaderError(f"version 2 header with family {family}, protocol {transport}")
    if command == 0 or family in (0, 3) or transport == 0:
        return None  # LOCAL, unspecified or UNIX: nothing usable about the client
    layout = _V2_ADDRESSES if family == 1 else _V2_ADDRESSES6
    if len(body) < layout.size:
        raise ProxyHeaderError("version 2 addresses are truncated")
    source, _, source_port, _ = layout.unpack_from(body)
    return str(ipaddress.ip_address(source)), source_port


def v1_header(source: Address, destination: Address) -> bytes:
    """A version 1 line for a TCP connection (tests and tools send these)."""
    family = "TCP6" if ":" in source[0] else "TCP4"
    return f"PROXY {family} {source[0]} {destination[0]} {source[1]} {destination[1]}\r\n".encode()


async def read_header(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> Address | None:
    """Consume exactly the PROXY header at the start of the non-blocking `sock`."""
    header = b""
    while True:
        count, peek = next_read(header)
        if count == 0:
            return parse(header)
        await readable(loop, sock)
        try:
            data = sock.recv(count, socket.MSG_PEEK if peek else 0)
        except BlockingIOError:
            continue
        if not data:
            raise ProxyHeaderError("the connection closed inside the PROXY header")
        if peek:
            end = data.find(b"\n")
            # Consume through the line's end, or all of it while the end is still to come.
            data = sock.recv(end + 1 if end >= 0 else len(data))
        header += data


async def readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    """Until the non-blocking `sock` has something to read (or its end)."""
    ready = loop.create_future()
    fd = sock.fileno()
    loop.add_reader(fd, _set_once, ready)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def _set_once(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)
