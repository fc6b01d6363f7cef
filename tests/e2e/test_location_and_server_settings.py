"""ingress-nginx's location and server settings end to end, through one `portico run`:
relative-redirects, use-port-in-redirects, disable-proxy-intercept-errors,
enable-rewrite-log, ssl-ciphers and ssl-prefer-server-ciphers.

What each test asserts is what ingress-nginx's e2e tests say
(test/e2e/annotations/{relativeredirects,disableproxyintercepterrors,log,
sslciphers}.go) and what nginx does with the directives they write
(absolute_redirect, port_in_redirect, proxy_intercept_errors, rewrite_log,
ssl_ciphers, ssl_prefer_server_ciphers).
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from e2e.harness import Manifests, Pods, free_port, start_ready, wait_until
from e2e.test_observability import Rig, tls_secret
from kube import objects as o
from tls_clients import trusting

PODS = ("127.0.0.50",)
ERRORS = "127.0.0.51"  # the default-backend Service's pod
CA = trustme.CA()
# trustme's keys are ECDSA: TLS 1.2 suites a client offers in this order.
AES128, AES256 = "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384"


def ingress(name: str, host: str, path: str = "/", **annotations: str) -> dict[str, Any]:
    tls = "ciphers-tls" if host.endswith(".tls.test") else None
    return o.annotated(o.ingress(name, host=host, path=path, service="web", tls_secret=tls),
                       **annotations)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    base = tmp_path_factory.mktemp("settings")
    port = free_port(PODS[0])
    pods = Pods([(ip, port) for ip in (*PODS, ERRORS)])
    manifests = Manifests(base / "manifests")
    manifests.write("objects.yaml", [
        o.ingress_class(), o.service("web", target=port),
        o.endpoint_slice("web", list(PODS), port=port),
        o.service("errors", target=port), o.endpoint_slice("errors", [ERRORS], port=port),
        tls_secret(CA, "*.tls.test", name="ciphers-tls"),
        ingress("relative", "relative.test", permanent_redirect="/new-location",
                relative_redirects="true"),
        ingress("absolute", "absolute.test", permanent_redirect="/new-location",
                relative_redirects="false"),
        ingress("ported", "ported.test", temporal_redirect="/elsewhere?a=1",
                use_port_in_redirects="true"),
        ingress("passed", "passed.test", custom_http_errors="404",
                disable_proxy_intercept_errors="true", default_backend="errors"),
        ingress("intercepted", "intercepted.test", custom_http_errors="404",
                disable_proxy_intercept_errors="false", default_backend="errors"),
        ingress("logged", "logged.test", "/something(/|$)(.*)", use_regex="true",
                rewrite_target="/$2", enable_rewrite_log="true"),
        ingress("weak", "weak.tls.test", ssl_ciphers=f"{AES256}:{AES128}",
                ssl_prefer_server_ciphers="false"),
        ingress("strong", "strong.tls.test", ssl_ciphers=f"{AES256}:{AES128}",
                ssl_prefer_server_ciphers="true"),
    ])
    portico = start_ready(manifests.root, log=base / "portico.log")
    try:
        yield Rig(portico, base)
    finally:
        portico.stop()
        pods.close()


def test_relative_redirects(rig: Rig) -> None:
    status, headers, _ = rig.get("relative.test", "/something")
    assert (status, headers["location"]) == (301, "/new-location")
    status, headers, _ = rig.get("absolute.test", "/something")
    # nginx's absolute_redirect: the Host's name, and no port (port_in_redirect off).
    assert (status, headers["location"]) == (301, "http://absolute.test/new-location")


def test_use_port_in_redirects(rig: Rig) -> None:
    status, headers, _ = rig.get("ported.test", "/x")
    assert status == 302
    assert headers["location"] == f"http://ported.test:{rig.portico.http_port}/elsewhere?a=1"


def test_disable_proxy_intercept_errors(rig: Rig) -> None:
    # The pod's own 404 reaches the client...
    status, _, body = rig.get("passed.test", "/status/404", headers={"X-Request-ID": "pie"})
    assert status == 404 and json.loads(body)["pod"].startswith(PODS[0])
    # ...unless interception is on: the default-backend's answer, told the code.
    status, _, body = rig.get("intercepted.test", "/status/404", headers={"X-Request-ID": "pie"})
    sent = json.loads(body)
    assert status == 200 and sent["pod"].startswith(ERRORS)
    assert sent["headers"]["x-code"] == "404" and sent["headers"]["x-request-id"] == "pie"


def test_enable_rewrite_log(rig: Rig) -> None:
    status, _, body = rig.get("logged.test", "/something/else?q=1")
    assert status == 200 and json.loads(body)["path"] == "/else"
    line = wait_until(lambda: next((line for line in rig.portico.logs().splitlines()
                                    if " rewrite " in line and "logged.test" in line), None),
                      "the rewrite's log line")
    assert "matched=/something/else" in line and "rewritten=/else" in line
    assert "query=q=1" in line


def negotiated(rig: Rig, host: str) -> str:
    context = trusting(CA)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(f"{AES128}:{AES256}")
    with socket.create_connection(("127.0.0.1", rig.portico.https_port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls:
        cipher: str = tls.cipher()[0]
        return cipher


def test_ssl_ciphers_and_ssl_prefer_server_ciphers(rig: Rig) -> None:
    assert negotiated(rig, "strong.tls.test") == AES256  # the host's order
    assert negotiated(rig, "weak.tls.test") == AES128  # the client's order
    status, _, _ = rig.get("weak.tls.test", "/", tls=True)
    assert status == 200
