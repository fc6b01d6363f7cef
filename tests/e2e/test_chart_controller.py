"""The chart and the binary agree: `portico run` with what `helm template` renders.

The chart's IngressClass and controller Service go into the emulated API
server; the controller runs with the rendered Deployment's arguments and
environment, and must then route an Ingress of the chart's class, publish the
chart's Service address into its status and answer the chart's probes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from chart.chart_objects import Manifest, args, container, container_port, flags, one, pod_spec
from chart.helm_render import NAMESPACE, RELEASE, helm_or_skip, template
from e2e.harness import Portico, demo_pods, eventually, start_ready
from kube import objects as o
from kube.harness import (
    CLASSES,
    INGRESSES,
    SERVICES,
    SLICES,
    ApiServer,
    lb_status,
    running_api,
    write_kubeconfig,
)
from kube.harness import eventually as kube_eventually
from tls_clients import unverified

PODS = ["127.0.0.20", "127.0.0.21"]
POD_NAME = "portico-5d8c7b9f4-x2x7q"  # what the downward API gives a Deployment's pod
LOAD_BALANCER_IP = "203.0.113.10"  # TEST-NET-3: what a cloud would assign the Service
# The rendered container listens on fixed ports (8080, 8443, 10254) on every
# address (no --bind in a pod means 0.0.0.0). Those ports may be taken on the
# machine running the tests, and tests talk to loopback only: so these flags
# are dropped from the rendered arguments and the harness gives free loopback
# ports instead, with --bind and --admin-bind 127.0.0.1.
LISTENER_FLAGS = ("http-port", "https-port", "admin-port")


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> list[Manifest]:
    return template(helm_or_skip(), {}, tmp_path_factory.mktemp("values"))


@pytest.fixture(scope="module")
def pods() -> Iterator[int]:
    with demo_pods(PODS) as port:
        yield port


@pytest.fixture()
async def api() -> AsyncIterator[ApiServer]:
    async with running_api() as server:
        yield server


def controller_args(chart: list[Manifest]) -> list[str]:
    """The rendered `portico run` arguments, less the listener ports (see LISTENER_FLAGS)."""
    rendered = args(chart)
    assert rendered[0] == "run"
    kept = [a for a in rendered[1:] if a[2:].partition("=")[0] not in LISTENER_FLAGS]
    assert len(kept) == len(rendered) - 1 - len(LISTENER_FLAGS), rendered
    return kept


def pod_env(chart: list[Manifest]) -> dict[str, str]:
    """The container's environment as the kubelet would fill it in for our pod."""
    fields = {"metadata.name": POD_NAME, "metadata.namespace": NAMESPACE}
    env: dict[str, str] = {}
    for var in container(chart).get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
            continue
        path = var["valueFrom"]["fieldRef"]["fieldPath"]
        assert path in fields, f"env {var['name']}: no stand-in for the pod's {path}"
        env[var["name"]] = fields[path]
    return env


def local_port(chart: list[Manifest], portico: Portico, port: int | str) -> int:
    """Where a rendered container port (by number or name) listens in this test."""
    given = flags(chart)
    here = {int(given[f"{name}-port"] or 0): getattr(portico, f"{name}_port")
            for name in ("http", "https", "admin")}
    number: int = here[container_port(chart, port)]
    return number


async def test_controller_runs_as_the_chart_renders_it(
    chart: list[Manifest], api: ApiServer, pods: int, tmp_path: Path
) -> None:
    ingress_class = one(chart, "IngressClass")
    service = one(chart, "Service", RELEASE)
    await api.call("POST", CLASSES, ingress_class)
    await api.create(SERVICES, service)
    await api.create(SERVICES, o.service("web", target="http"))
    await api.create(SLICES, o.endpoint_slice("web", PODS, port=pods))

    kubeconfig = write_kubeconfig(tmp_path, api.url)
    portico = await asyncio.to_thread(
        start_ready, None, "--kubeconfig", str(kubeconfig), *controller_args(chart),
        log=tmp_path / "portico.log", env=pod_env(chart), test_defaults=False)
    try:
        await api.create(INGRESSES, o.ingress(
            "app", host="app.example", cls=ingress_class["metadata"]["name"]))
        ports = {p["name"]: local_port(chart, portico, p["targetPort"])
                 for p in service["spec"]["ports"]}
        no_verify = unverified()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:

            async def pod_via(scheme: str) -> str | None:
                url = f"{scheme}://127.0.0.1:{ports[scheme]}/"
                async with http.get(url, headers={"Host": "app.example"},
                                    ssl=no_verify if scheme == "https" else False) as rsp:
                    if rsp.status != 200:
                        return None
                    return str((await rsp.json())["pod"]).rpartition(":")[0]

            # Both of the Service's ports reach listeners that route the Ingress.
            assert await eventually(lambda: pod_via("http"), "routed over http") in PODS
            assert await pod_via("https") in PODS

            # The pod leads from the Lease the chart names, in its own namespace,
            # under the name the downward API gave it.
            def holder() -> str:
                lease = api.stored("leases", str(flags(chart)["election-id"]), NAMESPACE) or {}
                return str(lease.get("spec", {}).get("holderIdentity"))

            await kube_eventually(lambda: holder().startswith(POD_NAME + "_"),
                                  what="the pod's Lease")

            # --publish-service names the rendered Service: once the cloud gives
            # it an address, the Ingress shows it.
            assert lb_status(api, "app") is None
            await api.call("PATCH", f"{SERVICES.format(ns=NAMESPACE)}/{RELEASE}/status",
                           {"status": {"loadBalancer": {"ingress": [{"ip": LOAD_BALANCER_IP}]}}})
            await kube_eventually(lambda: lb_status(api, "app") == [{"ip": LOAD_BALANCER_IP}],
                                  what="Ingress status from the chart's Service")

            # The probes, as the kubelet would send them.
            probes = {kind: container(chart)[kind]["httpGet"]
                      for kind in ("livenessProbe", "readinessProbe")}

            async def probe_answers(kind: str, status: int) -> bool:
                probe = probes[kind]
                assert probe.get("scheme", "HTTP") == "HTTP", probe
                port = local_port(chart, portico, probe["port"])
                async with http.get(f"http://127.0.0.1:{port}{probe['path']}") as rsp:
                    return rsp.status == status

            for kind in probes:
                assert await probe_answers(kind, 200), kind

            # Termination as the pod's lifecycle runs it: on SIGTERM readiness
            # fails (so endpoints drop the pod) while liveness holds and traffic
            # is still served; then the process ends inside the pod's grace.
            grace = pod_spec(chart)["terminationGracePeriodSeconds"]
            pre_stop = float(container(chart)["lifecycle"]["preStop"]["exec"]["command"][1])
            portico.terminate()
            await eventually(lambda: probe_answers("readinessProbe", 503), "draining readiness")
            assert await probe_answers("livenessProbe", 200)
            assert await pod_via("http") in PODS
        code = await asyncio.to_thread(portico.process.wait, grace - pre_stop)
        assert code == 0, portico.logs()
    finally:
        await asyncio.to_thread(portico.stop)
