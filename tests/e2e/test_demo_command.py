"""`portico demo` as a user runs it: pods on 127.0.0.2/.3, routes from examples/demo/."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from e2e.harness import free_port, wait_until
from ingress.demo import DEMO_ADDRESSES
from tls_clients import unverified

ROOT = Path(__file__).resolve().parents[2]


def fetch(url: str, host: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, response.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def secure_common_name(port: int) -> str:
    """CN of the certificate served for SNI secure.local (self-signed: not verified)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, unverified().wrap_socket(
        raw, server_hostname="secure.local"
    ) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    name = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(
        NameOID.COMMON_NAME
    )
    return str(name[0].value)


def test_portico_demo_serves_the_documented_routes() -> None:
    http, https, admin = free_port(), free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ingress.cli", "demo", "--manifests", str(ROOT / "examples/demo"),
         "--http-port", str(http), "--https-port", str(https), "--admin-port", str(admin)],
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
        assert b"portico_ingresses_owned 3\n" in metrics
        # secure.local: HTTPS with the certificate the demo generated, plain HTTP redirected.
        assert secure_common_name(https) == "secure.local"
        redirect = urllib.request.Request(proxy + "/x", headers={"Host": "secure.local"})
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.build_opener(NoRedirect).open(redirect, timeout=5)
        assert answer.value.code == 308
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr.decode()
