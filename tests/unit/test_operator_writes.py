"""The controller's writes against an API server: Retry-After honoured, Events deduplicated and
rate-limited, a new leader announcing no Ingress it finds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import kopf
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ingress.build import build
from ingress.build.result import BuildResult
from ingress.operator.api import RETRIES, ApiError, KubeClient, retry_after
from ingress.operator.events import PER_OBJECT_BURST, TOTAL_BURST, EventRecorder
from ingress.operator.metrics import OperatorMetrics
from ingress.operator.ratelimit import TokenBucket
from ingress.settings import BuildSettings
from ingress.store import Store
from kube import objects as o
from kube.harness import ApiServer, running_api


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_its_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_time() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take() and not bucket.take()
    clock.now += 100
    assert bucket.full()


@pytest.mark.parametrize(("status", "header", "expected"), [
    (429, "3", 3.0), (429, None, 1.0), (429, "0", 1.0), (429, "3600", 60.0),
    (429, "Wed, 21 Oct 2015 07:28:00 GMT", 1.0), (503, "2", 2.0), (503, None, None),
    (500, "2", None), (409, None, None),
])
def test_retry_after(status: int, header: str | None, expected: float | None) -> None:
    assert retry_after(status, header) == expected


async def test_requests_wait_as_429_retry_after_asks() -> None:
    # Status and Retry-After of each answer in turn; then 200.
    plan: list[tuple[int, dict[str, str]]] = [(429, {"Retry-After": "2"}), (429, {})]
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.method)
        status, headers = plan.pop(0) if plan else (200, {})
        return web.json_response({"message": "slow down"} if status != 200 else {"ok": True},
                                 status=status, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with TestServer(app, host="127.0.0.1") as server:
        client = KubeClient(lambda: kopf.ConnectionInfo(server=str(server.make_url("/"))),
                            sleep=sleep)
        try:
            assert await client.post("/api/v1/namespaces/default/events", {}) == {"ok": True}
            assert (seen, waits) == (["POST"] * 3, [2.0, 1.0])
            plan.extend([(429, {})] * (RETRIES + 1))
            with pytest.raises(ApiError) as raised:
                await client.get("/api/v1/namespaces/default/events/x")
            assert raised.value.status == 429 and len(waits) == 2 + RETRIES
        finally:
            await client.close()


@pytest.fixture()
async def api() -> AsyncIterator[ApiServer]:
    async with running_api(forget_served=True) as server:
        yield server


class Recording:
    """An EventRecorder against the emulator, with a store and a clock of its own."""

    def __init__(self, api: ApiServer) -> None:
        self.store = Store()
        for body in (o.ingress_class(), o.service(), o.endpoint_slice("web", ["10.0.0.1"])):
            self.store.upsert(body)
        self.clock = Clock()
        self.metrics = OperatorMetrics()
        self.client = KubeClient(lambda: kopf.ConnectionInfo(server=api.url))
        self.recorder = EventRecorder(self.client, self.store, self.metrics, "portico",
                                      "test", clock=self.clock)
        self.api = api

    def put(self, name: str, **spec: Any) -> None:
        body = o.ingress(name, host=f"{name}.example", **spec)
        body["metadata"]["uid"] = f"uid-{name}"
        self.store.upsert(body)

    async def sync(self) -> BuildResult:
        result = build(self.store.snapshot(), BuildSettings(), now=0.0)
        await self.recorder.sync(result)
        return result

    def events(self, reason: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.api.all("events") if reason is None or e["reason"] == reason]


async def test_a_new_leader_announces_changes_not_what_it_finds(api: ApiServer) -> None:
    rec = Recording(api)
    rec.put("found")
    rec.put("broken", path="no-slash")
    await rec.sync()  # the first sync as leader
    assert [e["involvedObject"]["name"] for e in rec.events()] == ["broken"]
    rec.put("found", path="/v2")
    rec.put("new")
    await rec.sync()
    assert sorted(e["involvedObject"]["name"] for e in rec.events("Sync")) == ["found", "new"]
    rec.recorder.forget()  # leadership lost and won again
    rec.put("found", path="/v3")  # changed while another replica led
    await rec.sync()
    assert len(rec.events("Sync")) == 2
    # The problem is announced again, into the Event already posted for it.
    assert len(rec.events()) == 3
    assert [e["count"] for e in rec.events() if e["type"] == "Warning"] == [2]
    await rec.client.close()


async def test_a_repeated_event_raises_the_count_of_the_first(api: ApiServer) -> None:
    rec = Recording(api)
    await rec.sync()
    for n in range(3):
        rec.put("app", path=f"/v{n}")
        await rec.sync()
    [event] = rec.events("Sync")
    assert event["count"] == 3 and rec.metrics.events_posted == 3
    await rec.client.close()


async def test_events_over_the_limits_wait_and_coalesce(api: ApiServer) -> None:
    rec = Recording(api)
    await rec.sync()
    # One Ingress changing without end: its burst, then one per 5 minutes.
    for n in range(PER_OBJECT_BURST + 5):
        rec.put("busy", path=f"/v{n}")
        await rec.sync()
    [event] = rec.events("Sync")
    assert event["count"] == PER_OBJECT_BURST and rec.metrics.events_held_back == 5
    rec.clock.now += 300
    await rec.sync()
    assert rec.events("Sync")[0]["count"] == PER_OBJECT_BURST + 1  # the 5 changes, once
    # Many Ingresses at once: the overall burst, the rest a moment later.
    for n in range(TOTAL_BURST + 20):
        rec.put(f"app{n}")
    rec.clock.now += 300  # the overall bucket is full again
    await rec.sync()
    assert len(rec.events("Sync")) == 1 + TOTAL_BURST
    wait = rec.recorder.retry_in()
    assert wait is not None and 0 < wait <= 1
    rec.clock.now += 2.0
    await rec.sync()
    assert len(rec.events("Sync")) == 1 + TOTAL_BURST + 20
    assert rec.recorder.retry_in() is None
    await rec.client.close()
