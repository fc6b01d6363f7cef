"""ssl-passthrough end to end: `portico run --enable-ssl-passthrough`, a pod that speaks TLS.

What ingress-nginx does (annotations.md "SSL Passthrough", its TCP proxy):
a TLS connection whose ClientHello names a passthrough host reaches the
Service of the host's `/` path without being decrypted: the client sees
the pod's certificate. Every other TLS connection is terminated as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest
import trustme
from aiohttp import web

from e2e.harness import Manifests, Pods, free_port, start_ready, wait_until
from e2e.test_observability import Rig, tls_secret
from kube import objects as o
from tls_clients import trusting

PODS = ("127.0.0.60",)
TLS_POD = "127.0.0.61"  # terminates TLS itself, with a certificate of its own CA
POD_CA, PORTICO_CA = trustme.CA(), trustme.CA()
BIG = 4 << 20


class TlsPod:
    """An HTTPS server whose answers say which pod they are from; /big sends BIG bytes."""

    def __init__(self, port: int) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        POD_CA.issue_cert("pass.test").configure_cert(context)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runner: web.AppRunner = self._call(self._start(port, context))

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=10)

    async def _start(self, port: int, context: ssl.SSLContext) -> web.AppRunner:
        app = web.Application()
        app.router.add_get("/big", self._big)
        app.router.add_get("/{tail:.*}", self._hello)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, TLS_POD, port, ssl_context=context).start()
        return runner

    async def _big(self, _: web.Request) -> web.Response:
        return web.Response(body=b"p" * BIG)

    async def _hello(self, request: web.Request) -> web.Response:
        return web.Response(text=f"tls pod {request.path}")

    def close(self) -> None:
        self._call(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    base = tmp_path_factory.mktemp("passthrough")
    port = free_port(PODS[0])
    pods = Pods([(ip, port) for ip in PODS])
    tls_port = free_port(TLS_POD)
    tls_pod = TlsPod(tls_port)
    manifests = Manifests(base / "manifests")
    manifests.write("objects.yaml", [
        o.ingress_class(), o.service("web", target=port),
        o.endpoint_slice("web", list(PODS), port=port),
        o.service("secure", target=tls_port), o.endpoint_slice("secure", [TLS_POD],
                                                               port=tls_port),
        tls_secret(PORTICO_CA, "terminated.test", name="portico-tls"),
        o.annotated(o.ingress("pass", host="pass.test", service="secure"),
                    ssl_passthrough="true"),
        o.ingress("terminated", host="terminated.test", service="web",
                  tls_secret="portico-tls"),
    ])
    portico = start_ready(manifests.root, "--enable-ssl-passthrough",
                          "--tls-handshake-timeout", "1", log=base / "portico.log")
    try:
        yield Rig(portico, base)
    finally:
        portico.stop()
        tls_pod.close()
        pods.close()


def https(rig: Rig, name: str, path: str, ca: trustme.CA) -> bytes:
    """The body of a request over TLS with SNI `name`, whose certificate `ca` issued."""
    with socket.create_connection(("127.0.0.1", rig.portico.https_port), timeout=10) as raw, \
            trusting(ca).wrap_socket(raw, server_hostname=name) as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    return answer.partition(b"\r\n\r\n")[2]


def test_a_passthrough_host_gets_the_pods_tls_unopened(rig: Rig) -> None:
    # The client verifies the pod's certificate (its own CA): Portico decrypted nothing.
    assert https(rig, "pass.test", "/hello", POD_CA) == b"tls pod /hello"
    assert https(rig, "pass.test", "/big", POD_CA) == b"p" * BIG


def test_other_hosts_are_terminated_by_portico(rig: Rig) -> None:
    assert json.loads(https(rig, "terminated.test", "/echo", PORTICO_CA))["path"] == "/echo"
    with pytest.raises(ssl.SSLCertVerificationError):
        https(rig, "pass.test.example", "/", POD_CA)  # not a passthrough name: Portico's cert


def test_a_spliced_connection_counts_as_a_tunnel_while_open(rig: Rig) -> None:
    with socket.create_connection(("127.0.0.1", rig.portico.https_port), timeout=10) as raw, \
            trusting(POD_CA).wrap_socket(raw, server_hostname="pass.test"):
        wait_until(lambda: rig.portico.metric("portico_open_tunnels") == 1, "one tunnel open")
    wait_until(lambda: rig.portico.metric("portico_open_tunnels") == 0, "the tunnel closed")


@pytest.mark.parametrize("then_close", [False, True])
def test_a_client_that_stops_inside_its_client_hello_is_closed(rig: Rig,
                                                               then_close: bool) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", rig.portico.https_port), timeout=10) as raw:
        raw.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # 11 of 517 bytes
        if then_close:
            raw.shutdown(socket.SHUT_WR)
        # Closed without an answer (its unread bytes may make the close a reset).
        with contextlib.suppress(ConnectionResetError):
            assert raw.recv(100) == b""
    assert time.monotonic() - started < (1 if then_close else 5)  # --tls-handshake-timeout 1
