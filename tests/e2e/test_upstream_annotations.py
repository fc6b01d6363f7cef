"""ingress-nginx's upstream annotations end to end, with the controller ConfigMap in force.

One `portico run --manifests ... --configmap ...` serves every Ingress of
this module; the pods are demo pods (JSON echo), a TLS pod behind a deep CA
chain, a pod that always answers 502 and one that never reads. What each
test asserts is what ingress-nginx's e2e tests and docs say
(test/e2e/annotations/{proxy,proxyssl,backendprotocol,connection,
customheaders,customhttperrors,default_backend,serviceupstream,
upstreamvhost}.go).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import aiohttp
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import trustme
from aiohttp import web
from multidict import CIMultiDict

from e2e.harness import (
    LoopThread,
    Manifests,
    Portico,
    eventually,
    free_port,
    free_port_on,
    start_ready,
    wait_until,
)
from ingress.demo import demo_app, demo_bytes
from kube import objects as o

PODS = ("127.0.0.2", "127.0.0.3")
TLS_POD = "127.0.0.4"
ERRORS_POD = "127.0.0.5"
CLUSTER_IP = "127.0.0.6"
BAD_POD = "127.0.0.7"  # answers 502 to everything
DEAF_POD = "127.0.0.8"  # accepts connections, never reads
DEAD_PODS = ("127.0.0.9", "127.0.0.10", "127.0.0.11")  # nothing listens
FULL_POD = "127.0.0.12"  # its accept queue is full: connecting hangs
DNS_SERVER = "127.0.0.13"
BIG_POD = "127.0.0.14"  # answers 64 MiB and says when it has sent them
BIG = 64 << 20


class Bad502(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if b"\r\n\r\n" in data:
            self.transport.write(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 4\r\n\r\nbad\n")


class Deaf(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()


class Dns(asyncio.DatagramProtocol):
    """A DNS server answering A queries from `names` (TTL 1 s), NXDOMAIN for the rest."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().rstrip(".")
        if name not in self.names:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.A:
            response.answer.append(dns.rrset.from_text(question.name, 1, "IN", "A",
                                                       self.names[name]))
        self.transport.sendto(response.to_wire(), addr)


class BigPod:
    """Answers every request with BIG bytes from a thread; `sent[path]` is set once they are."""

    def __init__(self, port: int) -> None:
        self.sent: dict[str, threading.Event] = {}
        self.listener = socket.create_server((BIG_POD, port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            path = head.split(b" ", 2)[1].decode()
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % BIG)
            conn.sendall(b"x" * BIG)
            self.sent.setdefault(path, threading.Event()).set()

    def close(self) -> None:
        self.listener.close()


class Servers(LoopThread):
    """Every pod of the module, on one loop in a background thread."""

    def __init__(self, port: int, tls_context: ssl.SSLContext) -> None:
        super().__init__()
        self.runners: list[web.AppRunner] = []
        self.servers: list[asyncio.AbstractServer] = []
        self.port = port
        # A listening socket that never accepts, its queue (of one) taken: SYNs go unanswered.
        self.full = socket.socket()
        self.full.bind((FULL_POD, port))
        self.full.listen(0)
        self.filler = socket.create_connection((FULL_POD, port))
        self.big = BigPod(port)
        self.cluster_port = free_port(CLUSTER_IP)
        self.dns_port = free_port(DNS_SERVER)
        self.dns_names = {"pods.example.test": PODS[0]}
        self.call(self._start(tls_context))

    async def _app(self, host: str, port: int, context: ssl.SSLContext | None = None) -> None:
        runner = web.AppRunner(demo_app(), access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, host, port, ssl_context=context).start()
        self.runners.append(runner)

    async def _start(self, tls_context: ssl.SSLContext) -> None:
        for host in (*PODS, ERRORS_POD):
            await self._app(host, self.port)
        await self._app(TLS_POD, self.port, tls_context)
        await self._app(CLUSTER_IP, self.cluster_port)
        loop = asyncio.get_running_loop()
        self.servers.append(await loop.create_server(Bad502, BAD_POD, self.port))
        self.servers.append(await loop.create_server(Deaf, DEAF_POD, self.port))
        self.dns, _ = await loop.create_datagram_endpoint(
            lambda: Dns(self.dns_names), local_addr=(DNS_SERVER, self.dns_port))

    async def _stop(self) -> None:
        self.dns.close()
        for server in self.servers:
            server.close()
        for runner in self.runners:
            await runner.cleanup()

    def close(self) -> None:
        self.big.close()
        self.filler.close()
        self.full.close()
        self.call(self._stop())
        self.stop()



def external(name: str, external_name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "ExternalName", "externalName": external_name}}


def route(name: str, service: str, **annotations: str) -> dict[str, Any]:
    return o.annotated(o.ingress(name, host=f"{name}.test", service=service), **annotations)


def service(name: str, ips: list[str], port: int) -> list[dict[str, Any]]:
    return [o.service(name, target=port), o.endpoint_slice(name, ips, port=port)]


class Rig:
    def __init__(self, portico: Portico, tmp: Path, servers: Servers) -> None:
        self.portico = portico
        self.tmp = tmp
        self.servers = servers

    async def get(self, host: str, path: str = "/", method: str = "GET",
                  **kwargs: Any) -> tuple[int, CIMultiDict[str], Any]:
        headers = {"Host": f"{host}.test", **kwargs.pop("headers", {})}
        async with aiohttp.ClientSession() as session, session.request(
            method, self.portico.url + path, headers=headers, allow_redirects=False, **kwargs
        ) as response:
            if response.content_type == "application/json":
                body: Any = await response.json()
            else:
                body = await response.read()
            return response.status, CIMultiDict(response.headers), body


def tls_pod_context(ca: trustme.CA) -> ssl.SSLContext:
    # Three certificates between the pod and the root: leaf, two intermediates.
    middle = ca.create_child_ca().create_child_ca()
    leaf = middle.issue_cert("pod.internal", TLS_POD)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE+AESGCM")
    leaf.configure_cert(context)
    return context


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("upstream")
    port = free_port_on((*PODS, TLS_POD, ERRORS_POD, BAD_POD, DEAF_POD, *DEAD_PODS, FULL_POD,
                         BIG_POD))
    ca = trustme.CA()
    servers = Servers(port, tls_pod_context(ca))
    cluster_service = o.service("clustered", port=servers.cluster_port, target=port)
    cluster_service["spec"]["clusterIP"] = CLUSTER_IP
    pod_ca = o.secret("pod-ca", {"ca.crt": base64.b64encode(ca.cert_pem.bytes()).decode()})
    ssl_on = {"backend_protocol": "HTTPS", "proxy_ssl_secret": "default/pod-ca",
              "proxy_ssl_verify": "on", "proxy_ssl_verify_depth": "2"}
    manifests = Manifests(tmp / "manifests")
    manifests.write("objects.yaml", [
        o.ingress_class(),
        o.config_map("controller", {"global-allowed-response-headers": "My-Custom-Header"},
                   "ingress-nginx"),
        o.config_map("custom-headers", {"My-Custom-Header": "42"}),
        *service("web", list(PODS), port),
        *service("tls", [TLS_POD], port),
        *service("errors", [ERRORS_POD], port),
        *service("flaky", [BAD_POD, PODS[0]], port),
        *service("deaf", [DEAF_POD], port),
        *service("full", [FULL_POD], port),
        *service("big", [BIG_POD], port),
        *(obj for i, dead in enumerate(DEAD_PODS)
          for obj in service(f"half{i}", [dead, PODS[0]], port)),
        cluster_service, o.endpoint_slice("clustered", [PODS[0]], port=port),
        pod_ca,
        external("ext", "pods.example.test"), external("nowhere", "nowhere.example.test"),
        o.ingress("ext", host="ext.test", service="ext", port=port),
        o.ingress("nowhere", host="nowhere.test", service="nowhere", port=port),
        route("plain", "web", upstream_vhost="vhost.internal:8080"),
        route("keepalive", "web", connection_proxy_header="keep-alive"),
        route("http10", "web", proxy_http_version="1.0"),
        route("headers", "web", custom_headers="default/custom-headers"),
        route("missing-headers", "web", custom_headers="default/nothing-here"),
        route("cookies", "web", proxy_cookie_domain="localhost example.org",
              proxy_cookie_path="/one/ /"),
        route("redirects", "web", proxy_redirect_from="http://hello.com/",
              proxy_redirect_to="https://goodbye.com/"),
        route("quiet", "web", enable_access_log="false"),
        route("retried", "flaky", proxy_next_upstream="error timeout http_502"),
        route("posted", "flaky", proxy_next_upstream="http_502 non_idempotent"),
        route("buffered", "flaky", proxy_next_upstream="http_502 non_idempotent",
              proxy_request_buffering="on", client_body_buffer_size="1k", proxy_body_size="0"),
        route("unretried", "flaky"),
        # A pod that refuses is ejected after 3 failures: each route has its own.
        route("once", "half0", proxy_next_upstream_tries="1"),
        route("off", "half1", proxy_next_upstream="off"),
        route("bounded", "half2", proxy_next_upstream_timeout="1"),
        route("full", "full", proxy_connect_timeout="1"),
        route("buffering", "big", proxy_buffering="on"),
        # proxy-busy-buffers-size and http2-push-preload are accepted without effect.
        route("memory-only", "big", proxy_buffering="on", proxy_buffers_number="2",
              proxy_buffer_size="8k", proxy_max_temp_file_size="0",
              proxy_busy_buffers_size="8k", http2_push_preload="true"),
        # nginx refuses a busy size past all buffers but one: (2 - 1) x 8k here.
        route("too-busy", "web", proxy_buffering="on", proxy_buffers_number="2",
              proxy_buffer_size="8k", proxy_busy_buffers_size="16k"),
        route("streaming", "big"),
        route("deaf", "deaf", proxy_send_timeout="1", proxy_request_buffering="off",
              proxy_body_size="0"),
        route("errors", "web", custom_http_errors="404,503", default_backend="errors"),
        route("global-errors", "web", custom_http_errors="418"),
        route("invalid", "invalid", default_backend="errors"),
        o.annotated(o.ingress("clustered", host="clustered.test", service="clustered",
                              port=servers.cluster_port), service_upstream="true"),
        route("https", "tls", backend_protocol="HTTPS"),
        route("verified", "tls", **ssl_on, proxy_ssl_name="pod.internal",
              proxy_ssl_server_name="on"),
        route("no-sni", "tls", **ssl_on, proxy_ssl_name="pod.internal"),
        route("misnamed", "tls", **ssl_on, proxy_ssl_name="other.internal"),
        route("shallow", "tls", **{**ssl_on, "proxy_ssl_verify_depth": "1"},
              proxy_ssl_name="pod.internal"),
        route("tls13", "tls", backend_protocol="HTTPS", proxy_ssl_secret="default/pod-ca",
              proxy_ssl_protocols="TLSv1.3"),
        route("no-aes", "tls", backend_protocol="HTTPS", proxy_ssl_secret="default/pod-ca",
              proxy_ssl_ciphers="HIGH:!AES"),
    ])
    portico = start_ready(manifests.root, "--configmap", "ingress-nginx/controller",
                          "--default-backend-service", "default/errors",
                          "--dns-server", f"{DNS_SERVER}:{servers.dns_port}",
                          "--shutdown-grace", "1", log=tmp / "portico.log")
    try:
        yield Rig(portico, tmp, servers)
    finally:
        portico.stop()
        servers.close()


async def test_upstream_vhost_and_connection_proxy_header_reach_the_pod(rig: Rig) -> None:
    _, _, echoed = await rig.get("plain")
    assert echoed["headers"]["host"] == "vhost.internal:8080"  # upstream-vhost
    assert "connection" not in echoed["headers"]
    _, _, echoed = await rig.get("keepalive")
    assert echoed["headers"]["connection"] == "keep-alive"  # connection-proxy-header


async def test_proxy_http_version_1_0(rig: Rig) -> None:
    status, _, echoed = await rig.get("http10")
    assert status == 200 and echoed["http_version"] == "1.0"
    _, _, echoed = await rig.get("plain")
    assert echoed["http_version"] == "1.1"


async def test_custom_headers_are_set_on_responses(rig: Rig) -> None:
    status, headers, _ = await rig.get("headers")
    assert status == 200 and headers["My-Custom-Header"] == "42"
    status, _, _ = await rig.get("missing-headers")
    assert status == 503  # ingress-nginx: a missing ConfigMap denies the location


async def test_proxy_cookie_domain_and_path_rewrite_set_cookie(rig: Rig) -> None:
    cookie = "a=1; Domain=.localhost; Path=/one/two"
    status, headers, _ = await rig.get("cookies", "/response-headers",
                                       params={"Set-Cookie": cookie})
    assert status == 200
    assert headers["Set-Cookie"] == "a=1; Domain=.example.org; Path=/two"


async def test_proxy_redirect_rewrites_location(rig: Rig) -> None:
    status, headers, _ = await rig.get("redirects", "/response-headers", params={
        "Location": "http://HELLO.com/path?q=1", "Refresh": "3; url=http://hello.com/x"})
    assert status == 200
    assert headers["Location"] == "https://goodbye.com/path?q=1"
    assert headers["Refresh"] == "3; url=https://goodbye.com/x"


async def test_enable_access_log_false_leaves_the_route_out_of_the_log(rig: Rig) -> None:
    # The ConfigMap's disable-access-log defaults to false: access logs are on.
    await rig.get("quiet", "/quiet-path")
    await rig.get("plain", "/logged-path")
    wait_until(lambda: "/logged-path" in rig.portico.logs(), "the access log line")
    assert "/quiet-path" not in rig.portico.logs()


async def test_proxy_next_upstream_http_502_retries_on_the_next_pod(rig: Rig) -> None:
    for _ in range(6):
        assert (await rig.get("retried"))[0] == 200
    # Without http_502 (ingress-nginx's default "error timeout") the 502 is passed on.
    statuses = {(await rig.get("unretried"))[0] for _ in range(6)}
    assert statuses == {200, 502}


async def test_non_idempotent_requests_are_retried_only_when_allowed(rig: Rig) -> None:
    posted = {(await rig.get("retried", method="POST", data=b"x"))[0] for _ in range(6)}
    assert posted == {200, 502}
    for _ in range(6):
        assert (await rig.get("posted", method="POST", data=b"x"))[0] == 200


async def chunked(body: bytes) -> AsyncIterator[bytes]:
    for at in range(0, len(body), 65536):
        yield body[at:at + 65536]


async def test_request_buffering_reads_the_whole_body_and_replays_it(rig: Rig) -> None:
    # 3 MiB, past client-body-buffer-size (1k): on disk, sent again to the next pod after
    # a 502, with its length; the ConfigMap's default (on) buffers every other route too.
    body = demo_bytes(3 << 20)
    for _ in range(4):
        status, _, echoed = await rig.get("buffered", "/upload", method="POST",
                                          data=chunked(body))
        assert status == 200
        assert echoed["body_length"] == len(body)
        assert echoed["body_sha256"] == hashlib.sha256(body).hexdigest()
        sent = echoed["headers"]
        assert sent["content-length"] == str(len(body)) and "transfer-encoding" not in sent
    status, _, echoed = await rig.get("http10", "/upload", method="POST",
                                      data=chunked(b"x" * 5000))
    assert status == 200 and echoed["body_length"] == 5000  # HTTP/1.0 has no chunks


async def test_tries_off_and_timeout_bound_retries(rig: Rig) -> None:
    # Each has a pod where nothing listens: connection refused is an "error".
    for host in ("once", "off"):
        statuses = {(await rig.get(host))[0] for _ in range(8)}
        assert statuses == {200, 502}, host
    statuses = {(await rig.get("bounded"))[0] for _ in range(8)}
    assert statuses == {200}  # a refused connection takes far less than 1 s


async def test_proxy_send_timeout_when_the_pod_takes_nothing(rig: Rig) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, _, _ = await rig.get("deaf", "/upload", method="PUT",
                                 data=b"x" * (32 << 20), headers={"Expect": ""})
    assert status == 504
    assert loop.time() - started < 10


async def test_proxy_connect_timeout(rig: Rig) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, _, _ = await rig.get("full")
    assert status == 504 and loop.time() - started < 4  # not the 5 s default


async def test_custom_http_errors_go_to_the_default_backend(rig: Rig) -> None:
    status, _, echoed = await rig.get("errors", "/status/404?x=1",
                                      headers={"Accept": "application/json",
                                               "X-Request-ID": "something-unique"})
    assert status == 200 and echoed["pod"].startswith(ERRORS_POD)
    sent = echoed["headers"]
    assert echoed["path"] == "/" and echoed["query"] == "x=1"
    assert (sent["x-code"], sent["x-format"], sent["x-original-uri"]) == (
        "404", "application/json", "/status/404?x=1")
    assert (sent["x-namespace"], sent["x-ingress-name"], sent["x-service-name"],
            sent["x-service-port"], sent["x-request-id"]) == (
        "default", "errors", "web", "80", "something-unique")
    status, _, echoed = await rig.get("errors", "/status/500")
    assert status == 500  # not a listed code: the pod's answer
    status, _, echoed = await rig.get("global-errors", "/status/418")
    assert status == 200 and echoed["headers"]["x-code"] == "418"  # --default-backend-service


async def test_default_backend_serves_a_route_without_its_service(rig: Rig) -> None:
    # ingress-nginx's e2e: backend Service "invalid", default-backend annotation.
    status, _, echoed = await rig.get("invalid", "/alma/armud",
                                      headers={"X-Request-ID": "something-unique"})
    assert status == 200 and echoed["pod"].startswith(ERRORS_POD)
    assert echoed["path"] == "/alma/armud"
    sent = echoed["headers"]
    assert (sent["x-code"], sent["x-ingress-name"], sent["x-service-name"],
            sent["x-request-id"]) == ("503", "invalid", "invalid", "something-unique")


async def test_service_upstream_sends_to_the_cluster_ip(rig: Rig) -> None:
    status, _, echoed = await rig.get("clustered")
    assert status == 200 and echoed["pod"].startswith(CLUSTER_IP)


async def test_backend_protocol_https(rig: Rig) -> None:
    status, _, echoed = await rig.get("https")
    assert status == 200 and echoed["pod"].startswith(TLS_POD)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("verified", 200),  # proxy-ssl-verify, -server-name, -name, -verify-depth 2
        ("no-sni", 200),  # the name is checked even when not sent
        ("misnamed", 502),
        ("shallow", 502),  # two intermediates, proxy-ssl-verify-depth 1
        ("tls13", 502),  # proxy-ssl-protocols TLSv1.3, the pod speaks TLS 1.2
        ("no-aes", 502),  # proxy-ssl-ciphers without AES, the pod offers AES-GCM only
    ],
)
async def test_proxy_ssl_settings(rig: Rig, host: str, expected: int) -> None:
    status, _, _ = await rig.get(host)
    assert status == expected


async def test_external_name_services_are_resolved_and_follow_their_ttl(rig: Rig) -> None:
    async def served_by() -> str | None:
        status, _, echoed = await rig.get("ext")
        return echoed["pod"].rpartition(":")[0] if status == 200 else None

    assert await eventually(served_by, "the first resolution") == PODS[0]
    rig.servers.dns_names["pods.example.test"] = PODS[1]  # TTL 1 s

    async def moved() -> bool:
        return await served_by() == PODS[1]

    await eventually(moved, "the name resolved again after its TTL")
    status, _, _ = await rig.get("nowhere")
    assert status == 503  # a failed lookup: no endpoints


async def test_proxy_busy_buffers_size_is_checked_as_nginx_checks_it(rig: Rig) -> None:
    def problems(name: str) -> list[str]:
        return [line for line in rig.portico.logs().splitlines()
                if f"default/{name}" in line and "metadata.annotations" in line]

    # Reported, and the route is served without it (nginx would reject the whole config).
    status, _, _ = await rig.get("too-busy")
    assert status == 200
    wait_until(lambda: any("proxy-busy-buffers-size" in line and "must be at most" in line
                           for line in problems("too-busy")), "a problem naming the annotation")
    # Within bounds, and http2-push-preload (which nginx ignores too): no problem at all.
    assert problems("memory-only") == []


async def test_proxy_buffering_frees_the_pod_while_the_client_is_slow(rig: Rig) -> None:
    async def stalled_client(host: str, path: str) -> tuple[asyncio.StreamReader,
                                                         asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", rig.portico.http_port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}.test\r\n\r\n".encode())
        return reader, writer  # and nothing read for now

    pod = rig.servers.big
    streamed = await stalled_client("streaming", "/streamed")
    # 2 buffers of 8k in memory and no temporary file: the pod is slowed down past 16k.
    in_memory = await stalled_client("memory-only", "/in-memory")
    buffered = await stalled_client("buffering", "/buffered")
    # 64 MiB is far more than the sockets hold: only buffering to disk lets the pod finish.
    assert await asyncio.to_thread(pod.sent.setdefault("/buffered", threading.Event()).wait, 10)
    assert not pod.sent.setdefault("/streamed", threading.Event()).is_set()
    assert not pod.sent.setdefault("/in-memory", threading.Event()).is_set()
    for reader, writer in (buffered, streamed, in_memory):
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"content-length: %d" % BIG in head
        assert len(await reader.readexactly(BIG)) == BIG
        writer.close()

