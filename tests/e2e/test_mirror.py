"""Request mirroring end to end: mirror-target, mirror-host, mirror-request-body, and
Gateway API's RequestMirror filter, through one `portico run --gateway-api`.

What ingress-nginx's e2e tests and docs say (test/e2e/annotations/mirror.go,
annotations.md "Mirror"): every request of the Ingress is copied to the
target with the body unless mirror-request-body is off, with the Host
mirror-host or the target's host name, and the mirror's answers are
ignored. What Portico adds: the client never waits for a copy, and a mirror
that is down or too slow loses copies, counted in portico_mirror_requests.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from e2e.auth_service import AuthService, Seen
from e2e.harness import Manifests, Pods, Portico, free_port, start_ready, wait_until
from kube import objects as o
from kube.gateway_objects import NS, backend_ref, gateway, gateway_class, http_route, http_rule

PODS = ("127.0.0.40",)
MIRROR = "127.0.0.41"  # records every copy it gets
DOWN = "127.0.0.42"  # nothing listens
DEAF = "127.0.0.43"  # connections open, nothing is ever read
BIG = 8 << 20


class Rig:
    def __init__(self, portico: Portico, mirror: AuthService) -> None:
        self.portico = portico
        self.mirror = mirror

    def send(self, host: str, path: str, method: str = "GET", body: bytes | None = None,
             chunked: bool = False, **headers: str) -> tuple[int, dict[str, Any]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.portico.http_port, timeout=10)
        try:
            parts: Any = iter([body[:3], body[3:]]) if chunked and body else body
            conn.request(method, path, body=parts, encode_chunked=chunked,
                         headers={"Host": host, **headers})
            response = conn.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw.startswith(b"{") else {}
        finally:
            conn.close()

    def copy_of(self, target: str) -> Seen:
        def found() -> Seen | None:
            return next((s for s in self.mirror.seen if s.target == target), None)
        return wait_until(found, f"the mirror's copy of {target}")

    def mirrored(self, outcome: str) -> float:
        return self.portico.metric("portico_mirror_requests_total", outcome=outcome)


def ingress(name: str, host: str, **annotations: str) -> dict[str, Any]:
    return o.annotated(o.ingress(name, host=host, path="/", service="web"), **annotations)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    base = tmp_path_factory.mktemp("mirror")
    port = free_port(PODS[0])
    pods = Pods([(ip, port) for ip in PODS])
    mirror = AuthService(MIRROR, free_port(MIRROR))
    deaf = socket.socket()
    deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    deaf.bind((DEAF, 0))
    deaf.listen(16)  # never accepted: what is sent stays in a small kernel buffer
    target = f"http://{MIRROR}:{mirror.address[1]}"
    manifests = Manifests(base / "manifests")
    manifests.write("objects.yaml", [
        o.ingress_class(), o.service("web", target=port),
        o.endpoint_slice("web", list(PODS), port=port),
        ingress("plain", "plain.test", mirror_target=f"{target}/mirror"),
        ingress("uri", "uri.test", mirror_target=f"{target}$request_uri",
                mirror_host="copies.test"),
        ingress("headless", "headless.test", mirror_target=f"{target}$request_uri",
                mirror_request_body="off"),
        ingress("guarded", "guarded.test", mirror_target=f"{target}$request_uri",
                whitelist_source_range="10.0.0.0/8"),
        ingress("down", "down.test", mirror_target=f"http://{DOWN}:9$request_uri"),
        ingress("deaf", "deaf.test", proxy_body_size="0",
                mirror_target=f"http://{DEAF}:{deaf.getsockname()[1]}$request_uri"),
        # Gateway API: RequestMirror to a Service's endpoints (the same recorder).
        gateway_class(), gateway("gw"),
        o.service("mirror", target=mirror.address[1], ns=NS),
        o.endpoint_slice("mirror", [MIRROR], port=mirror.address[1], ns=NS),
        o.service("web", target=port, ns=NS),
        o.endpoint_slice("web", list(PODS), port=port, ns=NS),
        http_route("mirrored", http_rule(
            backends=[backend_ref("web", port=80)],
            filters=[{"type": "RequestMirror", "requestMirror": {
                "backendRef": backend_ref("mirror", port=80)}}]), hostnames=["gateway.test"]),
        http_route("never", http_rule(
            backends=[backend_ref("web", port=80)],
            filters=[{"type": "RequestMirror", "requestMirror": {
                "backendRef": backend_ref("mirror", port=80), "percent": 0}}]),
            hostnames=["never.test"]),
    ])
    portico = start_ready(manifests.root, "--gateway-api", log=base / "portico.log")
    try:
        yield Rig(portico, mirror)
    finally:
        portico.stop()
        deaf.close()
        mirror.close()
        pods.close()


def test_mirror_target_gets_a_copy_and_the_client_the_pods_answer(rig: Rig) -> None:
    status, echoed = rig.send("plain.test", "/a/b?x=1", **{"X-Test": "one"})
    assert status == 200 and echoed["path"] == "/a/b"
    # proxy_pass with a path: it replaces the request's, whose arguments follow.
    copy = rig.copy_of("/mirror?x=1")
    assert copy.method == "GET"
    assert copy.headers["host"] == MIRROR  # the target's host name, without its port
    assert copy.headers["x-test"] == "one"


@pytest.mark.parametrize("chunked", [False, True])
def test_request_uri_mirror_host_and_the_body(rig: Rig, chunked: bool) -> None:
    path = f"/upload?chunked={chunked}"
    status, echoed = rig.send("uri.test", path, "POST", b"hello body", chunked=chunked)
    assert status == 200 and echoed["body_length"] == len(b"hello body")
    copy = rig.copy_of(path)
    assert (copy.method, copy.body) == ("POST", b"hello body")
    assert copy.headers["host"] == "copies.test"
    assert ("transfer-encoding" in copy.headers) is chunked


def test_mirror_request_body_off_copies_the_head_only(rig: Rig) -> None:
    status, _ = rig.send("headless.test", "/no-body", "POST", b"secret")
    assert status == 200
    copy = rig.copy_of("/no-body")
    assert copy.method == "POST" and copy.body == b""
    assert "content-length" not in copy.headers and "transfer-encoding" not in copy.headers


def test_a_request_refused_by_an_access_check_is_not_mirrored(rig: Rig) -> None:
    assert rig.send("guarded.test", "/refused")[0] == 403
    assert rig.send("uri.test", "/after-the-refused-one")[0] == 200
    rig.copy_of("/after-the-refused-one")
    assert not [s for s in rig.mirror.seen if s.target == "/refused"]


def test_a_mirror_that_is_down_costs_the_client_nothing(rig: Rig) -> None:
    before = rig.mirrored("failed")
    assert rig.send("down.test", "/x")[0] == 200
    wait_until(lambda: rig.mirrored("failed") > before, "the failed copy counted")


def test_a_mirror_that_falls_behind_loses_the_copy_not_the_request(rig: Rig) -> None:
    before = rig.mirrored("dropped")
    started = time.monotonic()
    status, echoed = rig.send("deaf.test", "/big", "POST", b"x" * BIG)
    assert status == 200 and echoed["body_length"] == BIG
    assert time.monotonic() - started < 8  # the copy's read timeout is 60 s
    wait_until(lambda: rig.mirrored("dropped") > before, "the dropped copy counted")


def test_gateway_request_mirror_copies_to_the_service(rig: Rig) -> None:
    status, echoed = rig.send("gateway.test", "/gw/path?q=1", **{"X-Gw": "1"})
    assert status == 200 and echoed["path"] == "/gw/path"
    copy = rig.copy_of("/gw/path?q=1")
    assert copy.headers["host"] == "gateway.test" and copy.headers["x-gw"] == "1"
    assert rig.send("never.test", "/never")[0] == 200
    assert rig.send("gateway.test", "/gw/after")[0] == 200
    rig.copy_of("/gw/after")
    assert not [s for s in rig.mirror.seen if s.target == "/never"]

    assert rig.mirrored("answered") >= 2
