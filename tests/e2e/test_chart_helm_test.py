"""The chart's `helm test` hook, run here as a cluster would run it: the commands it renders.

The rendered backend container (`portico echo`) runs on loopback; the
rendered Ingress and backend Service go into a manifests directory with an
EndpointSlice at that backend, served by `portico run`; then the rendered
load-test pod's arguments run against it, with the Service's address
swapped for Portico's and a shorter duration.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chart.chart_objects import Manifest, one
from chart.helm_render import helm_or_skip, template
from e2e.harness import Manifests, free_port, start_ready, wait_until
from ingress.cli import main as cli_main
from kube import objects as o


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> list[Manifest]:
    return template(helm_or_skip(), {}, tmp_path_factory.mktemp("values"), tests=True)


def test_the_rendered_helm_test_passes_against_a_running_controller(
    hooks: list[Manifest], tmp_path: Path
) -> None:
    (backend,) = one(hooks, "Deployment")["spec"]["template"]["spec"]["containers"]
    port = free_port()
    args = [a.replace("--bind=0.0.0.0", "--bind=127.0.0.1").replace(
        "--port=8080", f"--port={port}") for a in backend["args"]]
    echo = subprocess.Popen([sys.executable, "-m", "ingress.cli", *args])
    service, ingress = one(hooks, "Service"), one(hooks, "Ingress")
    manifests = Manifests(tmp_path / "manifests")
    manifests.write("hook.yaml", [
        o.ingress_class(), service, ingress,
        o.endpoint_slice(service["metadata"]["name"], ["127.0.0.1"], port=port,
                         ns=service["metadata"]["namespace"]),
    ])
    portico = start_ready(manifests.root, log=tmp_path / "portico.log")
    try:
        wait_until(lambda: echo.poll() is None and portico.admin_get("/readyz")[0] == 200,
                   "the backend and Portico")
        pod_args = [str(a) for a in one(hooks, "Pod")["spec"]["containers"][0]["args"]]
        assert pod_args[0] == "loadtest"
        out = tmp_path / "report"
        run = [pod_args[0], f"{portico.url}/",
               *(a for a in pod_args[2:] if not a.startswith(("--duration", "--out"))),
               "--duration=1s", f"--out={out}"]
        code = cli_main(run)
    finally:
        portico.stop()
        echo.terminate()
        assert echo.wait(timeout=10) == 0  # `portico echo` stops cleanly on SIGTERM
    report = json.loads((out / "report.json").read_text())
    assert code == 0, report["slo"]
    assert report["slo"]["pass"] is True and report["errors"] == 0
    assert report["answered"] == report["requests"] == 20
