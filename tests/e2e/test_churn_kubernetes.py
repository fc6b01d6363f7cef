"""Nothing is lost while the cluster changes: the zero-loss churn through an API server.

The same plan as the file-source churn (tests/e2e/test_zero_loss.py), sent
to the emulated API server while `portico run --kubeconfig` serves three
plain-HTTP clients and one HTTPS client: unrelated Ingresses come and go, the
target's path type flips, its EndpointSlice scales (removed pods keep
running, as terminating pods do) and its TLS Secret is rotated.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.churn import OTHER_POD, PODS, SCALES, STEP_INTERVAL, Change, ChurnPlan, Traffic
from e2e.harness import demo_pods, start_ready
from kube.harness import (
    CLASSES,
    INGRESSES,
    SECRETS,
    SERVICES,
    SLICES,
    ApiServer,
    running_api,
    write_kubeconfig,
)

CHURN_SECONDS = 6.0
COLLECTIONS = {"IngressClass": CLASSES, "Ingress": INGRESSES, "Service": SERVICES,
               "EndpointSlice": SLICES, "Secret": SECRETS}


@pytest.fixture(scope="module")
def pods() -> Iterator[int]:
    with demo_pods([*PODS, OTHER_POD]) as port:
        yield port


@pytest.fixture()
async def api() -> AsyncIterator[ApiServer]:
    async with running_api(forget_served=True) as server:
        yield server


class ApiChurn:
    """Applies churn changes through the API as `kubectl apply` would: only what differs.

    A new object is created, a changed one merge-patched (lists such as the
    EndpointSlice's endpoints are replaced whole), and one that left its
    group is deleted. `writes` counts them by kind.
    """

    def __init__(self, api: ApiServer) -> None:
        self.api = api
        self.writes: collections.Counter[str] = collections.Counter()
        self._applied: dict[str, list[dict[str, Any]]] = {}

    async def apply(self, changes: list[Change]) -> None:
        for group, objects in changes:
            before = {_key(obj): obj for obj in self._applied.pop(group, [])}
            for obj in objects or []:
                old = before.pop(_key(obj), None)
                kind, ns, name = _key(obj)
                if old is None:
                    await self.api.create(COLLECTIONS[kind], obj)
                elif old != obj:
                    await self.api.patch(COLLECTIONS[kind], name, obj, ns=ns)
                else:
                    continue
                self.writes[kind] += 1
            for kind, ns, name in before:
                await self.api.delete(COLLECTIONS[kind], name, ns=ns)
                self.writes[kind] += 1
            if objects is not None:
                self._applied[group] = objects


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    md = obj["metadata"]
    return obj["kind"], md.get("namespace", "default"), md["name"]


@pytest.mark.parametrize("workers", [1, 2])
async def test_churn_through_the_api_loses_nothing(
    pods: int, api: ApiServer, tmp_path: Path, workers: int
) -> None:
    plan = ChurnPlan(pods)
    churn = ApiChurn(api)
    await churn.apply(plan.initial())
    kubeconfig = write_kubeconfig(tmp_path, api.url)
    portico = await asyncio.to_thread(start_ready, None, "--kubeconfig", str(kubeconfig),
                                      "--workers", str(workers), log=tmp_path / "portico.log")
    try:
        traffic = Traffic(portico.url, portico.secure_url, plan.client_ssl())
        traffic.start()
        # On a fixed clock, so the API calls' own time does not stretch the interval.
        start = time.monotonic()
        while time.monotonic() - start < CHURN_SECONDS:
            await churn.apply(plan.next())
            await asyncio.sleep(STEP_INTERVAL - (time.monotonic() - start) % STEP_INTERVAL)
        await traffic.stop()
        rebuilds = await asyncio.to_thread(portico.metric, "portico_config_rebuilds_total")
        watched = {kind: await asyncio.to_thread(portico.metric, "portico_watch_events_total",
                                                 kind=kind) for kind in churn.writes}
    finally:
        stopped = await asyncio.to_thread(portico.stop)
    assert stopped == 0, portico.logs()
    plain, secure = traffic.loads
    # The configuration really changed all along, and every change came through the watches.
    assert rebuilds > 20
    assert plan.rotations > 5 and churn.writes["EndpointSlice"] > 2 * len(SCALES)
    assert all(watched[kind] >= count for kind, count in churn.writes.items()), (
        watched, churn.writes)
    assert plain.failures == [] and secure.failures == []
    assert plain.ok > 100 and secure.ok > 20
    assert plain.pods | secure.pods <= set(PODS)
    assert len(plain.pods) == len(PODS)  # the scaling really reached every pod
