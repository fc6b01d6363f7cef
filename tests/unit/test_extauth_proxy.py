"""External auth in the proxy: nginx variables of a request, and what the answer cache keeps."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from ingress.build.annotations.extauth import template
from ingress.model.filters.extauth import CacheRule, ExternalAuth
from ingress.proxy.client_address import fixed_block
from ingress.proxy.dataplane import Listener
from ingress.proxy.exchange import Exchange
from ingress.proxy.filters.extauth import MAX_CACHED, AuthCache, cache_seconds, subrequest
from ingress.proxy.filters.registry import FilterHost, FilterServices
from ingress.proxy.forward import Forwarder
from ingress.proxy.subrequests import Answer
from ingress.proxy.variables import render, variable
from ingress.settings import Settings


class Side:
    """The client connection's part: who asked, on which listener."""

    client_address = "192.0.2.7"
    listener = Listener(b"https", b"8443", True)


def exchange() -> Exchange:
    ex = Exchange(Forwarder(), b"POST", b"/app/a b%20c?x=1&y=two", 0.0)
    ex.host, ex.path = "shop.example.com", "/app/a b%20c"
    ex.request_id = b"0123abcd"
    ex.headers = [(b"Host", b"Shop.Example.com:8443", b"Shop.Example.com:8443"),
                  (b"X-User", b"alice", b"alice"), (b"x-user", b"bob", b"bob"),
                  (b"Cookie", b"session=s1; theme=dark", b"session=s1; theme=dark")]
    ex.headers = [(name, name.lower(), value) for name, _, value in ex.headers]
    return ex


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("host", "shop.example.com"),
        ("http_host", "Shop.Example.com:8443"),
        ("scheme", "https"),
        ("request_uri", "/app/a b%20c?x=1&y=two"),
        ("escaped_request_uri", "%2Fapp%2Fa%20b%2520c%3Fx%3D1%26y%3Dtwo"),
        ("uri", "/app/a b%20c"),
        ("args", "x=1&y=two"),
        ("is_args", "?"),
        ("request_method", "POST"),
        ("request", "POST /app/a b%20c?x=1&y=two HTTP/1.1"),
        ("remote_addr", "192.0.2.7"),
        ("server_port", "8443"),
        ("req_id", "0123abcd"),
        ("http_x_user", "alice, bob"),
        ("http_x_missing", ""),
        ("cookie_theme", "dark"),
        ("cookie_none", ""),
        ("arg_y", "two"),
    ],
)
def test_variables(name: str, value: str) -> None:
    assert variable(name, cast(FilterHost, Side()), exchange()) == value


def test_render_fills_a_template() -> None:
    signin = template("https://$host/start?rd=$pass_access_scheme://${http_host}$escaped_request_uri")
    assert render(signin, cast(FilterHost, Side()), exchange()) == (
        "https://shop.example.com/start?rd=https://Shop.Example.com:8443"
        "%2Fapp%2Fa%20b%2520c%3Fx%3D1%26y%3Dtwo")


RULES = (CacheRule(200, 60.0), CacheRule(401, 5.0))


def answer(status: int, *headers: tuple[bytes, bytes]) -> Answer:
    return Answer(status, list(headers))


@pytest.mark.parametrize(
    ("given", "seconds"),
    [
        (answer(200), 60.0),
        (answer(401), 5.0),
        (answer(403), 0.0),
        (answer(200, (b"set-cookie", b"a=1")), 0.0),
        (answer(200, (b"cache-control", b"private, max-age=30")), 0.0),
        (answer(200, (b"cache-control", b"no-store")), 0.0),
        (answer(200, (b"cache-control", b"public, max-age=30")), 30.0),
        (answer(403, (b"cache-control", b"max-age=30")), 30.0),
        (answer(200, (b"x-accel-expires", b"0"), (b"cache-control", b"max-age=30")), 0.0),
        (answer(200, (b"vary", b"*")), 0.0),
    ],
)
def test_what_nginx_proxy_cache_would_keep(given: Answer, seconds: float) -> None:
    assert cache_seconds(given, RULES) == seconds


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def time(self) -> float:
        return self.now


def test_the_cache_expires_and_stays_bounded() -> None:
    clock = Clock()
    loop = cast(asyncio.AbstractEventLoop, clock)
    cache = AuthCache(FilterServices(loop, Settings(workers=1)))
    key: Any = ("h", "/p", "Prefix", "k")
    cache.put(key, answer(401), RULES)
    assert cache.get(key) is not None
    clock.now += 5.0
    assert cache.get(key) is None
    for i in range(MAX_CACHED + 10):
        cache.put(("h", "/p", "Prefix", str(i)), answer(200), RULES)
    assert len(cache._answers) == MAX_CACHED
    assert cache.get(("h", "/p", "Prefix", "0")) is None  # the oldest went first


@pytest.mark.parametrize(("forwarded", "sent"), [
    (b"", "192.0.2.7"),  # no block yet: the client
    (fixed_block("192.0.2.7", b"192.0.2.7", b"https", b"8443"), "192.0.2.7"),
    # use-forwarded-headers + compute-full-forwarded-for: the chain the pod gets too.
    (fixed_block("192.0.2.7", b"203.0.113.1, 192.0.2.7", b"https", b"8443"),
     "203.0.113.1, 192.0.2.7"),
])
def test_the_subrequest_forwards_the_chain_the_pod_gets(forwarded: bytes, sent: str) -> None:
    ex = exchange()
    ex.forwarded = forwarded
    head = subrequest(cast(FilterHost, Side()), ex, ExternalAuth(template("http://auth/")),
                      b"/", b"auth").decode()
    assert f"\r\nx-forwarded-for: {sent}\r\n" in head
    assert "\r\nx-real-ip: 192.0.2.7\r\n" in head
