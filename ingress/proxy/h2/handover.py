"""Turning an accepted connection into HTTP/2: ALPN `h2`, the h2c preface, `Upgrade: h2c`.

Every connection starts as an HTTP/1.1 `ClientConnection`; the protocol is
settled once, when the connection starts: at the TLS handshake (ALPN), or
when llhttp refuses the h2c preface (`PRI * HTTP/2.0`), or when a request
asks for `Upgrade: h2c`. From then on an `H2ClientConnection` owns the
transport.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingress.proxy.exchange import Exchange
from ingress.proxy.h2.connection import H2ClientConnection

if TYPE_CHECKING:
    from ingress.proxy.client import ClientConnection

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@dataclass(frozen=True, slots=True)
class H2Upgrade:
    """An HTTP/1.1 request with `Upgrade: h2c`, to be answered as stream 1."""

    settings: bytes  # its HTTP2-Settings header
    exchange: Exchange


def h2c_upgrade(exchange: Exchange) -> H2Upgrade | None:
    """Accept `Upgrade: h2c` for requests without a body (RFC 7540 §3.2); others stay HTTP/1.1
    (a body would have to be read whole before switching, as nginx does not either)."""
    upgrade = settings = b""
    body = False
    for _, lname, value in exchange.headers:
        if lname == b"upgrade":
            upgrade = value
        elif lname == b"http2-settings":
            settings = value
        elif lname == b"content-length":
            body = value != b"0"
        elif lname == b"transfer-encoding":
            body = True
    if upgrade.strip().lower() != b"h2c" or not settings or body:
        return None
    return H2Upgrade(settings, exchange)


def after_preface(data: bytes) -> bytes:
    """What follows the h2c preface in `data`, the read that completed it.

    Earlier reads held the preface's beginning. Its end in `data` is the
    longest prefix of `data` that is a suffix of the preface: the frames after
    it begin with a length byte (0x00 for any SETTINGS frame) that no suffix
    of the ASCII preface can continue.
    """
    for end in range(min(len(PREFACE), len(data)), 0, -1):
        if PREFACE.endswith(data[:end]):
            return data[end:]
    return data


def hand_over(accepted: ClientConnection, transport: asyncio.Transport, data: bytes,
              upgrade: H2Upgrade | None) -> None:
    """Make `accepted`'s transport an HTTP/2 connection, with the client address it settled
    (peer, PROXY protocol, trusted hops); `data` is what the client already sent."""
    conn = H2ClientConnection(accepted.dp, accepted.listener)
    conn.client_ip = accepted.client_ip
    conn.headers_trusted = accepted.headers_trusted
    conn.forwarded_per_request = accepted.forwarded_per_request
    conn.forwarded_fixed = accepted.forwarded_fixed
    accepted.dp.handed_over(accepted, conn)
    transport.set_protocol(conn)
    conn.connection_made(transport)
    if upgrade is None:
        conn.start()
    else:
        exchange = upgrade.exchange
        headers = [(b":method", exchange.method), (b":scheme", b"http"), (b":path", exchange.url)]
        headers += [(lname, value) for _, lname, value in exchange.headers
                    if lname not in (b"connection", b"upgrade", b"http2-settings")]
        conn.start_upgraded(upgrade.settings, headers)
    if data:
        conn.data_received(data)
