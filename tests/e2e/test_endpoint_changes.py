"""An EndpointSlice change moves traffic without a rebuild, with one worker and with two."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e.harness import Manifests, Pods, Portico, free_port, start_ready, wait_until
from kube import objects as o

PODS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")


@dataclass
class Served:
    portico: Portico
    manifests: Manifests
    workers: int
    pod_port: int

    def move(self, service: str, *pods: str) -> None:
        self.manifests.write(f"{service}-slice.yaml",
                             [o.endpoint_slice(service, list(pods), port=self.pod_port)])

    def pod(self, host: str) -> str:
        """The pod that answers a request on a new connection (either worker may take it)."""
        request = urllib.request.Request(self.portico.url + "/", headers={
            "Host": host, "Connection": "close"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return str(json.load(response)["pod"]).rpartition(":")[0]

    def moved_to(self, host: str, pod: str) -> bool:
        return all(self.pod(host) == pod for _ in range(8))

    def counters(self) -> tuple[float, float]:
        """(rebuilds, endpoint changes) so far."""
        return (self.portico.metric("portico_config_rebuilds_total"),
                self.portico.metric("portico_endpoint_updates_total"))


@pytest.fixture(scope="module")
def pod_port() -> Iterator[int]:
    port = free_port(PODS[0])
    pods = Pods([(ip, port) for ip in PODS])
    yield port
    pods.close()


@pytest.fixture(scope="module", params=[1, 2], ids=["workers-1", "workers-2"])
def served(request: pytest.FixtureRequest, pod_port: int,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workers = int(request.param)
    tmp: Path = tmp_path_factory.mktemp(f"endpoints-{workers}")
    manifests = Manifests(tmp / "manifests")
    manifests.write("apps.yaml", [
        o.ingress_class(),
        o.ingress("app", host="app.test", service="app"), o.service("app", target=pod_port),
        o.ingress("other", host="other.test", service="other"),
        o.service("other", target=pod_port),
    ])
    portico = start_ready(manifests.root, "--workers", str(workers), log=tmp / "portico.log")
    running = Served(portico, manifests, workers, pod_port)
    running.move("app", PODS[0])
    running.move("other", PODS[1])
    try:
        wait_until(lambda: running.moved_to("app.test", PODS[0]), "app on its pod")
        wait_until(lambda: running.moved_to("other.test", PODS[1]), "other on its pod")
        yield running
    finally:
        portico.stop()


def test_a_slice_change_moves_traffic_without_a_rebuild(served: Served) -> None:
    generation = served.portico.metric("portico_config_generation")
    rebuilds, updates = served.counters()
    served.move("app", PODS[2])
    wait_until(lambda: served.moved_to("app.test", PODS[2]), "traffic on the new pod")
    assert served.moved_to("other.test", PODS[1])
    assert served.counters() == (rebuilds, updates + 1)
    assert served.portico.metric("portico_config_generation") == generation
    served.move("app", PODS[0])
    wait_until(lambda: served.moved_to("app.test", PODS[0]), "traffic back")
    assert served.counters() == (rebuilds, updates + 2)
    assert served.portico.admin_get("/readyz")[0] == 200


def test_round_robin_goes_on_across_an_endpoint_change(served: Served) -> None:
    if served.workers != 1:
        pytest.skip("each worker has its own cursor, and a connection lands on either")
    served.move("app", *PODS)
    wait_until(lambda: {served.pod("app.test") for _ in range(6)} == set(PODS), "three pods")
    wait_until(lambda: served.pod("app.test") == PODS[0], "the first pod's turn")
    # The cursor points at the second pod now; another Service's endpoints change.
    rebuilds, updates = served.counters()
    served.move("other", PODS[2])
    wait_until(lambda: served.counters()[1] > updates, "the endpoint change")
    assert [served.pod("app.test") for _ in range(3)] == [PODS[1], PODS[2], PODS[0]]
    assert served.counters()[0] == rebuilds
    served.move("app", PODS[0])
    served.move("other", PODS[1])
    wait_until(lambda: served.moved_to("app.test", PODS[0]), "traffic back")
    wait_until(lambda: served.moved_to("other.test", PODS[1]), "other back")
