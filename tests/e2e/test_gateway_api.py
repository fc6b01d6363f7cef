"""HTTPRoutes through the proxy: `portico run --manifests DIR --gateway-api`, real pods.

One Portico serves the module; each scenario's routes have their own host
names (every Gateway shares Portico's ports). Modelled on the requests and
expectations of the conformance tests HTTPRouteMatching, HTTPRouteMethodMatching,
HTTPRouteQueryParamMatching, HTTPRouteRedirect{HostAndStatus,Path,Port,Scheme,
PortAndScheme}, HTTPRouteRewrite{Path,Host}, HTTPRouteRequestHeaderModifier,
HTTPRouteResponseHeaderModifier, HTTPRouteWeight, HTTPRouteInvalid* (500s),
HTTPRouteOmittedBackendRefs, HTTPRoutePartiallyInvalidViaInvalidReferenceGrant,
HTTPRouteReferenceGrant, HTTPRouteHTTPSListener and HTTPRouteListenerHostnameMatching.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import trustme

from e2e.harness import Manifests, Portico, demo_pods, eventually, start_ready
from kube import objects as o
from kube.gateway_objects import (
    backend_ref,
    exact,
    gateway,
    gateway_class,
    headers,
    http_route,
    http_rule,
    https_listener,
    listener,
    prefix,
    reference_grant,
)
from tls_clients import trusting

pytestmark = pytest.mark.asyncio(loop_scope="module")

PODS = {"v1": "127.0.0.31", "v2": "127.0.0.32", "v3": "127.0.0.33", "web": "127.0.0.34"}


def to(service: str, **extra: Any) -> list[dict[str, Any]]:
    return [backend_ref(service, **extra)]


def redirect(**spec: Any) -> list[dict[str, Any]]:
    return [{"type": "RequestRedirect", "requestRedirect": spec}]


def rewrite(**spec: Any) -> list[dict[str, Any]]:
    return [{"type": "URLRewrite", "urlRewrite": spec}]


def route(name: str, host: str, *rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return http_route(name, *rules, hostnames=[host], **extra)


ROUTES = [
    route("matching", "matching.test",
          http_rule(prefix("/"), {"headers": headers(version="one")}),
          http_rule(prefix("/v2"), {"headers": headers(version="two")}, backends=to("v2")),
          http_rule(prefix("/animals", queryParams=[{"name": "animal", "value": "whale"}]),
                    backends=to("v3")),
          http_rule({"method": "PUT"}, backends=to("v3"))),
    route("redirects", "redirect.test",
          http_rule(prefix("/hostname"), filters=redirect(hostname="example.org"), backends=[]),
          http_rule(prefix("/port"), filters=redirect(port=8083, statusCode=301), backends=[]),
          http_rule(prefix("/scheme"), filters=redirect(scheme="https"), backends=[]),
          *(http_rule(prefix(f"/status-{code}"), filters=redirect(statusCode=code), backends=[])
            for code in (303, 307, 308)),
          http_rule(prefix("/original-prefix"), backends=[], filters=redirect(
              path={"type": "ReplacePrefixMatch", "replacePrefixMatch": "/replacement-prefix"})),
          http_rule(prefix("/full"), backends=[], filters=redirect(
              hostname="example.org",
              path={"type": "ReplaceFullPath", "replaceFullPath": "/full-path-replacement"}))),
    route("redirect-8080", "port8080.test",
          http_rule(filters=redirect(hostname="example.org"), backends=[]),
          parents=[{"name": "gw", "sectionName": "http-8080"}]),
    route("rewrites", "rewrite.test",
          http_rule(prefix("/prefix/one"), filters=rewrite(
              hostname="one.example.org",
              path={"type": "ReplacePrefixMatch", "replacePrefixMatch": "/one"})),
          http_rule(prefix("/strip-prefix"), filters=rewrite(
              path={"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"})),
          http_rule(prefix("/full/one"), filters=rewrite(
              path={"type": "ReplaceFullPath", "replaceFullPath": "/one"}))),
    route("header-modifiers", "headers.test", http_rule(filters=[
        {"type": "RequestHeaderModifier", "requestHeaderModifier": {
            "set": [{"name": "X-Header-Set", "value": "set-overwrites-values"}],
            "add": [{"name": "X-Header-Add", "value": "add-appends-values"}],
            "remove": ["X-Header-Remove"]}},
        {"type": "ResponseHeaderModifier", "responseHeaderModifier": {
            "set": [{"name": "Content-Type", "value": "text/x-set"}],
            "add": [{"name": "X-Response-Add", "value": "added"}],
            "remove": ["Server"]}},
    ])),
    route("weighted", "weight.test", http_rule(backends=[
        backend_ref("v1", weight=70), backend_ref("v2", weight=30), backend_ref("v3", weight=0)])),
    route("invalid", "invalid.test",
          http_rule(exact("/nonexistent"), backends=to("nonexistent")),
          http_rule(exact("/unknown-kind"), backends=to(
              "v1", group="unknownkind.example.com", kind="NonExistent")),
          http_rule(exact("/cross"), backends=to("web-admin", namespace="web")),  # not granted
          http_rule(exact("/omitted"), backends=[]),
          http_rule(exact("/filter"), filters=[{"type": "ExtensionRef", "extensionRef": {
              "group": "x.io", "kind": "Y", "name": "z"}}]),
          http_rule(exact("/half"), backends=[backend_ref("v1"), backend_ref("nonexistent")]),
          http_rule(prefix("/"))),
    route("granted", "granted.test", http_rule(backends=to("web", namespace="web"))),
    route("secure-only", "secure.test", http_rule(backends=to("v2")),
          parents=[{"name": "gw", "sectionName": "https"}]),
    http_route("wild", http_rule(backends=to("v2")), parents=[{"name": "wild"}]),
    route("shop-api", "shop.test", http_rule(prefix("/api"))),
]


@dataclass
class Rig:
    portico: Portico
    manifests: Manifests
    ca: trustme.CA


def tls_secret(name: str, leaf: trustme.LeafCert) -> dict[str, Any]:
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    data = {"tls.crt": chain, "tls.key": leaf.private_key_pem.bytes()}
    secret = o.secret(name, {k: base64.b64encode(v).decode() for k, v in data.items()},
                      type_="kubernetes.io/tls", ns="infra")
    return secret


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    base: Path = tmp_path_factory.mktemp("gateway-api")
    ca = trustme.CA()
    manifests = Manifests(base / "manifests")
    manifests.write("gateways.yaml", [
        gateway_class(),
        gateway("gw", listener(), listener("http-8080", 8080, hostname="port8080.test"),
                https_listener("https", "example-cert")),
        gateway("wild", listener(hostname="*.wildcard.io")),
        tls_secret("example-cert", ca.issue_cert("example.org", "secure.test")),
    ])
    manifests.write("routes.yaml", ROUTES)
    manifests.write("grant.yaml", [reference_grant("web", "Service", "web")])
    manifests.write("ingress.yaml", [
        o.ingress_class(), o.ingress("shop", host="shop.test", service="web", port=8080,
                                     ns="web")])
    with demo_pods(list(PODS.values())) as port:
        backends: list[dict[str, Any]] = []
        for name, ip in PODS.items():
            ns = "web" if name == "web" else "infra"
            backends += [o.service(name, port=8080, target=3000, ns=ns),
                         o.endpoint_slice(name, [ip], port=port, ns=ns)]
        manifests.write("backends.yaml", backends)
        portico = start_ready(manifests.root, "--gateway-api", log=base / "portico.log")
        try:
            yield Rig(portico, manifests, ca)
        finally:
            portico.stop()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    echo: dict[str, Any]

    @property
    def pod(self) -> str | None:
        return str(self.echo["pod"]).rsplit(":", 1)[0] if "pod" in self.echo else None


@pytest_asyncio.fixture(loop_scope="module")
async def client(rig: Rig) -> AsyncIterator[Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        async def get(host: str, path: str = "/", *, secure: bool = False, method: str = "GET",
                      sni: str | None = None, **request_headers: str) -> Answer:
            url = (rig.portico.secure_url if secure else rig.portico.url) + path
            tls: ssl.SSLContext | bool = trusting(rig.ca) if secure else False
            async with session.request(
                method, url, headers={"Host": host, **request_headers}, ssl=tls,
                server_hostname=(sni or host) if secure else None, allow_redirects=False,
            ) as rsp:
                text = await rsp.text()
                echo = json.loads(text) if text.startswith("{") else {}
                return Answer(rsp.status, rsp.headers.copy(), echo)

        yield get


async def test_matches_and_precedence(client: Any) -> None:
    cases = [
        ("/", {}, "GET", "v1"), ("/example", {}, "GET", "v1"),
        ("/", {"version": "two"}, "GET", "v2"), ("/v2/example", {}, "GET", "v2"),
        ("/v2example", {}, "GET", "v1"), ("/animals?animal=whale", {}, "GET", "v3"),
        ("/animals?animal=dolphin", {}, "GET", "v1"), ("/", {}, "PUT", "v3"),
    ]
    for path, request_headers, method, service in cases:
        answer = await client("matching.test", path, method=method, **request_headers)
        assert (answer.status, answer.pod) == (200, PODS[service]), (path, request_headers)


async def test_redirects(client: Any) -> None:
    cases = [
        ("redirect.test", "/hostname?a=1", 302, "http://example.org/hostname?a=1"),
        ("redirect.test", "/port", 301, "http://redirect.test:8083/port"),
        ("redirect.test", "/scheme", 302, "https://redirect.test/scheme"),
        # Extended: HTTPRouteRedirectStatusCode (303, 307 and 308 as well).
        ("redirect.test", "/status-303", 303, "http://redirect.test/status-303"),
        ("redirect.test", "/status-307", 307, "http://redirect.test/status-307"),
        ("redirect.test", "/status-308", 308, "http://redirect.test/status-308"),
        ("redirect.test", "/original-prefix/lemon", 302,
         "http://redirect.test/replacement-prefix/lemon"),
        ("redirect.test", "/full/path/original", 302, "http://example.org/full-path-replacement"),
        # The listener's port (8080), not Portico's, is what the client sees.
        ("port8080.test", "/x", 302, "http://example.org:8080/x"),
    ]
    for host, path, status, location in cases:
        answer = await client(host, path)
        assert (answer.status, answer.headers.get("Location")) == (status, location), path


async def test_rewrites(client: Any) -> None:
    one = await client("rewrite.test", "/prefix/one/two?q=1")
    assert one.echo["path"] == "/one/two" and one.echo["query"] == "q=1"
    assert one.echo["headers"]["host"] == "one.example.org"
    stripped = await client("rewrite.test", "/strip-prefix")
    assert stripped.echo["path"] == "/" and stripped.echo["headers"]["host"] == "rewrite.test"
    assert (await client("rewrite.test", "/full/one/two")).echo["path"] == "/one"


async def test_header_modifiers(client: Any) -> None:
    answer = await client("headers.test", "/", **{
        "X-Header-Set": "some-other-value", "x-header-add": "some-other-value",
        "X-Header-Remove": "val", "Some-Other-Header": "val"})
    sent = answer.echo["headers"]
    assert sent["x-header-set"] == "set-overwrites-values"
    assert sent["x-header-add"] == "some-other-value, add-appends-values"
    assert "x-header-remove" not in sent and sent["some-other-header"] == "val"
    assert answer.headers["Content-Type"] == "text/x-set"
    assert answer.headers["X-Response-Add"] == "added" and "Server" not in answer.headers


async def test_weighted_backends(client: Any) -> None:
    pods = Counter([(await client("weight.test", "/")).pod for _ in range(200)])
    # 70:30 over 200 draws: 140 expected; 110..170 is beyond 5 standard deviations.
    assert 110 <= pods[PODS["v1"]] <= 170
    assert pods[PODS["v1"]] + pods[PODS["v2"]] == 200 and PODS["v3"] not in pods


async def test_rules_without_a_usable_backend_answer_500(client: Any) -> None:
    for path in ("/nonexistent", "/unknown-kind", "/cross", "/omitted", "/filter"):
        assert (await client("invalid.test", path)).status == 500, path
    assert (await client("invalid.test", "/other")).pod == PODS["v1"]  # valid sibling rule
    statuses = Counter([(await client("invalid.test", "/half")).status for _ in range(60)])
    assert set(statuses) == {200, 500}


async def test_removing_the_reference_grant_turns_the_route_to_500(rig: Rig, client: Any) -> None:
    assert (await client("granted.test", "/")).pod == PODS["web"]
    rig.manifests.remove("grant.yaml")

    async def refused() -> bool:
        return (await client("granted.test", "/")).status == 500

    await eventually(refused, "500 without the ReferenceGrant")
    rig.manifests.write("grant.yaml", [reference_grant("web", "Service", "web")])

    async def granted() -> bool:
        return (await client("granted.test", "/")).pod == PODS["web"]

    await eventually(granted, "served again with the ReferenceGrant")


async def test_https_listener_and_protocol_of_attachment(client: Any) -> None:
    # The listener's certificate is served (the client verifies it against the test CA).
    secure = await client("secure.test", "/", secure=True)
    assert (secure.status, secure.pod) == (200, PODS["v2"])
    assert (await client("secure.test", "/")).status == 404  # attached to HTTPS only
    # Attached to every listener; the certificate names secure.test, not matching.test.
    both = await client("matching.test", "/", secure=True, sni="secure.test")
    assert (both.status, both.pod) == (200, PODS["v1"])


async def test_wildcard_listener_takes_any_depth(client: Any) -> None:
    for host in ("foo.wildcard.io", "foo.bar.wildcard.io"):
        assert (await client(host, "/")).pod == PODS["v2"], host
    assert (await client("wildcard.io", "/")).status == 404


async def test_ingress_and_http_route_share_a_host(client: Any) -> None:
    assert (await client("shop.test", "/")).pod == PODS["web"]
    assert (await client("shop.test", "/api/cart")).pod == PODS["v1"]
