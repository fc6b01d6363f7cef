"""Client certificates (auth-tls-*) through `portico run`: authtls.go's cases and more.

One HTTPS listener serves hosts with and without client certificates,
chosen by SNI. Certificates are made at test time with trustme; clients
are stdlib TLS sockets, so sessions can be resumed on purpose.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from e2e.harness import Portico, serving
from kube import objects as o

PODS = ("127.0.0.2",)
HOSTS = ("on.test", "off.test", "optional.test", "noca.test", "errorpage.test", "pass.test",
         "nomatch.test", "match.test", "deep.test", "other-ca.test", "plain.test")
CA, OTHER_CA = trustme.CA(), trustme.CA()
# Two intermediate CAs: OpenSSL's depth 1 allows the leaf, one intermediate and the root.
INTERMEDIATE = CA.create_child_ca().create_child_ca()
SERVER = CA.issue_cert(*HOSTS)
GOOD = CA.issue_cert("client@example.com", common_name="authtls")
BAD = OTHER_CA.issue_cert("client@example.com", common_name="authtls")
DEEP = INTERMEDIATE.issue_cert("deep@example.com", common_name="deep")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def portico(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portico]:
    tls = {"tls.crt": b64(SERVER.cert_chain_pems[0].bytes()),
           "tls.key": b64(SERVER.private_key_pem.bytes())}
    # As ingress-nginx's CreateIngressMASecret: the server certificate and the CA in one Secret.
    ma_secret = o.secret("authtls", {**tls, "ca.crt": b64(CA.cert_pem.bytes())},
                         "kubernetes.io/tls")
    other = o.secret("other-ca", {"ca.crt": b64(OTHER_CA.cert_pem.bytes())})
    secret = "default/authtls"

    def host(name: str, annotations: dict[str, str]) -> dict[str, Any]:
        return o.annotated(o.ingress(name.split(".")[0], host=name, tls_secret="authtls"),
                           **annotations)

    with serving(tmp_path_factory.mktemp("authtls"), PODS, [
        ma_secret, other,
        host("on.test", {"auth-tls-secret": secret}),
        host("off.test", {"auth-tls-secret": secret, "auth-tls-verify-client": "off",
                          "auth-tls-verify-depth": "2"}),
        host("optional.test", {"auth-tls-secret": secret, "auth-tls-verify-client": "optional"}),
        host("noca.test", {"auth-tls-secret": secret,
                           "auth-tls-verify-client": "optional_no_ca"}),
        host("errorpage.test", {"auth-tls-secret": secret,
                                "auth-tls-error-page": "http://errors.test/error"}),
        host("pass.test", {"auth-tls-secret": secret,
                           "auth-tls-pass-certificate-to-upstream": "true"}),
        host("nomatch.test", {"auth-tls-secret": secret, "auth-tls-verify-client": "on",
                              "auth-tls-match-cn": "CN=notgonnamatch"}),
        host("match.test", {"auth-tls-secret": secret, "auth-tls-verify-client": "on",
                            "auth-tls-match-cn": "CN=(itwillmatch|withthenextoption|authtls)"}),
        host("deep.test", {"auth-tls-secret": secret, "auth-tls-verify-depth": "2"}),
        host("other-ca.test", {"auth-tls-secret": "other-ca"}),
        host("plain.test", {}),
    ]) as (portico, _):
        yield portico


class Answer:
    def __init__(self, response: http.client.HTTPResponse, tls: ssl.SSLSocket) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()
        self.session = tls.session
        self.resumed = tls.session_reused

    @property
    def sent(self) -> dict[str, str]:
        """The headers the pod received."""
        headers: dict[str, str] = json.loads(self.body)["headers"]
        return headers


def client(cert: trustme.LeafCert | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    CA.configure_trust(context)
    if cert is not None:
        cert.configure_cert(context)
    return context


def get(portico: Portico, sni: str, context: ssl.SSLContext, host: str | None = None,
        session: ssl.SSLSession | None = None) -> Answer:
    with socket.create_connection(("127.0.0.1", portico.https_port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=sni, session=session) as tls:
        tls.sendall(f"GET /echo HTTP/1.1\r\nHost: {host or sni}\r\nConnection: close\r\n\r\n"
                    .encode())
        response = http.client.HTTPResponse(tls)  # type: ignore[arg-type]
        response.begin()
        return Answer(response, tls)


def test_required_certificate(portico: Portico) -> None:
    assert get(portico, "on.test", client()).status == 400  # none sent
    answer = get(portico, "on.test", client(GOOD))
    assert answer.status == 200
    assert answer.sent["ssl-client-verify"] == "SUCCESS"
    assert answer.sent["ssl-client-subject-dn"].startswith("CN=authtls,")
    assert "O=trustme" in answer.sent["ssl-client-issuer-dn"]
    assert "ssl-client-cert" not in answer.sent
    # A certificate of another CA: the handshake completes, the request gets 400.
    assert get(portico, "on.test", client(BAD)).status == 400


def test_verify_off_asks_for_nothing(portico: Portico) -> None:
    answer = get(portico, "off.test", client())
    assert answer.status == 200 and answer.sent["ssl-client-verify"] == "NONE"


def test_optional_and_optional_no_ca(portico: Portico) -> None:
    answer = get(portico, "optional.test", client())
    assert answer.status == 200 and answer.sent["ssl-client-verify"] == "NONE"
    assert get(portico, "optional.test", client(BAD)).status == 400
    assert get(portico, "optional.test", client(GOOD)).status == 200
    answer = get(portico, "noca.test", client(BAD))
    assert answer.status == 200
    assert answer.sent["ssl-client-verify"].startswith("FAILED:")


def test_error_page_redirect(portico: Portico) -> None:
    answer = get(portico, "errorpage.test", client())
    assert answer.status == 302 and answer.headers["Location"] == "http://errors.test/error"
    assert get(portico, "errorpage.test", client(GOOD)).status == 200


def test_certificate_passed_url_encoded(portico: Portico) -> None:
    answer = get(portico, "pass.test", client(GOOD))
    assert answer.status == 200
    assert answer.sent["ssl-client-cert"].startswith("-----BEGIN%20CERTIFICATE-----%0A")


def test_match_cn(portico: Portico) -> None:
    assert get(portico, "nomatch.test", client(GOOD)).status == 403
    assert get(portico, "match.test", client(GOOD)).status == 200


def test_verify_depth(portico: Portico) -> None:
    # Issued two intermediates below the root: too deep for the default depth of 1.
    assert get(portico, "on.test", client(DEEP)).status == 400
    answer = get(portico, "deep.test", client(DEEP))
    assert answer.status == 200 and answer.sent["ssl-client-verify"] == "SUCCESS"


def test_hosts_without_policy_share_the_listener(portico: Portico) -> None:
    answer = get(portico, "plain.test", client())
    assert answer.status == 200 and "ssl-client-verify" not in answer.sent
    # Host and SNI must agree when the host wants a certificate (nginx's 421).
    assert get(portico, "plain.test", client(GOOD), host="on.test").status == 421


def test_sessions_resume_only_under_the_policy_that_verified_them(portico: Portico) -> None:
    # One client context: sessions of one host may be offered to another.
    context = client(BAD)  # OTHER_CA's certificate: only other-ca.test accepts it
    first = get(portico, "other-ca.test", context)
    assert first.status == 200 and first.sent["ssl-client-verify"] == "SUCCESS"
    again = get(portico, "other-ca.test", context, session=first.session)
    assert again.status == 200 and again.resumed
    assert again.sent["ssl-client-verify"] == "SUCCESS"
    elsewhere = get(portico, "on.test", context, session=first.session)
    assert not elsewhere.resumed and elsewhere.status == 400
