"""PROXY protocol headers, checked against the examples of HAProxy's proxy-protocol.txt.

The reader must consume exactly the header: what follows it (an HTTP request
or a TLS ClientHello) stays in the socket for the connection it belongs to,
however the header's bytes are split across reads.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from ingress.proxy.proxy_protocol import (
    V2_SIGNATURE,
    ProxyHeaderError,
    next_read,
    parse,
    read_header,
    v1_header,
)

FFFF6 = ":".join(["ffff"] * 8)


def v2(command: int, family: int, body: bytes) -> bytes:
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack(">H", len(body)) + body


def v2_inet(source: str, destination: str, sport: int, dport: int, tlvs: bytes = b"") -> bytes:
    body = socket.inet_aton(source) + socket.inet_aton(destination) + struct.pack(">HH", sport,
                                                                                   dport)
    return v2(1, 0x11, body + tlvs)


def v2_inet6(source: str, destination: str, sport: int, dport: int) -> bytes:
    body = (socket.inet_pton(socket.AF_INET6, source)
            + socket.inet_pton(socket.AF_INET6, destination) + struct.pack(">HH", sport, dport))
    return v2(1, 0x21, body)


@pytest.mark.parametrize(
    ("header", "source"),
    [
        # The spec's examples and its worst cases (107 bytes is the longest line).
        (b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", ("192.168.0.1", 56324)),
        (b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
         ("255.255.255.255", 65535)),
        (f"PROXY TCP6 {FFFF6} {FFFF6} 65535 65535\r\n".encode(), (FFFF6, 65535)),
        (b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n", ("2001:db8::1", 1)),
        (b"PROXY UNKNOWN\r\n", None),
        (f"PROXY UNKNOWN {FFFF6} {FFFF6} 65535 65535\r\n".encode(), None),
        (v1_header(("203.0.113.7", 40000), ("10.0.0.1", 80)), ("203.0.113.7", 40000)),
        (v2_inet("192.168.0.1", "192.168.0.11", 56324, 443), ("192.168.0.1", 56324)),
        (v2_inet6("2001:db8::1", "2001:db8::2", 1, 2), ("2001:db8::1", 1)),
        # TLVs (AWS adds the VPC endpoint id as one) are skipped.
        (v2_inet("198.51.100.9", "10.0.0.1", 5, 443, b"\xea\x00\x05vpce1"), ("198.51.100.9", 5)),
        (v2(0, 0x00, b""), None),  # LOCAL: the balancer's own health check
        (v2(0, 0x11, bytes(12)), None),  # LOCAL ignores whatever addresses it carries
        (v2(1, 0x00, b""), None),  # PROXY with an unspecified family
        (v2(1, 0x31, bytes(216)), None),  # AF_UNIX: no client IP
    ],
)
def test_valid_headers(header: bytes, source: tuple[str, int] | None) -> None:
    assert len(header) <= 107 or header.startswith(V2_SIGNATURE)
    assert parse(header) == source


@pytest.mark.parametrize(
    "header",
    [
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n",  # bare LF
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n",
        b"PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n",
        b"PROXY TCP4 192.168.0.1 192.168.0.11 0443 443\r\n",
        b"PROXY TCP4 ::1 ::1 1 2\r\n",
        b"PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n",
        b"PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n",
        b"PROXY  TCP4 1.2.3.4 1.2.3.4 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n",
        V2_SIGNATURE + b"\x11\x11\x00\x0c" + bytes(12),  # version 1 in a v2 header
        v2(2, 0x11, bytes(12)),  # command 2
        v2(1, 0x41, bytes(12)),  # family 4
        v2(1, 0x13, bytes(12)),  # protocol 3
        v2(1, 0x11, bytes(8)),  # INET addresses truncated
        v2(1, 0x21, bytes(12)),  # INET6 addresses truncated
    ],
)
def test_invalid_headers(header: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        count, _ = next_read(header)
        if count == 0:
            parse(header)
        else:
            parse(header + bytes(count))


@pytest.mark.parametrize(
    "start", [b"GET / HTTP/1.1\r\n", b"\x16\x03\x01\x02\x00", b"PROXX", b"\r\n\r\n\x00\r\nQUIT!"]
)
def test_not_a_proxy_header_is_refused_at_once(start: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        next_read(start)


def test_a_version_1_line_longer_than_107_bytes_is_refused() -> None:
    with pytest.raises(ProxyHeaderError):
        next_read(b"PROXY UNKNOWN " + b"x" * 93)


FOLLOWING = b"\x16\x03\x01\x00\xa5 a TLS ClientHello, or an HTTP request"


@pytest.mark.parametrize(
    "header",
    [
        b"PROXY UNKNOWN\r\n",
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
        f"PROXY TCP6 {FFFF6} {FFFF6} 65535 65535\r\n".encode(),
        v2(0, 0x00, b""),
        v2_inet("192.168.0.1", "192.168.0.11", 56324, 443, b"\x04\x00\x02ab"),
    ],
)
@pytest.mark.parametrize("piece", [1, 5, 1000])
async def test_reading_consumes_exactly_the_header(header: bytes, piece: int) -> None:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    with ours, theirs:
        wire = header + FOLLOWING

        async def send() -> None:
            for at in range(0, len(wire), piece):
                theirs.sendall(wire[at : at + piece])
                await asyncio.sleep(0)

        sender = asyncio.ensure_future(send())
        source = await asyncio.wait_for(read_header(loop, ours), 5)
        await sender
        assert source == parse(header)
        ours.setblocking(True)
        ours.settimeout(5)
        rest = b""
        while len(rest) < len(FOLLOWING):
            rest += ours.recv(4096)
        assert rest == FOLLOWING


async def test_a_connection_closed_inside_the_header_is_refused() -> None:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    with ours:
        theirs.sendall(b"PROXY TCP4 1.2.3.4")
        theirs.close()
        with pytest.raises(ProxyHeaderError):
            await asyncio.wait_for(read_header(loop, ours), 5)
