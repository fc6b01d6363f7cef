"""The container image and the chart agree; opt-in: build the image and run it as the chart does.

Building needs podman, runc and debootstrap (scripts/build-image.sh) and takes
15-90 s, so it runs only with PORTICO_IMAGE_TEST=1.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from chart_objects import Render, args, container, one, pod_spec
from helm_render import CHART, ROOT, template

from e2e.harness import free_port
from e2e.otlp import Receiver

TAG = "localhost/portico:test"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PODMAN_DIR = ROOT / ".tools" / "podman"


def image_uid() -> int:
    match = re.search(r"^ARG PORTICO_UID=(\d+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert match, "Dockerfile declares no ARG PORTICO_UID"
    return int(match.group(1))


def test_chart_runs_as_the_image_user() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())["controller"]
    uid = image_uid()
    for context in (values["podSecurityContext"], values["containerSecurityContext"]):
        assert (context["runAsUser"], context["runAsGroup"]) == (uid, uid)


def podman(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # The same configuration scripts/build-image.sh wrote: runc, cgroupfs, storage under .tools.
    env = {**os.environ,
           "CONTAINERS_CONF": str(PODMAN_DIR / "conf" / "containers.conf"),
           "CONTAINERS_STORAGE_CONF": str(PODMAN_DIR / "conf" / "storage.conf")}
    return subprocess.run(["podman", *command], capture_output=True, text=True, check=check,
                          env=env, timeout=120)


@pytest.fixture(scope="module")
def image() -> str:
    if os.environ.get("PORTICO_IMAGE_TEST") != "1":
        pytest.skip("set PORTICO_IMAGE_TEST=1 to build and run the image")
    build = subprocess.run([str(ROOT / "scripts" / "build-image.sh"), TAG],
                           capture_output=True, text=True, check=False, timeout=600,
                           env={**os.environ, "PORTICO_PODMAN_DIR": str(PODMAN_DIR)})
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    return TAG


def test_image_entrypoint_is_portico(image: str) -> None:
    result = podman("run", "--rm", image, "--help")
    assert "run" in result.stdout
    assert podman("run", "--rm", "--entrypoint", "id", image, "-u").stdout.strip() == str(
        image_uid())


def wait_until_ready(url: str, deadline: float) -> None:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        assert time.monotonic() < deadline, f"{url} never answered 200"
        time.sleep(0.1)


@pytest.fixture
def container_name() -> Iterator[str]:
    name = f"portico-image-test-{os.getpid()}"
    yield name
    podman("rm", "--force", name, check=False)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_image_serves_with_the_charts_arguments_and_security(
    image: str, render: Render, container_name: str, receiver: Receiver
) -> None:
    # The defaults, and tracing on: the image carries the `tracing` extra.
    manifests = render({"tracing": {"otlpEndpoint": f"http://127.0.0.1:{receiver.port}"}})
    security = container(manifests)["securityContext"]
    user = f"{security['runAsUser']}:{security['runAsGroup']}"
    assert pod_spec(manifests)["securityContext"]["runAsNonRoot"]
    http, admin = free_port(), free_port()
    # The chart's command line, then what differs here: files instead of a cluster,
    # loopback ports, a short drain.
    command = [*args(manifests), "--manifests=/manifests", "--bind=127.0.0.1",
               "--admin-bind=127.0.0.1", f"--http-port={http}", "--https-port=0",
               f"--admin-port={admin}", "--workers=1", "--shutdown-delay=0.2",
               "--shutdown-grace=5"]
    env = [f"--env={e['name']}={e['value']}" for e in container(manifests)["env"] if "value" in e]
    podman("run", "--detach", "--name", container_name, "--network=host",
           "--read-only", "--tmpfs=/tmp", "--cap-drop=ALL", "--security-opt=no-new-privileges",
           f"--user={user}", "-v", f"{ROOT / 'examples' / 'demo'}:/manifests:ro", *env,
           image, *command)
    wait_until_ready(f"http://127.0.0.1:{admin}/readyz", time.monotonic() + 30)
    # A routed request (routes are traced, unmatched requests are not): whatever the demo's
    # pods, absent here, make of it, its spans reach the collector.
    request = urllib.request.Request(f"http://127.0.0.1:{http}/", headers={
        "Host": "hello.local", "traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"})
    with contextlib.suppress(urllib.error.HTTPError):
        urllib.request.urlopen(request, timeout=10).close()
    spans = receiver.trace(TRACE_ID, 1)
    # tracing.serviceName, through OTEL_SERVICE_NAME
    assert {span["service"] for span in spans} == {"portico"}
    started = time.monotonic()
    podman("stop", "--time=20", container_name)
    assert time.monotonic() - started < 15, "SIGTERM did not lead to a prompt, clean exit"
    state = podman("inspect", "--format={{.State.ExitCode}}", container_name).stdout.strip()
    assert state == "0", podman("logs", container_name, check=False).stderr[-2000:]


def test_image_runs_the_helm_tests_backend_and_load_test(
    image: str, helm: Path, tmp_path: Path, container_name: str
) -> None:
    hooks = template(helm, {}, tmp_path, tests=True)
    (echo,) = one(hooks, "Deployment")["spec"]["template"]["spec"]["containers"]
    port = free_port()
    locked = ["--network=host", "--read-only", "--tmpfs=/tmp", "--cap-drop=ALL",
              "--security-opt=no-new-privileges", f"--user={image_uid()}:{image_uid()}"]
    backend = [a.replace("--bind=0.0.0.0", "--bind=127.0.0.1").replace(
        "--port=8080", f"--port={port}") for a in echo["args"]]
    podman("run", "--detach", "--name", container_name, *locked, image, *backend)
    # The hook's load test, aimed at the backend itself (no controller here), for 2 s.
    load = [a for a in one(hooks, "Pod")["spec"]["containers"][0]["args"]
            if not a.startswith(("http://", "--host=", "--duration="))]
    result = podman("run", "--rm", *locked, image, load[0], f"http://127.0.0.1:{port}/",
                    "--duration=2s", *load[1:], check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "SLO passed" in result.stdout
