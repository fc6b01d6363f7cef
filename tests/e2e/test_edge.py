"""The edge, as an attacker tries it: framing, canonical paths, upstream responses, limits.

One `portico run` in front of recording backends (benchmarks/harness/attacks.py),
which count every byte and every complete request that reaches them. Every
malformed request of the corpus gets its status, the connection is closed
after a framing error, and nothing reaches a backend.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from benchmarks.harness.attacks import (
    ADMIN,
    CONTROLS,
    CORPUS,
    HOST,
    UPSTREAM_CORPUS,
    Attack,
    RecordingBackend,
    send,
)
from e2e.harness import Manifests, Portico, free_port, start_ready, wait_until
from kube import objects as o

RECORDER = "127.0.0.5"
DYING, LIVING = "127.0.0.6", "127.0.0.7"  # two pods of one Service; the first resets
SYNC = f"GET /sync HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()


@dataclass
class Edge:
    portico: Portico
    backend: RecordingBackend
    dying: RecordingBackend
    living: RecordingBackend

    @property
    def port(self) -> int:
        return self.portico.http_port


def allow_listed(ingress: dict[str, object], ranges: str) -> dict[str, object]:
    ingress["metadata"]["annotations"] = {  # type: ignore[index]
        "nginx.ingress.kubernetes.io/whitelist-source-range": ranges}
    return ingress


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    base = tmp_path_factory.mktemp("edge")
    port = free_port(RECORDER)
    backend = RecordingBackend((RECORDER, port))
    pair_port = free_port(DYING)
    dying = RecordingBackend((DYING, pair_port), resets=True)
    living = RecordingBackend((LIVING, pair_port))
    manifests = Manifests(base / "manifests")
    manifests.write("edge.yaml", [
        o.ingress_class(),
        o.service("public", target=port), o.endpoint_slice("public", [RECORDER], port=port),
        o.service("admin", target=port), o.endpoint_slice("admin", [RECORDER], port=port),
        o.service("pair", target=pair_port),
        o.endpoint_slice("pair", [DYING, LIVING], port=pair_port),
        o.ingress("public", host=HOST, service="public"),
        allow_listed(o.ingress("admin", host=HOST, path=ADMIN, service="admin"), "10.0.0.0/8"),
        o.ingress("pair", host="pair.test", service="pair"),
    ])
    portico = start_ready(
        manifests.root,
        "--client-header-timeout", "1", "--client-body-timeout", "1",
        "--tls-handshake-timeout", "1", "--max-pipelined-requests", "4",
        "--non-idempotent-reuse-idle", "0.3",
        log=base / "portico.log",
    )
    try:
        yield Edge(portico, backend, dying, living)
    finally:
        portico.stop()
        for recorder in (backend, dying, living):
            recorder.close()


@pytest.mark.parametrize("attack", CORPUS, ids=[a.name for a in CORPUS])
def test_malformed_request_corpus(edge: Edge, attack: Attack) -> None:
    edge.backend.reset()
    answer = send(edge.port, attack.wire)
    if attack.streamed:
        # A request sent after it: once the backend has it, what was streamed has arrived.
        assert send(edge.port, SYNC).status == 200
    seen = edge.backend.reset()
    assert answer.status == attack.status, answer.head
    assert [r for r in seen.requests if r[1] != "/sync"] == [], "a request reached the backend"
    if not attack.streamed:
        assert seen.bytes == 0, "bytes of the request reached the backend"
    if attack.status != 403:
        assert answer.closed and b"connection: close" in answer.head.lower()


@pytest.mark.parametrize("control", CONTROLS, ids=[c.name for c in CONTROLS])
def test_well_formed_controls_reach_the_backend(edge: Edge, control: Attack) -> None:
    edge.backend.reset()
    answer = send(edge.port, control.wire)
    assert answer.status == control.status, answer.head
    assert len(edge.backend.reset().requests) == 1


def test_absolute_form_is_forwarded_in_origin_form_with_its_authority(edge: Edge) -> None:
    edge.backend.reset()
    send(edge.port, f"GET http://{HOST}:8080/x?y HTTP/1.1\r\nHost: other.test\r\n\r\n".encode())
    [(_, url, headers)] = edge.backend.reset().requests
    assert url == "/x?y"
    assert headers["host"] == f"{HOST}:8080"


def test_the_original_target_is_forwarded_unchanged(edge: Edge) -> None:
    edge.backend.reset()
    assert send(edge.port, f"GET /a//b/./c/%7e?q=%2e HTTP/1.1\r\nHost: {HOST}\r\n\r\n"
                .encode()).status == 200
    assert edge.backend.reset().requests[0][1] == "/a//b/./c/%7e?q=%2e"


def test_headers_with_underscores_are_dropped(edge: Edge) -> None:
    edge.backend.reset()
    wire = (f"GET /x HTTP/1.1\r\nHost: {HOST}\r\nX_Forwarded_For: 10.1.1.1\r\n"
            "X-Kept: 1\r\n\r\n").encode()
    assert send(edge.port, wire).status == 200
    [(_, _, headers)] = edge.backend.reset().requests
    assert "x_forwarded_for" not in headers
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-kept"] == "1"


def test_http10_never_gets_chunks(edge: Edge) -> None:
    with socket.create_connection(("127.0.0.1", edge.port), timeout=5) as sock:
        sock.sendall(f"GET /chunked HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk  # the body ends when Portico closes
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower()
    assert b"connection: close" in head.lower()
    assert body == b"backend\n"


def test_http10_keep_alive_is_said_when_kept(edge: Edge) -> None:
    with socket.create_connection(("127.0.0.1", edge.port), timeout=5) as sock:
        request = f"GET /x HTTP/1.0\r\nHost: {HOST}\r\nConnection: keep-alive\r\n\r\n".encode()
        for _ in range(2):  # the same connection carries a second request
            sock.sendall(request)
            head = b""
            while not head.endswith(b"backend\n"):
                head += sock.recv(65536)
            assert b"connection: keep-alive" in head.lower()


def test_a_head_split_across_reads_is_not_counted_with_the_body_after_it(edge: Edge) -> None:
    """Only reads that end inside a head count towards its raw size, not the body after it."""
    body = b"b" * 200_000
    with socket.create_connection(("127.0.0.1", edge.port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(f"POST /split HTTP/1.1\r\nHost: {HOST}\r\n".encode())
        time.sleep(0.2)  # not a wait for state: it makes the head arrive in two reads
        sock.sendall(f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                     + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data[:200]


def test_pipelined_requests_before_a_bad_one_are_answered_first(edge: Edge) -> None:
    edge.backend.reset()
    good = f"GET /one HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", edge.port), timeout=5) as sock:
        sock.sendall(good + good.replace(b"/one", b"/two") + b"GET /three HTTP/1.1\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert re.findall(rb"HTTP/1\.1 (\d+)", data) == [b"200", b"200", b"400"]
    assert [url for _, url, _ in edge.backend.reset().requests] == ["/one", "/two"]


def test_pipelined_requests_beyond_the_cap_close_the_connection(edge: Edge) -> None:
    edge.backend.reset()
    request = f"GET /p HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", edge.port), timeout=5) as sock:
        sock.sendall(request * 10)  # --max-pipelined-requests 4: one in flight, four queued
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    heads = [h for h in data.split(b"backend\n") if h]
    assert len(heads) == 5
    assert b"connection: close" in heads[-1].lower()
    assert len(edge.backend.reset().requests) == 5


@pytest.mark.parametrize("name", list(UPSTREAM_CORPUS))
def test_upstream_response_corpus(edge: Edge, name: str) -> None:
    attack = UPSTREAM_CORPUS[name]
    edge.backend.reset()
    answer = send(edge.port, f"GET /respond/{name} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    assert answer.status == attack.status, answer.head
    # Portico discards that upstream connection (the backend keeps its side open).
    wait_until(lambda: edge.backend.seen.closed >= 1, "the upstream connection to be closed")
    assert send(edge.port, f"GET /x HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()).status == 200


def test_silent_connections_are_closed_after_the_header_timeout(edge: Edge) -> None:
    sockets = [socket.create_connection(("127.0.0.1", edge.port)) for _ in range(500)]
    try:
        started = time.monotonic()
        for sock in sockets:
            sock.settimeout(max(0.1, started + 5 - time.monotonic()))
            assert sock.recv(1) == b""  # closed by Portico, with no answer, as nginx does
        assert time.monotonic() - started < 4  # --client-header-timeout 1 (+ sweep interval)
    finally:
        for sock in sockets:
            sock.close()


def test_a_stalled_body_gets_408(edge: Edge) -> None:
    with socket.create_connection(("127.0.0.1", edge.port), timeout=5) as sock:
        sock.sendall(f"POST /x HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 10\r\n\r\nabc"
                     .encode())
        started = time.monotonic()
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 408")
    assert 0.9 < time.monotonic() - started < 4


def test_a_silent_tls_handshake_is_closed(edge: Edge) -> None:
    with socket.create_connection(("127.0.0.1", edge.portico.https_port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello's start
        assert sock.recv(1) == b""
    assert time.monotonic() - started < 4  # --tls-handshake-timeout 1
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", edge.portico.https_port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=HOST) as tls:
        tls.sendall(f"GET /x HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        assert tls.recv(65536).startswith(b"HTTP/1.1 200")


def _pair(edge: Edge, method: str, path: str) -> int:
    return send(edge.port, f"{method} {path} HTTP/1.1\r\nHost: pair.test\r\n"
                           "Content-Length: 4\r\n\r\nbody".encode()).status


def test_a_request_that_may_have_been_applied_is_not_replayed(edge: Edge) -> None:
    """Two pods; one resets every connection after reading the request."""
    edge.dying.reset()
    edge.living.reset()
    posts = [_pair(edge, "POST", f"/post/{n}") for n in range(4)]
    dying, living = edge.dying.reset(), edge.living.reset()
    # Round robin sent two POSTs to each pod; the two the dying pod read got 502 and
    # were not sent again, to it or to the living pod.
    assert sorted(posts) == [200, 200, 502, 502]
    assert len(dying.requests) == 2 and len(living.requests) == 2
    assert not {url for _, url, _ in dying.requests} & {url for _, url, _ in living.requests}
    gets = [_pair(edge, "PUT", f"/put/{n}") for n in range(4)]
    dying, living = edge.dying.reset(), edge.living.reset()
    assert gets == [200] * 4  # idempotent: retried on the living pod
    assert len(living.requests) == 4
    assert edge.portico.metric("portico_upstream_retries_total", reason="reset") >= 2
    assert "retrying upstream request" in edge.portico.logs()


def test_non_idempotent_requests_reuse_only_fresh_upstream_connections(edge: Edge) -> None:
    def post() -> int:
        """Upstream connections the POST opened."""
        answer = send(edge.port, f"POST /p HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 0\r\n\r\n"
                      .encode())
        assert answer.status == 200
        return edge.backend.reset().opened

    assert send(edge.port, f"GET /warm HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()).status == 200
    edge.backend.reset()
    assert post() == 0  # the pooled connection was idle a moment: reused
    time.sleep(0.5)  # past --non-idempotent-reuse-idle 0.3
    assert post() == 1  # possibly stale by now: a new connection
    time.sleep(0.5)
    assert send(edge.port, f"GET /g HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()).status == 200
    assert edge.backend.reset().opened == 0  # an idempotent request may reuse it


def test_access_log_and_allow_list_use_the_client_address(edge: Edge) -> None:
    answer = send(edge.port, f"GET {ADMIN} HTTP/1.1\r\nHost: {HOST}\r\n"
                  "X-Forwarded-For: 10.1.2.3\r\n\r\n".encode())
    assert answer.status == 403  # the header is not believed from an untrusted peer


def test_rejections_are_counted(edge: Edge) -> None:
    assert edge.portico.metric("portico_requests_total", status="4xx") > 0
