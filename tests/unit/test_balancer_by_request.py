"""ingress-nginx's request-reading balancers: consistent hashing, session cookies, EWMA, canaries.

The hash ring is checked against lua-resty-balancer's own test (t/chash.t):
the same keys reach the same nodes, so a switch from ingress-nginx keeps
every key and every session on its pod.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import Counter
from collections.abc import Iterator

import pytest

from ingress.model import (
    Backend,
    Balancer,
    Canary,
    CanaryRules,
    Endpoint,
    HashKey,
    HashPart,
    HashSource,
    HeaderRule,
    SessionCookie,
    compile_regex,
)
from ingress.proxy.balancer import Balancers, hash_key_of
from ingress.proxy.canary import choose_backend
from ingress.proxy.dataplane import Listener
from ingress.proxy.endpoint_pool import EndpointPool
from ingress.proxy.exchange import Exchange
from ingress.proxy.forward import Forwarder
from ingress.proxy.hashing import Ring
from ingress.proxy.sticky import cookie_time

PODS = tuple(Endpoint(f"10.0.0.{i}", 8080) for i in range(1, 7))


def connection(listener: Listener) -> Forwarder:
    """The client side an exchange belongs to, as far as balancers look at it."""
    conn = Forwarder()
    conn.listener = listener
    conn.client_ip = "192.0.2.7"
    conn.active = None
    return conn


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def balancers(clock: Clock) -> Iterator[Balancers]:
    loop = asyncio.new_event_loop()
    pools: dict[tuple[str, int], EndpointPool] = {}

    def pool(address: tuple[str, int]) -> EndpointPool:
        return pools.setdefault(address, EndpointPool(address, loop, 8, 32768))

    yield Balancers(pool, clock)
    loop.close()


def request(url: str = "/", tls: bool = False, **headers: str) -> Exchange:
    listener = Listener(b"https" if tls else b"http", b"443" if tls else b"80", tls)
    exchange = Exchange(connection(listener), b"GET", url.encode(), 0.0)
    exchange.headers = [(k.encode(), k.lower().replace("_", "-").encode(), v.encode())
                        for k, v in headers.items()]
    exchange.host = "foo"
    exchange.path = url.partition("?")[0]
    return exchange


def backend(balancer: Balancer, name: str = "web", **kwargs: object) -> Backend:
    return Backend("default", name, "80", balancer=balancer, **kwargs)  # type: ignore


# --- consistent hashing


def test_the_ring_is_lua_resty_balancers() -> None:
    ring = Ring([("server1", 10, "server1"), ("server2", 2, "server2"), ("server3", 1, "server3")])
    counts = Counter(ring.find(str(i)) for i in range(1, 100_001))
    assert counts == {"server1": 75588, "server2": 16114, "server3": 8298}
    assert len(ring.hashes) == 2080


def test_removing_a_node_moves_only_its_keys() -> None:
    names = [f"10.0.0.{i}:80" for i in range(1, 7)]
    before = Ring([(n, 1, n) for n in names])
    after = Ring([(n, 1, n) for n in names if n != names[2]])
    keys = [f"/page/{i}" for i in range(3000)]
    moved = [k for k in keys if before.find(k) != after.find(k)]
    assert moved and all(before.find(k) == names[2] for k in moved)


def test_hash_by_request_uri_sends_a_uri_to_one_pod(balancers: Balancers) -> None:
    chash = backend(Balancer.CHASH, hash_key=HashKey("$request_uri",
                                                     (HashPart(HashSource.REQUEST_URI),)))
    pods = {balancers.pick(chash, PODS, (), request("/a?x=1")) for _ in range(20)}
    assert len(pods) == 1
    spread = {balancers.pick(chash, PODS, (), request(f"/{i}")) for i in range(200)}
    assert spread == set(PODS)


def test_hash_by_subset_sends_a_key_to_its_subset_of_three(balancers: Balancers) -> None:
    key = HashKey("$request_uri", (HashPart(HashSource.REQUEST_URI),), 3)
    subset = backend(Balancer.CHASH_SUBSET, hash_key=key)
    pods = Counter(balancers.pick(subset, PODS, (), request("/same")) for _ in range(300))
    assert len(pods) == 3


def test_hash_key_variables() -> None:
    parts = (HashPart(HashSource.REMOTE_ADDR), HashPart(HashSource.TEXT, "|"),
             HashPart(HashSource.HEADER, "x-user"), HashPart(HashSource.TEXT, "|"),
             HashPart(HashSource.COOKIE, "sid"), HashPart(HashSource.TEXT, "|"),
             HashPart(HashSource.ARG, "id"), HashPart(HashSource.TEXT, "|"),
             HashPart(HashSource.REQUEST_URI), HashPart(HashSource.HOST),
             HashPart(HashSource.URI), HashPart(HashSource.HEADER, "absent"))
    exchange = request("/p?ID=7&id=8", **{"X-User": "ann", "Cookie": "a=1; sid=s2"})
    assert hash_key_of(HashKey("", parts), exchange) == "192.0.2.7|ann|s2|7|/p?ID=7&id=8foo/p"


# --- session cookies


STICKY = SessionCookie(name="SERVERID")


def _cookie(exchange: Exchange) -> str:
    return exchange.response_headers.decode().removeprefix("set-cookie: ").rstrip("\r\n")


def test_a_new_client_gets_ingress_nginx_cookie(balancers: Balancers) -> None:
    sticky = backend(Balancer.STICKY_BALANCED, session_cookie=STICKY)
    exchange = request()
    endpoint = balancers.pick(sticky, PODS, (), exchange)
    cookie = _cookie(exchange)
    name = "default-web-80"
    backend_key = hashlib.md5((hashlib.md5(name.encode()).hexdigest() + name).encode()).hexdigest()
    assert re.fullmatch(rf"SERVERID=[0-9.]+\.\d+\.\d+\|{backend_key}; Path=/; HttpOnly", cookie)
    # The cookie brings the client back to the same pod, again and again.
    value = cookie.split(";")[0].split("=", 1)[1]
    again = request(Cookie=f"SERVERID={value}")
    assert {balancers.pick(sticky, PODS, (), again) for _ in range(10)} == {endpoint}
    assert again.response_headers == b""
    assert balancers.affinitized(sticky, again)
    assert not balancers.affinitized(backend(Balancer.STICKY_BALANCED, name="canary",
                                             session_cookie=STICKY), again)


def test_persistent_cookies_name_the_pod_and_outlive_scaling(balancers: Balancers) -> None:
    cookie = SessionCookie(name="S", persistent=True)
    sticky = backend(Balancer.STICKY_PERSISTENT, session_cookie=cookie)
    exchange = request()
    endpoint = balancers.pick(sticky, PODS, (), exchange)
    assert endpoint is not None
    pod_key = _cookie(exchange).split("=", 1)[1].split("|")[0]
    assert pod_key == hashlib.md5(f"default-web-80{endpoint.ip}:8080".encode()).hexdigest()
    scaled = (*PODS, Endpoint("10.0.0.99", 8080))
    value = _cookie(exchange).split(";")[0].split("=", 1)[1]
    assert balancers.pick(sticky, scaled, (), request(Cookie=f"S={value}")) == endpoint
    # Its pod gone, the client gets another pod and a new cookie.
    shrunk = tuple(e for e in PODS if e != endpoint)
    moved = request(Cookie=f"S={value}")
    assert balancers.pick(sticky, shrunk, (), moved) not in (None, endpoint)
    assert moved.response_headers.startswith(b"set-cookie: S=")


def test_a_failed_pod_keeps_its_sessions_unless_change_on_failure(balancers: Balancers) -> None:
    for change, expect_same in ((False, True), (True, False)):
        sticky = backend(Balancer.STICKY_BALANCED,
                         session_cookie=SessionCookie(name="S", change_on_failure=change))
        first = request()
        endpoint = balancers.pick(sticky, PODS, (), first)
        assert endpoint is not None
        retry = request(Cookie=_cookie(first).split(";")[0])
        chosen = balancers.pick(sticky, PODS, [endpoint.address], retry)
        assert (chosen == endpoint) is expect_same
        assert bool(retry.response_headers) is not expect_same


def test_cookie_attributes(balancers: Balancers, clock: Clock) -> None:
    cookie = SessionCookie(name="C", path="/foo/bar", domain="foo.bar", samesite="Strict",
                           expires=172800, max_age=259200)
    exchange = request()
    balancers.pick(backend(Balancer.STICKY_BALANCED, session_cookie=cookie), PODS, (), exchange)
    attributes = _cookie(exchange).split("; ")[1:]
    assert attributes[0].startswith("Expires=") and attributes[0].endswith(" GMT")
    assert attributes[1:] == ["Max-Age=259200", "Domain=foo.bar", "Path=/foo/bar", "HttpOnly",
                              "SameSite=Strict"]


def test_secure_on_https_or_when_asked(balancers: Balancers) -> None:
    for tls, secure, expected in ((False, False, False), (True, False, True),
                                  (False, True, True)):
        exchange = request(tls=tls)
        cookie = SessionCookie(secure=secure)
        balancers.pick(backend(Balancer.STICKY_BALANCED, session_cookie=cookie), PODS, (), exchange)
        assert ("; Secure;" in _cookie(exchange)) is expected


@pytest.mark.parametrize(("agent", "samesite"), [
    ("Mozilla/5.0 Chrome/120.0", True),
    ("Mozilla/5.0 Chrome/51.0.2704.103", False),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 12_0 like Mac OS X)", False),
])
def test_conditional_samesite_none(balancers: Balancers, agent: str, samesite: bool) -> None:
    cookie = SessionCookie(samesite="None", conditional_samesite_none=True)
    exchange = request(**{"User-Agent": agent})
    balancers.pick(backend(Balancer.STICKY_BALANCED, session_cookie=cookie), PODS, (), exchange)
    assert ("SameSite=None" in _cookie(exchange)) is samesite


def test_cookie_time_is_nginx_s() -> None:
    assert cookie_time(1290079655) == "Thu, 18-Nov-10 11:27:35 GMT"
    assert cookie_time(2240611200) == "Tue, 01-Jan-2041 00:00:00 GMT"


# --- EWMA


def test_ewma_prefers_the_faster_pod_and_forgets_slowly(balancers: Balancers,
                                                        clock: Clock) -> None:
    ewma = backend(Balancer.EWMA)
    balancers.observe(PODS[0], 0.5)
    balancers.observe(PODS[1], 0.01)
    picks = Counter(balancers.pick(ewma, PODS[:2], (), request()) for _ in range(50))
    assert picks == {PODS[1]: 50}
    # With no news, averages decay toward 0 over DECAY_TIME (10 s): the slow pod is back.
    clock.now += 60
    balancers.observe(PODS[1], 0.01)
    assert balancers.pick(ewma, PODS[:2], (), request()) == PODS[0]


def test_ewma_picks_mark_the_exchange_for_timing(balancers: Balancers) -> None:
    exchange = request()
    balancers.pick(backend(Balancer.EWMA), PODS, (), exchange)
    assert exchange.timed
    plain = request()
    balancers.pick(backend(Balancer.ROUND_ROBIN), PODS, (), plain)
    assert not plain.timed


def test_a_pod_leaving_the_table_takes_its_average_along(balancers: Balancers) -> None:
    balancers.observe(PODS[0], 0.2)
    balancers.forget_address(PODS[0].address)
    assert PODS[0].address not in balancers.ewma.stats


def test_ewma_slow_start_gives_a_new_pod_the_average(balancers: Balancers) -> None:
    balancers.pick(backend(Balancer.EWMA), PODS[:2], (), request())
    balancers.observe(PODS[0], 0.2)
    balancers.observe(PODS[1], 0.4)
    balancers.pick(backend(Balancer.EWMA), PODS[:3], (), request())
    assert balancers.ewma.stats[PODS[2].address][0] == pytest.approx(0.3)


# --- canaries


MAIN = backend(Balancer.ROUND_ROBIN, name="main")
CANARY = backend(Balancer.ROUND_ROBIN, name="canary")


@pytest.mark.parametrize(
    ("rules", "headers", "expected"),
    [   # ingress-nginx e2e canary.go, by header, value, pattern, cookie and weight
        (CanaryRules(b"canarybyheader"), {"CanaryByHeader": "always"}, "canary"),
        (CanaryRules(b"canarybyheader"), {"CanaryByHeader": "never"}, "main"),
        (CanaryRules(b"canarybyheader"), {"CanaryByHeader": "badheadervalue"}, "main"),
        (CanaryRules(b"canarybyheader", weight=100), {"CanaryByHeader": "never"}, "main"),
        (CanaryRules(b"canarybyheader", HeaderRule.VALUE, "DoCanary"),
         {"CanaryByHeader": "DoCanary"}, "canary"),
        (CanaryRules(b"canarybyheader", HeaderRule.VALUE, "DoCanary"),
         {"CanaryByHeader": "always"}, "main"),
        (CanaryRules(b"canarybyheader", HeaderRule.PATTERN,
                     header_pattern=compile_regex("^Do[A-Z][a-z]+y$")),
         {"CanaryByHeader": "DoCanary"}, "canary"),
        (CanaryRules(b"canarybyheader", HeaderRule.PATTERN,
                     header_pattern=compile_regex("^Do[A-Z][a-z]+y$")),
         {"CanaryByHeader": "Docanary"}, "main"),
        (CanaryRules(b"canarybyheader", HeaderRule.MAINLINE, cookie="CanaryByCookie"),
         {"CanaryByHeader": "DoCanary", "Cookie": "CanaryByCookie=always"}, "main"),
        (CanaryRules(b"canarybyheader", HeaderRule.VALUE, "DoCanary", cookie="CanaryByCookie"),
         {"CanaryByHeader": "otherheadervalue", "Cookie": "CanaryByCookie=always"}, "canary"),
        (CanaryRules(cookie="Canary-By-Cookie"), {"Cookie": "Canary-By-Cookie=always"},
         "canary"),
        (CanaryRules(cookie="Canary-By-Cookie", weight=100),
         {"Cookie": "Canary-By-Cookie=never"}, "main"),
        (CanaryRules(cookie="Canary-By-Cookie"), {"Cookie": "Canary-By-Cookie=bad"}, "main"),
        (CanaryRules(weight=0), {}, "main"),
        (CanaryRules(weight=100), {}, "canary"),
        (CanaryRules(weight=1000, weight_total=1000), {}, "canary"),
    ],
)
def test_canary_precedence(balancers: Balancers, rules: CanaryRules, headers: dict[str, str],
                           expected: str) -> None:
    for _ in range(20):  # weights of 0 and all of the total leave nothing to chance
        chosen = choose_backend(MAIN, Canary(CANARY, rules), request(**headers), balancers)
        assert chosen.service == expected


def test_canary_weight_splits_by_its_total(balancers: Balancers) -> None:
    canary = Canary(CANARY, CanaryRules(weight=100, weight_total=200))
    chosen = Counter(choose_backend(MAIN, canary, request(), balancers).service
                     for _ in range(2000))
    # 1000 expected; 880..1120 is beyond 5 standard deviations.
    assert 880 <= chosen["canary"] <= 1120


def test_a_session_pinned_to_either_backend_beats_every_canary_rule(
    balancers: Balancers
) -> None:
    sticky_main = backend(Balancer.STICKY_BALANCED, name="main", session_cookie=STICKY)
    sticky_canary = backend(Balancer.STICKY_BALANCED, name="canary", session_cookie=STICKY)
    canary = Canary(sticky_canary, CanaryRules(b"force", HeaderRule.VALUE, "yes", weight=1))
    first = request(Force="yes")
    backend_chosen = choose_backend(sticky_main, canary, first, balancers)
    assert backend_chosen is sticky_canary
    balancers.pick(backend_chosen, PODS, (), first)
    pinned = request(Cookie=_cookie(first).split(";")[0])
    assert all(choose_backend(sticky_main, canary, pinned, balancers) is sticky_canary
               for _ in range(20))
