"""TLS: host → certificate from Secrets, validation problems, default certificate.

Certificates are made at test time with trustme; no PEM files are committed.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
from typing import Any

import pytest
import trustme
from build_objects import NOW, ingress, path, problem_fields, rule, run, service, tls_secret
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    load_pem_private_key,
)

from ingress.settings import BuildSettings

CA = trustme.CA()
FOO = CA.issue_cert("foo.com", "www.foo.com")
WILD = CA.issue_cert("*.bar.com")
RSA = trustme.CA(key_type=trustme.KeyType.RSA).issue_cert("rsa.com", key_type=trustme.KeyType.RSA)
EXPIRED = CA.issue_cert("old.com", not_after=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC))


def secret_of(name: str, leaf: trustme.LeafCert, **kw: Any) -> dict[str, Any]:
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    return tls_secret(name, chain, leaf.private_key_pem.bytes(), **kw)


def tls_ingress(name: str, hosts: list[str] | None, secret: str | None, *rule_hosts: str,
                created: str = "2024-01-01T00:00:00Z") -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if hosts is not None:
        entry["hosts"] = hosts
    if secret is not None:
        entry["secretName"] = secret
    rules = [rule(h, path("/")) for h in (rule_hosts or hosts or [])]
    return ingress(name, rules, tls=[entry], created=created)


def test_exact_and_wildcard_certificates() -> None:
    result = run(
        tls_ingress("a", ["foo.com", "*.bar.com"], "foo-tls", "foo.com"),
        tls_ingress("b", ["*.bar.com"], "wild-tls"),
        secret_of("foo-tls", FOO), secret_of("wild-tls", WILD), service("web"),
    )
    table = result.table
    # foo-tls does not name *.bar.com: that host keeps b's certificate.
    assert problem_fields(result) == [
        ("Ingress default/a", "spec.tls[0].hosts[1]", "CertificateHostMismatch")]
    assert table.certificates["foo.com"].secret.name == "foo-tls"
    assert table.wildcard_certificates["bar.com"].secret.name == "wild-tls"
    assert table.certificate("x.bar.com") is table.wildcard_certificates["bar.com"]
    assert table.certificate("x.y.bar.com") is None
    assert table.hosts["foo.com"].tls and table.wildcards["bar.com"].tls
    assert result.referenced_secrets == {("default", "foo-tls"), ("default", "wild-tls")}


def test_certificate_fields() -> None:
    secret = secret_of("foo-tls", FOO)
    cert = run(tls_ingress("a", ["foo.com"], "foo-tls"), secret, service("web")).table \
        .certificates["foo.com"]
    cert_pem = base64.b64decode(secret["data"]["tls.crt"])
    key_pem = base64.b64decode(secret["data"]["tls.key"])
    assert (cert.cert_pem, cert.key_pem) == (cert_pem, key_pem)
    assert cert.hosts == ("foo.com", "www.foo.com")
    assert cert.fingerprint == hashlib.sha256(cert_pem + key_pem).hexdigest()
    assert cert.not_after == datetime.datetime(3000, 1, 1, tzinfo=datetime.UTC).timestamp()


def test_rsa_certificates_are_accepted() -> None:
    result = run(tls_ingress("a", ["rsa.com"], "rsa"), secret_of("rsa", RSA), service("web"))
    assert result.problems == () and "rsa.com" in result.table.certificates


def test_hosts_not_in_a_tls_block_are_plain_http() -> None:
    body = tls_ingress("a", ["foo.com"], "foo-tls", "foo.com", "plain.com")
    table = run(body, secret_of("foo-tls", FOO), service("web")).table
    assert table.hosts["foo.com"].tls and not table.hosts["plain.com"].tls


def test_tls_without_hosts_serves_the_rule_hosts_the_certificate_names() -> None:
    body = tls_ingress("a", None, "foo-tls", "www.foo.com", "other.com")
    result = run(body, secret_of("foo-tls", FOO), service("web"))
    assert list(result.table.certificates) == ["www.foo.com"]
    assert result.table.hosts["www.foo.com"].tls and not result.table.hosts["other.com"].tls


def test_tls_without_secret_name_is_a_tls_host_with_the_default_certificate() -> None:
    result = run(tls_ingress("a", ["foo.com"], None), service("web"))
    assert result.problems == () and result.table.certificates == {}
    assert result.table.hosts["foo.com"].tls


def test_secret_of_another_namespace_is_not_reachable() -> None:
    # A tenant must not serve another namespace's certificate by naming it.
    result = run(tls_ingress("a", ["foo.com"], "certs/foo-tls"),
                 secret_of("foo-tls", FOO, namespace="certs"), service("web"))
    assert "foo.com" not in result.table.certificates
    assert result.referenced_secrets == {("default", "certs/foo-tls")}


def test_oldest_ingress_decides_a_hosts_certificate() -> None:
    other = CA.issue_cert("foo.com")
    result = run(
        tls_ingress("new", ["foo.com"], "other-tls", created="2024-05-01T00:00:00Z"),
        tls_ingress("old", ["foo.com"], "foo-tls", created="2024-01-01T00:00:00Z"),
        secret_of("foo-tls", FOO), secret_of("other-tls", other), service("web"),
    )
    assert result.table.certificates["foo.com"].secret.name == "foo-tls"
    assert ("Ingress default/new", "spec.tls[0].hosts[0]", "Conflict") in problem_fields(result)


def _with_data(secret: dict[str, Any], **data: str) -> dict[str, Any]:
    return {**secret, "data": {**secret["data"], **data}}


def _b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


def _encrypted_key() -> str:
    key = load_pem_private_key(FOO.private_key_pem.bytes(), None)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"pw"))
    return _b64(pem)


GOOD = secret_of("foo-tls", FOO)
BAD_SECRETS = [
    ({**GOOD, "data": {"tls.key": GOOD["data"]["tls.key"]}}, 'data["tls.crt"]'),
    (_with_data(GOOD, **{"tls.crt": "not base64!"}), 'data["tls.crt"]'),
    (_with_data(GOOD, **{"tls.crt": _b64(b"hello")}), 'data["tls.crt"]'),
    (_with_data(GOOD, **{"tls.key": _b64(b"-----BEGIN PRIVATE KEY-----\nxx\n")}),
     'data["tls.key"]'),
    (_with_data(GOOD, **{"tls.key": _b64(WILD.private_key_pem.bytes())}), 'data["tls.key"]'),
    (_with_data(GOOD, **{"tls.key": _encrypted_key()}), 'data["tls.key"]'),
    ({**GOOD, "data": ["tls.crt"]}, "data"),
]


@pytest.mark.parametrize(("secret", "field"), BAD_SECRETS)
def test_bad_secret_gives_no_certificate_and_problems_on_both_objects(
    secret: dict[str, Any], field: str
) -> None:
    result = run(tls_ingress("a", ["foo.com"], "foo-tls"),
                 tls_ingress("b", ["foo.com"], "foo-tls", "b.com"), secret, service("web"))
    assert result.table.certificates == {}
    assert result.table.hosts["foo.com"].tls  # still redirects; the default certificate serves
    assert sorted(problem_fields(result)) == [
        ("Ingress default/a", "spec.tls[0].secretName", "InvalidTLSSecret"),
        ("Ingress default/b", "spec.tls[0].secretName", "InvalidTLSSecret"),
        ("Secret default/foo-tls", field, "InvalidTLSSecret"),  # reported once
    ]


def test_expired_certificate() -> None:
    result = run(tls_ingress("a", ["old.com"], "old"), secret_of("old", EXPIRED), service("web"))
    assert result.table.certificates == {}
    assert ("Secret default/old", 'data["tls.crt"]', "InvalidTLSSecret") in problem_fields(result)
    # The same certificate was fine before it expired.
    earlier = run(tls_ingress("a", ["old.com"], "old"), secret_of("old", EXPIRED),
                  service("web"), now=NOW - 365 * 86400)
    assert "old.com" in earlier.table.certificates


def test_missing_secret() -> None:
    result = run(tls_ingress("a", ["foo.com"], "nope"), service("web"))
    assert problem_fields(result) == [
        ("Ingress default/a", "spec.tls[0].secretName", "SecretNotFound")]
    assert result.referenced_secrets == {("default", "nope")}


def test_default_certificate_from_settings() -> None:
    settings = BuildSettings(default_ssl_certificate="ingress/default-tls")
    result = run(secret_of("default-tls", WILD, namespace="ingress"), settings=settings)
    cert = result.table.default_certificate
    assert cert is not None and cert.secret.name == "default-tls"
    assert result.referenced_secrets == {("ingress", "default-tls")}


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("ingress/missing", ("Secret ingress/missing", "--default-ssl-certificate",
                             "SecretNotFound")),
        ("no-namespace", ("Secret no-namespace", "--default-ssl-certificate", "InvalidSetting")),
    ],
)
def test_bad_default_certificate(setting: str, expected: tuple[str, str, str]) -> None:
    result = run(settings=BuildSettings(default_ssl_certificate=setting))
    assert result.table.default_certificate is None
    assert problem_fields(result) == [expected]


def test_invalid_tls_host_is_reported() -> None:
    result = run(tls_ingress("a", ["foo.com", "bad_host"], "foo-tls", "foo.com"),
                 secret_of("foo-tls", FOO), service("web"))
    assert problem_fields(result) == [("Ingress default/a", "spec.tls[0].hosts[1]", "InvalidHost")]
    assert list(result.table.certificates) == ["foo.com"]
