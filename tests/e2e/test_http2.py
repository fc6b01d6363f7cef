"""HTTP/2 clients in front of HTTP/1.1 pods: curl, h2load, and a raw h2 client for abuse.

One `portico run` serves the module. Flood defences are checked by sending
the flood with the `h2` library's client state machine (or hand-made frames
where the library refuses to misbehave) and reading the GOAWAY back.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import trustme
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import ConnectionTerminated, DataReceived, RemoteSettingsChanged, ResponseReceived
from h2.settings import SettingCodes
from hyperframe.frame import ContinuationFrame, HeadersFrame

from e2e.harness import Manifests, Portico, free_port, start_ready, wait_until
from e2e.harness import Pods as DemoPods
from e2e.test_tls import tls_secret
from ingress.cli import main as cli_main
from kube import objects as o
from kube.objects import annotated

POD = "127.0.0.31"
MAX_STREAMS = 64
MB = 1024 * 1024


class Rig:
    def __init__(self, portico: Portico, ca: trustme.CA) -> None:
        self.portico = portico
        self.ca = ca


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    base = tmp_path_factory.mktemp("http2")
    port = free_port(POD)
    pods = DemoPods([(POD, port)])
    ca = trustme.CA()
    ac, b = ca.issue_cert("a.test", "c.test"), ca.issue_cert("b.test")
    manifests = Manifests(base / "manifests")
    objects: list[dict[str, Any]] = [
        o.ingress_class(), o.service("web", target=port), o.endpoint_slice("web", [POD], port=port),
        annotated(o.ingress("plain", host="web.test", service="web"), ssl_redirect="false"),
        o.ingress("secure", host="secure.test", service="web", tls_secret="ac"),
        # Basic authentication checks bcrypt off the loop: the stream is suspended, resumed.
        o.secret("users", {"auth": base64.b64encode(
            b"foo:" + bcrypt.hashpw(b"bar", bcrypt.gensalt(6)) + b"\n").decode()}),
        annotated(o.ingress("auth", host="auth.test", service="web"), ssl_redirect="false",
                  auth_type="basic", auth_secret="users"),
    ]
    for name, leaf, hosts in (("ac", ac, ("a.test", "c.test")), ("b", b, ("b.test",))):
        chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
        objects.append(tls_secret(name, chain, leaf.private_key_pem.bytes()))
        objects += [o.ingress(host.split(".")[0], host=host, service="web", tls_secret=name)
                    for host in hosts]
    manifests.write("base.yaml", objects)
    portico = start_ready(manifests.root, "--http2-max-concurrent-streams", str(MAX_STREAMS),
                          "--access-log", log=base / "portico.log")
    try:
        wait_until(lambda: _curl(portico.url + "/", "web.test", "--http2-prior-knowledge")[0]
                   == 200, "the route")
        yield Rig(portico, ca)
    finally:
        portico.stop()
        pods.close()


def _curl(url: str, host: str, *args: str) -> tuple[int, str, str]:
    proc = subprocess.run(
        ["curl", "-s", "-k", "-m", "10", "-o", "-", "-w", "\n%{http_code} %{http_version}",
         "-H", f"host: {host}", *args, url],
        capture_output=True, text=True, check=False,
    )
    body, _, tail = proc.stdout.rpartition("\n")
    status, version = tail.split()
    return int(status), version, body


@pytest.mark.parametrize(
    ("scheme", "args"),
    [("http", ("--http2-prior-knowledge",)), ("http", ("--http2",)), ("https", ("--http2",))],
    ids=["h2c-prior-knowledge", "h2c-upgrade", "alpn-h2"],
)
def test_curl_gets_http2(rig: Rig, scheme: str, args: tuple[str, ...]) -> None:
    url = rig.portico.url if scheme == "http" else rig.portico.secure_url
    status, version, body = _curl(url + "/hello?x=1", "web.test", *args)
    assert (status, version) == (200, "2")
    seen = json.loads(body)
    assert seen["path"] == "/hello" and seen["query"] == "x=1"
    assert seen["headers"]["x-forwarded-proto"] == scheme
    assert seen["http_version"] == "1.1"  # the pod still gets HTTP/1.1


def test_http11_clients_still_get_http11(rig: Rig) -> None:
    assert _curl(rig.portico.url + "/", "web.test", "--http1.1")[:2] == (200, "1.1")
    assert _curl(rig.portico.secure_url + "/", "web.test", "--http1.1")[:2] == (200, "1.1")


def test_ssl_redirect_applies_to_h2c(rig: Rig) -> None:
    status, version, _ = _curl(rig.portico.url + "/x", "secure.test", "--http2-prior-knowledge")
    assert (status, version) == (308, "2")


def test_request_and_response_bodies_stream(rig: Rig, tmp_path: Path) -> None:
    body = tmp_path / "body"
    body.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    status, _, text = _curl(rig.portico.url + "/echo", "web.test", "--http2-prior-knowledge",
                            "--data-binary", f"@{body}")
    assert status == 200 and json.loads(text)["body_length"] == MB


@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load (nghttp2-client) missing")
@pytest.mark.parametrize(("path", "upload"), [("/bytes/1048576", False), ("/echo", True)],
                         ids=["1MiB-down", "1MiB-up"])
def test_h2load_50_streams_of_1mb_on_one_connection(
        rig: Rig, tmp_path: Path, path: str, upload: bool) -> None:
    data = tmp_path / "body"
    data.write_bytes(b"x" * MB)
    argv = ["h2load", "-n", "50", "-c", "1", "-m", "50", "-H", ":authority: web.test",
            rig.portico.url + path]
    if upload:
        argv[1:1] = ["-d", str(data)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False).stdout
    assert re.search(r"requests: 50 total, 50 started, 50 done, 50 succeeded", out), out
    if not upload:
        traffic = re.search(r"traffic: .*\((\d+)\) total", out)
        assert traffic is not None and int(traffic[1]) > 50 * MB


def _tls_socket(rig: Rig, server_name: str) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=None)
    rig.ca.configure_trust(context)
    context.set_alpn_protocols(["h2"])
    sock = socket.create_connection(("127.0.0.1", rig.portico.https_port), timeout=5)
    return context.wrap_socket(sock, server_hostname=server_name)


def _exchange(sock: socket.socket, requests: list[tuple[bytes, bytes]]) -> list[int]:
    """GET each (authority, path) on one connection; their statuses in order."""
    conn = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    conn.initiate_connection()
    statuses: dict[int, int] = {}
    sids = []
    for authority, path in requests:
        sid = conn.get_next_available_stream_id()
        sids.append(sid)
        conn.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"https"),
                                (b":authority", authority), (b":path", path)], end_stream=True)
    sock.sendall(conn.data_to_send())
    ended = set()
    while len(ended) < len(sids):
        data = sock.recv(65536)
        assert data, "connection closed early"
        for event in conn.receive_data(data):
            if isinstance(event, ResponseReceived):
                statuses[event.stream_id] = int(dict(event.headers)[b":status"])
            elif isinstance(event, DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if getattr(event, "stream_ended", None) is not None or type(event).__name__ == (
                    "StreamEnded"):
                ended.add(event.stream_id)
        sock.sendall(conn.data_to_send())
    return [statuses[sid] for sid in sids]


def test_authority_other_than_sni_needs_a_covering_certificate(rig: Rig) -> None:
    with _tls_socket(rig, "a.test") as sock:
        assert sock.selected_alpn_protocol() == "h2"
        statuses = _exchange(sock, [(b"a.test", b"/"), (b"c.test", b"/"), (b"b.test", b"/")])
    assert statuses == [200, 200, 421]


def _goaway(sock: socket.socket, conn: H2Connection) -> ConnectionTerminated:
    """Read until the server's GOAWAY; what it said."""
    while True:
        data = sock.recv(65536)
        assert data, "closed without GOAWAY"
        for event in conn.receive_data(data):
            if isinstance(event, ConnectionTerminated):
                return event


def _raw(rig: Rig) -> tuple[socket.socket, H2Connection]:
    sock = socket.create_connection(("127.0.0.1", rig.portico.http_port), timeout=5)
    conn = H2Connection(H2Configuration(client_side=True, header_encoding=None,
                                        validate_outbound_headers=False))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return sock, conn


REQUEST = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"web.test"),
           (b":path", b"/delay/1")]


def test_server_announces_the_stream_limit(rig: Rig) -> None:
    sock, conn = _raw(rig)
    with sock:
        while True:
            events = conn.receive_data(sock.recv(65536))
            changed = [e for e in events if isinstance(e, RemoteSettingsChanged)]
            if changed:
                break
    limit = changed[0].changed_settings[SettingCodes.MAX_CONCURRENT_STREAMS].new_value
    assert limit == MAX_STREAMS


def _flood_rapid_reset(sock: socket.socket, conn: H2Connection) -> None:
    for _ in range(10 * MAX_STREAMS):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, REQUEST)
        conn.reset_stream(sid, ErrorCodes.CANCEL)
    sock.sendall(conn.data_to_send())


def _flood_pings(sock: socket.socket, conn: H2Connection) -> None:
    for i in range(400):
        conn.ping(b"%08d" % i)
    sock.sendall(conn.data_to_send())


def _flood_settings(sock: socket.socket, conn: H2Connection) -> None:
    for i in range(200):
        conn.update_settings({SettingCodes.MAX_FRAME_SIZE: 16384 + i})
    sock.sendall(conn.data_to_send())


def _flood_continuations(sock: socket.socket, conn: H2Connection) -> None:
    sock.sendall(conn.data_to_send())
    headers = HeadersFrame(1)
    headers.data = conn.encoder.encode(REQUEST)
    frames = [headers.serialize()]
    for i in range(200):
        more = ContinuationFrame(1)
        more.data = conn.encoder.encode([(b"x-pad-%d" % i, b"y" * 10)])
        frames.append(more.serialize())
    sock.sendall(b"".join(frames))


def _huge_header_list(sock: socket.socket, conn: H2Connection) -> None:
    conn.send_headers(1, [*REQUEST, *((b"x-big-%d" % i, b"v" * 4000) for i in range(12))],
                      end_stream=True)
    sock.sendall(conn.data_to_send())


@pytest.mark.parametrize(
    ("flood", "reason", "code"),
    [
        (_flood_rapid_reset, "rapid_reset", ErrorCodes.ENHANCE_YOUR_CALM),
        (_flood_pings, "ping_flood", ErrorCodes.ENHANCE_YOUR_CALM),
        (_flood_settings, "settings_flood", ErrorCodes.ENHANCE_YOUR_CALM),
        (_flood_continuations, "continuation_flood", ErrorCodes.PROTOCOL_ERROR),
        (_huge_header_list, "header_list_too_large", ErrorCodes.ENHANCE_YOUR_CALM),
    ],
    ids=["rapid_reset", "ping_flood", "settings_flood", "continuation_flood", "header_list"],
)
def test_floods_close_the_connection_and_are_counted(
        rig: Rig, flood: Any, reason: str, code: ErrorCodes) -> None:
    before = rig.portico.metric("portico_http2_connections_closed_total", reason=reason)
    sock, conn = _raw(rig)
    with sock:
        flood(sock, conn)
        assert _goaway(sock, conn).error_code == code
    assert rig.portico.metric("portico_http2_connections_closed_total", reason=reason) == before + 1
    # Everyone else is still served.
    assert _curl(rig.portico.url + "/", "web.test", "--http2-prior-knowledge")[0] == 200


@pytest.mark.parametrize("secure", [False, True], ids=["h2c", "alpn-h2"])
def test_loadtest_http2_multiplexes_its_requests(rig: Rig, tmp_path: Path, secure: bool) -> None:
    """`portico loadtest --http2`: 20 requests in flight on 2 connections of 10 streams."""
    accepted = "nginx_ingress_controller_nginx_process_connections_total"
    before = rig.portico.metric(accepted, state="accepted")
    url = (rig.portico.secure_url if secure else rig.portico.url) + "/"
    code = cli_main(["loadtest", url, "--http2", "--streams", "10", "--connections", "20",
                     "--duration", "1s", "--host", "web.test", "--insecure", "--max-lag", "5000",
                     "--no-plots", "--slo", "errors<0.1%", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "report.json").read_text())
    assert code == 0, report
    assert report["answered"] == report["requests"] > 20
    assert set(report["status"]) == {"200"}
    assert rig.portico.metric(accepted, state="accepted") - before == 2


def test_filters_suspend_and_resume_on_a_stream(rig: Rig) -> None:
    url = rig.portico.url + "/private"
    assert _curl(url, "auth.test", "--http2-prior-knowledge")[:2] == (401, "2")
    assert _curl(url, "auth.test", "--http2-prior-knowledge", "-u", "foo:bar")[:2] == (200, "2")


def test_request_ids_and_the_access_log_see_http2(rig: Rig) -> None:
    status, _, body = _curl(rig.portico.url + "/logged-h2", "web.test", "--http2-prior-knowledge",
                            "-H", "x-request-id: h2-request-1")
    assert status == 200 and json.loads(body)["headers"]["x-request-id"] == "h2-request-1"
    line = wait_until(lambda: next((json.loads(line) for line in rig.portico.logs().splitlines()
                                    if "/logged-h2" in line and line.startswith("{")), None),
                      "the access log line")
    assert (line["protocol"], line["status"], line["request_id"]) == (
        "HTTP/2.0", 200, "h2-request-1")


def test_edge_limits_apply_to_streams(rig: Rig) -> None:
    """The HTTP/1.1 limits and host rules hold for HTTP/2: long targets, bad hosts."""
    long = rig.portico.url + "/" + "a" * 9000
    assert _curl(long, "web.test", "--http2-prior-knowledge")[:2] == (414, "2")
    assert _curl(rig.portico.url + "/", "bad..host", "--http2-prior-knowledge")[:2] == (400, "2")


def test_connection_states_count_http2_connections(rig: Rig) -> None:
    """stub_status's states add up to the active connections with HTTP/2 ones open."""
    name = "nginx_ingress_controller_nginx_process_connections"
    sock, _ = _raw(rig)
    with sock:
        def counted() -> bool:
            states = {s: rig.portico.metric(name, state=s)
                      for s in ("active", "reading", "writing", "waiting")}
            return states["active"] >= 1 and states["active"] == (
                states["reading"] + states["writing"] + states["waiting"])
        wait_until(counted, "the states to add up")


def test_a_pods_100_continue_is_not_passed_to_an_http2_client(rig: Rig, tmp_path: Path) -> None:
    body = tmp_path / "body"
    body.write_bytes(b"x" * 2048)
    status, version, text = _curl(rig.portico.url + "/echo", "web.test",
                                  "--http2-prior-knowledge", "-H", "expect: 100-continue",
                                  "--data-binary", f"@{body}")
    assert (status, version) == (200, "2")
    assert json.loads(text)["body_length"] == 2048  # the body is the pod's answer alone
