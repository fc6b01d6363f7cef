"""gRPC through Portico: grpcio clients and grpcio servers, h2c and TLS on both sides.

The pods are real grpcio servers with generic handlers (bytes in, bytes
out: no protoc). Ingresses say `backend-protocol: GRPC` (h2c to the pod) or
`GRPCS` (TLS to the pod); clients reach Portico over h2c and over TLS.
"""

from __future__ import annotations

import base64
import http.client
import socket
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme

from e2e.harness import Manifests, Portico, free_port, start_ready, wait_until
from e2e.test_tls import tls_secret
from kube import objects as o
from kube.objects import annotated

POD, TLS_POD, POD2, DEAD_POD = "127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.29"
SLOW_POD = "127.0.0.28"
HOST, TLS_HOST = "grpc.test", "grpcs.test"
SERVICE = "demo.Echo"
MB = 1024 * 1024
SLEEPING = threading.Event()  # set while a pod handles a "sleep" call
ASLEEP: set[str] = set()  # the pods handling a "sleep" call now


class Echo:
    """The four call types, plus calls that fail or stall on request."""

    def __init__(self, name: str = "echo") -> None:
        self.name = name

    def unary(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        metadata = dict(context.invocation_metadata())
        if request == b"abort":
            context.set_trailing_metadata((("why", "asked"),))
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "told to fail")
        if request.startswith(b"sleep "):
            ASLEEP.add(self.name)
            SLEEPING.set()
            time.sleep(float(request.split()[1]))
            ASLEEP.discard(self.name)
        context.set_trailing_metadata((("x-served-by", self.name),))
        if request == b"timeout?":  # the deadline grpc-timeout gave this call
            return b"%.3f" % (context.time_remaining() or -1.0)
        if request == b"whoami":
            return str(sorted(metadata.items())).encode()
        return request

    def server_stream(self, request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        count, size, *pause = request.split()  # "count size [seconds before each message]"
        for i in range(int(count)):
            if pause:
                time.sleep(float(pause[0]))
            yield bytes([i % 256]) * int(size)

    def client_stream(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        return b"%d" % sum(len(r) for r in requests)

    def bidi(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        for request in requests:
            yield request[::-1]


def _handlers(name: str) -> grpc.GenericRpcHandler:
    echo = Echo(name)
    return grpc.method_handlers_generic_handler(SERVICE, {
        "Unary": grpc.unary_unary_rpc_method_handler(echo.unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(echo.server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(echo.client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(echo.bidi),
    })


def _server(address: str, credentials: grpc.ServerCredentials | None,
            name: str = "echo") -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64),
                         options=[("grpc.max_receive_message_length", 4 * MB)])
    server.add_generic_rpc_handlers((_handlers(name),))
    if credentials is None:
        server.add_insecure_port(address)
    else:
        server.add_secure_port(address, credentials)
    server.start()
    return server


def _unaccepting(address: str, port: int) -> list[socket.socket]:
    """A listener whose accept queue is full: the kernel drops further SYNs, so a pod
    there cannot be connected to in time. Returns the sockets to close."""
    listener = socket.create_server((address, port), backlog=0)
    fillers = []
    for _ in range(2):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex((address, port))
        fillers.append(filler)
    return [listener, *fillers]


class Rig:
    def __init__(self, portico: Portico, manifests: Manifests, ca: trustme.CA) -> None:
        self.portico = portico
        self.manifests = manifests
        self.ca = ca

    def channel(self, tls: bool, host: str = HOST) -> grpc.Channel:
        options = [("grpc.max_receive_message_length", 4 * MB)]
        if not tls:
            target = self.portico.url.removeprefix("http://")
            options.append(("grpc.default_authority", host))
            return grpc.insecure_channel(target, options=options)
        target = self.portico.secure_url.removeprefix("https://")
        credentials = grpc.ssl_channel_credentials(self.ca.cert_pem.bytes())
        return grpc.secure_channel(
            target, credentials, options=[*options, ("grpc.ssl_target_name_override", host)])


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    base = tmp_path_factory.mktemp("grpc")
    ca = trustme.CA()
    pod_port, tls_port = free_port(POD), free_port(TLS_POD)
    pod_leaf = ca.issue_cert("pod.internal")
    unaccepting = _unaccepting(SLOW_POD, pod_port)
    servers = [
        _server(f"{POD}:{pod_port}", None),
        _server(f"{POD2}:{pod_port}", None, "echo-2"),
        _server(f"{TLS_POD}:{tls_port}", grpc.ssl_server_credentials(
            [(pod_leaf.private_key_pem.bytes(), pod_leaf.cert_chain_pems[0].bytes())])),
    ]
    leaf = ca.issue_cert(HOST, TLS_HOST)
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    manifests = Manifests(base / "manifests")
    manifests.write("base.yaml", [
        o.ingress_class(),
        tls_secret("grpc-tls", chain, leaf.private_key_pem.bytes()),
        o.service("echo", target=pod_port),
        o.endpoint_slice("echo", [POD], port=pod_port),
        o.service("echo-tls", target=tls_port),
        o.endpoint_slice("echo-tls", [TLS_POD], port=tls_port),
        o.service("none", target=pod_port),
        o.service("dead", target=pod_port),
        o.endpoint_slice("dead", [DEAD_POD], port=pod_port),
        annotated(o.ingress("echo", host=HOST, path="/demo.Echo", service="echo",
                            tls_secret="grpc-tls"),
                  backend_protocol="GRPC", ssl_redirect="false", proxy_read_timeout="3"),
        annotated(o.ingress("echo-tls", host=TLS_HOST, path="/demo.Echo", service="echo-tls",
                            tls_secret="grpc-tls"),
                  backend_protocol="GRPCS", ssl_redirect="false"),
        annotated(o.ingress("none", host=HOST, path="/demo.None", service="none"),
                  backend_protocol="GRPC", ssl_redirect="false"),
        annotated(o.ingress("dead", host=HOST, path="/demo.Dead", service="dead"),
                  backend_protocol="GRPC", ssl_redirect="false", proxy_connect_timeout="1"),
        o.service("slow", target=pod_port),
        o.endpoint_slice("slow", [SLOW_POD], port=pod_port),
        annotated(o.ingress("slow", host=HOST, path="/demo.Slow", service="slow"),
                  backend_protocol="GRPC", ssl_redirect="false", proxy_connect_timeout="1"),
        annotated(o.ingress("chatty", host="chatty.test", path="/demo.Echo", service="echo"),
                  backend_protocol="GRPC", ssl_redirect="false", proxy_read_timeout="1"),
        o.service("two", target=pod_port),
        o.endpoint_slice("two", [POD, POD2], port=pod_port),
        annotated(o.ingress("two", host="two.test", path="/demo.Echo", service="two"),
                  backend_protocol="GRPC", ssl_redirect="false", load_balance="least_conn"),
        # GRPCS with proxy-ssl-verify: the pod's certificate checked against a Secret's CA.
        o.secret("pod-ca", {"ca.crt": base64.b64encode(ca.cert_pem.bytes()).decode()}),
        o.secret("other-ca", {"ca.crt": base64.b64encode(
            trustme.CA().cert_pem.bytes()).decode()}),
        *(annotated(o.ingress(name, host=f"{name}.test", path="/demo.Echo", service="echo-tls"),
                    backend_protocol="GRPCS", ssl_redirect="false",
                    proxy_ssl_secret=f"default/{secret}", proxy_ssl_verify="on",
                    proxy_ssl_name="pod.internal")
          for name, secret in (("verified", "pod-ca"), ("mistrusted", "other-ca"))),
    ])
    portico = start_ready(manifests.root, "--max-retries", "0", log=base / "portico.log")
    rig = Rig(portico, manifests, ca)
    try:
        with rig.channel(False) as channel:
            wait_until(lambda: channel.unary_unary(f"/{SERVICE}/Unary")(b"up", timeout=2),
                       "the gRPC route to serve")
        yield rig
    finally:
        portico.stop()
        for server in servers:
            server.stop(None)
        for sock in unaccepting:
            sock.close()


def call(channel: grpc.Channel, method: str, kind: str = "unary_unary") -> Any:
    return getattr(channel, kind)(f"/{SERVICE}/{method}")


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "tls"])
@pytest.mark.parametrize("host", [HOST, TLS_HOST], ids=["pod-h2c", "pod-tls"])
def test_four_call_types(rig: Rig, tls: bool, host: str) -> None:
    with rig.channel(tls, host) as channel:
        reply, state = call(channel, "Unary").with_call(b"hello", timeout=5)
        assert reply == b"hello"
        assert ("x-served-by", "echo") in state.trailing_metadata()
        chunks = list(call(channel, "ServerStream", "unary_stream")(b"5 1000", timeout=5))
        assert [len(c) for c in chunks] == [1000] * 5 and chunks[3][0] == 3
        total = call(channel, "ClientStream", "stream_unary")(iter([b"ab"] * 100), timeout=5)
        assert total == b"200"
        replies = list(call(channel, "Bidi", "stream_stream")(
            iter([b"abc", b"hello", b"x" * 70000]), timeout=5))
        assert replies == [b"cba", b"olleh", b"x" * 70000]


def test_status_message_and_custom_trailers_reach_the_client(rig: Rig) -> None:
    with rig.channel(False) as channel, pytest.raises(grpc.RpcError) as failed:
        call(channel, "Unary")(b"abort", timeout=5)
    error = failed.value
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == "told to fail"
    assert ("why", "asked") in error.trailing_metadata()


def test_forwarded_headers_reach_the_pod(rig: Rig) -> None:
    with rig.channel(True) as channel:
        seen = call(channel, "Unary")(b"whoami", timeout=5).decode()
    assert "('x-forwarded-for', '127.0.0.1')" in seen
    assert "('x-forwarded-proto', 'https')" in seen


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("/demo.Nowhere/Call", grpc.StatusCode.UNIMPLEMENTED),  # no route
        ("/demo.None/Call", grpc.StatusCode.UNAVAILABLE),  # no endpoints
        ("/demo.Dead/Call", grpc.StatusCode.UNAVAILABLE),  # nothing listens at the pod
        # Not connected within the route's proxy-connect-timeout (1 s, not the default 5 s).
        ("/demo.Slow/Call", grpc.StatusCode.UNAVAILABLE),
    ],
)
def test_portico_made_errors_are_grpc_statuses(
        rig: Rig, method: str, code: grpc.StatusCode) -> None:
    started = time.monotonic()
    with rig.channel(False) as channel, pytest.raises(grpc.RpcError) as failed:
        channel.unary_unary(method)(b"x", timeout=5)
    assert failed.value.code() == code
    assert time.monotonic() - started < 3
    assert "portico" in (failed.value.details() or "")


def test_grpc_timeout_is_forwarded_capped_and_enforced(rig: Rig) -> None:
    with rig.channel(False) as channel:
        # The route's proxy-read-timeout (3 s) caps a longer client deadline.
        assert 2.0 < float(call(channel, "Unary")(b"timeout?", timeout=30)) <= 3.1
        assert 0.5 < float(call(channel, "Unary")(b"timeout?", timeout=1.5)) <= 1.6
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as failed:
            # No client deadline: the route's idle timeout (3 s) ends the silent call.
            call(channel, "Unary")(b"sleep 6")
        assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert 2.5 < time.monotonic() - started < 5.5


def test_a_stream_that_keeps_talking_outlives_the_read_timeout(rig: Rig) -> None:
    """proxy-read-timeout (1 s on this route) is the idle time between frames."""
    started = time.monotonic()
    with rig.channel(False, "chatty.test") as channel:
        chunks = list(call(channel, "ServerStream", "unary_stream")(b"4 10 0.5"))
    assert [len(c) for c in chunks] == [10] * 4
    assert time.monotonic() - started > 1.9


def test_50_concurrent_1mb_calls_on_one_connection(rig: Rig) -> None:
    payloads = [bytes([i]) * MB for i in range(50)]
    with rig.channel(True) as channel:
        unary = call(channel, "Unary")
        pending = [unary.future(p, timeout=30) for p in payloads]
        assert [f.result() for f in pending] == payloads
    assert rig.portico.metric("portico_http2_connections_closed_total") == 0


def test_a_stream_survives_a_table_swap(rig: Rig) -> None:
    outgoing: list[bytes] = []
    ready = threading.Event()

    def requests() -> Iterator[bytes]:
        for i in range(6):
            if i == 3:
                ready.wait(10)
            outgoing.append(b"msg%d" % i)
            yield b"msg%d" % i

    before = rig.portico.metric("portico_config_generation")
    # Through the route without proxy-read-timeout 3: that would cap the call at 3 s.
    with rig.channel(False, TLS_HOST) as channel:
        stream = call(channel, "Bidi", "stream_stream")(requests(), timeout=20)
        replies = [next(stream) for _ in range(3)]
        rig.manifests.write("extra.yaml", [o.ingress("extra", host="extra.test", service="echo")])
        wait_until(lambda: rig.portico.metric("portico_config_generation") > before,
                   "the table swap")
        ready.set()
        replies += list(stream)
    assert replies == [(b"msg%d" % i)[::-1] for i in range(6)]


def test_shutdown_lets_open_streams_finish(tmp_path: Path, rig: Rig) -> None:
    """GOAWAY on SIGTERM: the call in flight completes, the process then exits."""
    portico = start_ready(rig.manifests.root, "--shutdown-grace", "10",
                          log=tmp_path / "portico.log")
    try:
        target = portico.url.removeprefix("http://")
        with grpc.insecure_channel(target, options=[("grpc.default_authority", HOST)]) as channel:
            wait_until(lambda: call(channel, "Unary")(b"up", timeout=2), "the route")
            SLEEPING.clear()
            slow = call(channel, "Unary").future(b"sleep 1.5", timeout=10)
            assert SLEEPING.wait(5)  # the call is in flight at the pod
            portico.terminate()
            assert slow.result() == b"sleep 1.5"
        assert portico.process.wait(timeout=10) == 0
    finally:
        portico.stop()


def test_grpcs_verifies_the_pod_with_proxy_ssl_verify(rig: Rig) -> None:
    with rig.channel(False, "verified.test") as channel:
        assert call(channel, "Unary")(b"checked", timeout=5) == b"checked"
    with rig.channel(False, "mistrusted.test") as channel, \
            pytest.raises(grpc.RpcError) as failed:
        call(channel, "Unary")(b"x", timeout=5)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE


def test_an_http11_request_to_a_grpc_route_is_told_to_use_http2(rig: Rig) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", rig.portico.http_port, timeout=5)
    try:
        conn.request("POST", f"/{SERVICE}/Unary", body=b"\x00\x00\x00\x00\x00",
                     headers={"Host": HOST, "Content-Type": "application/grpc"})
        response = conn.getresponse()
        assert response.status == 426
        assert response.getheader("upgrade") == "h2c"
    finally:
        conn.close()


def test_least_conn_counts_calls_in_flight(rig: Rig) -> None:
    """A pod busy with a call is the other pod's turn under load-balance: least_conn."""
    with rig.channel(False, "two.test") as channel:
        SLEEPING.clear()
        slow = call(channel, "Unary").future(b"sleep 1.5", timeout=10)
        assert SLEEPING.wait(5)
        busy = next(iter(ASLEEP))
        served = {dict(call(channel, "Unary").with_call(b"x", timeout=5)[1].trailing_metadata())
                  ["x-served-by"] for _ in range(4)}
        assert served == {"echo", "echo-2"} - {busy}
        assert slow.result() == b"sleep 1.5"
