"""ingress-nginx's routing annotations end to end: `portico run` in front of real pods.

What each test asserts is what ingress-nginx's own e2e tests assert
(test/e2e/annotations/{rewrite,approot,redirect,xforwardedprefix,
preservetrailingslash,fromtowwwredirect,alias,ipdenylist,canary,affinity,
affinitymode,upstreamhashby}.go), written against the same Ingresses.
One Portico process serves the whole module.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from e2e.harness import AppServer, Manifests, Portico, demo_pods, free_port, start_ready
from kube import objects as o

PODS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
SLOW_POD = "127.0.0.5"  # answers after SLOW_DELAY: the latency EWMA learns to avoid
SLOW_DELAY = 0.05


def ingress(name: str, host: str, path: str = "/", service: str = "web",
            path_type: str = "Prefix", **annotations: str) -> dict[str, Any]:
    """An Ingress with annotations named as users write them (without the prefix)."""
    return o.annotated(o.ingress(name, host=host, path=path, service=service,
                                 path_type=path_type), **annotations)


def served(name: str, port: int, *ips: str) -> list[dict[str, Any]]:
    """A Service and the EndpointSlice of its pods."""
    return [o.service(name, target=port), o.endpoint_slice(name, list(ips), port=port)]


def manifests(port: int, slow_port: int) -> list[dict[str, Any]]:
    canary = {"canary": "true"}
    sticky = {"affinity": "cookie", "session-cookie-name": "SERVERID"}
    return [
        o.ingress_class(),
        *served("web", port, *PODS),
        *served("main", port, PODS[0]),
        *served("canary", port, PODS[1]),
        # The slow pod listens on another port: an EndpointSlice has one port per name.
        o.service("mixed", target=port),
        o.endpoint_slice("mixed", [PODS[0]], port=port, name="mixed-fast"),
        o.endpoint_slice("mixed", [SLOW_POD], port=slow_port, name="mixed-slow"),
        *served("slow", slow_port, SLOW_POD),
        # rewrite.go "should use correct longest path match"
        ingress("kube-lego", "rewrite.test", "/.well-known/acme/challenge"),
        ingress("rewrite-index", "rewrite.test", "/", **{"rewrite-target": "/new/backend"}),
        # rewrite.go "custom rewrite parameters", xforwardedprefix.go
        ingress("regex", "regex.test", "/foo/bar/(.+)", **{
            "use-regex": "true", "rewrite-target": "/new/backend/$1",
            "x-forwarded-prefix": "/test/value"}),
        ingress("plain", "regex.test", "/foo", service="main"),
        ingress("impl", "impl.test", "/api", service="main", path_type="ImplementationSpecific"),
        ingress("approot", "approot.test", **{"app-root": "/foo"}),
        ingress("permanent", "permanent.test", "/something", **{
            "permanent-redirect": "http://redirect.example.com",
            "permanent-redirect-code": "308"}),
        ingress("relative", "relative.test", **{"permanent-redirect": "/elsewhere?x=1"}),
        ingress("temporal", "temporal.test", **{
            "temporal-redirect": "https://temporal.example.com/x",
            "temporal-redirect-code": "307"}),
        ingress("forced", "forced.test", **{"force-ssl-redirect": "true"}),
        ingress("preserve", "preserve.test", **{
            "force-ssl-redirect": "true", "preserve-trailing-slash": "true"}),
        ingress("www", "fromtowww.test", **{"from-to-www-redirect": "true"}),
        ingress("aliased", "aliased.test", "/app", service="main", **{
            "server-alias": "alias.test"}),
        ingress("denied", "denied.test", **{"denylist-source-range": "127.0.0.0/8"}),
        ingress("allowed", "allowed.test", **{
            "denylist-source-range": "10.0.0.0/8", "allowlist-source-range": "127.0.0.0/8"}),
        # canary.go: the canary sorts first, as if created before its mainline
        ingress("a-canary", "canary.test", "/info", service="canary", **canary, **{
            "canary-by-header": "CanaryByHeader", "canary-by-cookie": "CanaryByCookie",
            "canary-weight": "0"}),
        ingress("mainline", "canary.test", "/info", service="main"),
        ingress("pattern-main", "pattern.test", "/info", service="main"),
        ingress("pattern-canary", "pattern.test", "/info", service="canary", **canary, **{
            "canary-by-header": "CanaryByHeader",
            "canary-by-header-pattern": "^Do[A-Z][a-z]+y$"}),
        ingress("value-main", "value.test", "/info", service="main"),
        ingress("value-canary", "value.test", "/info", service="canary", **canary, **{
            "canary-by-header": "CanaryByHeader", "canary-by-header-value": "DoCanary"}),
        ingress("weight-main", "weight.test", "/info", service="main"),
        ingress("weight-canary", "weight.test", "/info", service="canary", **canary, **{
            "canary-weight": "1000", "canary-weight-total": "1000"}),
        ingress("lonely-canary", "lonely.test", "/info", service="canary", **canary),
        # affinity.go / affinitymode.go
        ingress("sticky", "sticky.test", "/something", **sticky, **{
            "session-cookie-expires": "172800", "session-cookie-max-age": "259200",
            "session-cookie-domain": "foo.bar", "session-cookie-samesite": "None",
            "session-cookie-conditional-samesite-none": "true", "session-cookie-secure": "true",
            "session-cookie-change-on-failure": "true"}),
        ingress("sticky-path", "sticky-path.test", "/foo/.*", **sticky, **{
            "use-regex": "true", "session-cookie-path": "/foo/bar"}),
        ingress("persistent", "persistent.test", **sticky, **{"affinity-mode": "persistent"}),
        # canary.go "always routes traffic to canary if first request was affinitized to canary"
        ingress("sticky-main", "sticky-canary.test", service="main", **sticky),
        ingress("sticky-canary", "sticky-canary.test", service="canary", **canary, **{
            "canary-by-header": "ForceCanary", "canary-by-header-value": "yes",
            "canary-weight": "1", "affinity-canary-behavior": "sticky"}),
        ingress("legacy-main", "legacy.test", service="main", **sticky),
        ingress("legacy-canary", "legacy.test", service="canary", **canary, **{
            "canary-by-header": "ForceCanary", "canary-by-header-value": "yes",
            "affinity-canary-behavior": "legacy"}),
        # upstreamhashby.go
        ingress("hash", "hash.test", **{"upstream-hash-by": "$request_uri"}),
        ingress("subset", "subset.test", **{
            "upstream-hash-by": "$request_uri", "upstream-hash-by-subset": "true",
            "upstream-hash-by-subset-size": "2"}),
        ingress("ewma", "ewma.test", service="mixed", **{"load-balance": "ewma"}),
        ingress("slow", "slow.test", service="slow"),
    ]


def slow_pod(port: int) -> AppServer:
    """A pod that answers every request after SLOW_DELAY, on its own loop thread."""

    async def answer(request: web.Request) -> web.Response:
        await asyncio.sleep(SLOW_DELAY)
        return web.json_response({"pod": f"{SLOW_POD}:{port}", "path": request.path})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return AppServer(app, SLOW_POD, port)


@pytest.fixture(scope="module")
def portico(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portico]:
    base = tmp_path_factory.mktemp("routing")
    slow_port = free_port(SLOW_POD)
    slow = slow_pod(slow_port)
    try:
        with demo_pods(PODS) as port:
            files = Manifests(Path(base) / "manifests")
            files.write("objects.yaml", manifests(port, slow_port))
            server = start_ready(files.root, log=base / "portico.log")
            try:
                yield server
            finally:
                server.stop()
    finally:
        slow.close()


async def get(portico: Portico, host: str, path: str = "/",
              **headers: str) -> tuple[int, dict[str, str], dict[str, Any] | None]:
    """Status, headers and the pod's JSON echo (None when the answer is not one)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session, \
            session.get(portico.url + path, headers={"Host": host, **headers},
                        allow_redirects=False) as response:
        body = await response.read()
        echoed = json.loads(body) if response.content_type == "application/json" else None
        return response.status, dict(response.headers), echoed


async def pod(portico: Portico, host: str, path: str = "/", **headers: str) -> str:
    status, _, echoed = await get(portico, host, path, **headers)
    assert status == 200 and echoed is not None, (host, path, status)
    return str(echoed["pod"]).rpartition(":")[0]


async def test_rewrite_target_replaces_the_whole_path_and_keeps_the_query(
    portico: Portico
) -> None:
    _, _, echoed = await get(portico, "rewrite.test", "/.well-known/acme/challenge")
    assert echoed is not None and echoed["path"] == "/.well-known/acme/challenge"
    _, _, echoed = await get(portico, "rewrite.test", "/some/where?q=1")
    assert echoed is not None and (echoed["path"], echoed["query"]) == ("/new/backend", "q=1")


async def test_use_regex_captures_and_x_forwarded_prefix(portico: Portico) -> None:
    _, _, echoed = await get(portico, "regex.test", "/foo/bar/baz?x=1")
    assert echoed is not None
    assert (echoed["path"], echoed["query"]) == ("/new/backend/baz", "x=1")
    assert echoed["headers"]["x-forwarded-prefix"] == "/test/value"
    # The host's other paths became case-insensitive regex prefixes, without the rewrite.
    _, _, echoed = await get(portico, "regex.test", "/FOOx")
    assert echoed is not None and echoed["path"] == "/FOOx"
    assert "x-forwarded-prefix" not in echoed["headers"]


async def test_implementation_specific_is_an_nginx_prefix(portico: Portico) -> None:
    assert await pod(portico, "impl.test", "/apiv2") == PODS[0]
    assert (await get(portico, "impl.test", "/ap"))[0] == 404


async def test_app_root_redirects_to_an_absolute_url(portico: Portico) -> None:
    host = f"approot.test:{portico.http_port}"
    status, headers, _ = await get(portico, host)
    assert (status, headers["Location"]) == (302, f"http://{host}/foo")
    assert (await get(portico, host, "/foo"))[0] == 200


async def test_permanent_and_temporal_redirects(portico: Portico) -> None:
    status, headers, _ = await get(portico, "permanent.test", "/something")
    assert (status, headers["Location"]) == (308, "http://redirect.example.com")
    status, headers, _ = await get(portico, "relative.test", "/any")
    assert (status, headers["Location"]) == (301, "http://relative.test/elsewhere?x=1")
    status, headers, _ = await get(portico, "temporal.test")
    assert (status, headers["Location"]) == (307, "https://temporal.example.com/x")


async def test_https_redirect_trims_the_trailing_slash_unless_preserved(
    portico: Portico
) -> None:
    for host, path, location in [
        ("forced.test", "/", "https://forced.test"),
        ("forced.test", "/a/?q=1", "https://forced.test/a/?q=1"),
        ("forced.test", "/a/", "https://forced.test/a"),
        ("preserve.test", "/", "https://preserve.test/"),
        ("preserve.test", "/a/", "https://preserve.test/a/"),
    ]:
        status, headers, _ = await get(portico, host, path)
        assert (status, headers["Location"]) == (308, location), (host, path)


async def test_from_to_www_redirect(portico: Portico) -> None:
    status, headers, _ = await get(portico, "www.fromtowww.test", "/foo")
    assert status == 308
    assert headers["Location"] == f"http://fromtowww.test:{portico.http_port}/foo"
    assert (await get(portico, "fromtowww.test", "/foo"))[0] == 200


async def test_server_alias(portico: Portico) -> None:
    assert await pod(portico, "alias.test", "/app") == PODS[0]
    _, _, echoed = await get(portico, "alias.test", "/app")
    assert echoed is not None and echoed["headers"]["host"] == "alias.test"
    assert (await get(portico, "unaliased.test", "/app"))[0] == 404


async def test_denylist_source_range(portico: Portico) -> None:
    assert (await get(portico, "denied.test"))[0] == 403
    assert (await get(portico, "allowed.test"))[0] == 200


async def test_canary_by_header_and_cookie_even_when_created_first(portico: Portico) -> None:
    assert await pod(portico, "canary.test", "/info") == PODS[0]
    assert await pod(portico, "canary.test", "/info", CanaryByHeader="always") == PODS[1]
    assert await pod(portico, "canary.test", "/info", CanaryByHeader="never") == PODS[0]
    assert await pod(portico, "canary.test", "/info", CanaryByHeader="other") == PODS[0]
    cookie = {"Cookie": "CanaryByCookie=always"}
    assert await pod(portico, "canary.test", "/info", **cookie) == PODS[1]
    # Header before cookie.
    assert await pod(portico, "canary.test", "/info", CanaryByHeader="never", **cookie) == \
        PODS[0]


async def test_canary_by_header_value_and_pattern(portico: Portico) -> None:
    assert await pod(portico, "value.test", "/info", CanaryByHeader="DoCanary") == PODS[1]
    assert await pod(portico, "value.test", "/info", CanaryByHeader="always") == PODS[0]
    assert await pod(portico, "pattern.test", "/info", CanaryByHeader="DoCanary") == PODS[1]
    assert await pod(portico, "pattern.test", "/info", CanaryByHeader="Docanary") == PODS[0]


async def test_canary_weight_and_total(portico: Portico) -> None:
    pods = {await pod(portico, "weight.test", "/info") for _ in range(10)}
    assert pods == {PODS[1]}


async def test_a_canary_never_routes_on_its_own(portico: Portico) -> None:
    status, _, _ = await get(portico, "lonely.test", "/info", CanaryByHeader="always")
    assert status == 404


def _set_cookie(headers: dict[str, str]) -> str:
    return headers.get("Set-Cookie", "")


async def test_session_cookie_pins_the_client_to_its_pod(portico: Portico) -> None:
    status, headers, echoed = await get(portico, "sticky.test", "/something",
                                        **{"User-Agent": "Mozilla/5.0 Chrome/51.0.2704.103"})
    assert status == 200 and echoed is not None
    cookie = _set_cookie(headers)
    assert cookie.startswith("SERVERID=")
    for attribute in ("Max-Age=259200", "Domain=foo.bar", "Path=/something", "; Secure",
                      "HttpOnly"):
        assert attribute in cookie
    assert "Expires=" in cookie and "SameSite" not in cookie  # Chrome 51 rejects None
    pinned = {"Cookie": cookie.split(";")[0]}
    pods = {await pod(portico, "sticky.test", "/something", **pinned) for _ in range(10)}
    assert pods == {echoed["pod"].rpartition(":")[0]}
    _, headers, _ = await get(portico, "sticky.test", "/something", **pinned)
    assert "Set-Cookie" not in headers
    fresh = Counter([await pod(portico, "sticky.test", "/something") for _ in range(30)])
    assert len(fresh) > 1  # new clients are spread over the pods


async def test_session_cookie_path_with_use_regex(portico: Portico) -> None:
    _, headers, _ = await get(portico, "sticky-path.test", "/foo/bar")
    assert "Path=/foo/bar" in _set_cookie(headers) and "SERVERID=" in _set_cookie(headers)


async def test_affinity_mode_persistent(portico: Portico) -> None:
    _, headers, echoed = await get(portico, "persistent.test")
    assert echoed is not None
    pinned = {"Cookie": _set_cookie(headers).split(";")[0]}
    pods = {await pod(portico, "persistent.test", **pinned) for _ in range(10)}
    assert pods == {echoed["pod"].rpartition(":")[0]}


async def test_affinity_canary_behavior(portico: Portico) -> None:
    # sticky: a client the header sent to the canary stays there without the header.
    _, headers, echoed = await get(portico, "sticky-canary.test", ForceCanary="yes")
    assert echoed is not None and echoed["pod"].rpartition(":")[0] == PODS[1]
    pinned = {"Cookie": _set_cookie(headers).split(";")[0]}
    assert {await pod(portico, "sticky-canary.test", **pinned) for _ in range(10)} == {PODS[1]}
    # legacy: the canary has no session cookie of its own to give.
    _, headers, echoed = await get(portico, "legacy.test", ForceCanary="yes")
    assert echoed is not None and echoed["pod"].rpartition(":")[0] == PODS[1]
    assert "Set-Cookie" not in headers


async def test_upstream_hash_by(portico: Portico) -> None:
    assert len({await pod(portico, "hash.test", "/same") for _ in range(20)}) == 1
    assert len({await pod(portico, "hash.test", f"/{i}") for i in range(30)}) > 1
    # Three pods in subsets of two: a URI reaches both pods of its subset, no other.
    assert len({await pod(portico, "subset.test", "/same") for _ in range(40)}) == 2


async def test_load_balance_ewma_avoids_the_slow_pod(portico: Portico) -> None:
    assert await pod(portico, "slow.test") == SLOW_POD  # the slow pod works
    pods = Counter([await pod(portico, "ewma.test") for _ in range(30)])
    # Round robin would give it 15; the average of its first answer keeps it away.
    assert pods[SLOW_POD] <= 2 and pods[PODS[0]] >= 28
