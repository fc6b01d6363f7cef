"""`portico run --kubeconfig` as a process against the emulator, real HTTP through the proxy."""

from __future__ import annotations

import asyncio
import base64
import collections
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from e2e.harness import Portico, demo_pods
from kube import objects as o
from kube.harness import (
    INGRESSES,
    SECRETS,
    SLICES,
    ApiServer,
    eventually,
    lb_status,
    running_api,
    write_kubeconfig,
)

PODS = [f"127.0.0.{n}" for n in range(2, 12)]
FAST_ELECTION = ("--election-lease-duration", "2", "--election-renew-deadline", "1.5",
                 "--election-retry-period", "0.2")


@pytest.fixture()
async def api() -> AsyncIterator[ApiServer]:
    async with running_api() as server:
        yield server


@pytest.fixture(scope="module")
def pod_port() -> Iterator[int]:
    with demo_pods(PODS) as port:
        yield port


@pytest.fixture()
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


def start(api: ApiServer, tmp_path: Path, name: str, *args: str) -> Portico:
    kubeconfig = write_kubeconfig(tmp_path, api.url)
    return Portico(None, "--kubeconfig", str(kubeconfig), *FAST_ELECTION, *args,
                   log=tmp_path / f"{name}.log")


async def pod_of(http: aiohttp.ClientSession, portico: Portico, host: str,
                 path: str = "/") -> str | None:
    """Which pod answered, or None for a proxy-made answer (404/503)."""
    async with http.get(portico.url + path, headers={"Host": host}) as rsp:
        if rsp.status != 200:
            return None
        body: dict[str, Any] = await rsp.json()
        return str(body["pod"]).rsplit(":", 1)[0]


def populate(api: ApiServer, pod_port: int, ready: list[str]) -> None:
    # The Service port is named and its targetPort is a name that differs from it:
    # the proxy must use the EndpointSlice port named like the Service port.
    api.emulator.put("networking.k8s.io/v1/ingressclasses", o.ingress_class(default=True))
    api.emulator.put("v1/services", o.service("web", port=80, target="web-http", port_name="http"))
    api.emulator.put("discovery.k8s.io/v1/endpointslices",
                     o.endpoint_slice("web", ready, port=pod_port, port_name="http"))


def slice_endpoints(ips: list[str]) -> dict[str, Any]:
    return {"endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}


async def test_ingress_lifecycle_through_the_proxy(
    api: ApiServer, tmp_path: Path, pod_port: int, http: aiohttp.ClientSession
) -> None:
    populate(api, pod_port, PODS[:1])
    portico = start(api, tmp_path, "portico", "--publish-address", "203.0.113.7")
    try:
        await asyncio.to_thread(portico.wait_ready)
        # Created after start, referencing the Service port by name.
        await api.create(INGRESSES, o.ingress("app", host="app.example", port="http"))
        await eventually(lambda: lb_status(api, "app") == [{"ip": "203.0.113.7"}],
                         what="status")
        assert await pod_of(http, portico, "app.example") == PODS[0]

        # A path change applies.
        await api.patch(INGRESSES, "app", {"spec": {"rules": [{"host": "app.example", "http": {
            "paths": [{"path": "/v2", "pathType": "Prefix", "backend": {"service": {
                "name": "web", "port": {"name": "http"}}}}]}}]}})
        await _until(lambda: pod_of(http, portico, "app.example", "/"), None)
        assert await pod_of(http, portico, "app.example", "/v2/x") == PODS[0]

        # Scaling 1 → 10 pods spreads the traffic over all of them.
        await api.patch(SLICES, "web-abc", slice_endpoints(PODS))
        seen = await _spread(http, portico, "app.example", "/v2", len(PODS))
        assert set(seen) == set(PODS)

        # A removed pod gets no more traffic.
        await api.patch(SLICES, "web-abc", slice_endpoints(PODS[1:]))
        await _until_absent(http, portico, "app.example", "/v2", PODS[0])
        counts = collections.Counter(
            [await pod_of(http, portico, "app.example", "/v2") for _ in range(30)])
        assert PODS[0] not in counts and len(counts) == len(PODS) - 1

        # An Ingress of another class is ignored and gets no status; a class-less one
        # is ours because our IngressClass is the cluster default.
        await api.create(INGRESSES, o.ingress("other", host="other.example", cls="nginx"))
        await api.create(INGRESSES, o.ingress("plain", host="plain.example", cls=None))
        await _until(lambda: pod_of(http, portico, "plain.example"), PODS[1], any_pod=True)
        assert await pod_of(http, portico, "other.example") is None
        assert lb_status(api, "other") is None

        # An invalid Ingress gets a Warning Event; the others keep routing.
        await api.create(INGRESSES, o.ingress("broken", host="broken.example",
                                              path="relative"))
        await eventually(lambda: [e for e in api.all("events")
                                  if e["involvedObject"]["name"] == "broken"
                                  and e["type"] == "Warning"], what="Warning Event")
        assert await pod_of(http, portico, "plain.example") in PODS

        # Deleting an Ingress removes its routes.
        await api.delete(INGRESSES, "app")
        await _until(lambda: pod_of(http, portico, "app.example", "/v2"), None)
    finally:
        assert await asyncio.to_thread(portico.stop) == 0, portico.logs()


async def test_api_server_outage(api: ApiServer, tmp_path: Path, pod_port: int,
                                 http: aiohttp.ClientSession) -> None:
    populate(api, pod_port, PODS[:2])
    api.emulator.put("networking.k8s.io/v1/ingresses", o.ingress("app", host="app.example"))
    portico = start(api, tmp_path, "portico", "--watch-ingress-without-class")
    try:
        await asyncio.to_thread(portico.wait_ready)
        assert await pod_of(http, portico, "app.example") in PODS[:2]
        await api.stop()
        for _ in range(5):  # the last good table keeps serving, readiness stays up
            assert await pod_of(http, portico, "app.example") in PODS[:2]
        assert portico.admin_get("/readyz")[0] == 200
        await api.start()
        await api.create(INGRESSES, o.ingress("after", host="after.example", cls=None))
        await _until(lambda: pod_of(http, portico, "after.example"), PODS[0], any_pod=True,
                     timeout=15)
    finally:
        assert await asyncio.to_thread(portico.stop) == 0, portico.logs()


async def test_only_the_leader_writes_status_and_a_follower_takes_over(
    api: ApiServer, tmp_path: Path, pod_port: int, http: aiohttp.ClientSession
) -> None:
    populate(api, pod_port, PODS[:1])
    api.emulator.put("networking.k8s.io/v1/ingresses", o.ingress("app", host="app.example"))
    first = start(api, tmp_path, "first", "--publish-address", "198.51.100.1")
    second: Portico | None = None
    try:
        await asyncio.to_thread(first.wait_ready)
        await eventually(lambda: lb_status(api, "app") == [{"ip": "198.51.100.1"}])
        second = start(api, tmp_path, "second", "--publish-address", "198.51.100.2")
        await asyncio.to_thread(second.wait_ready)
        assert await pod_of(http, second, "app.example") == PODS[0]  # followers route too
        assert first.metric("portico_leader") == 1 and second.metric("portico_leader") == 0
        assert second.metric("portico_watch_events_total", kind="Ingress") >= 1
        history = len(api.emulator.objects["networking.k8s.io/v1/ingresses", "default",
                                           "app"].history)
        await _sleep_through_elections()
        assert lb_status(api, "app") == [{"ip": "198.51.100.1"}]
        assert len(api.emulator.objects["networking.k8s.io/v1/ingresses", "default",
                                         "app"].history) == history
        assert await asyncio.to_thread(first.stop) == 0, first.logs()
        await eventually(lambda: lb_status(api, "app") == [{"ip": "198.51.100.2"}],
                         timeout=5, what="the follower takes over")
        assert second.metric("portico_leader") == 1
    finally:
        await asyncio.to_thread(first.stop)
        if second is not None:
            assert await asyncio.to_thread(second.stop) == 0, second.logs()


async def _sleep_through_elections() -> None:
    """Several election retry periods: time for a wrong second leader to appear."""
    await asyncio.sleep(1.0)


async def _until(probe: Any, expected: str | None, any_pod: bool = False,
                 timeout: float = 5.0) -> None:
    last: list[str | None] = []

    async def check() -> bool:
        got = await probe()
        last[:] = [got]
        return got in PODS if any_pod else got == expected

    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"expected {expected!r}, last answer {last!r}"


async def _spread(http: aiohttp.ClientSession, portico: Portico, host: str, path: str,
                  want: int) -> set[str | None]:
    seen: set[str | None] = set()
    deadline = time.monotonic() + 5
    while len(seen) < want and time.monotonic() < deadline:
        seen.add(await pod_of(http, portico, host, path))
    return seen


async def _until_absent(http: aiohttp.ClientSession, portico: Portico, host: str, path: str,
                        pod: str) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        answers = [await pod_of(http, portico, host, path) for _ in range(len(PODS))]
        if pod not in answers:
            return
    raise AssertionError(f"{pod} still gets traffic")


async def test_an_auth_secret_reaches_the_proxy_and_so_do_its_changes(
    api: ApiServer, tmp_path: Path, pod_port: int, http: aiohttp.ClientSession
) -> None:
    # Only TLS Secrets are kept before the first build: an Opaque one that an
    # Ingress names is fetched after it, then followed like the others.
    populate(api, pod_port, PODS[:1])

    def users(password: str) -> dict[str, Any]:
        htpasswd = base64.b64encode(f"alice:{{PLAIN}}{password}\n".encode()).decode()
        return o.secret("users", {"auth": htpasswd})

    api.emulator.put("v1/secrets", users("first"))
    api.emulator.put("networking.k8s.io/v1/ingresses", o.annotated(
        o.ingress("guarded", host="guarded.example", port="http"),
        **{"auth-type": "basic", "auth-secret": "users"}))
    portico = start(api, tmp_path, "portico")

    async def status(password: str) -> str:
        token = base64.b64encode(f"alice:{password}".encode()).decode()
        async with http.get(portico.url, headers={"Host": "guarded.example",
                                                  "Authorization": f"Basic {token}"}) as rsp:
            return str(rsp.status)

    try:
        await asyncio.to_thread(portico.wait_ready)
        await _until(lambda: status("first"), "200")
        assert await status("wrong") == "401"
        await api.patch(SECRETS, "users", {"data": users("second")["data"]})
        await _until(lambda: status("first"), "401")
        assert await status("second") == "200"
    finally:
        assert await asyncio.to_thread(portico.stop) == 0, portico.logs()
