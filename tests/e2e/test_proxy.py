"""The data plane end to end: `portico run --manifests` in front of real demo pods."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from e2e.harness import Manifests, Pods, Portico, eventually, free_port_on, wait_until
from ingress.demo import demo_bytes
from kube import objects as o
from kube.objects import annotated

PODS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
DEAD_POD = "127.0.0.9"  # listed in an EndpointSlice, nothing listens there


class Rig:
    def __init__(self, portico: Portico, manifests: Manifests, port: int) -> None:
        self.portico = portico
        self.manifests = manifests
        self.port = port


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    base = tmp_path_factory.mktemp("proxy")
    port = free_port_on(PODS)
    pods = Pods([(ip, port) for ip in PODS])
    manifests = Manifests(base / "manifests")
    manifests.write(
        "base.yaml",
        [
            o.ingress_class(),
            o.service("web", target=port),
            o.endpoint_slice("web", list(PODS), port=port),
            o.service("solo", target=port),
            o.endpoint_slice("solo", [PODS[0]], port=port),
            o.service("empty", target=port),
            o.service("dead", target=port),
            o.endpoint_slice("dead", [DEAD_POD], port=port),
            o.service("half", target=port),
            o.endpoint_slice("half", [PODS[0], DEAD_POD], port=port),
            o.ingress("web", host="web.test", service="web"),
            o.ingress("api", host="web.test", path="/api", service="solo"),
            o.ingress("exact", host="web.test", path="/exact", path_type="Exact", service="solo"),
            o.ingress("wild", host="*.wild.test", service="solo"),
            o.ingress("empty", host="empty.test", service="empty"),
            o.ingress("dead", host="dead.test", service="dead"),
            o.ingress("half", host="half.test", service="half"),
            annotated(o.ingress("slow", host="slow.test", service="solo"), proxy_read_timeout="1"),
            annotated(o.ingress("small", host="small.test", service="solo"), proxy_body_size="1k"),
            annotated(o.ingress("inside", host="inside.test", service="solo"),
                      allowlist_source_range="10.0.0.0/8, 127.0.0.0/8"),
            annotated(o.ingress("outside", host="outside.test", service="solo"),
                      whitelist_source_range="10.0.0.0/8"),
        ],
    )
    # A long first ejection keeps the passive-health test independent of its speed.
    portico = Portico(
        manifests.root,
        *("--eject-base", "60", "--client-header-timeout", "1", "--keepalive-timeout", "2"),
        log=base / "portico.log",
    )
    try:
        portico.wait_ready()
        yield Rig(portico, manifests, port)
    finally:
        portico.stop()
        pods.close()


async def fetch(
    rig: Rig, host: str, path: str = "/", method: str = "GET", **kwargs: Any
) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, rig.portico.url + path, headers={"Host": host}, **kwargs
        ) as response,
    ):
        return response.status, dict(response.headers), await response.read()


async def echo(rig: Rig, host: str, path: str = "/", **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("headers", {"Host": host})
    url = rig.portico.url + path
    async with aiohttp.ClientSession() as session, session.get(url, **kwargs) as r:
        assert r.status == 200, await r.text()
        result: dict[str, Any] = await r.json()
        result["pod"] = result["pod"].rpartition(":")[0]
        return result


async def test_routes_by_host_and_path(rig: Rig) -> None:
    assert (await echo(rig, "web.test", "/api/users"))["pod"] == PODS[0]
    assert (await echo(rig, "WEB.test:8080", "/exact"))["pod"] == PODS[0]
    assert (await echo(rig, "a.wild.test", "/x"))["path"] == "/x"
    status, _, _ = await fetch(rig, "a.b.wild.test")
    assert status == 404
    status, _, _ = await fetch(rig, "unknown.test")
    assert status == 404


async def test_forwarded_headers(rig: Rig) -> None:
    sent = {"Host": "web.test", "X-Forwarded-For": "10.9.8.7", "Proxy": "http://evil.test:3128",
            "X-Forwarded-Host": "evil.test"}
    seen = await echo(rig, "web.test", "/h?q=1", headers=sent)
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert "proxy" not in headers  # httpoxy
    assert seen["query"] == "q=1"
    assert headers["host"] == "web.test"
    # Without trusted proxies the client's own X-Forwarded-For is replaced, as ingress-nginx does.
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-real-ip"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == "web.test"
    assert headers["x-forwarded-port"] == str(rig.portico.http_port)
    # What the client claimed, under ingress-nginx's names, for pods that log it.
    assert headers["x-original-forwarded-for"] == "10.9.8.7"
    assert headers["x-original-forwarded-host"] == "evil.test"
    seen = await echo(rig, "web.test", "/h", headers={"Host": "web.test"})
    assert not {"x-original-forwarded-for", "x-original-forwarded-host"} & {
        k.lower() for k in seen["headers"]}


async def test_balances_over_all_pods(rig: Rig) -> None:
    pods = Counter([(await echo(rig, "web.test", "/"))["pod"] for _ in range(30)])
    assert set(pods) == set(PODS)
    assert max(pods.values()) - min(pods.values()) <= 1  # round robin


async def test_error_answers(rig: Rig) -> None:
    assert (await fetch(rig, "empty.test"))[0] == 503
    assert (await fetch(rig, "dead.test"))[0] == 502
    status, _, _ = await fetch(rig, "slow.test", "/delay/3")
    assert status == 504
    assert rig.portico.metric("portico_requests_total", status="5xx") >= 3


async def test_dead_endpoint_is_retried_around_then_ejected(rig: Rig) -> None:
    async def burst() -> float:
        for n in range(20):
            status, _, body = await fetch(rig, "half.test", f"/n/{n}", method="POST", data=b"x")
            assert status == 200, body  # connection refused is retried on the live pod
        return rig.portico.metric("portico_upstream_errors_total", backend="default/half:80")

    errors = await burst()
    # At most --eject-after (3) refused connections (other tests may have counted some
    # against that address already), then the dead pod is left alone for a while.
    assert 1 <= errors <= 3
    assert await burst() == errors


async def test_large_bodies_both_ways(rig: Rig) -> None:
    size = 9 * 1024 * 1024
    body = demo_bytes(size)
    status, _, data = await fetch(rig, "web.test", "/upload", method="POST", data=body)
    assert status == 200
    received = json.loads(data)
    assert received["body_length"] == size
    assert received["body_sha256"] == hashlib.sha256(body).hexdigest()
    status, headers, data = await fetch(rig, "web.test", f"/bytes/{size}")
    assert status == 200 and headers["Content-Length"] == str(size)
    assert hashlib.sha256(data).digest() == hashlib.sha256(body).digest()


async def test_chunked_upstream_response(rig: Rig) -> None:
    status, headers, data = await fetch(rig, "web.test", "/chunked/300000")
    assert status == 200
    assert headers.get("Transfer-Encoding") == "chunked"
    assert data == demo_bytes(300000)


async def test_head(rig: Rig) -> None:
    status, _, data = await fetch(rig, "web.test", "/bytes/5000", method="HEAD")
    assert status == 200 and data == b""
    # The pooled upstream connection stays usable after a HEAD.
    assert (await echo(rig, "web.test", "/after-head"))["path"] == "/after-head"


async def test_keep_alive_both_sides(rig: Rig) -> None:
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        peers = []
        for _ in range(6):
            async with session.get(rig.portico.url + "/api", headers={"Host": "web.test"}) as r:
                peers.append((await r.json())["peer"])
        # One client connection carried every request, and the upstream side reused too.
        assert len(connector._conns) <= 1
        assert len(set(peers)) == 1


def test_pipelined_requests_answered_in_order(rig: Rig) -> None:
    with socket.create_connection(("127.0.0.1", rig.portico.http_port), timeout=5) as sock:
        sock.sendall(
            b"GET /one HTTP/1.1\r\nHost: web.test\r\n\r\n"
            b"GET /delay/0.2 HTTP/1.1\r\nHost: web.test\r\n\r\n"
            b"GET /three HTTP/1.1\r\nHost: web.test\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200") == 3
    assert data.index(b'"/one"') < data.index(b'"/delay/0.2"') < data.index(b'"/three"')


def raw(rig: Rig, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", rig.portico.http_port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def closed_after(sock: socket.socket) -> float:
    """Seconds until the peer closes `sock` (reading and dropping what it sends)."""
    started = time.monotonic()
    sock.settimeout(10)
    while sock.recv(65536):
        pass
    return time.monotonic() - started


def test_slow_headers_and_idle_keep_alive_are_closed(rig: Rig) -> None:
    address = ("127.0.0.1", rig.portico.http_port)
    with socket.create_connection(address) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: web.test\r\n")  # never finished
        assert 0.9 < closed_after(slow) < 3  # --client-header-timeout 1 (+ sweep interval)
    with socket.create_connection(address) as idle:
        idle.sendall(b"GET /x HTTP/1.1\r\nHost: web.test\r\n\r\n")
        assert idle.recv(65536).startswith(b"HTTP/1.1 200")
        assert 1.9 < closed_after(idle) < 4  # --keepalive-timeout 2


def test_bad_requests(rig: Rig) -> None:
    smuggle = raw(
        rig,
        b"POST / HTTP/1.1\r\nHost: web.test\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    assert smuggle.startswith(b"HTTP/1.1 400")
    assert raw(rig, b"NOT HTTP\r\n\r\n").startswith(b"HTTP/1.1 400")
    huge = b"GET / HTTP/1.1\r\nHost: web.test\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n"
    assert raw(rig, huge).startswith(b"HTTP/1.1 431")


async def test_source_ranges(rig: Rig) -> None:
    assert (await fetch(rig, "inside.test"))[0] == 200
    assert (await fetch(rig, "outside.test"))[0] == 403


async def test_body_size_limit(rig: Rig) -> None:
    status, _, _ = await fetch(rig, "small.test", "/", method="POST", data=b"x" * 2048)
    assert status == 413
    status, _, _ = await fetch(rig, "small.test", "/", method="POST", data=b"x" * 512)
    assert status == 200


def test_expect_continue(rig: Rig) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", rig.portico.http_port, timeout=5)
    conn.putrequest("POST", "/cont", skip_host=True)
    conn.putheader("Host", "web.test")
    conn.putheader("Content-Length", "5")
    conn.putheader("Expect", "100-continue")
    conn.endheaders()
    conn.send(b"hello")
    response = conn.getresponse()
    assert response.status == 200
    assert b'"body_length": 5' in response.read()


async def test_change_applies_while_request_in_flight(rig: Rig) -> None:
    async with aiohttp.ClientSession() as session:
        slow = asyncio.ensure_future(
            session.get(rig.portico.url + "/delay/1.5", headers={"Host": "web.test"})
        )
        await asyncio.sleep(0.2)  # let the request reach the pod before the change
        rig.manifests.write(
            "moved.yaml",
            [o.ingress("moved", host="moved.test", service="solo")],
        )

        async def routed() -> bool:
            return (await fetch(rig, "moved.test"))[0] == 200

        await eventually(routed, "the new Ingress to route", deadline=5)
        response = await slow
        assert response.status == 200
        assert (await response.json())["path"] == "/delay/1.5"
        response.release()
    rig.manifests.remove("moved.yaml")


async def test_invalid_ingress_skipped_others_route(rig: Rig) -> None:
    bad = o.ingress("bad", host="bad.test", path="relative", service="solo")
    rig.manifests.write("bad.yaml", [bad, o.ingress("good", host="good.test", service="solo")])

    async def good_routes() -> bool:
        return (await fetch(rig, "good.test"))[0] == 200

    await eventually(good_routes, "the valid Ingress beside an invalid one")
    assert (await fetch(rig, "bad.test"))[0] == 404
    assert (await fetch(rig, "web.test"))[0] == 200
    assert "must be absolute" in rig.portico.logs()
    rig.manifests.remove("bad.yaml")


def test_readiness_and_metrics(rig: Rig) -> None:
    assert rig.portico.admin_get("/healthz")[0] == 200
    assert rig.portico.admin_get("/readyz")[0] == 200
    wait_until(
        lambda: rig.portico.metric("portico_requests_total", host="web.test", status="2xx") > 0,
        "request counters",
    )
    assert rig.portico.metric("portico_config_rebuilds_total") >= 1
    assert rig.portico.metric("portico_upstream_response_seconds_count") > 0


def test_graceful_shutdown_finishes_in_flight(tmp_path: Path, rig: Rig) -> None:
    portico = Portico(rig.manifests.root, "--access-log", log=tmp_path / "p.log")
    portico.wait_ready()
    conn = http.client.HTTPConnection("127.0.0.1", portico.http_port, timeout=10)
    conn.request("GET", "/delay/1", headers={"Host": "web.test"})
    wait_until(lambda: portico.metric("portico_active_connections") >= 1, "request in flight")
    portico.terminate()
    wait_until(lambda: portico.admin_get("/readyz")[0] == 503, "readiness to flip", deadline=3)
    response = conn.getresponse()
    assert response.status == 200
    body = response.read()
    assert portico.stop() == 0
    access = [json.loads(line) for line in portico.logs().splitlines() if "/delay/1" in line]
    assert len(access) == 1  # written out before the process exited
    line = access[0]
    assert (line["remote_addr"], line["status"], line["host"]) == ("127.0.0.1", 200, "web.test")
    assert line["bytes_sent"] > len(body)  # the status line, headers and body
