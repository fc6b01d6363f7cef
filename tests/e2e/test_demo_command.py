"""`portico demo` as a user runs it: pods on 127.0.0.2/.3, routes from examples/demo/."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from e2e.harness import free_port, wait_until
from ingress.demo import DEMO_ADDRESSES

ROOT = Path(__file__).resolve().parents[2]


def fetch(url: str, host: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, response.read()


def test_portico_demo_serves_the_documented_routes() -> None:
    http, admin = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ingress.cli", "demo", "--manifests", str(ROOT / "examples/demo"),
         "--http-port", str(http), "--https-port", "0", "--admin-port", str(admin)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: fetch(f"http://127.0.0.1:{admin}/readyz")[0] == 200, "ready", 20)
        proxy = f"http://127.0.0.1:{http}"

        def pod(path: str, host: str) -> str:
            status, body = fetch(proxy + path, host)
            assert status == 200
            return str(json.loads(body)["pod"])

        pods = {f"{ip}:{port}" for ip, port in DEMO_ADDRESSES}
        assert {pod("/", "hello.local") for _ in range(4)} == pods
        assert {pod("/", "demo.local") for _ in range(4)} == pods
        assert pod("/echo/x", "demo.local") == "{}:{}".format(*DEMO_ADDRESSES[1])
        _, metrics = fetch(f"http://127.0.0.1:{admin}/metrics")
        assert b"portico_ingresses_owned 2.0" in metrics
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr.decode()
