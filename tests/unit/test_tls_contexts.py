"""TlsContexts against real TLS handshakes on 127.0.0.1.

Certificates are issued at test time by a throwaway trustme CA. Each test
starts an asyncio server with `TlsContexts.server_context` and connects with
a stdlib `ssl` client, then looks at the certificate it was actually served.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import hashlib
import logging
import socket
import ssl
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trustme
import uvloop
from cryptography import x509
from cryptography.x509.oid import NameOID

from ingress.model import Certificate, ObjectRef, RoutingTable, ServerTls, VirtualHost
from ingress.settings import Settings
from ingress.tls.contexts import TlsContexts
from ingress.tls.default_certificate import DEFAULT_CERTIFICATE_NAME, generate_default_certificate
from tls_clients import trusting, unverified


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def certificate(ca: trustme.CA, *hosts: str, name: str = "tls") -> Certificate:
    leaf = ca.issue_cert(*hosts)
    cert_pem = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    key_pem = leaf.private_key_pem.bytes()
    return Certificate(
        secret=ObjectRef("Secret", "default", name),
        cert_pem=cert_pem,
        key_pem=key_pem,
        hosts=hosts,
        not_after=0.0,
        fingerprint=hashlib.sha256(cert_pem + key_pem).hexdigest(),
    )


def der(cert: Certificate) -> bytes:
    first = cert.cert_pem.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
    return ssl.PEM_cert_to_DER_cert(first.decode())


def table_with(
    *certs: Certificate,
    wildcards: dict[str, Certificate] | None = None,
    default: Certificate | None = None,
) -> RoutingTable:
    return RoutingTable(
        certificates={host: cert for cert in certs for host in cert.hosts},
        wildcard_certificates=wildcards or {},
        default_certificate=default,
    )


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.peer_der: bytes = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)

    async def ask(self) -> str:
        """A round trip on this connection: the server echoes the line."""
        self.writer.write(b"?\n")
        await self.writer.drain()
        return (await asyncio.wait_for(self.reader.readline(), 5)).decode().strip()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def _report(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass  # clients whose handshake we refuse on purpose
    finally:
        writer.close()


@asynccontextmanager
async def serving(ssl_context: ssl.SSLContext) -> AsyncIterator[int]:
    server = await asyncio.start_server(_report, "127.0.0.1", 0, ssl=ssl_context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def connect(port: int, server_name: str | None, client_context: ssl.SSLContext) -> Client:
    # Connecting to an IP address with no server_hostname sends no SNI at all.
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=client_context, server_hostname=server_name
    )
    return Client(reader, writer)


async def served_der(port: int, server_name: str | None, client_context: ssl.SSLContext) -> bytes:
    """The certificate (DER) a new connection for `server_name` is served."""
    client = await connect(port, server_name, client_context)
    await client.close()
    return client.peer_der


@pytest.fixture
def contexts() -> TlsContexts:
    return TlsContexts(Settings())


async def test_sni_picks_the_certificate_of_each_host(
    ca: trustme.CA, contexts: TlsContexts
) -> None:
    a = certificate(ca, "a.example.com", name="a")
    b = certificate(ca, "b.example.org", "c.example.org", name="b")
    contexts.update(table_with(a, b))
    async with serving(contexts.server_context) as port:
        for name, expected in [
            ("a.example.com", a),
            ("b.example.org", b),
            ("c.example.org", b),
            ("A.Example.COM", a),
        ]:
            assert await served_der(port, name, trusting(ca)) == der(expected), name


async def test_wildcard_certificate_serves_one_label_below_its_suffix(
    ca: trustme.CA, contexts: TlsContexts
) -> None:
    wildcard = certificate(ca, "*.example.com", name="wild")
    exact = certificate(ca, "www.example.com", name="www")
    contexts.update(table_with(exact, wildcards={"example.com": wildcard}))
    async with serving(contexts.server_context) as port:
        assert await served_der(port, "shop.example.com", trusting(ca)) == der(wildcard)
        assert await served_der(port, "www.example.com", trusting(ca)) == der(exact)
        # Two labels below the suffix: the wildcard does not cover it.
        served = await served_der(port, "a.shop.example.com", unverified())
        assert served == der(contexts.default_certificate)


async def test_unknown_name_and_no_sni_get_the_generated_default(
    ca: trustme.CA, contexts: TlsContexts
) -> None:
    contexts.update(table_with(certificate(ca, "a.example.com")))
    async with serving(contexts.server_context) as port:
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect(port, "unknown.example.com", trusting(ca))
        for name in ("unknown.example.com", None):
            assert await served_der(port, name, unverified()) == der(contexts.default_certificate)
    served = x509.load_der_x509_certificate(der(contexts.default_certificate))
    cn = served.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == DEFAULT_CERTIFICATE_NAME


async def test_workers_given_one_generated_certificate_present_the_same_one() -> None:
    shared = generate_default_certificate()
    served = []
    for _ in range(2):
        contexts = TlsContexts(Settings(), shared)
        async with serving(contexts.server_context) as port:
            served.append(await served_der(port, None, unverified()))
    assert served == [der(shared), der(shared)]
    assert der(TlsContexts(Settings()).default_certificate) != der(shared)


async def test_table_default_certificate_replaces_the_generated_one(
    ca: trustme.CA, contexts: TlsContexts
) -> None:
    fallback = certificate(ca, "fallback.example.net", name="fallback")
    a = certificate(ca, "a.example.com", name="a")
    contexts.update(table_with(a, default=fallback))
    async with serving(contexts.server_context) as port:
        for name in ("unknown.example.com", None):
            assert await served_der(port, name, unverified()) == der(fallback)
        assert await served_der(port, "a.example.com", trusting(ca)) == der(a)


async def test_rotated_certificate_is_served_next_handshake_and_open_connection_survives(
    ca: trustme.CA, contexts: TlsContexts
) -> None:
    old = certificate(ca, "a.example.com")
    new = certificate(ca, "a.example.com")
    contexts.update(table_with(old))
    async with serving(contexts.server_context) as port:
        before = await connect(port, "a.example.com", trusting(ca))
        assert before.peer_der == der(old)
        assert await before.ask() == "?"

        contexts.update(table_with(new))

        after = await connect(port, "a.example.com", trusting(ca))
        assert after.peer_der == der(new)
        assert await before.ask() == "?"
        await before.close()
        await after.close()


async def test_removed_certificate_falls_back_to_default(
    ca: trustme.CA, contexts: TlsContexts
) -> None:
    a = certificate(ca, "a.example.com")
    contexts.update(table_with(a))
    async with serving(contexts.server_context) as port:
        contexts.update(table_with())
        served = await served_der(port, "a.example.com", unverified())
        assert served == der(contexts.default_certificate)


def test_context_is_reused_while_fingerprint_is_unchanged_and_dropped_after(
    ca: trustme.CA, contexts: TlsContexts
) -> None:
    a = certificate(ca, "a.example.com", "www.a.example.com")
    contexts.update(table_with(a))
    first = contexts.context_for_name("a.example.com")
    assert first is not contexts.server_context
    # Both hosts of one Secret share one context.
    assert contexts.context_for_name("www.a.example.com") is first

    # A new table with an equal (not identical) Certificate: same fingerprint.
    same = Certificate(a.secret, a.cert_pem, a.key_pem, a.hosts, a.not_after, a.fingerprint)
    contexts.update(table_with(same))
    assert contexts.context_for_name("a.example.com") is first

    contexts.update(table_with(certificate(ca, "a.example.com")))
    assert contexts.context_for_name("a.example.com") is not first
    gone = weakref.ref(first)
    del first
    gc.collect()
    assert gone() is None


async def test_certificate_openssl_refuses_is_skipped_and_named(
    ca: trustme.CA, contexts: TlsContexts, caplog: pytest.LogCaptureFixture
) -> None:
    good = certificate(ca, "good.example.com", name="good")
    other = certificate(ca, "bad.example.com", name="bad")
    mismatched = Certificate(
        other.secret, other.cert_pem, good.key_pem, other.hosts, 0.0, "mismatched"
    )
    with caplog.at_level(logging.ERROR, logger="ingress.tls.contexts"):
        contexts.update(table_with(good, mismatched))
    assert "Secret default/bad" in caplog.text
    async with serving(contexts.server_context) as port:
        assert await served_der(port, "good.example.com", trusting(ca)) == der(good)
        served = await served_der(port, "bad.example.com", unverified())
        assert served == der(contexts.default_certificate)

    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="ingress.tls.contexts"):
        contexts.update(table_with(good, mismatched))
    assert caplog.text == ""  # refused once, not again on every rebuild


# The server's protocol_version alert, or a reset when it gives up first.
REFUSED = (ssl.SSLError, ConnectionResetError)


def legacy_client(maximum: ssl.TLSVersion) -> ssl.SSLContext:
    context = unverified()
    context.minimum_version = ssl.TLSVersion.TLSv1_1
    context.maximum_version = maximum
    # OpenSSL's default security level refuses TLS < 1.2 even client-side.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
async def test_tls_1_1_is_refused(ca: trustme.CA, contexts: TlsContexts) -> None:
    contexts.update(table_with(certificate(ca, "a.example.com")))
    async with serving(contexts.server_context) as port:
        for name in ("a.example.com", None):
            with pytest.raises(REFUSED):
                await connect(port, name, legacy_client(ssl.TLSVersion.TLSv1_1))
        client = await connect(port, "a.example.com", legacy_client(ssl.TLSVersion.TLSv1_2))
        assert client.writer.get_extra_info("ssl_object").version() == "TLSv1.2"
        await client.close()

    # Control: the same client does complete a TLS 1.1 handshake when allowed.
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    permissive.minimum_version = ssl.TLSVersion.TLSv1_1
    permissive.set_ciphers("DEFAULT:@SECLEVEL=0")
    ca.issue_cert("a.example.com").configure_cert(permissive)
    async with serving(permissive) as port:
        client = await connect(port, None, legacy_client(ssl.TLSVersion.TLSv1_1))
        assert client.writer.get_extra_info("ssl_object").version() == "TLSv1.1"
        await client.close()


async def test_minimum_version_1_3_refuses_tls_1_2(ca: trustme.CA) -> None:
    contexts = TlsContexts(Settings(tls_min_version="1.3"))
    contexts.update(table_with(certificate(ca, "a.example.com")))
    client_1_2 = trusting(ca)
    client_1_2.maximum_version = ssl.TLSVersion.TLSv1_2
    async with serving(contexts.server_context) as port:
        with pytest.raises(REFUSED):
            await connect(port, "a.example.com", client_1_2)
        client = await connect(port, "a.example.com", trusting(ca))
        assert client.writer.get_extra_info("ssl_object").version() == "TLSv1.3"
        await client.close()


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls1.2", "tls1.3"]
)
async def test_sessions_resume_and_alpn_is_h2_on_a_per_host_context(
    ca: trustme.CA, contexts: TlsContexts, version: ssl.TLSVersion
) -> None:
    contexts.update(table_with(certificate(ca, "a.example.com")))
    client_context = trusting(ca)
    client_context.maximum_version = version
    client_context.set_alpn_protocols(["h2", "http/1.1"])

    def handshake(
        session: ssl.SSLSession | None,
    ) -> tuple[ssl.SSLSession, bool | None, str | None]:
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            client_context.wrap_socket(raw, server_hostname="a.example.com", session=session) as s,
        ):
            # TLS 1.3 tickets arrive after the handshake: read the answer first.
            s.sendall(b"?\n")
            s.recv(100)
            assert s.session is not None
            return s.session, s.session_reused, s.selected_alpn_protocol()

    async with serving(contexts.server_context) as port:
        session, reused, alpn = await asyncio.to_thread(handshake, None)
        assert (reused, alpn) == (False, "h2")
        _, reused, alpn = await asyncio.to_thread(handshake, session)
        assert (reused, alpn) == (True, "h2")


# trustme's keys are ECDSA: three TLS 1.2 suites a client offers in this order.
AES128, AES256, CHACHA = ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                          "ECDHE-ECDSA-CHACHA20-POLY1305")


async def negotiated(port: int, server_name: str, ca: trustme.CA) -> str:
    """The cipher a TLS 1.2 client offering AES128, AES256, CHACHA (in this order) gets."""
    client_context = trusting(ca)
    client_context.maximum_version = ssl.TLSVersion.TLSv1_2
    client_context.set_ciphers(f"{AES128}:{AES256}:{CHACHA}")
    client = await connect(port, server_name, client_context)
    cipher = client.writer.get_extra_info("cipher")[0]
    await client.close()
    return str(cipher)


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop])
def test_a_host_s_own_ciphers_and_preference_apply_to_its_handshakes(
    ca: trustme.CA, loop_factory: Any
) -> None:
    # ingress-nginx e2e (sslciphers.go): ssl_ciphers and ssl_prefer_server_ciphers per server.
    async def scenario() -> None:
        contexts = TlsContexts(Settings(tls_ciphers=f"{AES128}:{AES256}:{CHACHA}"))
        names = ("plain.test", "only.test", "prefer.test", "client.test", "*.wild.test")
        cert = certificate(ca, *names)
        own = {
            "only.test": ServerTls(ciphers=CHACHA),
            "prefer.test": ServerTls(ciphers=f"{AES256}:{AES128}", prefer_server_ciphers=True),
            "client.test": ServerTls(ciphers=f"{AES256}:{AES128}", prefer_server_ciphers=False),
            "*.wild.test": ServerTls(ciphers=CHACHA),
        }
        table = table_with(cert, wildcards={"wild.test": cert})
        contexts.update(RoutingTable(
            hosts={name: VirtualHost(name, server_tls=tls) for name, tls in own.items()
                   if not name.startswith("*")},
            wildcards={"wild.test": VirtualHost("*.wild.test", server_tls=own["*.wild.test"])},
            certificates=table.certificates, wildcard_certificates=table.wildcard_certificates))
        async with serving(contexts.server_context) as port:
            assert await negotiated(port, "plain.test", ca) == AES128  # the controller's
            assert await negotiated(port, "only.test", ca) == CHACHA
            assert await negotiated(port, "prefer.test", ca) == AES256  # the host's order
            assert await negotiated(port, "client.test", ca) == AES128  # the client's order
            assert await negotiated(port, "a.wild.test", ca) == CHACHA
            assert await negotiated(port, "plain.test", ca) == AES128  # nothing leaked

    loop = loop_factory()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()


def test_sni_selection_under_uvloop(ca: trustme.CA) -> None:
    # The proxy runs on uvloop, whose TLS transport is its own implementation.
    async def scenario() -> None:
        contexts = TlsContexts(Settings())
        a = certificate(ca, "a.example.com")
        contexts.update(table_with(a))
        async with serving(contexts.server_context) as port:
            assert await served_der(port, "a.example.com", trusting(ca)) == der(a)
            assert await served_der(port, None, unverified()) == der(contexts.default_certificate)

    uvloop.run(scenario())


@pytest.mark.parametrize(
    ("settings", "flag"),
    [
        (Settings(tls_min_version="1.1"), "--tls-min-version"),
        (Settings(tls_ciphers="NOT-A-CIPHER"), "--tls-ciphers"),
    ],
)
def test_bad_tls_settings_name_the_flag(settings: Settings, flag: str) -> None:
    with pytest.raises(ValueError, match=flag):
        TlsContexts(settings)


async def test_use_http2_false_offers_http1_only_from_the_next_handshake(
    ca: trustme.CA, contexts: TlsContexts
) -> None:
    # ingress-nginx's use-http2 (ConfigMap): "false" takes h2 out of ALPN.
    table = table_with(certificate(ca, "a.example.com"))
    contexts.update(table)
    client_context = trusting(ca)
    client_context.set_alpn_protocols(["h2", "http/1.1"])

    async def alpn(port: int, server_name: str | None) -> str:
        client = await connect(port, server_name, client_context)
        chosen = client.writer.get_extra_info("ssl_object").selected_alpn_protocol()
        await client.close()
        return str(chosen)

    async with serving(contexts.server_context) as port:
        assert await alpn(port, "a.example.com") == "h2"
        contexts.update(dataclasses.replace(table, settings={"http2": False}))
        assert await alpn(port, "a.example.com") == "http/1.1"
        contexts.update(table)
        assert await alpn(port, "a.example.com") == "h2"
