"""The server name of a ClientHello, from the bytes real TLS clients send first."""

from __future__ import annotations

import ssl

import pytest

from ingress.proxy.client_hello import NotAClientHello, server_name


def client_hello(server_hostname: str | None) -> bytes:
    """What Python's TLS client sends first (one record), through memory BIOs."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


@pytest.mark.parametrize("name", ["a.example.com", "Upper.Example.COM", "x"])
def test_the_server_name(name: str) -> None:
    assert server_name(client_hello(name)) == (0, name.lower())


def test_no_sni_no_name() -> None:
    # A client connecting to an address sends no server_name extension.
    assert server_name(client_hello(None)) == (0, None)


def test_too_few_bytes_say_how_many_are_needed() -> None:
    hello = client_hello("a.example.com")
    assert server_name(hello[:3]) == (5, None)
    assert server_name(hello[:40]) == (len(hello), None)


def test_a_hello_over_two_records() -> None:
    hello = client_hello("split.example.com")
    body = hello[5:]
    half = len(body) // 2
    records = (hello[:3] + half.to_bytes(2, "big") + body[:half]
               + hello[:3] + (len(body) - half).to_bytes(2, "big") + body[half:])
    assert server_name(records[:half + 5]) == (half + 10, None)  # the next record's header
    assert server_name(records[:half + 10]) == (len(records), None)
    assert server_name(records) == (0, "split.example.com")


@pytest.mark.parametrize("data", [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",  # plain HTTP on the TLS port
    b"\x16\x03\x01\x00\x00",  # an empty record
    b"\x16\x03\x01\xff\xff",  # one record of 64 KiB: past MAX_HELLO
    b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00",  # a ServerHello
    b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00",  # fields run past the end
])
def test_what_is_not_a_readable_client_hello(data: bytes) -> None:
    with pytest.raises(NotAClientHello):
        server_name(data)
