"""Who the client is, behind trusted proxies and TCP balancers; and --max-connections.

`portico run --proxy-protocol --trusted-proxies 127.0.0.1/32`: HAProxy (the
Debian package, a real PROXY protocol sender) forwards TCP connections with
`send-proxy` (v1) and `send-proxy-v2`, to the HTTP and the HTTPS port; other
tests send hand-built headers from trusted and untrusted loopback addresses.
The recording backend shows what the upstream was told; allow-lists and the
access log must agree with it.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.harness.attacks import ADMIN, HOST, RecordingBackend
from e2e.harness import Manifests, Portico, free_port, start_ready, wait_until
from ingress.proxy.proxy_protocol import v1_header
from kube import objects as o

RECORDER = "127.0.0.5"
UNTRUSTED = "127.0.0.77"  # a loopback address outside --trusted-proxies
CLIENT = "127.0.0.66"  # the client behind HAProxy


@dataclass
class Rig:
    portico: Portico
    backend: RecordingBackend
    haproxy: dict[str, int]  # frontend name -> port


def _manifests(root: Path, port: int) -> Manifests:
    manifests = Manifests(root)
    admin = o.ingress("admin", host=HOST, path=ADMIN, service="web")
    admin["metadata"]["annotations"] = {
        "nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/8"}
    manifests.write("edge.yaml", [
        o.ingress_class(), o.service("web", target=port),
        o.endpoint_slice("web", [RECORDER], port=port),
        o.ingress("web", host=HOST, service="web"), admin,
    ])
    return manifests


HAPROXY = """
global
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend v1
    bind 127.0.0.1:{v1}
    default_backend v1
frontend v2
    bind 127.0.0.1:{v2}
    default_backend v2
frontend v2tls
    bind 127.0.0.1:{v2tls}
    default_backend v2tls
backend v1
    server portico 127.0.0.1:{http} send-proxy
backend v2
    server portico 127.0.0.1:{http} send-proxy-v2
backend v2tls
    server portico 127.0.0.1:{https} send-proxy-v2
"""


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    base = tmp_path_factory.mktemp("addresses")
    port = free_port(RECORDER)
    backend = RecordingBackend((RECORDER, port))
    manifests = _manifests(base / "manifests", port)
    portico = start_ready(
        manifests.root, "--proxy-protocol", "--trusted-proxies", "127.0.0.1/32",
        "--proxy-protocol-timeout", "1", "--access-log", "--max-connections", "3",
        log=base / "portico.log",
    )
    ports = {name: free_port() for name in ("v1", "v2", "v2tls")}
    config = base / "haproxy.cfg"
    config.write_text(HAPROXY.format(http=portico.http_port, https=portico.https_port, **ports))
    haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        for name, frontend in ports.items():
            wait_until(lambda p=frontend: _listening(p), f"haproxy frontend {name}")
        yield Rig(portico, backend, ports)
    finally:
        haproxy.terminate()
        haproxy.wait(timeout=10)
        portico.stop()
        backend.close()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def exchange(port: int, wire: bytes, source: str = "127.0.0.1", tls: bool = False) -> int:
    """Send `wire` (after the TLS handshake when `tls`) from `source`: the answer's status,
    0 when the connection is closed (or reset) without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=5,
                                  source_address=(source, 0)) as raw:
        sock: socket.socket = raw
        if tls:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            sock = context.wrap_socket(raw, server_hostname=HOST)
        sock.sendall(wire)
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def request(path: str = "/x", *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def told(rig: Rig) -> dict[str, str]:
    """The headers of the one request the backend got since the last call."""
    [(_, _, headers)] = rig.backend.reset().requests
    return headers


@pytest.mark.parametrize(("frontend", "tls"), [("v1", False), ("v2", False), ("v2tls", True)])
def test_haproxy_send_proxy(rig: Rig, frontend: str, tls: bool) -> None:
    rig.backend.reset()
    status = exchange(rig.haproxy[frontend], request(), source=CLIENT, tls=tls)
    assert status == 200
    headers = told(rig)
    assert headers["x-real-ip"] == CLIENT
    assert headers["x-forwarded-for"] == CLIENT
    assert headers["x-forwarded-proto"] == ("https" if tls else "http")


def test_hand_built_headers_from_a_trusted_balancer(rig: Rig) -> None:
    rig.backend.reset()
    header = v1_header(("203.0.113.9", 4711), ("127.0.0.1", rig.portico.http_port))
    assert exchange(rig.portico.http_port, header + request()) == 200
    assert told(rig)["x-real-ip"] == "203.0.113.9"
    local = b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"  # v2 LOCAL: the balancer's own check
    assert exchange(rig.portico.http_port, local + request()) == 200
    assert told(rig)["x-real-ip"] == "127.0.0.1"


def test_a_proxy_header_from_an_untrusted_peer_is_not_believed(rig: Rig) -> None:
    rig.backend.reset()
    header = v1_header(("10.1.2.3", 4711), ("127.0.0.1", rig.portico.http_port))
    status = exchange(rig.portico.http_port, header + request(ADMIN), source=UNTRUSTED)
    assert status == 403  # not 10.1.2.3, whom the allow-list would let in
    assert rig.backend.reset().requests == []
    exchange(rig.portico.http_port, header + request(), source=UNTRUSTED)
    assert told(rig)["x-real-ip"] == UNTRUSTED


def test_trusted_hops_decide_the_allow_list_and_the_log(rig: Rig) -> None:
    """127.0.0.1 is a trusted proxy: the address it vouches for is the client."""
    rig.backend.reset()
    local = v1_header(("127.0.0.1", 5555), ("127.0.0.1", rig.portico.http_port))
    spoofed = "X-Forwarded-For: 6.6.6.6, 10.1.2.3"
    assert exchange(rig.portico.http_port, local + request(ADMIN, spoofed)) == 200
    headers = told(rig)
    assert headers["x-real-ip"] == headers["x-forwarded-for"] == "10.1.2.3"
    wait_until(lambda: '"remote_addr":"10.1.2.3"' in rig.portico.logs(), "the access log line")
    # The same header from an untrusted peer is the client's own claim: ignored.
    untrusted = v1_header((UNTRUSTED, 5555), ("127.0.0.1", rig.portico.http_port))
    assert exchange(rig.portico.http_port, untrusted + request(ADMIN, spoofed),
                    source=UNTRUSTED) == 403


def test_a_connection_without_a_proxy_header_is_closed_unanswered(rig: Rig) -> None:
    rig.backend.reset()
    assert exchange(rig.portico.http_port, request()) == 0
    assert rig.backend.reset().requests == []


def test_a_slow_proxy_header_is_closed(rig: Rig) -> None:
    with socket.create_connection(("127.0.0.1", rig.portico.http_port), timeout=5) as sock:
        sock.sendall(b"PROXY TCP4 ")
        assert sock.recv(1) == b""  # --proxy-protocol-timeout 1


def _hold_connections(rig_port: int, count: int, prefix: bytes) -> list[socket.socket]:
    """`count` keep-alive connections, each with one request answered."""
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", rig_port), timeout=5)
        sock.sendall(prefix + f"GET /held HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        held.append(sock)
    return held


def check_max_connections(portico: Portico, limit: int, prefix: bytes) -> None:
    held = _hold_connections(portico.http_port, limit, prefix)
    try:
        wait_until(lambda: portico.metric("portico_accept_paused") == 1, "accepting to pause")
        waiting = socket.create_connection(("127.0.0.1", portico.http_port), timeout=5)
        with waiting:
            # The kernel completes the handshake (backlog) but Portico does not accept it.
            waiting.sendall(prefix + request())
            waiting.settimeout(0.5)
            with pytest.raises(TimeoutError):
                waiting.recv(1)
            held.pop().close()  # one slot frees: the waiting connection is accepted
            waiting.settimeout(5)
            assert waiting.recv(65536).startswith(b"HTTP/1.1 200")
        assert portico.metric("portico_connection_limit_reached_total") >= 1
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: portico.metric("portico_accept_paused") == 0, "accepting to resume")


def test_max_connections_with_proxy_protocol(rig: Rig) -> None:
    prefix = v1_header(("203.0.113.9", 4711), ("127.0.0.1", rig.portico.http_port))
    wait_until(lambda: rig.portico.metric("portico_active_connections") == 0, "an idle proxy")
    check_max_connections(rig.portico, 3, prefix)


def test_max_connections(tmp_path: Path, rig: Rig) -> None:
    portico = start_ready(rig_manifests(rig, tmp_path), "--max-connections", "2",
                          log=tmp_path / "portico.log")
    try:
        check_max_connections(portico, 2, b"")
    finally:
        portico.stop()


def rig_manifests(rig: Rig, tmp_path: Path) -> Path:
    return _manifests(tmp_path / "manifests", rig.backend.address[1]).root


def test_the_controller_configmap_switches_the_proxy_protocol(rig: Rig, tmp_path: Path) -> None:
    # ingress-nginx's use-proxy-protocol: a ConfigMap edit changes how new connections are
    # taken, on the same listening sockets (no restart), with its header timeout.
    manifests = _manifests(tmp_path / "manifests", rig.backend.address[1])

    def controller(on: str) -> None:
        manifests.write("controller.yaml", [o.config_map("controller", {
            "use-proxy-protocol": on, "proxy-protocol-header-timeout": "1s"})])

    controller("true")
    portico = start_ready(manifests.root, "--configmap", "default/controller",
                          log=tmp_path / "portico.log")
    try:
        port = portico.http_port
        header = v1_header(("203.0.113.9", 4711), ("127.0.0.1", port))
        rig.backend.reset()
        assert exchange(port, header + request()) == 200
        assert told(rig)["x-real-ip"] == "203.0.113.9"  # proxy-real-ip-cidr: 0.0.0.0/0
        assert exchange(port, request()) == 0  # no header: closed unanswered
        controller("false")
        wait_until(lambda: exchange(port, request()) == 200, "plain HTTP after the edit")
        rig.backend.reset()
        assert exchange(port, header + request()) == 400  # a PROXY line is not HTTP now
        assert rig.backend.reset().requests == []
    finally:
        portico.stop()
