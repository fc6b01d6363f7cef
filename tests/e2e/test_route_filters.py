"""The proxy's generic route machinery, fed a hand-built table: no front end involved.

Filters, conditions and weighted splits are what Ingress annotations and
Gateway API routes both compile to; these tests pin what the proxy does
with them, over real sockets to real pods.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from e2e.harness import free_port, free_port_on
from ingress.demo import start_demo_backends
from ingress.model import (
    Backend,
    BackendSplit,
    Endpoint,
    EndpointSet,
    HeaderMatch,
    ObjectRef,
    PathType,
    Regex,
    Route,
    RouteMatch,
    RoutingTable,
    ValueMatch,
    VirtualHost,
    WeightedBackend,
)
from ingress.model.filters.core import (
    DirectResponse,
    HeaderEdits,
    RequestHeaders,
    ResponseHeaders,
)
from ingress.model.filters.gateway import ReplacePrefixMatch, URLRewrite
from ingress.model.filters.routing import RewritePath, Template
from ingress.proxy.dataplane import Dataplane
from ingress.settings import Settings

PODS = ("127.0.0.2", "127.0.0.3")
SOURCE = ObjectRef("HTTPRoute", "default", "r")


class Rig:
    def __init__(self, dataplane: Dataplane, url: str, pod_port: int) -> None:
        self.dataplane = dataplane
        self.url = url
        self.pod_port = pod_port
        self.endpoints: dict[str, EndpointSet] = {}  # of the backends made, for the next table

    def backend(self, name: str, *pods: str) -> Backend:
        backend = Backend("default", name, "80")
        self.endpoints[backend.key] = EndpointSet(tuple(Endpoint(ip, self.pod_port)
                                                        for ip in pods))
        return backend

    def serve(self, *routes: Route) -> None:
        prefixes: dict[str, Route] = {}
        regexes = tuple(r for r in routes if r.path_type is PathType.REGEX)
        for route in reversed(routes):  # the first route given heads its path's chain
            if route.path_type is PathType.REGEX:
                continue
            key = route.path.rstrip("/")
            if key in prefixes:
                route = Route(**{**_fields(route), "next": prefixes[key]})
            prefixes[key] = route
        self.dataplane.swap(RoutingTable(
            hosts={"h.test": VirtualHost("h.test", prefixes=prefixes, regexes=regexes)},
            endpoints=dict(self.endpoints)))

    async def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], Any]:
        async with aiohttp.ClientSession() as session, session.get(
            self.url + path, headers={"Host": "h.test", **headers}
        ) as response:
            body = await response.json() if response.content_type == "application/json" else None
            return response.status, dict(response.headers), body


def _fields(route: Route) -> dict[str, Any]:
    return {f.name: getattr(route, f.name) for f in dataclasses.fields(route) if f.init}


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    pod_port = free_port_on(PODS)
    pods = await start_demo_backends([(ip, pod_port) for ip in PODS])
    port = free_port()
    settings = Settings(bind="127.0.0.1", http_port=port, https_port=0, workers=1)
    dataplane = Dataplane(settings, asyncio.get_running_loop())
    await dataplane.start()
    try:
        yield Rig(dataplane, f"http://127.0.0.1:{port}", pod_port)
    finally:
        await dataplane.drain(0.0)
        await pods.close()


def route(rig: Rig, path: str = "/", path_type: PathType = PathType.PREFIX,
          **extra: Any) -> Route:
    return Route(path, path_type, extra.pop("backend", rig.backend("web", PODS[0])),
                 SOURCE, "h.test", **extra)


async def test_header_edits_reach_the_pod_and_the_client(rig: Rig) -> None:
    rig.serve(route(
        rig,
        filters=(RequestHeaders(HeaderEdits(set=((b"x-set", b"new"),), add=((b"x-add", b"2"),),
                                            remove=frozenset({b"x-drop"}))),),
        response_filters=(ResponseHeaders(HeaderEdits(set=((b"x-served-by", b"portico"),),
                                                      remove=frozenset({b"server"}))),),
    ))
    status, headers, echoed = await rig.get("/echo", **{"X-Set": "old", "X-Drop": "1",
                                                         "X-Add": "1"})
    assert status == 200
    sent = echoed["headers"]
    assert sent["x-set"] == "new" and "x-drop" not in sent and sent["x-add"] == "1, 2"
    assert headers["x-served-by"] == "portico" and "Server" not in headers


async def test_direct_response_answers_without_a_pod_and_keeps_response_filters(rig: Rig) -> None:
    rig.serve(route(rig, filters=(DirectResponse(500),),
                    response_filters=(ResponseHeaders(HeaderEdits(add=((b"x-why", b"no"),))),)))
    status, headers, _ = await rig.get("/echo")
    assert status == 500 and headers["x-why"] == "no"


async def test_rewrite_uses_the_canonical_path_and_escapes_what_it_writes(rig: Rig) -> None:
    pattern = "/api(/|$)(.*)"
    rig.serve(route(rig, pattern, path_type=PathType.REGEX, regex=Regex(pattern, True),
                    filters=(RewritePath(Template(("/echo/", 2))),)))
    # /%61pi is /api: the capture is taken from the decoded path, escaped again upstream.
    status, _, echoed = await rig.get("/%61pi/a%20b%25c?q=1")
    assert status == 200 and echoed["path"] == "/echo/a%20b%25c" and echoed["query"] == "q=1"


async def test_prefix_replacement_cuts_the_matched_prefix_off_the_canonical_path(
    rig: Rig,
) -> None:
    rig.serve(route(rig, "/api", filters=(URLRewrite(ReplacePrefixMatch("/api", "/echo")),)))
    status, _, echoed = await rig.get("/%61pi//x%25y?q=1")
    assert status == 200 and echoed["path"] == "/echo/x%25y" and echoed["query"] == "q=1"


async def test_conditions_choose_between_routes_on_one_path(rig: Rig) -> None:
    canary = RouteMatch(headers=(HeaderMatch(b"x-env", ValueMatch("canary")),))
    rig.serve(route(rig, "/echo", match=canary, backend=rig.backend("canary", PODS[1])),
              route(rig, "/echo"))
    _, _, to_canary = await rig.get("/echo", **{"X-Env": "canary"})
    _, _, to_main = await rig.get("/echo", **{"X-Env": "other"})
    assert to_canary["pod"].startswith(PODS[1]) and to_main["pod"].startswith(PODS[0])


async def test_weighted_split_follows_the_weights(rig: Rig) -> None:
    heavy, light = rig.backend("heavy", PODS[0]), rig.backend("light", PODS[1])
    rig.serve(route(rig, backend=heavy, split=BackendSplit(
        (WeightedBackend(heavy, 3), WeightedBackend(light, 1)))))
    pods = Counter()
    for _ in range(200):
        _, _, echoed = await rig.get("/echo")
        pods[echoed["pod"].split(":")[0]] += 1
    # 3:1 over 200 draws: 150 expected; 110..185 is beyond 5 standard deviations.
    assert 110 <= pods[PODS[0]] <= 185 and pods[PODS[0]] + pods[PODS[1]] == 200


async def test_all_zero_weights_answer_500(rig: Rig) -> None:
    only = rig.backend("web", PODS[0])
    rig.serve(route(rig, backend=only, split=BackendSplit((WeightedBackend(only, 0),))))
    status, _, _ = await rig.get("/echo")
    assert status == 500
