"""The Kubernetes source in-process: kopf against the emulator over loopback HTTP."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from ingress.build.result import BuildResult
from ingress.operator import KubernetesSource
from ingress.pipeline import Reconciler
from ingress.settings import Settings
from kube import objects as o
from kube.emulator import Emulator
from kube.gateway_api import GROUP, GatewayEmulator
from kube.harness import (
    INGRESSES,
    SECRETS,
    SERVICES,
    SLICES,
    ApiServer,
    eventually,
    lb_status,
    running_api,
    write_kubeconfig,
)

PUBLISHED = [{"ip": "192.0.2.10"}, {"hostname": "lb.example"}]


@pytest.fixture()
async def api() -> AsyncIterator[ApiServer]:
    async with running_api() as server:
        yield server


class Running:
    def __init__(self, source: KubernetesSource, reconciler: Reconciler) -> None:
        self.source = source
        self.reconciler = reconciler
        self.results: list[BuildResult] = []
        reconciler.add_publisher(self.results.append)

    def stored(self, kind: str, name: str, ns: str = "default") -> Any:
        return self.reconciler.store.get(kind, ns, name)

    def routes_to(self, host: str, path: str = "/") -> list[str]:
        table = self.reconciler.table  # the last build's, with the endpoint changes since
        route = table.route(host, path)
        return [] if route is None else [e.ip for e in table.endpoint_set(route.backend).ready]


@contextlib.asynccontextmanager
async def running(api: ApiServer, tmp_path: Path, **overrides: Any) -> AsyncIterator[Running]:
    fields = {"kubeconfig": str(write_kubeconfig(tmp_path, api.url)),
              "publish_address": "192.0.2.10,lb.example",
              "election_lease_duration": 2.0, "election_renew_deadline": 1.5,
              "election_retry_period": 0.2, **overrides}
    settings = Settings(**fields)
    reconciler = Reconciler(settings.build, publishers=[])
    source = KubernetesSource(settings, reconciler)
    handle = Running(source, reconciler)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(source.run(stop)), asyncio.create_task(reconciler.run())]
    try:
        yield handle
    finally:
        stop.set()
        await asyncio.wait_for(tasks[0], 10)
        tasks[1].cancel()
        await asyncio.gather(tasks[1], return_exceptions=True)


def events_of(api: ApiServer, name: str, reason: str | None = None) -> list[dict[str, Any]]:
    return [e for e in api.all("events") if e["involvedObject"]["name"] == name
            and (reason is None or e["reason"] == reason)]


def base_objects(api: ApiServer) -> None:
    put = api.emulator.put
    put("networking.k8s.io/v1/ingressclasses", o.ingress_class())
    put("v1/services", o.service("web"))
    put("discovery.k8s.io/v1/endpointslices", o.endpoint_slice("web", ["10.0.0.1"]))


async def test_first_listing_syncs_routes_and_status_without_touching_foreign_objects(
    api: ApiServer, tmp_path: Path
) -> None:
    base_objects(api)
    api.emulator.put("networking.k8s.io/v1/ingresses", o.ingress("mine", host="a.example"))
    api.emulator.put("networking.k8s.io/v1/ingresses",
                     o.ingress("theirs", host="b.example", cls="nginx"))
    api.emulator.put("v1/secrets", o.secret("password", {"p": "c2VjcmV0"}))
    api.emulator.put("v1/secrets", o.secret("sh.helm.release.v1.app.v1", {"release": "H4sI"},
                                            "helm.sh/release.v1"))
    async with running(api, tmp_path) as run:
        assert run.reconciler.synced or await eventually(lambda: run.reconciler.synced)
        await eventually(lambda: run.routes_to("a.example") == ["10.0.0.1"], what="route")
        assert run.routes_to("b.example") == []
        await eventually(lambda: lb_status(api, "mine") == PUBLISHED, what="status")
        assert run.source.metrics.synced and run.source.metrics.is_leader
        # Helm releases never reach Portico: the watch leaves their type out. An
        # Opaque Secret does, but is not kept while no Ingress names it.
        assert run.stored("Secret", "password") is None
        assert run.source.metrics.watch_events.get("Secret", 0) == 1
        assert len(run.reconciler.result.owned) == 1  # type: ignore[union-attr]
        assert run.source.metrics.watch_events["Ingress"] >= 2
        # An Ingress that appears while Portico leads is announced; those it found are not.
        await api.create(INGRESSES, o.ingress("late", host="late.example"))
        await eventually(lambda: events_of(api, "late", "Sync"), what="Sync event")
    # A new leader (here: the same controller restarted) announces no Ingress it finds.
    async with running(api, tmp_path) as run:
        await eventually(lambda: run.source.metrics.is_leader and run.results, what="leader")
        await api.create(INGRESSES, o.ingress("later", host="later.example"))
        await eventually(lambda: events_of(api, "later", "Sync"), what="Sync event")
    theirs = api.stored("ingresses", "theirs")
    mine = api.stored("ingresses", "mine")
    assert theirs is not None and "status" not in theirs
    assert mine is not None
    for body in (mine, theirs):  # no finalizers, no kopf annotations
        assert not body["metadata"].get("finalizers")
        assert not body["metadata"].get("annotations")
    assert events_of(api, "theirs") == []
    assert events_of(api, "mine", "Sync") == []
    assert len(events_of(api, "late", "Sync")) == 1


async def test_gateway_api_without_its_crds_still_serves_ingresses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def without_gateway_api(emulator: Emulator) -> None:
        for resource in [r for r in emulator.resources if r.group == GROUP]:
            del emulator.resources[resource]

    # GatewayEmulator also serves Namespaces (which --gateway-api watches).
    async with running_api(emulator_type=GatewayEmulator, prepare=without_gateway_api) as api:
        base_objects(api)
        api.emulator.put("networking.k8s.io/v1/ingresses", o.ingress("mine", host="a.example"))
        async with running(api, tmp_path, gateway_api=True) as run:
            await eventually(lambda: run.routes_to("a.example") == ["10.0.0.1"], what="route")
    assert "does not serve httproutes.gateway.networking.k8s.io/v1; not watched" in caplog.text


async def test_changes_stream_into_the_table_and_status_follows_ownership(
    api: ApiServer, tmp_path: Path
) -> None:
    base_objects(api)
    async with running(api, tmp_path) as run:
        await eventually(lambda: run.reconciler.synced)
        await api.create(INGRESSES, o.ingress("late", host="late.example"))
        await eventually(lambda: run.routes_to("late.example") == ["10.0.0.1"], what="route")
        await eventually(lambda: lb_status(api, "late") == PUBLISHED, what="status")
        # A status change alone rebuilds nothing: our own writes come back as watch events.
        # Someone else's status on our Ingress is put right again.
        builds = len(run.results)
        await api.patch(INGRESSES, "late", {"status": {"loadBalancer": {
            "ingress": [{"ip": "198.51.100.9"}]}}})
        await eventually(lambda: lb_status(api, "late") == PUBLISHED, what="status restored")
        assert len(run.results) == builds
        await api.patch(SLICES, "web-abc", {"endpoints": [
            {"addresses": [ip], "conditions": {"ready": True}} for ip in ("10.0.0.2", "10.0.0.3")
        ]})
        await eventually(lambda: sorted(run.routes_to("late.example")) == ["10.0.0.2", "10.0.0.3"])
        assert run.source.metrics.event_to_swap_seconds < 1.0
        # Handing the Ingress to another class removes our status and its routes.
        await api.patch(INGRESSES, "late", {"spec": {"ingressClassName": "nginx"}})
        await eventually(lambda: run.routes_to("late.example") == [], what="route removed")
        # Counted once the PATCH has returned, a moment after the API server applied it.
        await eventually(lambda: run.source.metrics.status_patches == 3, what="status removed")
        assert not lb_status(api, "late")
        patches = run.source.metrics.status_patches
        # Once it is theirs, later changes of it are not ours to answer.
        await api.patch(INGRESSES, "late", {"status": {"loadBalancer": {
            "ingress": [{"ip": "198.51.100.1"}]}}})
        builds = len(run.results)
        await api.patch(SERVICES, "web", {"metadata": {"labels": {"touched": "yes"}}})
        await eventually(lambda: len(run.results) > builds, what="a build after the change")
        await asyncio.sleep(0.2)  # room for a wrong write to happen: none may
        assert lb_status(api, "late") == [{"ip": "198.51.100.1"}]
        assert run.source.metrics.status_patches == patches
        await api.delete(INGRESSES, "late")
        await eventually(lambda: run.stored("Ingress", "late") is None, what="delete")


async def test_problems_become_warning_events_once(api: ApiServer, tmp_path: Path) -> None:
    base_objects(api)
    async with running(api, tmp_path) as run:
        await eventually(lambda: run.reconciler.synced)
        await api.create(INGRESSES, o.ingress("good", host="good.example"))
        await api.create(INGRESSES, o.ingress("bad", host="bad.example", path="no-slash",
                                              path_type="Prefix"))
        warnings = await eventually(lambda: [e for e in events_of(api, "bad")
                                             if e["type"] == "Warning"], what="Warning")
        problem = next(p for p in run.reconciler.result.problems  # type: ignore[union-attr]
                       if p.obj.name == "bad")
        assert warnings[0]["reason"] == problem.reason
        assert warnings[0]["message"] == f"{problem.field}: {problem.message}"
        assert run.routes_to("good.example") == ["10.0.0.1"]
        assert len({p.obj for p in run.reconciler.result.problems  # type: ignore[union-attr]
                    if p.obj.kind == "Ingress"}) == 1
        # More builds with the same problem post nothing new.
        builds = len(run.results)
        for n in range(3):  # Service changes: each one is a rebuild
            await api.patch(SERVICES, "web", {"metadata": {"labels": {"touched": str(n)}}})
        await eventually(lambda: len(run.results) > builds)
        await eventually(lambda: run.source.metrics.events_posted >= 2)
        assert len([e for e in events_of(api, "bad") if e["type"] == "Warning"]) == len(warnings)
        assert len(events_of(api, "good", "Sync")) == 1
        assert events_of(api, "bad", "Sync") == []


async def test_referenced_tls_secret_is_fetched_after_being_dropped(
    api: ApiServer, tmp_path: Path
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("tls.example")
    data = {"tls.crt": base64.b64encode(cert.cert_chain_pems[0].bytes()).decode(),
            "tls.key": base64.b64encode(cert.private_key_pem.bytes()).decode()}
    base_objects(api)
    async with running(api, tmp_path) as run:
        await eventually(lambda: run.results, what="first build")
        await api.create(SECRETS, o.secret("cert", data, "kubernetes.io/tls"))
        await api.create(SERVICES, o.service("other"))  # an event after the Secret's
        await eventually(lambda: run.source.metrics.watch_events.get("Service", 0) >= 2)
        assert run.stored("Secret", "cert") is None  # nobody needs it yet
        await api.create(INGRESSES, o.ingress("secure", host="tls.example", tls_secret="cert"))
        await eventually(lambda: run.reconciler.result is not None
                         and run.reconciler.result.table.certificate("tls.example"),
                         what="certificate in the table")
        assert run.source.metrics.secrets_fetched == 1
        await api.delete(INGRESSES, "secure")
        await eventually(lambda: run.stored("Secret", "cert") is None, what="dropped again")


async def test_api_server_outage_keeps_table_and_resyncs(api: ApiServer, tmp_path: Path) -> None:
    base_objects(api)
    for name in ("stays", "goes"):
        api.emulator.put("networking.k8s.io/v1/ingresses", o.ingress(name, host=f"{name}.example"))
    async with running(api, tmp_path) as run:
        await eventually(lambda: run.routes_to("goes.example") == ["10.0.0.1"])
        await api.stop()
        # While it is down: one Ingress is deleted, another created.
        api.emulator.objects["networking.k8s.io/v1/ingresses", "default", "goes"].delete()
        api.emulator.put("networking.k8s.io/v1/ingresses", o.ingress("new", host="new.example"))
        api.emulator.compact()  # the deletion cannot be replayed: the watches must re-list
        await asyncio.sleep(0.3)  # an outage, not a condition to wait for
        assert run.routes_to("goes.example") == ["10.0.0.1"]  # the last good table serves
        await api.start()
        await eventually(lambda: run.routes_to("new.example") == ["10.0.0.1"], timeout=15,
                         what="new Ingress after the outage")
        # The re-list clean-up waits for the listing to go quiet: slow on a loaded machine.
        await eventually(lambda: run.routes_to("goes.example") == [], timeout=15,
                         what="Ingress deleted during the outage")
        assert run.routes_to("stays.example") == ["10.0.0.1"]
        assert run.source.metrics.relists >= 1


# Two replicas are tested as two processes (test_operator_e2e.py): two kopf operators in
# one event loop would cancel each other's tasks when one of them stops.
