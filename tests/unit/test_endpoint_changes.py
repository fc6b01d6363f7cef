"""EndpointSlice changes reach the data plane as endpoint changes, in order, without a rebuild."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from build_objects import endpoint, endpoint_slice, ingress, ingress_class, path, rule, service

from e2e.harness import eventually
from ingress import pipeline
from ingress.model import EMPTY_TABLE, RoutingTable
from ingress.model.changes import TableChange
from ingress.pipeline import Reconciler
from ingress.settings import BuildSettings
from ingress.store import PackedBody, Store, key_of, packed, unpacked


class Worker:
    """A data plane that knows the table only by applying every change it gets, in order."""

    def __init__(self) -> None:
        self.table = EMPTY_TABLE
        self.changes: list[TableChange] = []

    def apply(self, table: RoutingTable, change: TableChange) -> None:
        self.table = change.apply(self.table)  # StaleChange if one ever came out of order
        assert self.table == table
        self.changes.append(change)

    def pods(self, app: str) -> list[str]:
        return [e.ip for e in self.table.endpoints[f"default/{app}:80"].ready]


def app(name: str, *pods: str) -> list[dict[str, Any]]:
    return [ingress(name, [rule(f"{name}.test", path("/", name))]), service(name),
            pod_slice(name, *pods)]


def pod_slice(name: str, *pods: str, service_name: str | None = None) -> dict[str, Any]:
    return endpoint_slice(f"{name}-x", service_name or name, [endpoint(ip) for ip in pods])


Running = tuple[Reconciler, Worker]


async def until(check: Callable[[], bool], what: str) -> None:
    async def holds() -> bool:
        return check()

    await eventually(holds, what)


@pytest.fixture()
async def running() -> AsyncIterator[Running]:
    worker = Worker()
    reconciler = Reconciler(BuildSettings(), [], worker)
    for body in [ingress_class("portico"), *app("a", "10.0.0.1"), *app("b", "10.0.1.1"),
                 *app("c", "10.0.2.1")]:
        reconciler.store.upsert(body)
    reconciler.mark_synced()
    task = asyncio.create_task(reconciler.run())
    await until(lambda: reconciler.generation == 1, "the first build")
    yield reconciler, worker
    task.cancel()


async def test_a_slice_change_sends_one_endpoint_set_and_no_rebuild(running: Running) -> None:
    reconciler, worker = running
    reconciler.store.upsert(pod_slice("b", "10.0.1.2", "10.0.1.3"))
    await until(lambda: worker.pods("b") == ["10.0.1.2", "10.0.1.3"], "b's new pods")
    change = worker.changes[-1]
    assert (change.base, change.generation) == (1, 1)
    assert list(change.endpoints.put) == ["default/b:80"] and not change.hosts.put
    assert reconciler.generation == 1 and reconciler.endpoint_updates == 1
    assert reconciler.result is not None
    assert reconciler.table.hosts is reconciler.result.table.hosts  # routes untouched


async def test_slice_changes_arriving_together_are_one_change(running: Running) -> None:
    reconciler, worker = running
    for name, ip in (("a", "10.0.0.9"), ("b", "10.0.1.9"), ("c", "10.0.2.9")):
        reconciler.store.upsert(pod_slice(name, ip))
    await until(lambda: worker.pods("c") == ["10.0.2.9"], "c's new pod")
    assert len(worker.changes) == 2
    assert set(worker.changes[-1].endpoints.put) == {"default/a:80", "default/b:80",
                                                     "default/c:80"}


async def test_a_slice_no_backend_uses_changes_nothing(running: Running) -> None:
    reconciler, worker = running
    reconciler.store.upsert(pod_slice("unused", "10.0.9.9"))
    reconciler.store.upsert(pod_slice("a", "10.0.0.1"))  # the same pods: nothing to send
    await asyncio.sleep(0.1)  # the endpoint path coalesces for at most 50 ms
    assert len(worker.changes) == 1 and reconciler.endpoint_updates == 0


async def test_a_slice_moving_to_another_service_changes_both(running: Running) -> None:
    reconciler, worker = running
    reconciler.store.upsert(pod_slice("a", "10.0.0.1", service_name="b"))
    await until(lambda: worker.pods("a") == [], "a's pods gone")
    assert worker.pods("b") == ["10.0.0.1", "10.0.1.1"]
    reconciler.store.delete("EndpointSlice", "default", "b-x")
    await until(lambda: worker.pods("b") == ["10.0.0.1"], "b's own slice gone")
    assert reconciler.generation == 1


async def test_routing_objects_rebuild(running: Running) -> None:
    reconciler, worker = running
    reconciler.store.upsert({**service("c"), "spec": {"ports": [
        {"name": "web", "port": 80, "targetPort": 8080}]}})
    await until(lambda: reconciler.generation == 2, "a rebuild")
    # The slice's unnamed port no longer matches the Service port's name.
    assert worker.pods("c") == [] and worker.changes[-1].generation == 2


@pytest.fixture()
def held_builds(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event,
                                                                   threading.Event]]:
    """Builds that start, then wait until released: a slow build, whatever the machine."""
    started, release = threading.Event(), threading.Event()
    real_build = pipeline.build

    def held(*args: Any) -> Any:
        started.set()
        release.wait(10)
        return real_build(*args)

    monkeypatch.setattr(pipeline, "build", held)
    yield started, release
    release.set()


async def test_an_endpoint_change_during_a_build_is_not_undone_by_it(
    running: Running, held_builds: tuple[threading.Event, threading.Event]
) -> None:
    reconciler, worker = running
    started, release = held_builds
    reconciler.last_build_seconds = 1.0  # the next build runs in a thread
    reconciler.store.upsert(ingress("d", [rule("d.test", path("/", "a"))]))
    await asyncio.to_thread(started.wait, 10)
    # The build has its snapshot; the endpoints change meanwhile.
    reconciler.store.upsert(pod_slice("a", "10.0.0.5"))
    await until(lambda: worker.pods("a") == ["10.0.0.5"], "the endpoint change")
    assert worker.changes[-1].generation == 1  # sent to the table being served
    release.set()
    await until(lambda: reconciler.generation == 2, "the build")
    assert worker.changes[-1].base == 1 and worker.changes[-1].generation == 2
    assert "d.test" in worker.table.hosts
    assert worker.pods("a") == ["10.0.0.5"]  # not the snapshot's 10.0.0.1
    assert worker.table == reconciler.table


async def test_a_broken_slice_is_logged_once(running: Running,
                                             caplog: pytest.LogCaptureFixture) -> None:
    reconciler, worker = running
    broken = pod_slice("a", "10.0.0.1")
    broken["endpoints"].append({"addresses": ["nope"]})
    with caplog.at_level(logging.WARNING, "ingress.pipeline"):
        reconciler.store.upsert(broken)
        await asyncio.sleep(0.1)
        reconciler.store.upsert(ingress("d", [rule("d.test", path("/", "a"))]))  # a rebuild
        await until(lambda: reconciler.generation == 2, "the rebuild")
    logged = [r.getMessage() for r in caplog.records if "EndpointSlice default/a-x" in
              r.getMessage()]
    assert logged == ["EndpointSlice default/a-x: endpoints[1].addresses[0]: 'nope' is not an "
                      "IP address"]
    assert worker.pods("a") == ["10.0.0.1"]


def test_the_store_names_each_object_a_re_read_changed() -> None:
    changed: list[tuple[str, tuple[str, str]]] = []
    store = Store(on_change=lambda kind, key: changed.append((kind, key)))
    slices = [pod_slice("a", "10.0.0.1"), pod_slice("b", "10.0.1.1")]
    assert store.replace_all("EndpointSlice", slices)
    assert changed == [("EndpointSlice", ("default", "a-x")), ("EndpointSlice", ("default", "b-x"))]
    changed.clear()
    # A re-read file: equal objects are no change, a different one and a missing one are.
    assert store.replace_all("EndpointSlice", [pod_slice("a", "10.0.0.1"),
                                               pod_slice("c", "10.0.2.1")])
    assert changed == [("EndpointSlice", ("default", "c-x")), ("EndpointSlice", ("default", "b-x"))]
    changed.clear()
    assert not store.replace_all("EndpointSlice", [pod_slice("a", "10.0.0.1"),
                                                   pod_slice("c", "10.0.2.1")])
    assert changed == []


async def test_slices_are_kept_packed_and_read_as_they_were(running: Running) -> None:
    reconciler, worker = running
    body = pod_slice("a", "10.0.0.7")
    kept = packed(body)
    assert isinstance(kept, PackedBody) and kept == body and body == kept
    assert (kept["kind"], key_of(kept), unpacked(kept)) == ("EndpointSlice", ("default", "a-x"),
                                                            body)
    reconciler.store.upsert(kept)
    await until(lambda: worker.pods("a") == ["10.0.0.7"], "the packed slice's endpoints")
    # The same slice again (unpacked by another source, or packed anew) is no change.
    assert not reconciler.store.upsert(body) and not reconciler.store.upsert(packed(body))
    assert list(reconciler.slice_index()[("default", "a")]) == ["a-x"]
    # What marshal cannot pack (a YAML timestamp) is kept as it came.
    dated = {**body, "metadata": {**body["metadata"], "creationTimestamp": datetime.now(UTC)}}
    assert packed(dated) is dated
