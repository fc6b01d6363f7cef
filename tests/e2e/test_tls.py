"""TLS termination end to end: `portico run --manifests DIR` as a real process.

One Portico process (with `--hsts`) serves a manifest directory for the whole
module; each test owns its hosts and Secret files, so they do not depend on
each other's order. Certificates come from a throwaway trustme CA at test
time; the backend is a demo pod on 127.0.0.2 that echoes the request.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography import x509
from cryptography.x509.oid import NameOID

from e2e.harness import Manifests, Portico, demo_pods, wait_until
from kube import objects as o
from kube.objects import annotated
from tls_clients import trusting, unverified

POD = "127.0.0.2"
DEFAULT_CN = "Portico Default Certificate"


@dataclass
class Rig:
    portico: Portico
    manifests: Manifests
    ca: trustme.CA

    @property
    def https_port(self) -> int:
        return self.portico.https_port

    @property
    def http_port(self) -> int:
        return self.portico.http_port

    def write(self, name: str, *objects: dict[str, Any]) -> None:
        self.manifests.write(f"{name}.yaml", objects)

    def write_secret(self, name: str, leaf: trustme.LeafCert) -> None:
        chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
        self.write(f"secret-{name}", tls_secret(name, chain, leaf.private_key_pem.bytes()))

    def serve_https(self, secret: str, *hosts: str) -> trustme.LeafCert:
        """One Ingress per host, all on TLS with a fresh certificate in Secret `secret`."""
        leaf = self.ca.issue_cert(*hosts)
        self.write_secret(secret, leaf)
        self.write(
            f"ingress-{secret}",
            *(o.ingress(host, host=host, tls_secret=secret) for host in hosts),
        )
        return leaf


def tls_secret(name: str, cert_pem: bytes, key_pem: bytes) -> dict[str, Any]:
    data = {"tls.crt": cert_pem, "tls.key": key_pem}
    encoded = {key: base64.b64encode(value).decode() for key, value in data.items()}
    return o.secret(name, encoded, type_="kubernetes.io/tls")


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    base = tmp_path_factory.mktemp("tls")
    with demo_pods([POD]) as port:
        manifests = Manifests(base / "manifests")
        manifests.write(
            "base.yaml",
            [
                o.ingress_class(),
                o.service("web", target=port),
                o.endpoint_slice("web", [POD], port=port),
            ],
        )
        portico = Portico(manifests.root, "--hsts", log=base / "portico.log")
        try:
            portico.wait_ready()
            yield Rig(portico, manifests, trustme.CA())
        finally:
            portico.stop()


# --- clients


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def seen_by_pod(self) -> dict[str, str]:
        """The request headers the demo pod received."""
        headers: dict[str, str] = json.loads(self.body)["headers"]
        return headers


class Connection:
    """One client connection to Portico on 127.0.0.1 with any SNI name (None: no SNI)."""

    def __init__(self, port: int, server_name: str | None, context: ssl.SSLContext | None) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.peer_der = b""
        self.sock = raw
        if context is not None:
            tls = context.wrap_socket(raw, server_hostname=server_name)
            self.sock = tls
            self.peer_der = tls.getpeercert(binary_form=True) or b""

    def get(self, host: str, path: str = "/") -> Reply:
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        response = http.client.HTTPResponse(self.sock)
        response.begin()
        return Reply(response.status, response.headers, response.read())

    def close(self) -> None:
        self.sock.close()


def plain_get(port: int, host: str, path: str = "/") -> Reply:
    connection = Connection(port, None, None)
    try:
        return connection.get(host, path)
    finally:
        connection.close()


def wait_plain_status(port: int, host: str, path: str, status: int) -> Reply:
    """Plain HTTP `GET path` until Portico answers `status` (the table may lag the files)."""

    def attempt() -> Reply | None:
        reply = plain_get(port, host, path)
        return reply if reply.status == status else None

    return wait_until(attempt, f"{status} for http://{host}{path}")


def served_der(port: int, server_name: str | None) -> bytes:
    connection = Connection(port, server_name, unverified())
    connection.close()
    return connection.peer_der


def leaf_der(leaf: trustme.LeafCert) -> bytes:
    return ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())


def common_name(der: bytes) -> str:
    subject = x509.load_der_x509_certificate(der).subject
    names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""  # trustme's leaves have no CN


def wait_served(rig: Rig, server_name: str, expected: bytes) -> None:
    wait_until(
        lambda: served_der(rig.https_port, server_name) == expected,
        f"{server_name} to be served its certificate",
    )


# --- tests


def test_sni_picks_each_hosts_certificate_and_requests_reach_the_pod(rig: Rig) -> None:
    a = rig.serve_https("sni-a", "a.sni.test")
    b = rig.serve_https("sni-b", "b.sni.test", "c.sni.test")
    wait_served(rig, "a.sni.test", leaf_der(a))
    wait_served(rig, "c.sni.test", leaf_der(b))
    for host, leaf in [("a.sni.test", a), ("b.sni.test", b), ("c.sni.test", b)]:
        connection = Connection(rig.https_port, host, trusting(rig.ca))
        assert connection.peer_der == leaf_der(leaf)
        reply = connection.get(host)
        connection.close()
        assert reply.status == 200
        seen = reply.seen_by_pod()
        assert seen["x-forwarded-proto"] == "https"
        assert seen["host"] == host
        assert reply.headers["Strict-Transport-Security"] == "max-age=31536000"
    # The proxy's own answers carry it too (a 404: no rule for that host).
    connection = Connection(rig.https_port, "a.sni.test", trusting(rig.ca))
    missing = connection.get("nothing.sni.test")
    connection.close()
    assert missing.status == 404
    assert missing.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_wildcard_certificate(rig: Rig) -> None:
    leaf = rig.ca.issue_cert("*.wild.test")
    rig.write_secret("wild", leaf)
    rig.write("ingress-wild", o.ingress("wild", host="*.wild.test", tls_secret="wild"))
    wait_served(rig, "shop.wild.test", leaf_der(leaf))
    connection = Connection(rig.https_port, "blog.wild.test", trusting(rig.ca))
    assert connection.get("blog.wild.test").status == 200
    connection.close()
    assert common_name(served_der(rig.https_port, "a.b.wild.test")) == DEFAULT_CN


def test_unknown_name_and_no_sni_get_the_default_certificate(rig: Rig) -> None:
    leaf = rig.serve_https("known", "known.test")
    wait_served(rig, "known.test", leaf_der(leaf))
    for name in ("unknown.test", None):
        assert common_name(served_der(rig.https_port, name)) == DEFAULT_CN
    with pytest.raises(ssl.SSLCertVerificationError):
        Connection(rig.https_port, "unknown.test", trusting(rig.ca))


class _Loopback(AbstractResolver):
    """Resolves every name to 127.0.0.1, so the client verifies real host names."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


async def test_aiohttp_client_verifies_the_host_name(rig: Rig) -> None:
    leaf = rig.serve_https("aio", "aio.test")
    wait_served(rig, "aio.test", leaf_der(leaf))
    connector = aiohttp.TCPConnector(resolver=_Loopback(), ssl=trusting(rig.ca))
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(f"https://aio.test:{rig.https_port}/x") as response:
            assert response.status == 200
            assert (await response.json())["headers"]["x-forwarded-proto"] == "https"
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(f"https://nobody.test:{rig.https_port}/")


def test_rotated_secret_is_served_next_handshake_while_old_connection_keeps_working(
    rig: Rig,
) -> None:
    old = rig.serve_https("rotate", "rotate.test")
    wait_served(rig, "rotate.test", leaf_der(old))
    kept = Connection(rig.https_port, "rotate.test", trusting(rig.ca))
    assert kept.get("rotate.test").status == 200

    new = rig.ca.issue_cert("rotate.test")
    rig.write_secret("rotate", new)
    wait_served(rig, "rotate.test", leaf_der(new))

    assert kept.peer_der == leaf_der(old)
    assert kept.get("rotate.test").status == 200
    kept.close()


def test_deleted_secret_falls_back_to_the_default_certificate(rig: Rig) -> None:
    leaf = rig.serve_https("gone", "gone.test")
    wait_served(rig, "gone.test", leaf_der(leaf))
    rig.manifests.remove("secret-gone.yaml")
    wait_until(
        lambda: common_name(served_der(rig.https_port, "gone.test")) == DEFAULT_CN,
        "gone.test to get the default certificate",
    )
    # Still a TLS host: it keeps routing over HTTPS with the default certificate.
    connection = Connection(rig.https_port, "gone.test", unverified())
    assert connection.get("gone.test").status == 200
    connection.close()


def test_secret_with_a_mismatched_key_is_rejected_and_named(rig: Rig) -> None:
    good = rig.serve_https("mismatch-good", "good.mismatch.test")
    bad = rig.ca.issue_cert("bad.mismatch.test")
    other_key = rig.ca.issue_cert("bad.mismatch.test").private_key_pem.bytes()
    chain = b"".join(blob.bytes() for blob in bad.cert_chain_pems)
    rig.write("secret-mismatch-bad", tls_secret("mismatch-bad", chain, other_key))
    host = "bad.mismatch.test"
    rig.write("ingress-mismatch-bad", o.ingress("bad", host=host, tls_secret="mismatch-bad"))

    wait_until(
        lambda: "Secret default/mismatch-bad" in rig.portico.logs(),
        "the bad Secret to be named in the logs",
    )
    wait_served(rig, "good.mismatch.test", leaf_der(good))
    assert common_name(served_der(rig.https_port, host)) == DEFAULT_CN
    # The expiry metric lists the certificates served: the good one, not the bad one.
    good_labels = {"host": "good.mismatch.test", "secret": "default/mismatch-good"}
    assert rig.portico.metric("portico_ssl_expire_time_seconds", **good_labels) > 0
    assert rig.portico.metric("portico_ssl_expire_time_seconds", host=host) == 0


def test_plain_http_on_a_tls_host_is_redirected_with_308(rig: Rig) -> None:
    rig.serve_https("redirect", "redirect.test")
    reply = wait_plain_status(rig.http_port, "redirect.test", "/a/b?c=d", 308)
    # --https-redirect-port is left at 443, which a URL does not spell out.
    assert reply.headers["Location"] == "https://redirect.test/a/b?c=d"
    assert reply.headers["Strict-Transport-Security"] is None


def test_ssl_redirect_false_serves_plain_http_on_a_tls_host(rig: Rig) -> None:
    rig.write_secret("plain-ok", rig.ca.issue_cert("plain-ok.test"))
    ingress = o.ingress("plain-ok", host="plain-ok.test", tls_secret="plain-ok")
    rig.write("ingress-plain-ok", annotated(ingress, ssl_redirect="false"))
    reply = wait_plain_status(rig.http_port, "plain-ok.test", "/", 200)
    assert reply.seen_by_pod()["x-forwarded-proto"] == "http"
    assert reply.headers["Strict-Transport-Security"] is None


def test_force_ssl_redirect_redirects_a_host_without_tls(rig: Rig) -> None:
    ingress = o.ingress("forced", host="forced.test")
    rig.write("ingress-forced", annotated(ingress, force_ssl_redirect="true"))
    reply = wait_plain_status(rig.http_port, "forced.test", "/p", 308)
    assert reply.headers["Location"] == "https://forced.test/p"


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_1_1_is_refused(rig: Rig) -> None:
    leaf = rig.serve_https("legacy", "legacy.test")
    wait_served(rig, "legacy.test", leaf_der(leaf))
    legacy = unverified()
    legacy.minimum_version = ssl.TLSVersion.TLSv1_1
    legacy.maximum_version = ssl.TLSVersion.TLSv1_1
    # OpenSSL's default security level refuses TLS < 1.2 even client-side.
    legacy.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        Connection(rig.https_port, "legacy.test", legacy)
    modern = Connection(rig.https_port, "legacy.test", unverified())
    assert modern.get("legacy.test").status == 200
    modern.close()
