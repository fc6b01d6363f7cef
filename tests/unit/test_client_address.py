"""The one client address: trusted-hop walking and the forwarded headers sent upstream.

The expectations are those of ingress-nginx's template: `real_ip_header`,
`set_real_ip_from` (proxy-real-ip-cidr) and `real_ip_recursive on` pick the
client; X-Forwarded-For is `$remote_addr` unless compute-full-forwarded-for
appends the peer to what came in.
"""

from __future__ import annotations

import pytest

from ingress.proxy.client_address import ClientAddresses, forwarded
from ingress.settings import Settings

LB = "10.0.0.2"  # a trusted proxy in front
CLIENT = "203.0.113.7"


def addresses(**settings: object) -> ClientAddresses:
    return ClientAddresses(Settings(workers=1, **settings))  # type: ignore[arg-type]


def headers(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes, bytes]]:
    return [(k.encode(), k.lower().encode(), v.encode()) for k, v in pairs]


def lines(block: bytes) -> dict[str, str]:
    found = {}
    for line in block.decode().split("\r\n"):
        if line:
            name, _, value = line.partition(": ")
            found[name] = value
    return found


TRUSTED = {"trusted_proxies": "10.0.0.0/8"}


@pytest.mark.parametrize(
    ("values", "client"),
    [
        ([f"{CLIENT}"], CLIENT),
        ([f"{CLIENT}, 10.1.1.1"], CLIENT),  # through a second trusted hop
        ([f"6.6.6.6, {CLIENT}"], CLIENT),  # the client's own spoofed entry is not believed
        (["6.6.6.6", f"{CLIENT}, 10.1.1.1"], CLIENT),  # several header lines form one list
        (["10.3.3.3, 10.1.1.1"], "10.3.3.3"),  # all trusted: the leftmost
        ([f"garbage, {CLIENT}"], CLIENT),
        (["garbage"], LB),  # nothing usable: the peer stays
        ([f"{CLIENT}:4711"], CLIENT),
        (["[2001:db8::7]:4711"], "2001:db8::7"),
        (["2001:db8::7"], "2001:db8::7"),
        ([""], LB),
    ],
)
def test_walks_back_through_trusted_hops_only(values: list[str], client: str) -> None:
    assert addresses(**TRUSTED).walk(LB, [v.encode() for v in values]) == client


def test_an_untrusted_peer_is_the_client_whatever_it_sends() -> None:
    found = addresses(**TRUSTED)
    assert not found.headers_trusted("192.0.2.1")
    result = forwarded(found, "192.0.2.1", False,
                       headers(("X-Forwarded-For", "10.9.9.9"), ("X-Forwarded-Proto", "https")),
                       b"http", b"80")
    assert result.client == "192.0.2.1"
    assert lines(result.block) == {
        "x-forwarded-for": "192.0.2.1", "x-real-ip": "192.0.2.1",
        "x-forwarded-proto": "http", "x-forwarded-port": "80",
    }


def test_by_default_no_peer_is_trusted_with_headers() -> None:
    found = addresses()
    assert not found.use_headers
    assert not found.headers_trusted(LB)
    assert found.trusts(LB)  # proxy-real-ip-cidr (for PROXY protocol) trusts all, as ingress-nginx


def test_a_trusted_peer_passes_on_the_client_and_its_forwarded_headers() -> None:
    found = addresses(**TRUSTED)
    assert found.headers_trusted(LB)
    assert found.headers_trusted("::ffff:10.0.0.2")  # IPv4-mapped, as a dual-stack socket says
    result = forwarded(found, LB, True, headers(
        ("X-Forwarded-For", f"6.6.6.6, {CLIENT}"), ("X-Forwarded-Proto", "HTTPS"),
        ("X-Forwarded-Port", "443"), ("X-Forwarded-Host", "shop.example"),
    ), b"http", b"80")
    assert result.client == CLIENT
    assert result.host == b"shop.example"
    assert lines(result.block) == {
        "x-forwarded-for": CLIENT, "x-real-ip": CLIENT,
        "x-forwarded-proto": "https", "x-forwarded-port": "443",
    }


def test_forwarded_values_that_are_not_what_they_claim_are_ignored() -> None:
    result = forwarded(addresses(**TRUSTED), LB, True, headers(
        ("X-Forwarded-Proto", "gopher"), ("X-Forwarded-Port", "80; x"),
        ("X-Forwarded-Host", "a b"),
    ), b"http", b"80")
    assert result.host == b""
    assert lines(result.block)["x-forwarded-proto"] == "http"
    assert lines(result.block)["x-forwarded-port"] == "80"


def test_use_forwarded_headers_trusts_proxy_real_ip_cidr() -> None:
    found = addresses(use_forwarded_headers=True, proxy_real_ip_cidr="10.0.0.0/8")
    assert found.headers_trusted(LB)
    assert not found.headers_trusted(CLIENT)


def test_another_forwarded_for_header() -> None:
    found = addresses(trusted_proxies="10.0.0.0/8", forwarded_for_header="CF-Connecting-IP")
    result = forwarded(found, LB, True, headers(
        ("X-Forwarded-For", "6.6.6.6"), ("CF-Connecting-IP", CLIENT)), b"http", b"80")
    assert result.client == CLIENT


@pytest.mark.parametrize(
    ("peer", "trusted", "incoming", "expected"),
    [
        (LB, True, [f"{CLIENT}"], f"{CLIENT}, {LB}"),
        (LB, True, [], LB),
        # compute-full-forwarded-for keeps the chain even from an untrusted client, and
        # says who really connected last.
        (CLIENT, False, ["1.1.1.1", "2.2.2.2"], f"1.1.1.1, 2.2.2.2, {CLIENT}"),
    ],
)
def test_compute_full_forwarded_for_appends_the_peer(
    peer: str, trusted: bool, incoming: list[str], expected: str
) -> None:
    found = addresses(compute_full_forwarded_for=True, **TRUSTED)
    sent = headers(*(("X-Forwarded-For", value) for value in incoming))
    result = forwarded(found, peer, trusted, sent, b"http", b"80")
    assert lines(result.block)["x-forwarded-for"] == expected
    assert lines(result.block)["x-real-ip"] == result.client


def test_compute_full_forwarded_for_needs_use_forwarded_headers() -> None:
    # As ingress-nginx's template: alone, it leaves X-Forwarded-For the client address.
    found = addresses(compute_full_forwarded_for=True)
    sent = headers(("X-Forwarded-For", "1.1.1.1"))
    result = forwarded(found, CLIENT, False, sent, b"http", b"80")
    assert lines(result.block)["x-forwarded-for"] == CLIENT


@pytest.mark.parametrize(
    ("flag", "value"),
    [("trusted_proxies", "10.0.0.0/8, nonsense"), ("proxy_real_ip_cidr", "300.1.1.1/8"),
     ("forwarded_for_header", " ")],
)
def test_bad_settings_are_refused_naming_the_flag(flag: str, value: str) -> None:
    with pytest.raises(ValueError, match=flag.replace("_", "-")):
        Settings(workers=1, **{flag: value})  # type: ignore[arg-type]
