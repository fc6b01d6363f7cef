"""`--workers 2`: two data-plane processes behind one supervisor.

One `portico run` serves the module; the test that kills a worker comes last.
"""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from e2e.harness import Manifests, Portico, demo_pods, wait_until
from kube import objects as o

POD = "127.0.0.2"


def worker_pids(portico: Portico) -> list[int]:
    out = subprocess.run(
        ["pgrep", "-P", str(portico.process.pid), "-f", "ingress.proxy.worker"],
        capture_output=True, text=True, check=False,
    ).stdout
    return sorted(int(pid) for pid in out.split())


def get(portico: Portico, host: str, path: str = "/") -> int:
    request = urllib.request.Request(portico.url + path, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> Manifests:
    return Manifests(tmp_path_factory.mktemp("workers") / "manifests")


@pytest.fixture(scope="module")
def portico(manifests: Manifests) -> Iterator[Portico]:
    with demo_pods([POD]) as port:
        manifests.write(
            "app.yaml",
            [
                o.ingress_class(),
                o.service("app", target=port),
                o.endpoint_slice("app", [POD], port=port),
                o.ingress("app", host="app.test", service="app"),
                # Only the counting test sends requests here.
                o.ingress("counted", host="counted.test", service="app"),
            ],
        )
        running = Portico(manifests.root, "--workers", "2",
                          log=manifests.root.parent / "portico.log")
        try:
            running.wait_ready()
            yield running
        finally:
            running.stop()


def test_both_workers_serve_and_counters_add_up(portico: Portico) -> None:
    assert len(worker_pids(portico)) == 2
    for _ in range(40):
        assert get(portico, "counted.test") == 200
    # Each worker pushes its counters every second; the supervisor adds them up.
    wait_until(
        lambda: portico.metric("portico_requests_total", host="counted.test", status="2xx") == 40,
        "40 requests counted across workers",
        deadline=5,
    )


def test_a_new_table_reaches_every_worker(portico: Portico, manifests: Manifests) -> None:
    manifests.write("more.yaml", [o.ingress("more", host="more.test", service="app")])
    # Connections land on either worker: every one of 20 must see the new route.
    wait_until(lambda: get(portico, "more.test") == 200, "the new route")
    assert all(get(portico, "more.test") == 200 for _ in range(20))
    assert portico.admin_get("/readyz")[0] == 200


def test_a_dead_worker_is_replaced_with_the_current_table(portico: Portico) -> None:
    before = worker_pids(portico)
    os.kill(before[0], signal.SIGKILL)
    wait_until(
        lambda: len(pids := worker_pids(portico)) == 2 and pids != before, "a replacement worker"
    )
    wait_until(lambda: portico.admin_get("/readyz")[0] == 200, "readiness after the restart")
    assert all(get(portico, "app.test") == 200 for _ in range(20))
