"""Nothing in flight is lost when anything changes: churn, tunnels, stale and dying upstreams."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from e2e.harness import Manifests, Pods, Portico, eventually, free_port
from kube import objects as o

PODS = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6")
OTHER_POD = "127.0.0.7"  # serves only the unrelated Ingresses


@pytest.fixture(scope="module")
def pods() -> Iterator[tuple[int, Pods]]:
    port = free_port(PODS[0])
    running = Pods([(ip, port) for ip in (*PODS, OTHER_POD)])
    try:
        yield port, running
    finally:
        running.close()


def tls_secret(name: str, leaf: trustme.LeafCert) -> dict[str, Any]:
    def b64(blob: trustme.Blob) -> str:
        return base64.b64encode(blob.bytes()).decode()

    key = leaf.private_key_pem
    return o.secret(
        name,
        {"tls.crt": b64(leaf.cert_chain_pems[0]), "tls.key": b64(key)},
        type_="kubernetes.io/tls",
    )


def target_ingress(path_type: str) -> dict[str, Any]:
    return o.ingress(
        "target", host="churn.test", path_type=path_type, service="target", tls_secret="churn-tls"
    )


def pod_of(reply: dict[str, Any]) -> str:
    return str(reply["pod"]).rpartition(":")[0]


class Load:
    """Keep-alive clients sending requests back to back, counting every outcome."""

    def __init__(self, url: str, host: str, ssl_context: ssl.SSLContext | None = None) -> None:
        self.url = url
        self.host = host
        self.ssl = ssl_context
        self.ok = 0
        self.failures: list[str] = []
        self.pods: set[str] = set()
        self.stop = asyncio.Event()

    async def client(self) -> None:
        connector = aiohttp.TCPConnector(limit=1, ssl=self.ssl if self.ssl is not None else False)
        async with aiohttp.ClientSession(connector=connector) as session:
            for n in itertools.count():
                if self.stop.is_set():
                    return
                server_hostname = self.host if self.ssl is not None else None
                try:
                    async with session.get(
                        f"{self.url}/r/{n}",
                        headers={"Host": self.host},
                        server_hostname=server_hostname,
                    ) as response:
                        if response.status != 200:
                            self.failures.append(f"{response.status}: {await response.text()}")
                            continue
                        self.pods.add(pod_of(await response.json()))
                        self.ok += 1
                except (aiohttp.ClientError, OSError) as error:
                    self.failures.append(repr(error))


async def test_churn_loses_nothing(pods: tuple[int, Pods], tmp_path: Path) -> None:
    port, _ = pods
    ca = trustme.CA()
    manifests = Manifests(tmp_path / "manifests")

    def write_target(endpoints: tuple[str, ...], path_type: str) -> None:
        ingress = target_ingress(path_type)
        # Plain-HTTP clients take part too, so no redirect to HTTPS.
        ingress["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/ssl-redirect": "false"}
        manifests.write(
            "target.yaml",
            [
                o.service("target", target=port),
                o.endpoint_slice("target", list(endpoints), port=port),
                ingress,
                o.service("other", target=port),
                o.endpoint_slice("other", [OTHER_POD], port=port),
            ],
        )

    def write_secret() -> None:
        manifests.write("secret.yaml", [tls_secret("churn-tls", ca.issue_cert("churn.test"))])

    manifests.write("class.yaml", [o.ingress_class()])
    write_secret()
    write_target(PODS[:1], "Prefix")
    portico = Portico(manifests.root, log=tmp_path / "portico.log")
    try:
        portico.wait_ready()
        client_ssl = ssl.create_default_context()
        ca.configure_trust(client_ssl)
        plain = Load(portico.url, "churn.test")
        secure = Load(f"https://127.0.0.1:{portico.https_port}", "churn.test", client_ssl)
        clients = [asyncio.ensure_future(plain.client()) for _ in range(3)]
        clients.append(asyncio.ensure_future(secure.client()))
        scales = itertools.cycle([PODS[:1], PODS, PODS[1:3], PODS[2:5], PODS[:2]])
        path_types = itertools.cycle(["ImplementationSpecific", "Prefix"])
        deadline = time.monotonic() + 6.0
        for step in itertools.count():
            if time.monotonic() > deadline:
                break
            if step % 2:
                unrelated = o.ingress(f"u{step}", host=f"u{step}.test", service="other")
                manifests.write(f"unrelated-{step}.yaml", [unrelated])
            else:
                manifests.remove(f"unrelated-{step - 1}.yaml")
            write_target(next(scales), next(path_types))
            if step % 5 == 0:
                write_secret()
            await asyncio.sleep(0.1)
        plain.stop.set()
        secure.stop.set()
        await asyncio.gather(*clients)
        rebuilds = portico.metric("portico_config_rebuilds_total")
    finally:
        portico.stop()
    assert rebuilds > 20  # the configuration really changed all along
    assert plain.failures == [] and secure.failures == []
    assert plain.ok > 100 and secure.ok > 20
    assert plain.pods | secure.pods <= set(PODS)
    assert len(plain.pods) == len(PODS)  # the scaling really reached every pod


async def test_websocket_survives_swaps_and_endpoint_removal(
    pods: tuple[int, Pods], tmp_path: Path
) -> None:
    port, _ = pods
    manifests = Manifests(tmp_path / "manifests")
    manifests.write("class.yaml", [o.ingress_class()])

    def write(endpoints: list[str]) -> None:
        manifests.write(
            "ws.yaml",
            [
                o.service("ws", target=port),
                o.endpoint_slice("ws", endpoints, port=port),
                o.ingress("ws", host="ws.test", service="ws"),
            ],
        )

    write([PODS[0]])
    portico = Portico(manifests.root, log=tmp_path / "portico.log")
    try:
        portico.wait_ready()
        async with aiohttp.ClientSession() as session, session.ws_connect(
            portico.url + "/ws", headers={"Host": "ws.test"}
        ) as ws:
            await ws.send_str("before")
            assert (await ws.receive_str()) == "before"
            assert portico.metric("portico_open_tunnels") == 1
            # The pod leaves the EndpointSlice (it is terminating but still serving).
            write([PODS[1]])

            async def moved() -> bool:
                async with session.get(portico.url, headers={"Host": "ws.test"}) as response:
                    return pod_of(await response.json()) == PODS[1]

            await eventually(moved, "new requests to reach the new pod")
            for n in range(20):
                await ws.send_bytes(b"x" * n * 1000)
                assert (await ws.receive_bytes()) == b"x" * n * 1000
            await ws.send_str("after")
            assert (await ws.receive_str()) == "after"
    finally:
        portico.stop()


class RawUpstream:
    """A misbehaving upstream on a loopback address: each connection runs `handle`."""

    def __init__(self, host: str) -> None:
        self.sock = socket.create_server((host, 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self.handle(conn)

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.sock.close()


def read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        body += conn.recv(65536)


class StaleKeepAlive(RawUpstream):
    """Closes a kept-alive connection when its second request arrives.

    That is the race every keep-alive pool meets: the upstream's idle timer
    fires just as the proxy reuses the connection.
    """

    requests = 0

    def handle(self, conn: socket.socket) -> None:
        read_request(conn)
        self.requests += 1
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        conn.recv(65536)  # the next request on this connection: close instead of answering


class DyingUpstream(RawUpstream):
    """Announces a large body, sends part of it, then dies."""

    def handle(self, conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n" + b"x" * 100000)


async def test_stale_pooled_connection_is_never_a_502(tmp_path: Path) -> None:
    upstream = StaleKeepAlive("127.0.0.8")
    manifests = Manifests(tmp_path / "manifests")
    manifests.write(
        "stale.yaml",
        [
            o.ingress_class(),
            o.service("stale", target=upstream.port),
            o.endpoint_slice("stale", ["127.0.0.8"], port=upstream.port),
            o.ingress("stale", host="stale.test", service="stale"),
        ],
    )
    portico = Portico(manifests.root, log=tmp_path / "portico.log")
    try:
        portico.wait_ready()
        async with aiohttp.ClientSession() as session:
            for n in range(10):
                async with session.post(
                    portico.url + f"/p/{n}", data=b"payload", headers={"Host": "stale.test"}
                ) as response:
                    assert response.status == 200, await response.text()
        assert upstream.requests == 10
        assert portico.metric("portico_upstream_errors_total", reason="reset") >= 1
    finally:
        portico.stop()
        upstream.close()


async def test_upstream_dying_mid_response_fails_only_that_client(
    pods: tuple[int, Pods], tmp_path: Path
) -> None:
    port, _ = pods
    dying = DyingUpstream("127.0.0.9")
    manifests = Manifests(tmp_path / "manifests")
    manifests.write(
        "objects.yaml",
        [
            o.ingress_class(),
            o.service("dying", target=dying.port),
            o.endpoint_slice("dying", ["127.0.0.9"], port=dying.port),
            o.ingress("dying", host="dying.test", service="dying"),
            o.service("fine", target=port),
            o.endpoint_slice("fine", [PODS[0]], port=port),
            o.ingress("fine", host="fine.test", service="fine"),
        ],
    )
    portico = Portico(manifests.root, log=tmp_path / "portico.log")
    try:
        portico.wait_ready()
        async with aiohttp.ClientSession() as session:
            slow = await session.get(portico.url + "/delay/0.5", headers={"Host": "fine.test"})
            with pytest.raises(aiohttp.ClientPayloadError):
                async with session.get(portico.url, headers={"Host": "dying.test"}) as response:
                    assert response.status == 200
                    await response.read()
            assert slow.status == 200
            assert (await slow.json())["path"] == "/delay/0.5"
    finally:
        portico.stop()
        dying.close()
