"""`portico run --gateway-api` against the emulated API server: watches, traffic, status.

One Portico and one emulator serve the whole module (the objects of each
test use their own names and hosts). Modelled on the conformance tests
HTTPRouteSimpleSameNamespace, HTTPRouteCrossNamespace,
HTTPRouteInvalidCrossNamespaceParentRef, HTTPRouteInvalidParentRefNotMatchingSectionName,
HTTPRouteInvalidNonExistentBackendRef, GatewayWithAttachedRoutes,
GatewayInvalidListenersUnsupportedProtocol, GatewayClassObservedGenerationBump,
GatewayObservedGenerationBump, GatewayModifyListeners, HTTPRouteObservedGenerationBump,
HTTPRouteReferenceGrant and HTTPRouteMultipleGateways (as merging the Gateways onto one
address answers it): what they assert of status, checked in the emulator's objects.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from e2e.harness import Portico, demo_pods, eventually
from kube import objects as o
from kube.emulator import Emulator
from kube.gateway_api import (
    GATEWAY_CLASSES,
    GATEWAYS,
    GRANTS,
    GROUP,
    HTTPROUTES,
    GatewayEmulator,
    install_gateway_api,
)
from kube.gateway_objects import (
    backend_ref,
    gateway,
    gateway_class,
    http_route,
    http_rule,
    https_listener,
    listener,
    namespace,
    reference_grant,
)
from kube.harness import ApiServer, running_api, write_kubeconfig
from kube.harness import eventually as until

pytestmark = pytest.mark.asyncio(loop_scope="module")

PODS = {"v1": "127.0.0.21", "v2": "127.0.0.22", "web": "127.0.0.23"}
CONTROLLER = "portico.dev/gateway-controller"
OTHER_CONTROLLER = "example.com/other-controller"
ADDRESS = "192.0.2.10"


@pytest.fixture(scope="module")
def pods() -> Iterator[int]:
    with demo_pods(list(PODS.values())) as port:
        yield port


def populate(emulator: Emulator, pod_port: int) -> None:
    put = emulator.put
    for name in ("infra", "web", "other"):
        put("v1/namespaces", namespace(name, **({"gateway-conformance": "backend"}
                                               if name == "web" else {})))
    for name, ns in (("v1", "infra"), ("v2", "infra"), ("web", "web")):
        put("v1/services", o.service(name, port=8080, target=3000, ns=ns))
        put("discovery.k8s.io/v1/endpointslices",
            o.endpoint_slice(name, [PODS[name]], port=pod_port, ns=ns))
    put(f"{GROUP}/v1/gatewayclasses", gateway_class())
    put(f"{GROUP}/v1/gatewayclasses", gateway_class("other", OTHER_CONTROLLER))
    put(f"{GROUP}/v1/gateways", gateway("same"))
    put(f"{GROUP}/v1/gateways", gateway("backend-namespaces", listener(
        hostname="cross.test", allowedRoutes={"namespaces": {"from": "Selector", "selector": {
            "matchLabels": {"gateway-conformance": "backend"}}}})))
    put(f"{GROUP}/v1/gateways", gateway("broken", https_listener("tls", "does-not-exist"),
                                        listener("invalid", 1111, "INVALID")))
    put(f"{GROUP}/v1/gateways", gateway("theirs", cls="other"))
    put(f"{GROUP}/v1/gateways", gateway("same-later"))  # port 80, no hostname, like "same"
    routes = [
        http_route("simple", parents=[{"name": "same"}], hostnames=["simple.test"]),
        http_route("cross", http_rule(backends=[backend_ref("web")]), namespace="web",
                   parents=[{"name": "backend-namespaces", "namespace": "infra"}]),
        http_route("not-allowed", http_rule(backends=[backend_ref("web")]), namespace="web",
                   parents=[{"name": "same", "namespace": "infra"}]),
        http_route("no-section", parents=[{"name": "same", "sectionName": "http1"}]),
        http_route("nonexistent", http_rule(backends=[backend_ref("nonexistent")]),
                   parents=[{"name": "same"}], hostnames=["nonexistent.test"]),
        http_route("attached-to-broken", parents=[{"name": "broken", "sectionName": "tls"}]),
        http_route("granted", http_rule(backends=[backend_ref("web", namespace="web")]),
                   parents=[{"name": "same"}], hostnames=["granted.test"]),
        http_route("later", parents=[{"name": "same-later"}], hostnames=["later.test"]),
        http_route("simple-copy", parents=[{"name": "same"}], hostnames=["simple.test"],
                   created="2025-01-01T00:00:00Z"),
        http_route("theirs", parents=[{"name": "theirs"}], hostnames=["theirs.test"]),
    ]
    theirs_status = {"parents": [{"parentRef": {"group": GROUP, "kind": "Gateway",
                                                "namespace": "infra", "name": "theirs"},
                                  "controllerName": OTHER_CONTROLLER, "conditions": []}]}
    routes[-1]["status"] = theirs_status
    routes[0]["status"] = dict(theirs_status)  # another controller's entry, to be kept
    for route in routes:
        put(f"{GROUP}/v1/httproutes", route)
    put(f"{GROUP}/v1beta1/referencegrants", reference_grant("web", "Service", "web"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(pods: int) -> AsyncIterator[ApiServer]:
    def prepare(emulator: Emulator) -> None:
        install_gateway_api(emulator)
        populate(emulator, pods)

    async with running_api(emulator_type=GatewayEmulator, prepare=prepare) as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def portico(api: ApiServer,
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Portico]:
    base = tmp_path_factory.mktemp("gateway-status")
    kubeconfig = write_kubeconfig(base, api.url)
    running = Portico(None, "--kubeconfig", str(kubeconfig), "--gateway-api",
                      "--publish-address", ADDRESS, "--election-lease-duration", "2",
                      "--election-renew-deadline", "1.5", "--election-retry-period", "0.2",
                      log=base / "portico.log")
    try:
        await asyncio.to_thread(running.wait_ready)  # the emulator shares this loop
        yield running
    finally:
        await asyncio.to_thread(running.stop)


@pytest_asyncio.fixture(loop_scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


async def answer(http: aiohttp.ClientSession, portico: Portico, host: str,
                 path: str = "/") -> tuple[int, str | None]:
    """(status, the pod that answered or None)."""
    async with http.get(portico.url + path, headers={"Host": host}) as rsp:
        if rsp.status != 200:
            return rsp.status, None
        body: dict[str, Any] = await rsp.json()
        return rsp.status, str(body["pod"]).rsplit(":", 1)[0]


def conditions(entries: Any) -> dict[str, tuple[str, str, int]]:
    return {c["type"]: (c["status"], c["reason"], c["observedGeneration"])
            for c in entries or []}


def route_parents(api: ApiServer, name: str, ns: str = "infra") -> list[dict[str, Any]]:
    body = api.stored("httproutes", name, ns) or {}
    parents: list[dict[str, Any]] = (body.get("status") or {}).get("parents") or []
    return parents


def our_parent(api: ApiServer, name: str, ns: str = "infra") -> dict[str, tuple[str, str, int]]:
    ours = [p for p in route_parents(api, name, ns) if p["controllerName"] == CONTROLLER]
    return conditions(ours[0]["conditions"]) if ours else {}


def gateway_body(api: ApiServer, name: str) -> dict[str, Any]:
    return api.stored("gateways", name, "infra") or {}


def listeners(api: ApiServer, name: str) -> dict[str, dict[str, Any]]:
    found = (gateway_body(api, name).get("status") or {}).get("listeners") or []
    return {ls["name"]: ls for ls in found}


async def test_routes_are_served_and_accepted(api: ApiServer, portico: Portico,
                                              http: aiohttp.ClientSession) -> None:
    async def served() -> bool:
        return (await answer(http, portico, "simple.test") == (200, PODS["v1"])
                and await answer(http, portico, "cross.test") == (200, PODS["web"]))

    await eventually(served, "simple and cross-namespace routes served")
    await until(lambda: bool(our_parent(api, "simple") and our_parent(api, "cross", "web")),
                what="route status written (once leader)")
    assert our_parent(api, "simple")["Accepted"] == ("True", "Accepted", 1)
    assert our_parent(api, "simple")["ResolvedRefs"] == ("True", "ResolvedRefs", 1)
    assert our_parent(api, "cross", "web")["Accepted"] == ("True", "Accepted", 1)
    # Another controller's parent entries stay as they were.
    assert [p["controllerName"] for p in route_parents(api, "simple")] == [OTHER_CONTROLLER,
                                                                           CONTROLLER]
    assert route_parents(api, "theirs")[0]["controllerName"] == OTHER_CONTROLLER
    assert len(route_parents(api, "theirs")) == 1


async def test_route_reasons(api: ApiServer, portico: Portico,
                             http: aiohttp.ClientSession) -> None:
    def reported() -> bool:  # routes are written one by one: wait for each one checked
        return bool(our_parent(api, "nonexistent") and our_parent(api, "no-section")
                    and our_parent(api, "not-allowed", "web"))

    await until(reported, what="route status written")
    assert our_parent(api, "not-allowed", "web")["Accepted"][:2] == (
        "False", "NotAllowedByListeners")
    assert our_parent(api, "not-allowed", "web")["ResolvedRefs"][:2] == ("True", "ResolvedRefs")
    assert our_parent(api, "no-section")["Accepted"][:2] == ("False", "NoMatchingParent")
    assert our_parent(api, "nonexistent")["ResolvedRefs"][:2] == ("False", "BackendNotFound")
    assert await answer(http, portico, "nonexistent.test") == (500, None)


async def test_gateway_and_listener_status(api: ApiServer, portico: Portico) -> None:
    def written() -> bool:  # the first write may precede the CRD's version (Pending)
        ours = api.stored("gatewayclasses", "portico", None) or {}
        shown = conditions((ours.get("status") or {}).get("conditions"))
        return bool(listeners(api, "broken")) and shown.get("SupportedVersion", ("",))[0] == (
            "True")

    await until(written, what="Gateway and GatewayClass status written")
    same = gateway_body(api, "same")["status"]
    assert same["addresses"] == [{"type": "IPAddress", "value": ADDRESS}]
    assert conditions(same["conditions"]) == {"Accepted": ("True", "Accepted", 1),
                                              "Programmed": ("True", "Programmed", 1)}
    http_listener = listeners(api, "same")["http"]
    assert http_listener["supportedKinds"] == [{"group": GROUP, "kind": "HTTPRoute"}]
    assert http_listener["attachedRoutes"] == 4  # simple, simple-copy, nonexistent, granted
    assert {t: c[:2] for t, c in conditions(http_listener["conditions"]).items()} == {
        "Accepted": ("True", "Accepted"), "Programmed": ("True", "Programmed"),
        "ResolvedRefs": ("True", "ResolvedRefs"), "Conflicted": ("False", "NoConflicts")}
    broken = listeners(api, "broken")
    assert broken["tls"]["attachedRoutes"] == 1
    assert conditions(broken["tls"]["conditions"])["ResolvedRefs"][:2] == (
        "False", "InvalidCertificateRef")
    assert conditions(broken["tls"]["conditions"])["Programmed"][0] == "False"
    assert broken["invalid"]["supportedKinds"] == []
    assert conditions(broken["invalid"]["conditions"])["Accepted"][:2] == (
        "False", "UnsupportedProtocol")
    assert "status" not in gateway_body(api, "theirs")
    classes = {c["metadata"]["name"]: c for c in api.all("gatewayclasses")}
    ours = classes["portico"]["status"]
    assert conditions(ours["conditions"]) == {"Accepted": ("True", "Accepted", 1),
                                              "SupportedVersion": ("True", "SupportedVersion", 1)}
    assert {"name": "HTTPRoute"} in ours["supportedFeatures"]
    assert "status" not in classes["other"]


async def test_merged_gateways_conflict_and_losing_routes_say_so(
        api: ApiServer, portico: Portico, http: aiohttp.ClientSession) -> None:
    def settled() -> bool:  # the first writes may come from a build that had not seen all
        return bool(our_parent(api, "later")) and (
            "portico.dev/Conflicted" in our_parent(api, "simple-copy"))

    await until(settled, what="the conflict and the loss reported")
    later = listeners(api, "same-later")["http"]
    assert {t: c[:2] for t, c in conditions(later["conditions"]).items()} == {
        "Accepted": ("False", "HostnameConflict"), "Programmed": ("False", "HostnameConflict"),
        "ResolvedRefs": ("True", "ResolvedRefs"), "Conflicted": ("True", "HostnameConflict")}
    assert later["attachedRoutes"] == 1
    assert conditions(gateway_body(api, "same-later")["status"]["conditions"])["Accepted"][
        :2] == ("False", "ListenersNotValid")
    assert our_parent(api, "later")["Accepted"][:2] == ("False", "NotAllowedByListeners")
    assert await answer(http, portico, "later.test") == (404, None)
    # simple.test / stays with the older route; the newer one is told so.
    assert our_parent(api, "simple-copy")["Accepted"][:2] == ("True", "Accepted")
    assert our_parent(api, "simple-copy")["portico.dev/Conflicted"][:2] == (
        "True", "MatchesTaken")
    assert "portico.dev/Conflicted" not in our_parent(api, "simple")


async def test_observed_generation_follows_updates(api: ApiServer, portico: Portico,
                                                   http: aiohttp.ClientSession) -> None:
    await until(lambda: bool(our_parent(api, "simple")), what="route status written")
    await api.patch(HTTPROUTES, "simple", {"spec": {"rules": [http_rule(
        backends=[backend_ref("v2")])]}}, ns="infra")
    await api.patch(GATEWAYS, "same", {"spec": {"listeners": [
        listener(), listener("alternate", hostname="foo.com", source="All")]}}, ns="infra")
    await api.patch(GATEWAY_CLASSES, "portico", {"spec": {"description": "new"}}, ns="")

    def caught_up() -> bool:
        route = our_parent(api, "simple")
        same = gateway_body(api, "same")
        portico_class = api.stored("gatewayclasses", "portico", None) or {}
        return (route.get("Accepted") == ("True", "Accepted", 2)
                and route.get("ResolvedRefs") == ("True", "ResolvedRefs", 2)
                and same["metadata"]["generation"] == 2
                and {c[2] for c in conditions(same["status"]["conditions"]).values()} == {2}
                and "alternate" in listeners(api, "same")
                and {c[2] for c in conditions(
                    (portico_class.get("status") or {}).get("conditions")).values()} == {2})

    await until(caught_up, what="observedGeneration 2 everywhere")
    alternate = listeners(api, "same")["alternate"]
    assert {c[2] for c in conditions(alternate["conditions"]).values()} == {2}
    assert await answer(http, portico, "simple.test") == (200, PODS["v2"])


async def test_deleting_the_reference_grant_turns_the_route_to_500(
        api: ApiServer, portico: Portico, http: aiohttp.ClientSession) -> None:
    async def granted() -> bool:
        return await answer(http, portico, "granted.test") == (200, PODS["web"])

    await eventually(granted, "granted cross-namespace backend served")
    await api.delete(GRANTS, "grant-gateway-httproute-infra-service-web", ns="web")

    async def refused() -> bool:
        return await answer(http, portico, "granted.test") == (500, None)

    await eventually(refused, "500 once the ReferenceGrant is gone")
    await until(lambda: our_parent(api, "granted").get("ResolvedRefs", ("",))[:2]
                                    == ("False", "RefNotPermitted"), what="RefNotPermitted")


async def test_a_route_no_longer_ours_loses_only_our_parent_status(
        api: ApiServer, portico: Portico) -> None:
    await until(lambda: bool(our_parent(api, "no-section")), what="status written")
    await api.patch(HTTPROUTES, "no-section", {"spec": {"parentRefs": [{"name": "theirs"}]}},
                    ns="infra")
    await until(lambda: route_parents(api, "no-section") == [], what="our parent entry removed")


